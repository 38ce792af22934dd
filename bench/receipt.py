"""Benchmark `receipt`: size and 9600-baud wire time of the reference collection receipt.

`receipt.bytes` and `receipt.seconds_9600` (bytes × 10 / 9600: 8N1 is ten bits a byte)
for the reference receipt (Chinese text, pay-later and verification QR codes) rendered with
native `GS ( k` QR codes; the baseline is the same receipt with both QR codes sent as
raster images (python-escpos image QR), as a naive driver would. Targets: ≤ 1,000 bytes,
ratio ≥ 6. `receipt.render_ms` is the median time to render the document to bytes.
"""
import json
import statistics
import time
from pathlib import Path

from bench.common import row
from devices.printer.escpos_render import render

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "devices" / "fixtures" / \
    "receipt_collection.json"
BAUD = 9600


def wire_seconds(n_bytes: int, baud: int = BAUD) -> float:
    return n_bytes * 10 / baud


def run() -> list[dict]:
    doc = json.loads(REFERENCE.read_text("utf-8"))
    native = render(doc, qr_native=True)
    raster = render(doc, qr_native=False)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        render(doc)
        times.append((time.perf_counter() - t0) * 1000)
    return [
        row("receipt.bytes", len(native), "bytes", baseline=len(raster), target=1000),
        row("receipt.seconds_9600", round(wire_seconds(len(native)), 3), "s",
            baseline=round(wire_seconds(len(raster)), 3)),
        row("receipt.render_ms", round(statistics.median(times), 2), "ms"),
    ]
