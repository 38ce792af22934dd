"""Run one benchmark: `python -m bench NAME [--json]`.

Each benchmark is a module `bench/<name>.py` (dashes become underscores) with a
`run() -> list[dict]` returning result rows; every row has at least `name`, `value` and
`unit`, and where there is a naive baseline measured in the same run, `baseline` and
`ratio` (baseline ÷ value for times, so that higher is better).
"""
import argparse
import importlib
import json
import pkgutil
import sys

import bench


def available() -> list[str]:
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(bench.__path__)
                  if not m.name.startswith("_") and m.name != "common")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("name", choices=available())
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    module = importlib.import_module("bench." + args.name.replace("-", "_"))
    for row in module.run():
        if args.json:
            print(json.dumps(row, ensure_ascii=False), flush=True)
        else:
            extra = ""
            if "ratio" in row:
                extra = f"  (baseline {row['baseline']:.4g}, ratio {row['ratio']:.2f}×)"
            print(f"{row['name']:32} {row['value']:>12.4g} {row['unit']}{extra}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
