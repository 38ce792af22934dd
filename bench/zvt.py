"""Benchmark: ZVT card payment between the driver and the simulator, over a pty with serial
framing and over TCP/IP with bare APDUs (the ZVT TCP/IP transport).

Rows:
- `zvt.payment_ms`: link time of one approved payment (06 01 → 80 00 00 → 3 × 04 FF →
  8 print lines → 04 0F → 06 0F, each answered with ACK + 80 00 00) with zero customer
  time; median over the run, p99 and the frame count as extra fields. Baseline: the same
  payment with a naive reader that sleeps 50 ms between polls of `in_waiting` instead of
  blocking reads (`ZvtTerminal(poll_interval=0.05)`), measured in the same run.
- `zvt.wire_seconds_9600`: the bytes of that payment (both directions) × 11 bits / 9600
  baud (8N2: start + 8 data + 2 stop). A pty has no baud rate, so this is computed.
- `zvt.payment_tcp_ms`: the same payment to the simulator on a loopback TCP port, bare
  APDUs (no DLE framing, CRC or ACK bytes); median, p99, frames and bytes.
"""
import time

from bench.common import percentile, row
from devices.sim.zvt import Script, ZvtSimulator
from devices.zvt import ZvtTerminal

PAYMENTS = 50
BASELINE_PAYMENTS = 20
WARMUP = 3


def _measure(path: str, n: int, **driver_options) -> tuple[list, int, int]:
    """Milliseconds per payment, frames and bytes of one payment."""
    times = []
    frames = nbytes = 0
    with ZvtTerminal(path, **driver_options) as term:
        for i in range(WARMUP + n):
            before = term.stats
            t0 = time.perf_counter()
            result = term.authorize(1234 + i, None, lambda r: None)
            elapsed = (time.perf_counter() - t0) * 1000
            if not result.approved:
                raise RuntimeError(f"benchmark payment not approved: {result}")
            after = term.stats
            frames = (after["frames_out"] + after["frames_in"]
                      - before["frames_out"] - before["frames_in"])
            nbytes = (after["bytes_out"] + after["bytes_in"]
                      - before["bytes_out"] - before["bytes_in"])
            if i >= WARMUP:
                times.append(elapsed)
    return times, frames, nbytes


def run() -> list[dict]:
    with ZvtSimulator(default=Script(customer_delay=0.0)) as sim:
        path = sim.serve_pty()
        fast, frames, nbytes = _measure(path, PAYMENTS)
        naive, naive_frames, _ = _measure(path, BASELINE_PAYMENTS, poll_interval=0.05)
    with ZvtSimulator(default=Script(customer_delay=0.0)) as sim:
        host, port = sim.serve_tcp()
        tcp, tcp_frames, tcp_bytes = _measure(f"socket://{host}:{port}", PAYMENTS)
    median, base_median = percentile(fast, 50), percentile(naive, 50)
    wire = nbytes * 11 / 9600
    return [
        row("zvt.payment_ms", round(median, 3), "ms", baseline=round(base_median, 3),
            p99=round(percentile(fast, 99), 3), frames=frames, payments=PAYMENTS,
            baseline_p99=round(percentile(naive, 99), 3), baseline_payments=BASELINE_PAYMENTS,
            baseline_desc="same payment, reader sleeps 50 ms between in_waiting polls"),
        row("zvt.wire_seconds_9600", round(wire, 4), "s", bytes=nbytes, frames=frames,
            line="9600 8N2, 11 bits per byte", link_ms_over_pty=round(median, 3)),
        row("zvt.payment_tcp_ms", round(percentile(tcp, 50), 3), "ms",
            p99=round(percentile(tcp, 99), 3), frames=tcp_frames, bytes=tcp_bytes,
            payments=PAYMENTS, transport="TCP/IP, bare APDUs, loopback"),
    ]
