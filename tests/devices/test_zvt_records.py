"""A minimal card payment record in a real SQLite file, driven the way the core must drive
a PaymentTerminal (the card crash rule, docs/ledger.md), plus tests of that helper itself.

- the intent (op_id, amount, state `sent`) is committed before `authorize` is called;
- the terminal's result is committed inside `on_result`, i.e. before it is acknowledged;
- a TerminalLinkError leaves a `sent` record `unknown`;
- an `unknown` record is resolved from the terminal's `last_result()`: a result whose trace
  this book has not seen and whose amount matches is this payment's; anything else means the
  terminal never charged it (`failed`). Nothing is ever retried.

Other test files import this module (`from test_zvt_records import ...`); the SIGKILL test's
child process imports it by path.
"""
import sqlite3

import pytest

from devices.zvt.errors import TerminalLinkError

SCHEMA = """
CREATE TABLE IF NOT EXISTS card_payment (
    op_id TEXT PRIMARY KEY,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    state TEXT NOT NULL CHECK (state IN ('sent', 'unknown', 'approved', 'declined', 'failed')),
    result_code INTEGER,
    trace INTEGER UNIQUE,
    receipt_no INTEGER,
    masked_pan TEXT,
    card_type TEXT,
    terminal_id TEXT,
    text TEXT
);
"""


class PaymentBook:
    """Card payment records in one SQLite file (WAL, synchronous FULL)."""

    def __init__(self, path):
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self):
        self.db.close()

    def write_intent(self, op_id: str, amount_fen: int) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO card_payment (op_id, amount_fen, state) "
                            "VALUES (?, ?, 'sent')", (op_id, amount_fen))

    def record_result(self, op_id: str, result) -> None:
        """Commit the terminal's result; only a `sent`/`unknown` record can take one."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cur = self.db.execute(
                "UPDATE card_payment SET state = ?, result_code = ?, trace = ?, "
                "receipt_no = ?, masked_pan = ?, card_type = ?, terminal_id = ?, text = ? "
                "WHERE op_id = ? AND state IN ('sent', 'unknown')",
                ("approved" if result.approved else "declined", result.result_code,
                 result.trace, result.receipt_no, result.masked_pan, result.card_type,
                 result.terminal_id, result.text, op_id))
            if cur.rowcount != 1:
                raise RuntimeError(f"payment {op_id} is not awaiting a result")

    def set_state(self, op_id: str, state: str, only_from: tuple) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(only_from))
            self.db.execute(f"UPDATE card_payment SET state = ? WHERE op_id = ? "
                            f"AND state IN ({marks})", (state, op_id, *only_from))

    def get(self, op_id: str) -> dict:
        row = self.db.execute("SELECT * FROM card_payment WHERE op_id = ?",
                              (op_id,)).fetchone()
        return dict(row) if row else None

    def rows(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM card_payment ORDER BY rowid")]

    def trace_known(self, trace: int) -> bool:
        return self.db.execute("SELECT 1 FROM card_payment WHERE trace = ?",
                               (trace,)).fetchone() is not None


def pay(book: PaymentBook, terminal, op_id: str, amount_fen: int, on_status=None) -> str:
    """One card payment by the crash rule; returns the record's state afterwards."""
    book.write_intent(op_id, amount_fen)
    try:
        terminal.authorize(amount_fen, on_status or (lambda code, text: None),
                           lambda result: book.record_result(op_id, result))
    except TerminalLinkError:
        book.set_state(op_id, "unknown", only_from=("sent",))
    return book.get(op_id)["state"]


def resolve_unknown(book: PaymentBook, terminal, op_id: str) -> str:
    """Resolve a `sent`/`unknown` payment from the terminal's last result."""
    rec = book.get(op_id)
    if rec["state"] not in ("sent", "unknown"):
        return rec["state"]
    result = terminal.last_result()
    if (result is not None and result.trace is not None and not book.trace_known(result.trace)
            and result.amount_fen == rec["amount_fen"]):
        book.record_result(op_id, result)
    else:
        book.set_state(op_id, "failed", only_from=("sent", "unknown"))
    return book.get(op_id)["state"]


# --- tests of the helper itself ---------------------------------------------------------

class _Result:
    def __init__(self, approved=True, trace=1, amount_fen=100):
        self.approved, self.result_code, self.trace = approved, 0 if approved else 5, trace
        self.amount_fen, self.receipt_no, self.masked_pan = amount_fen, 1, "621234******1234"
        self.card_type, self.terminal_id, self.text = "UnionPay", "52000001", "ok"


class _LastResultTerminal:
    def __init__(self, result):
        self.result = result

    def last_result(self):
        return self.result


def test_book_records_a_result_once_and_survives_reopening(tmp_path):
    book = PaymentBook(tmp_path / "pay.db")
    book.write_intent("op-1", 100)
    assert book.get("op-1")["state"] == "sent"
    book.record_result("op-1", _Result())
    with pytest.raises(RuntimeError):
        book.record_result("op-1", _Result(trace=2))
    book.close()
    again = PaymentBook(tmp_path / "pay.db")
    assert again.get("op-1")["state"] == "approved" and again.get("op-1")["trace"] == 1
    with pytest.raises(sqlite3.IntegrityError):
        again.write_intent("op-1", 100)


def test_resolution_never_takes_a_result_that_belongs_to_another_payment(tmp_path):
    book = PaymentBook(tmp_path / "pay.db")
    book.write_intent("old", 100)
    book.record_result("old", _Result(trace=7))
    book.write_intent("new", 100)
    book.set_state("new", "unknown", only_from=("sent",))
    # The terminal's last transaction is the old one: the new payment never happened.
    assert resolve_unknown(book, _LastResultTerminal(_Result(trace=7)), "new") == "failed"
    book.write_intent("new2", 250)
    assert resolve_unknown(book, _LastResultTerminal(_Result(trace=8)), "new2") == "failed"
    book.write_intent("new3", 300)
    assert resolve_unknown(book, _LastResultTerminal(None), "new3") == "failed"
    book.write_intent("new4", 300)
    assert resolve_unknown(book, _LastResultTerminal(_Result(trace=9, amount_fen=300)),
                           "new4") == "approved"
