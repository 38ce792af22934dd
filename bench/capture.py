"""capture: durable reading capture latency, p99 over 1,200 captures, against a bare commit.

Value: milliseconds from opening the reading screen's `ReadingEntry` for an account to
`submit(keyed)` returning a saved op — normalising and validating the keyed value (full
stack of terminal.validation), the bill estimate, the reading row and its outbox op in one
COMMIT — on a real store file (WAL, synchronous=FULL) holding a 1,500-account route. The
keyed value is the expected consumption, so the capture saves at once (no confirmation).

Baseline (same run, same directory, same pragmas WAL + synchronous=FULL): a bare
single-row `INSERT` commit with sqlite3 into a one-table file. Baseline and capture
alternate one by one so that both see the same disk and CPU noise; ratio = baseline p99 ÷
capture p99 (target ≥ 0.5: within 2× of the bare commit).
"""
import datetime as dt
import tempfile
import time
from pathlib import Path

from bench.common import bare_full_sync_db, percentile, row, store_with_route
from sync.gateway import demo_data as dd
from terminal.readings import ReadingEntry
from terminal.validation import days_between

N_ACCOUNTS = 1_500
N_CAPTURES = 1_200
TODAY = dt.date(2026, 11, 27)


def keyed_for(meter: dict) -> str | None:
    """The reading that gives exactly the expected consumption, or None (rollover, no data)."""
    if meter["prev_value"] is None or meter["prev_value"] < 0 or not meter["avg_daily_wh"]:
        return None
    days = days_between(meter["prev_date"], TODAY)
    units = meter["avg_daily_wh"] * days * 10 ** meter["decimals"] // (1000 * meter["multiplier"])
    value = meter["prev_value"] + max(1, units)
    if value >= 10 ** meter["dials"]:
        return None
    if meter["limit_low"] is not None and not meter["limit_low"] <= value - meter["prev_value"] <= meter["limit_high"]:
        return None
    return str(value).zfill(meter["dials"])


def run() -> list[dict]:
    accounts = dd.fake_accounts(N_ACCOUNTS)
    work = [(a["account_no"], keyed_for(a["meter"])) for a in accounts]
    work = [w for w in work if w[1] is not None][:N_CAPTURES]
    with tempfile.TemporaryDirectory() as tmp:
        store = store_with_route(Path(tmp) / "terminal.db", accounts)
        bare = bare_full_sync_db(Path(tmp) / "bare.db", "account_no TEXT, value INTEGER, at TEXT")
        ours, base, saved = [], [], 0
        for account_no, keyed in work:
            t0 = time.perf_counter()
            bare.execute("INSERT INTO t (account_no, value, at) VALUES (?, ?, ?)", (account_no, int(keyed), "now"))
            base.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            out = ReadingEntry(store, account_no, "1001", today=TODAY).submit(keyed)
            ours.append((time.perf_counter() - t0) * 1000)
            saved += out.saved
        seq_ok = store.conn.execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM outbox").fetchone()
        bare.close()
        store.close()
    if saved != len(work) or tuple(seq_ok) != (saved, 1, saved):
        raise RuntimeError(f"capture bench: {saved} of {len(work)} saved, outbox {tuple(seq_ok)}")
    p99, b99 = percentile(ours, 99), percentile(base, 99)
    return [row("capture.p99_ms", round(p99, 3), "ms", baseline=round(b99, 3), captures=len(ours),
                median_ms=round(percentile(ours, 50), 3), baseline_median_ms=round(percentile(base, 50), 3))]
