"""The support export (`python -m terminal.export`): every captured row, the outbox and the
audit log reach the office as CSV and JSON, read-only, with a manifest that adds up."""
import csv
import hashlib
import json
import subprocess
import sys

from ledger_fixtures import FakeTerminal, make_store
from terminal import export, payments, readings, shifts, voids
from terminal.store import Store


def handheld(tmp_path):
    store = make_store(tmp_path / "chaoshou.db")
    shifts.open_shift(store, "2001", 10000)
    cash = payments.cash_payment(store, "3100000001", 5000, "2001", tendered_fen=6000)
    payments.card_payment(store, FakeTerminal(), "3100000002", 4200, "2001", advance=True)
    voids.void_payment(store, cash.op_id, "收错户 wrong account", "2001", "9001")
    readings.capture_reading(store, account_no="3100000003", operator_id="1001", status="read",
                             value=1300, consumption=66, kwh_e3=66000, entries=[1300])
    return store


def rows(store, table):
    cur = store.conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
    cols = [d[0] for d in cur.description]
    return cols, [dict(zip(cols, r)) for r in cur.fetchall()]


def same_rows(got, expected) -> bool:
    key = lambda r: json.dumps(r, sort_keys=True, ensure_ascii=False)  # noqa: E731
    return sorted(map(key, got)) == sorted(map(key, expected))


def test_export_command_writes_every_captured_table(tmp_path):
    store = handheld(tmp_path)
    db_file = tmp_path / "chaoshou.db"
    store.close()
    before = hashlib.sha256(db_file.read_bytes()).hexdigest()
    out = tmp_path / "export"
    done = subprocess.run([sys.executable, "-m", "terminal.export", "--db", str(db_file),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(db_file.read_bytes()).hexdigest() == before    # read-only
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    store = Store(db_file)
    assert manifest["device_id"] == store.get_meta("device_id")
    assert manifest["schema_version"] == store.version
    assert set(manifest["tables"]) == set(export.CAPTURED_TABLES)
    for table in ("payments", "payment_allocations", "voids", "receipts", "readings", "outbox",
                  "audit_log", "shifts"):
        cols, expected = rows(store, table)
        assert expected, table
        entry = manifest["tables"][table]
        assert entry["rows"] == len(expected) and entry["columns"] == cols
        as_json = json.loads((out / f"{table}.json").read_text(encoding="utf-8"))
        assert same_rows(as_json, expected)
        with open(out / f"{table}.csv", newline="", encoding="utf-8") as f:
            as_csv = list(csv.DictReader(f))
        assert same_rows(as_csv, [{k: "" if v is None else str(v) for k, v in r.items()}
                                  for r in expected])
        for name, digest in entry["files"].items():
            assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    events = {r["event"] for r in json.loads((out / "audit_log.json").read_text("utf-8"))}
    assert {"payment_cash", "void"} <= events
    store.close()


def test_export_of_a_missing_or_foreign_file_is_a_clear_error(tmp_path):
    missing = export.main(["--db", str(tmp_path / "nope.db"), "--out", str(tmp_path / "o")])
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    bad = export.main(["--db", str(junk), "--out", str(tmp_path / "o2")])
    assert missing == bad == 2
    assert junk.read_bytes() == b"this is not a database" * 100
