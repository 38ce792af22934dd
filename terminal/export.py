"""Support export: a handheld's captured data, outbox and audit log as CSV and JSON for the office.

    python -m terminal.export --db chaoshou.db --out DIR [--format csv|json|both]

Writes one `TABLE.csv` and/or `TABLE.json` per captured table (readings, payments and their
allocations, voids, receipts and receipt blocks, shifts, the outbox, the audit log, print
jobs, the booked ops), rows in primary-key order, and `manifest.json` with the device id,
the schema version, the row count and the SHA-256 of every file written. The data file is
opened read-only (sqlite-utils over a `mode=ro` connection): exporting never changes what
the handheld holds, and it works on a copy taken off a broken device too. Card data in the
store is masked already (docs/ledger.md), so the export holds no card number either.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import sqlite3
import sys
from pathlib import Path

import sqlite_utils

CAPTURED_TABLES = ("readings", "payments", "payment_allocations", "voids", "receipts",
                   "receipt_blocks", "shifts", "outbox", "audit_log", "print_jobs", "booked_ops")
FORMATS = ("csv", "json")


class ExportError(Exception):
    """The data file cannot be exported; the message says why. Nothing was written to it."""


def open_read_only(path) -> sqlite_utils.Database:
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"no data file at {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise ExportError(f"{path} is not a readable Chaoshou data file: {exc}") from exc
    return sqlite_utils.Database(conn)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def export(db_path, out_dir, formats=FORMATS) -> dict:
    """Export the captured tables of `db_path` into `out_dir`; returns the manifest."""
    db = open_read_only(db_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    present = set(db.table_names())
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall()) if "meta" in present else {}
    manifest = {"device_id": meta.get("device_id"),
                "schema_version": db.execute("PRAGMA user_version").fetchone()[0],
                "source": Path(db_path).name,
                "exported_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                "tables": {}}
    try:
        for name in CAPTURED_TABLES:
            if name not in present:
                continue
            table = db[name]
            columns = [c.name for c in table.columns]
            order = ", ".join(table.pks) if table.pks != ["rowid"] else "rowid"
            entry = {"rows": table.count, "columns": columns, "files": {}}
            if "csv" in formats:
                path = out / f"{name}.csv"
                with open(path, "w", newline="", encoding="utf-8") as f:
                    writer = csv.DictWriter(f, fieldnames=columns)
                    writer.writeheader()
                    writer.writerows(table.rows_where(order_by=order))
                entry["files"][path.name] = _sha256(path)
            if "json" in formats:
                path = out / f"{name}.json"
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(list(table.rows_where(order_by=order)), f, ensure_ascii=False,
                              indent=1)
                entry["files"][path.name] = _sha256(path)
            manifest["tables"][name] = entry
    finally:
        db.close()
    with open(out / "manifest.json", "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1, sort_keys=True)
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m terminal.export",
        description="Export a handheld's captured data, outbox and audit log to CSV/JSON.")
    parser.add_argument("--db", required=True, help="the handheld's data file (chaoshou.db)")
    parser.add_argument("--out", required=True, help="folder to write the files into")
    parser.add_argument("--format", choices=("csv", "json", "both"), default="both")
    args = parser.parse_args(argv)
    formats = FORMATS if args.format == "both" else (args.format,)
    try:
        manifest = export(args.db, args.out, formats)
    except ExportError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 2
    for name, entry in manifest["tables"].items():
        print(f"{name}: {entry['rows']} rows")
    print(f"written to {args.out} (manifest.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
