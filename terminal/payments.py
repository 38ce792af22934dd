"""Cash and card payments: checks, limits, the card state machine, one transaction per capture.

A completed payment is written in ONE transaction: the payment row, its allocation rows,
the receipt (next number of the server block + hash-chain link + verification code), the
outbox op `payment` (contracts §2) and, when the print queue is installed, the print job.

Card payments follow the card crash rule (docs/ledger.md): `intent` is committed (checked,
not yet sent), then `sent` is committed BEFORE the terminal is asked; the terminal's result
is committed inside `on_result`, before the driver acknowledges it. `approved` writes receipt + op in that same
transaction; `declined` writes no op. Any failure of the link (or anything else) while the
state is `sent` leaves the payment `unknown`: it is then settled only from the terminal's
own record (`resolve_unknown`), never retried blindly, never booked as paid unless the
terminal says so. While a payment is unresolved no new card payment starts (the terminal's
`last_result()` only knows the latest transaction).

Card data: only a masked PAN (first 6 / last 4 at most, the middle masked with `*`, `X` or
`E`) is ever stored; anything that looks like a full PAN (13–19 digits) is refused and not
stored; receipts show the last 4 only; nothing card-related goes to the audit log.

Offline card limits (meta `card_limits`, JSON; defaults in `CARD_LIMIT_DEFAULTS`): `min_fen`
and `max_fen` per payment, `max_total_fen` and `max_count` over card payments the gateway
has not yet acknowledged (unresolved ones included), `max_age_hours` of the oldest such
payment — beyond it no new card payment until the device has synced.
Cash limits (meta `cash_limits`): `max_fen` per payment, `max_change_fen` (a change above it
means the tendered amount was mistyped).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

from terminal import outbox, receipt_docs, receipts, shifts, tariffs
from terminal.card_data import card_result, status_sink
from terminal.ledger_errors import LedgerError, fen_text, refusal, require_int
from terminal.paid_elsewhere import paid_elsewhere
from terminal.store import Store, audit, now_iso
from terminal.validation import check_gps

CARD_LIMIT_DEFAULTS = {"min_fen": 1, "max_fen": 500_000, "max_total_fen": 2_000_000,
                       "max_count": 50, "max_age_hours": 72}
CASH_LIMIT_DEFAULTS = {"max_fen": 2_000_000, "max_change_fen": 10_000}

_MASKED = re.compile(r"^(\d{0,6})([*xXeE]+)(\d{4})$")
_SEPARATORS = re.compile(r"[\s\-]")


class CardDataError(LedgerError):
    """Card data we must not take (a full PAN) or cannot read; the value is never echoed."""


@dataclasses.dataclass
class PaymentResult:
    op_id: str
    state: str                  # done (cash) | approved | declined | unknown
    amount_fen: int
    receipt_no: str | None = None
    change_fen: int | None = None
    doc: dict | None = None     # the receipt document (print it if `print_job` is None)
    print_job: object = None
    message: str = ""
    due_after_fen: int | None = None   # the account's due once this payment is taken


# -- checks --------------------------------------------------------------------------------

def _limits(store: Store, key: str, defaults: dict) -> dict:
    """Configured limits over the defaults; a malformed setting is ignored (the default,
    always finite, applies) rather than leaving the device without limits."""
    limits = dict(defaults)
    try:
        configured = json.loads(store.get_meta(key) or "{}")
    except ValueError:
        configured = {}
    if isinstance(configured, dict):
        limits.update({k: v for k, v in configured.items() if k in defaults
                       and isinstance(v, int) and not isinstance(v, bool) and v >= 0})
    return limits


def card_limits(store: Store) -> dict:
    return _limits(store, "card_limits", CARD_LIMIT_DEFAULTS)


def cash_limits(store: Store) -> dict:
    return _limits(store, "cash_limits", CASH_LIMIT_DEFAULTS)


def check_amount(amount_fen, cap_fen: int, minimum: int = 1) -> int:
    require_int(amount_fen, "Amount")
    if amount_fen <= 0:
        raise refusal("amount_not_positive", "The amount must be greater than zero")
    if amount_fen < minimum:
        raise refusal("amount_below_minimum",
                      "The amount must be at least {minimum} yuan", minimum=fen_text(minimum))
    if amount_fen > cap_fen:
        raise refusal("amount_over_cap",
                      "A single payment cannot exceed {cap_fen} yuan", cap_fen=fen_text(cap_fen))
    return amount_fen


def masked_pan(value) -> str | None:
    """A masked PAN normalised to `*` masking, or None. Refuses a full PAN (CardDataError,
    without echoing it) and anything that is not first-6/last-4 masked."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CardDataError("bad_masked_pan", None, "The masked card number is not valid")
    compact = _SEPARATORS.sub("", value)
    digits = sum(c.isdigit() for c in compact)
    if compact.isdigit() and len(compact) >= 13 or digits > 10:
        raise CardDataError("full_pan_refused", None,
                            "A full card number was refused; no card data was stored")
    m = _MASKED.match(compact)
    if not m or not 13 <= len(compact) <= 19:
        raise CardDataError("bad_masked_pan", None,
                            "The masked card number must be first 6 / last 4 with the middle masked")
    return m.group(1) + "*" * len(m.group(2)) + m.group(3)


def _account(store: Store, account_no: str):
    row = store.conn.execute("SELECT * FROM accounts WHERE account_no=?", (account_no,)).fetchone()
    if row is None:
        raise refusal("unknown_account",
                      "Account {account_no} is not on this device", account_no=account_no)
    return row


# -- the common completion (inside the caller's transaction) --------------------------------

def due_after(store: Store, account_no: str | None, today=None) -> int | None:
    """The account's due as the core figures it now (`tariffs.bill_for`), None when it
    cannot be billed (no account, or its tariff is missing)."""
    if account_no is None:
        return None
    try:
        return tariffs.bill_for(store, account_no, today=today).total_due_fen
    except LedgerError:
        return None


def _complete(store: Store, conn, pay: dict, allocations: list[dict], content: dict,
              card_wire: dict | None, today=None) -> tuple[dict, object]:
    """Receipt + chain link + outbox op (+ print job) for a payment row already written.
    The receipt states the due left after this payment, figured by the core's one rule."""
    if pay["account_no"] is not None and "due_before_fen" in content:
        content = dict(content, due_after_fen=due_after(store, pay["account_no"], today))
    fields = dict(content, operator_id=pay["operator_id"], shift_id=pay["shift_id"],
                  method=pay["method"], account_no=pay["account_no"], agent_id=pay["agent_id"],
                  allocations=allocations, tendered_fen=pay["tendered_fen"],
                  change_fen=pay["change_fen"])
    receipt = receipts.issue(store, conn, kind="collection", op_id=pay["op_id"],
                             amount_fen=pay["amount_fen"], fields=fields)
    conn.execute("UPDATE payments SET receipt_no=?, updated_at=? WHERE op_id=?",
                 (int(receipt["receipt_no"]), now_iso(), pay["op_id"]))
    payload = {"account_no": pay["account_no"], "agent_id": pay["agent_id"],
               "method": pay["method"], "amount_fen": pay["amount_fen"],
               "tendered_fen": pay["tendered_fen"], "change_fen": pay["change_fen"],
               "shift_id": pay["shift_id"],
               "allocations": [{"account_no": a["account_no"], "amount_fen": a["amount_fen"]}
                               for a in allocations],
               "card": card_wire, "receipt": receipt,
               "gps": json.loads(pay["gps"]) if pay.get("gps") else None}
    outbox.append(conn, "payment", payload, operator_id=pay["operator_id"], op_id=pay["op_id"])
    doc = receipt_docs.receipt_document(store, receipt["receipt_no"])
    job = receipt_docs.queue_print(store, doc)
    return receipt, (doc, job)


def _insert(conn, pay: dict, allocations: list[dict]) -> None:
    conn.execute("INSERT INTO payments (op_id, account_no, agent_id, method, amount_fen, "
                 "tendered_fen, change_fen, state, shift_id, card, operator_id, device_time, "
                 "updated_at, gps) VALUES (:op_id, :account_no, :agent_id, :method, :amount_fen, "
                 ":tendered_fen, :change_fen, :state, :shift_id, NULL, :operator_id, "
                 ":device_time, :device_time, :gps)", pay)
    for a in allocations:
        conn.execute("INSERT INTO payment_allocations (payment_op_id, account_no, amount_fen) "
                     "VALUES (?, ?, ?)", (pay["op_id"], a["account_no"], a["amount_fen"]))


def _new_payment(method: str, amount: int, operator_id: str, shift_id: str, *,
                 account_no=None, agent_id=None, tendered=None, change=None, state,
                 gps: dict | None = None) -> dict:
    """A payment row; `gps` is the fix as of the payment (terminal/location.py), or None."""
    fix, problems = check_gps(gps)
    if problems:
        p = problems[0]       # its English msgid travels on, translated by the UI
        raise LedgerError("gps_invalid", p.message_zh, p.msgid or p.message_en, **p.params)
    return {"op_id": outbox.new_op_id(), "account_no": account_no, "agent_id": agent_id,
            "method": method, "amount_fen": amount, "tendered_fen": tendered,
            "change_fen": change, "state": state, "shift_id": shift_id,
            "operator_id": operator_id, "device_time": now_iso(),
            "gps": json.dumps(fix, sort_keys=True) if fix else None}


# -- cash ------------------------------------------------------------------------------------

def check_tendered(store: Store, amount_fen: int, tendered_fen) -> tuple[int, int]:
    """(tendered, change) for a cash payment; tendered None means exact money."""
    if tendered_fen is None:
        return amount_fen, 0
    require_int(tendered_fen, "Tendered cash")
    if tendered_fen < amount_fen:
        raise refusal("tendered_too_little",
                      "Tendered {tendered_fen} is less than the amount {amount_fen}",
                      tendered_fen=fen_text(tendered_fen), amount_fen=fen_text(amount_fen))
    change = tendered_fen - amount_fen
    cap = cash_limits(store)["max_change_fen"]
    if change > cap:
        raise refusal("change_too_large",
                      "Change above {cap} yuan: check the tendered amount", cap=fen_text(cap))
    return tendered_fen, change


def take_cash(store: Store, *, amount_fen, operator_id: str, tendered_fen=None,
              account_no: str | None = None, agent_id: str | None = None,
              allocations: list[dict], content: dict, today=None,
              gps: dict | None = None) -> PaymentResult:
    """Record a cash payment already allocated (used by `cash_payment` and agents)."""
    amount = check_amount(amount_fen, cash_limits(store)["max_fen"])
    tendered, change = check_tendered(store, amount, tendered_fen)
    shift = shifts.require_open_shift(store, operator_id)
    receipts.require_numbers(store)
    pay = _new_payment("cash", amount, operator_id, shift["shift_id"], account_no=account_no,
                       agent_id=agent_id, tendered=tendered, change=change, state="done",
                       gps=gps)
    with store.transaction() as conn:
        _insert(conn, pay, allocations)
        receipt, (doc, job) = _complete(store, conn, pay, allocations, content, None, today)
        audit(conn, "payment_cash", operator_id, op_id=pay["op_id"], amount_fen=amount,
              receipt_no=receipt["receipt_no"])
    # the due left was figured once, inside the payment's transaction, for the receipt
    return PaymentResult(pay["op_id"], "done", amount, receipt["receipt_no"], change, doc, job,
                         due_after_fen=receipt["content"].get("due_after_fen"))


def _account_content(store: Store, account_no: str, amount: int, today,
                     advance: bool = True) -> tuple[dict, list]:
    """Receipt content and allocation of a payment for one account. More than the due is
    refused (`over_due`, nothing written) unless `advance` says the collector confirmed an
    advance payment: the same debt is never collected twice without a warning."""
    acct = _account(store, account_no)
    due = due_after(store, account_no, today)   # e.g. its tariff is missing: None, still taken
    if due is not None and amount > due and not advance:
        raise refusal("over_due", "{paid_elsewhere}The amount is more than the {due} yuan "
                      "due; confirm it as an advance payment",
                      paid_elsewhere=paid_elsewhere(acct), due=fen_text(due))
    content = {"name": acct["name"], "address": acct["address"], "due_before_fen": due,
               "advance_fen": None if due is None else max(0, amount - due)}
    return content, [{"account_no": account_no, "name": acct["name"], "amount_fen": amount}]


def cash_payment(store: Store, account_no: str, amount_fen: int, operator_id: str,
                 tendered_fen: int | None = None, today: dt.date | None = None, *,
                 advance: bool = False, gps: dict | None = None) -> PaymentResult:
    """Take cash for one account: the amount due, part of it, or more (an advance → credit,
    only with `advance=True`, the collector's confirmation).

    Refuses (LedgerError, nothing written) a non-integer, zero, negative or over-cap amount,
    more than the due without `advance`, tendered < amount, an implausible change, an
    unknown account, no open shift of this operator, no receipt numbers left.
    """
    amount = check_amount(amount_fen, cash_limits(store)["max_fen"])
    content, allocations = _account_content(store, account_no, amount, today, advance)
    return take_cash(store, amount_fen=amount, operator_id=operator_id, tendered_fen=tendered_fen,
                     account_no=account_no, allocations=allocations, content=content,
                     today=today, gps=gps)


# -- card ------------------------------------------------------------------------------------

def _offline_card(store: Store) -> tuple[int, int, str | None]:
    """(count, total fen, oldest device_time) of card payments not acknowledged by the gateway."""
    row = store.conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(p.amount_fen),0), MIN(p.device_time) FROM payments p "
        "LEFT JOIN outbox o ON o.op_id=p.op_id WHERE p.method='card' AND ("
        "p.state IN ('sent','unknown') OR (p.state='approved' AND "
        "(o.state IS NULL OR o.state NOT IN ('accepted','duplicate'))))").fetchone()
    return row[0], row[1], row[2]


def check_card_limits(store: Store, amount_fen: int, now: dt.datetime | None = None) -> None:
    lim = card_limits(store)
    check_amount(amount_fen, lim["max_fen"], lim["min_fen"])
    count, total, oldest = _offline_card(store)
    if count + 1 > lim["max_count"]:
        raise refusal("card_count_limit",
                      "{count} card payments await upload (limit {max_count}): sync first",
                      count=count, max_count=lim["max_count"])
    if total + amount_fen > lim["max_total_fen"]:
        raise refusal("card_total_limit",
                      "Card payments awaiting upload would exceed {max_total_fen} yuan: sync first",
                      max_total_fen=fen_text(lim["max_total_fen"]))
    if oldest is not None:
        now = now or dt.datetime.now().astimezone()
        age = now - dt.datetime.fromisoformat(oldest)
        if age > dt.timedelta(hours=lim["max_age_hours"]):
            raise refusal("card_age_limit",
                          "A card payment has waited more than {max_age_hours} h for upload: "
                          "sync first", max_age_hours=lim["max_age_hours"])


def _card_fields(result) -> tuple[dict, dict]:
    """(wire card dict, receipt card dict) from a terminal result; a bad PAN is dropped."""
    try:
        pan = masked_pan(getattr(result, "masked_pan", None))
    except CardDataError:
        pan = None  # never stored; the payment itself still stands
    wire = {"result_code": getattr(result, "result_code", None),
            "trace": getattr(result, "trace", None),
            "terminal_receipt_no": getattr(result, "receipt_no", None),
            "masked_pan": pan, "card_type": getattr(result, "card_type", None),
            "terminal_id": getattr(result, "terminal_id", None)}
    public = {"last4": pan[-4:] if pan else None, "card_type": wire["card_type"],
              "trace": wire["trace"], "terminal_receipt_no": wire["terminal_receipt_no"]}
    return wire, public


def _pay_row(conn, op_id: str) -> dict:
    row = conn.execute("SELECT * FROM payments WHERE op_id=?", (op_id,)).fetchone()
    if row is None:
        raise refusal("unknown_payment", "Payment {op_id} does not exist", op_id=op_id)
    return dict(row)


def _allocations(conn, op_id: str) -> list[dict]:
    rows = conn.execute("SELECT pa.account_no, pa.amount_fen, a.name FROM payment_allocations pa "
                        "LEFT JOIN accounts a ON a.account_no=pa.account_no "
                        "WHERE pa.payment_op_id=? ORDER BY pa.rowid", (op_id,)).fetchall()
    return [{"account_no": r[0], "name": r[2], "amount_fen": r[1]} for r in rows]


def _settle(store: Store, op_id: str, result, *, how: str) -> str:
    """Commit the terminal's result for a `sent`/`unknown` payment; returns the new state."""
    result = card_result(result)   # scrubbed: no card number goes further
    with store.transaction() as conn:
        pay = _pay_row(conn, op_id)
        if pay["state"] not in ("sent", "unknown"):
            return pay["state"]  # already settled (a result delivered twice)
        approved = bool(getattr(result, "approved", False))
        if approved and getattr(result, "amount_fen", None) != pay["amount_fen"]:
            conn.execute("UPDATE payments SET state='unknown', updated_at=? WHERE op_id=?",
                         (now_iso(), op_id))
            audit(conn, "card_amount_mismatch", pay["operator_id"], op_id=op_id)
            return "unknown"
        wire, public = _card_fields(result)
        state = "approved" if approved else "declined"
        content = _content_for(store, pay) if approved else None   # the bill before this payment
        conn.execute("UPDATE payments SET state=?, card=?, updated_at=? WHERE op_id=?",
                     (state, json.dumps(wire, sort_keys=True), now_iso(), op_id))
        if approved:
            pay["state"] = state
            _complete(store, conn, pay, _allocations(conn, op_id), dict(content, card=public), wire)
        audit(conn, f"card_{state}", pay["operator_id"], op_id=op_id, amount_fen=pay["amount_fen"],
              how=how)
        return state


def _content_for(store: Store, pay: dict) -> dict:
    """Receipt content of a card payment being booked (name, address, amount due before)."""
    if pay["agent_id"] is not None:
        row = store.conn.execute("SELECT name FROM agents WHERE agent_id=?",
                                 (pay["agent_id"],)).fetchone()
        return {"name": row[0] if row else pay["agent_id"]}
    return _account_content(store, pay["account_no"], pay["amount_fen"], None)[0]


def _mark_unknown(store: Store, op_id: str, why: str) -> None:
    with store.transaction() as conn:
        pay = _pay_row(conn, op_id)
        if pay["state"] == "sent":
            conn.execute("UPDATE payments SET state='unknown', updated_at=? WHERE op_id=?",
                         (now_iso(), op_id))
            audit(conn, "card_unknown", pay["operator_id"], op_id=op_id, why=why)


def _result(store: Store, op_id: str) -> PaymentResult:
    pay = _pay_row(store.conn, op_id)
    state = pay["state"]
    rec = None if pay["receipt_no"] is None else str(pay["receipt_no"])
    doc = receipt_docs.receipt_document(store, rec) if rec else None
    messages = {"approved": "交易成功 Approved", "declined": "交易被拒 Declined",
                "unknown": "结果未知，请查询终端 Result unknown: check with the terminal"}
    message = messages.get(state, state)
    code = json.loads(pay["card"]).get("result_code") if pay["card"] else None
    if state == "declined" and code is not None:
        message += f" ({code})"
    return PaymentResult(op_id, state, pay["amount_fen"], rec, None, doc, None, message,
                         due_after(store, pay["account_no"]) if state == "approved" else None)


def unknown_payments(store: Store) -> list[dict]:
    """Card payments whose result is not known (state `sent` or `unknown`), oldest first."""
    rows = store.conn.execute("SELECT op_id, account_no, agent_id, amount_fen, state, shift_id, "
                              "operator_id, device_time FROM payments WHERE method='card' AND "
                              "state IN ('sent','unknown') ORDER BY device_time").fetchall()
    return [dict(r) for r in rows]


def recover_card_payments(store: Store) -> dict:
    """On start-up: an `intent` never went out → `declined`; a `sent` one → `unknown`."""
    with store.transaction() as conn:
        declined = conn.execute("UPDATE payments SET state='declined', updated_at=? "
                                "WHERE method='card' AND state='intent'", (now_iso(),)).rowcount
        unknown = conn.execute("UPDATE payments SET state='unknown', updated_at=? "
                               "WHERE method='card' AND state='sent'", (now_iso(),)).rowcount
        if declined or unknown:
            audit(conn, "card_recovered", None, not_sent=declined, unknown=unknown)
    return {"declined": declined, "unknown": unknown}


def card_payment(store: Store, terminal, account_no: str | None, amount_fen: int,
                 operator_id: str, on_status=None, *, agent_id: str | None = None,
                 allocations: list[dict] | None = None, today: dt.date | None = None,
                 now: dt.datetime | None = None, advance: bool = False,
                 gps: dict | None = None) -> PaymentResult:
    """Take a card payment through the payment terminal for an account (more than its due
    only with `advance=True`, as for cash), or for an agent with the `allocations` that
    `agents.prepare` checked (`agents.agent_card_payment`). Returns the state reached:
    approved, declined or unknown."""
    if unknown_payments(store) or store.get_meta("card_reversal_pending"):
        raise refusal("card_unresolved",
                      "A card payment or reversal with an unknown result must be resolved first")
    check_card_limits(store, amount_fen, now)
    amount = amount_fen
    shift = shifts.require_open_shift(store, operator_id)
    receipts.require_numbers(store)
    if agent_id is not None:
        if not allocations or sum(a["amount_fen"] for a in allocations) != amount:
            raise refusal("allocation_sum",
                          "The allocated amounts must add up to the payment amount")
    else:
        allocations = _account_content(store, account_no, amount, today, advance)[1]
    pay = _new_payment("card", amount, operator_id, shift["shift_id"], account_no=account_no,
                       agent_id=agent_id, state="intent", gps=gps)
    op_id = pay["op_id"]
    with store.transaction() as conn:
        _insert(conn, pay, allocations)
        audit(conn, "card_intent", operator_id, op_id=op_id, amount_fen=amount)
    with store.transaction() as conn:
        conn.execute("UPDATE payments SET state='sent', updated_at=? WHERE op_id=?",
                     (now_iso(), op_id))

    settled = []

    def on_result(result):
        settled.append(_settle(store, op_id, result, how="terminal"))

    try:
        returned = terminal.authorize(amount, status_sink(on_status), on_result)
    except Exception as exc:  # TerminalLinkError (an OSError) or anything else: unknown
        _mark_unknown(store, op_id, type(exc).__name__)
        return _result(store, op_id)
    if not settled:
        if returned is not None:
            _settle(store, op_id, returned, how="returned")
        else:
            _mark_unknown(store, op_id, "no_result")
    return _result(store, op_id)


def resolve_unknown(store: Store, terminal, payment_op_id: str,
                    operator_id: str | None = None) -> PaymentResult:
    """Settle an unknown card payment from the terminal's record of its last transaction.

    It matches when the amount is the same, the trace is the payment's (if it has one) and
    the trace is not already booked to another payment: approved → booked with receipt and
    op; declined or no matching transaction → declined. If the terminal cannot be reached
    the payment stays unknown (LedgerError `terminal_unreachable`).
    """
    pay = _pay_row(store.conn, payment_op_id)
    if pay["method"] != "card" or pay["state"] not in ("sent", "unknown"):
        raise refusal("not_unknown", "This payment's result is already known")
    try:
        last = card_result(terminal.last_result())
    except Exception as exc:
        raise refusal("terminal_unreachable",
                      "Cannot reach the terminal; the payment stays unknown — try again") from exc
    own_trace = json.loads(pay["card"]).get("trace") if pay["card"] else None
    match = last is not None and getattr(last, "amount_fen", None) == pay["amount_fen"]
    if match and own_trace is not None:
        match = getattr(last, "trace", None) == own_trace
    trace = getattr(last, "trace", None) if last is not None else None
    if match and trace is not None:
        taken = store.conn.execute("SELECT 1 FROM payments WHERE method='card' AND state IN "
                                   "('approved','voided') AND op_id<>? AND "
                                   "json_extract(card,'$.trace')=?", (payment_op_id, trace)).fetchone()
        match = taken is None
    if match:
        _settle(store, payment_op_id, last, how="resolved")
    else:
        with store.transaction() as conn:
            conn.execute("UPDATE payments SET state='declined', updated_at=? WHERE op_id=? "
                         "AND state IN ('sent','unknown')", (now_iso(), payment_op_id))
            audit(conn, "card_declined", operator_id or pay["operator_id"], op_id=payment_op_id,
                  amount_fen=pay["amount_fen"], how="resolved_no_match")
    return _result(store, payment_op_id)
