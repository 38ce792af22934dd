"""payment: durable cash payment latency, p99 over 1,000 payments, against a bare commit.

`payment.p99_ms`: milliseconds for `payments.cash_payment` — checks, the bill (amount due),
the payment row, its allocation, the receipt (next number of the server block, hash-chain
link, HMAC verification code), the outbox op, the receipt document and its print job, all
in one COMMIT — on a real store file (WAL, synchronous=FULL) holding a 1,500-account route.
Baseline (same run, same directory, same pragmas): a bare single-row `INSERT` commit with
sqlite3 into a one-table file; the two alternate one by one so both see the same disk and
CPU noise. ratio = baseline p99 ÷ payment p99. The run ends by verifying the whole
receipt chain, codes and numbers (`receipts.verify_store`).
"""
import tempfile
import time
from pathlib import Path

from bench.common import bare_full_sync_db, percentile, row, store_with_route
from sync.gateway import demo_data as dd
from terminal import payments, receipts, shifts

N_ACCOUNTS = 1_500
N_PAYMENTS = 1_000


def run() -> list[dict]:
    accounts = dd.fake_accounts(N_ACCOUNTS)
    with tempfile.TemporaryDirectory() as tmp:
        store = store_with_route(Path(tmp) / "terminal.db", accounts)
        store.set_meta("device_id", "BENCH")
        store.set_meta("device_key", "ab" * 32)
        receipts.add_block(store, 1, 100_000)
        shifts.open_shift(store, "2001", 10_000)
        bare = bare_full_sync_db(Path(tmp) / "bare.db", "account_no TEXT, amount INTEGER")
        ours, base = [], []
        for i in range(N_PAYMENTS):
            account_no = accounts[i % N_ACCOUNTS]["account_no"]
            amount = 100 + i
            t0 = time.perf_counter()
            bare.execute("INSERT INTO t (account_no, amount) VALUES (?, ?)", (account_no, amount))
            base.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            payments.cash_payment(store, account_no, amount, "2001", tendered_fen=amount + 50, advance=True)
            ours.append((time.perf_counter() - t0) * 1000)
        bare.close()
        problems = receipts.verify_store(store)
        rows = receipts.chain_rows(store)
        store.close()
    if problems or len(rows) != N_PAYMENTS:
        raise RuntimeError(f"payment bench: {len(rows)} receipts, problems {problems[:3]}")
    p99, b99 = percentile(ours, 99), percentile(base, 99)
    return [row("payment.p99_ms", round(p99, 3), "ms", baseline=round(b99, 3), payments=len(ours),
                median_ms=round(percentile(ours, 50), 3),
                baseline_median_ms=round(percentile(base, 50), 3))]
