"""Child process of test_crash.py: captures readings, cash and card payments and voids on an
existing store and prints `<kind> <op_id>` to stdout only after each commit has returned.
The parent kills it with SIGKILL at a random moment. Usage: crash_child.py DB SEED"""
import random
import sys

from ledger_fixtures import FakeTerminal
from terminal import payments, readings, recovery, voids
from terminal.store import Store

ACCOUNTS = ["3100000001", "3100000002", "3100000003", "3100000004", "3100000005"]


def main(path: str, seed: int) -> None:
    store = Store(path)
    rng = random.Random(seed)
    terminal = FakeTerminal()
    # a card payment left `sent` by the previous kill: settle it from the terminal first
    recovery.recover(store)
    for unknown in payments.unknown_payments(store):
        payments.resolve_unknown(store, terminal, unknown["op_id"])
    print("ready", flush=True)
    while True:
        kind = rng.choice(("reading", "cash", "cash", "card", "void"))
        acct = rng.choice(ACCOUNTS)
        if kind == "reading":
            current = store.conn.execute(
                "SELECT op_id FROM readings WHERE account_no=? AND superseded_by IS NULL",
                (acct,)).fetchone()
            value = rng.randint(1000, 1999)
            op = readings.capture_reading(store, account_no=acct, operator_id="2001", status="read",
                                          value=value, consumption=value - 1000,
                                          kwh_e3=(value - 1000) * 1000,
                                          corrects=current[0] if current else None)
            op_id = op.op_id
        elif kind == "cash":
            amount = rng.randint(1, 20000)
            op_id = payments.cash_payment(store, acct, amount, "2001",
                                          tendered_fen=amount + rng.randint(0, 5000), advance=True).op_id
        elif kind == "void":
            row = store.conn.execute("SELECT op_id FROM payments WHERE method='cash' AND "
                                     "state='done' ORDER BY random() LIMIT 1").fetchone()
            if row is None:
                continue
            op_id = voids.void_payment(store, row[0], "作废 crash test", "2001", "9001").op_id
        else:
            result = payments.card_payment(store, terminal, acct, rng.randint(1, 20000), "2001", advance=True)
            if result.state != "approved":
                continue
            op_id = result.op_id
        print(kind, op_id, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
