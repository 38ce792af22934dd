"""How many CJK ideographs each font of the fallback chain holds, per Unicode block.

    python scripts/font_coverage.py            a Markdown table (the one in README.md)
    python scripts/font_coverage.py --json

Reads each font's character map with fontTools (devices/printer/fonts.py `coverage`). The
ideographs counted are the assigned code points of each block (Unicode 17.0).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devices.printer.fonts import coverage, font_chain  # noqa: E402

# (block, first, last assigned code point)
BLOCKS = (
    ("Unified", 0x4E00, 0x9FFF),
    ("Ext A", 0x3400, 0x4DBF),
    ("Ext B", 0x20000, 0x2A6DF),
    ("Ext C", 0x2A700, 0x2B73F),
    ("Ext D", 0x2B740, 0x2B81D),
    ("Ext E", 0x2B820, 0x2CEAD),
    ("Ext F", 0x2CEB0, 0x2EBE0),
    ("Ext G", 0x30000, 0x3134A),
    ("Ext H", 0x31350, 0x323AF),
    ("Ext I", 0x2EBF0, 0x2EE5D),
    ("Ext J", 0x323B0, 0x33479),
)


def table() -> dict:
    chain = font_chain()
    fonts = {Path(p).stem: coverage(p) for p in chain}
    rows = []
    for name, lo, hi in BLOCKS:
        total = hi - lo + 1
        held = {f: sum(1 for cp in range(lo, hi + 1) if cp in cov) for f, cov in fonts.items()}
        held["chain"] = sum(1 for cp in range(lo, hi + 1) if any(cp in c for c in fonts.values()))
        rows.append({"block": name, "range": f"U+{lo:04X}–U+{hi:04X}", "ideographs": total,
                     **held})
    total = {"block": "All", "range": "", "ideographs": sum(r["ideographs"] for r in rows)}
    for key in [*fonts, "chain"]:
        total[key] = sum(r[key] for r in rows)
    return {"fonts": chain, "rows": [*rows, total]}


def markdown(data: dict) -> str:
    keys = [Path(p).stem for p in data["fonts"]] + ["chain"]
    lines = ["| Block | Code points | Ideographs | " + " | ".join(keys) + " |",
             "|---|---|--:|" + "--:|" * len(keys)]
    for row in data["rows"]:
        cells = [f"{row[k]:,} ({100 * row[k] / row['ideographs']:.1f} %)" for k in keys]
        lines.append(f"| {row['block']} | {row['range']} | {row['ideographs']:,} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    data = table()
    print(json.dumps(data, indent=1) if args.json else markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
