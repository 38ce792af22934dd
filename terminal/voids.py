"""Voids of cash and card payments: same shift only, supervisor approval, recorded as a new record.

A void never changes or deletes the payment's receipt: it writes a `voids` row, marks the
payment `voided`, issues a void slip as the next link of the receipt chain (its own receipt
number; amount = the payment's amount, so a void never returns more than was collected,
and a payment is voided at most once), writes the outbox op `void` (contracts §2) and an
audit entry — all in one transaction.

The approver must be an operator on this device holding the `supervisor` role. With
`supervisor_pin` the PIN is checked here (terminal.operators.approve: lockout and audit
included); without it the caller has already verified `approved_by` that way.

A card payment is voided by reversing it on the payment terminal, under the same crash rule
as a payment: the pending reversal is committed (meta `card_reversal_pending`) before the
command goes out, the void is committed inside the terminal's result callback before the
driver acknowledges it, and a reversal whose result is lost is settled from the terminal's
last transaction (`resolve_reversal`) — never sent twice.
"""
from __future__ import annotations

import dataclasses
import json

import fieldrules
from terminal import outbox, receipt_docs, receipts, shifts
from terminal.card_data import card_result, status_sink
from terminal.ledger_errors import LedgerError, refusal
from terminal.store import Store, audit, now_iso

REASON_FIELD = fieldrules.field("void", "reason")
APPROVER_FIELD = fieldrules.field("void", "approved_by")
MAX_REASON = REASON_FIELD.max_chars
PENDING_KEY = "card_reversal_pending"


@dataclasses.dataclass
class VoidResult:
    op_id: str
    payment_op_id: str
    receipt_no: str          # the void slip's own number
    voided_receipt_no: str
    amount_fen: int
    doc: dict
    print_job: object = None


def _roles(conn, operator_id: str) -> list[str]:
    row = conn.execute("SELECT roles FROM operators WHERE operator_id=?", (operator_id,)).fetchone()
    if row is None:
        return []
    try:
        roles = json.loads(row[0])
    except ValueError:
        roles = [r.strip() for r in row[0].split(",")]
    return list(roles) if isinstance(roles, list) else []


def _check(store: Store, payment_op_id: str, reason: str, approved_by: str):
    """The payment row and the cleaned reason, or LedgerError (nothing written)."""
    if reason is not None and not isinstance(reason, str):
        raise refusal("reason_invalid", "The reason must be text")
    reason = fieldrules.normalise(reason or "")
    if not reason:
        raise refusal("reason_required", "Enter the reason for the void")
    for field, value in ((REASON_FIELD, reason), (APPROVER_FIELD, approved_by)):
        problem = fieldrules.check(field, value) if isinstance(value, str) else None
        if problem:
            raise LedgerError(f"{field.key}_{problem.code}", problem.message_zh,
                              problem.message_en)
    conn = store.conn
    if "supervisor" not in _roles(conn, approved_by or ""):
        raise refusal("not_supervisor", "A void needs a supervisor's approval")
    pay = conn.execute("SELECT * FROM payments WHERE op_id=?", (payment_op_id,)).fetchone()
    if pay is None:
        raise refusal("unknown_payment", "That payment does not exist")
    if pay["state"] == "voided":
        raise refusal("already_voided", "This payment is already voided")
    if pay["state"] not in ("done", "approved"):
        raise refusal("not_voidable", "This payment cannot be voided")
    shift = shifts.current_shift(store)
    if shift is None or shift["shift_id"] != pay["shift_id"]:
        raise refusal("other_shift", "Only payments of the open shift can be voided")
    receipts.require_numbers(store)
    return dict(pay), reason


def _record(store: Store, pay: dict, reason: str, approved_by: str, operator_id: str,
            card: dict | None = None) -> VoidResult:
    """The void row, payment `voided`, void slip (chain link), op `void`, audit, print job."""
    op_id = outbox.new_op_id()
    amount = pay["amount_fen"]
    payment_op_id = pay["op_id"]
    with store.transaction() as conn:
        # re-check inside the write lock: a second void of the same payment must fail
        state = conn.execute("SELECT state FROM payments WHERE op_id=?", (payment_op_id,)).fetchone()[0]
        if state not in ("done", "approved"):
            raise refusal("already_voided", "This payment is already voided")
        stamp = now_iso()
        conn.execute("INSERT INTO voids (op_id, payment_op_id, reason, approved_by, operator_id, "
                     "device_time) VALUES (?, ?, ?, ?, ?, ?)",
                     (op_id, payment_op_id, reason, approved_by, operator_id, stamp))
        conn.execute("UPDATE payments SET state='voided', updated_at=? WHERE op_id=?",
                     (stamp, payment_op_id))
        voided_no = str(pay["receipt_no"])
        fields = {"voids_receipt_no": voided_no, "payment_op_id": payment_op_id,
                  "account_no": pay["account_no"], "agent_id": pay["agent_id"], "reason": reason,
                  "approved_by": approved_by, "operator_id": operator_id,
                  "shift_id": pay["shift_id"], "method": pay["method"]}
        if card is not None:
            fields["card"] = {"trace": card.get("trace"),
                              "terminal_receipt_no": card.get("terminal_receipt_no")}
        receipt = receipts.issue(store, conn, kind="void", op_id=op_id, amount_fen=amount,
                                 fields=fields)
        payload = {"payment_op_id": payment_op_id, "receipt_no": voided_no, "amount_fen": amount,
                   "reason": reason, "approved_by": approved_by, "shift_id": pay["shift_id"],
                   "receipt": receipt}
        if card is not None:
            payload["card"] = card
        outbox.append(conn, "void", payload, operator_id=operator_id, op_id=op_id, device_time=stamp)
        conn.execute("DELETE FROM meta WHERE key=?", (PENDING_KEY,))
        audit(conn, "void", operator_id, op_id=op_id, payment_op_id=payment_op_id,
              receipt_no=voided_no, amount_fen=amount, approved_by=approved_by, reason=reason,
              method=pay["method"])
        doc = receipt_docs.receipt_document(store, receipt["receipt_no"])
        job = receipt_docs.queue_print(store, doc)
    return VoidResult(op_id, payment_op_id, receipt["receipt_no"], voided_no, amount, doc, job)


def pending_reversal(store: Store) -> dict | None:
    """A card reversal whose result is unknown (settle it with `resolve_reversal`), or None."""
    raw = store.get_meta(PENDING_KEY)
    return json.loads(raw) if raw else None


def void_payment(store: Store, payment_op_id: str, reason: str, operator_id: str,
                 approved_by: str, supervisor_pin: str | None = None, *, terminal=None,
                 on_status=None) -> VoidResult:
    """Void a payment of the open shift, approved by a (PIN-verified) supervisor.

    Cash: recorded at once. Card: the payment terminal reverses it first (`terminal`
    required); the void is recorded inside the terminal's result callback, before the
    driver acknowledges it. A declined reversal records nothing (LedgerError
    `reversal_declined`); a link failure leaves the reversal pending (LedgerError
    `reversal_unknown`): settle it with `resolve_reversal`, never by reversing again.
    Raises LedgerError (nothing written) — or operators.LoginError for a wrong PIN."""
    pay, reason = _check(store, payment_op_id, reason, approved_by)
    if pay["method"] == "card":
        if terminal is None:
            raise refusal("card_void_needs_terminal",
                          "A card payment is voided by reversing it on the payment terminal")
        if pending_reversal(store) is not None:
            raise refusal("reversal_unresolved",
                          "A reversal with an unknown result must be resolved first")
        from terminal import payments
        if payments.unknown_payments(store):
            raise refusal("card_unresolved",
                          "A card payment with an unknown result must be resolved first")
        card = json.loads(pay["card"] or "{}")
        if card.get("terminal_receipt_no") is None:
            raise refusal("no_terminal_receipt",
                          "The terminal receipt number is unknown; the payment cannot be reversed")
    if supervisor_pin is not None:
        from terminal import operators
        operators.approve(store, approved_by, supervisor_pin, "void", payment_op_id=payment_op_id)
    if pay["method"] == "cash":
        return _record(store, pay, reason, approved_by, operator_id)
    return _reverse(store, terminal, pay, card, reason, approved_by, operator_id, on_status)


def _reversal_fields(result) -> dict:
    return {"result_code": getattr(result, "result_code", None),
            "trace": getattr(result, "trace", None),
            "terminal_receipt_no": getattr(result, "receipt_no", None),
            "terminal_id": getattr(result, "terminal_id", None)}


def _reverse(store, terminal, pay, card, reason, approved_by, operator_id, on_status):
    pending = {"payment_op_id": pay["op_id"], "reason": reason, "approved_by": approved_by,
               "operator_id": operator_id, "original_trace": card.get("trace")}
    with store.transaction() as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                     "SET value=excluded.value", (PENDING_KEY, json.dumps(pending)))
        audit(conn, "card_reversal_sent", operator_id, payment_op_id=pay["op_id"])
    outcome = []

    def on_result(result):
        outcome.append(_settle(store, pay, pending, card_result(result)))

    try:
        returned = terminal.reverse(int(card["terminal_receipt_no"]),
                                    status_sink(on_status), on_result)
    except Exception as exc:  # TerminalLinkError (an OSError) or anything else
        if not outcome:
            with store.transaction() as conn:
                audit(conn, "card_reversal_unknown", operator_id, payment_op_id=pay["op_id"],
                      why=type(exc).__name__)
            raise refusal("reversal_unknown",
                          "The reversal result is unknown: check with the terminal "
                          "(resolve it; do not reverse again)") from exc
        returned = None
    if not outcome and returned is not None:
        outcome.append(_settle(store, pay, pending, card_result(returned)))
    if not outcome or outcome[0] is None:
        raise refusal("reversal_declined",
                      "The terminal declined the reversal; the payment stands")
    return outcome[0]


def _settle(store, pay, pending, result) -> VoidResult | None:
    if getattr(result, "approved", False) and getattr(result, "amount_fen", None) in (
            pay["amount_fen"], 0, None):
        return _record(store, pay, pending["reason"], pending["approved_by"],
                       pending["operator_id"], card=_reversal_fields(result))
    with store.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE key=?", (PENDING_KEY,))
        audit(conn, "card_reversal_declined", pending["operator_id"], payment_op_id=pay["op_id"])
    return None


def resolve_reversal(store: Store, terminal) -> VoidResult | None:
    """Settle a reversal left pending by a link failure from the terminal's last transaction:
    an approved transaction of the payment's amount with a new trace (not booked to any
    payment) is the reversal → the void is recorded; otherwise nothing was reversed → None
    (the payment stands). LedgerError `terminal_unreachable` keeps it pending."""
    pending = pending_reversal(store)
    if pending is None:
        raise refusal("no_pending_reversal", "No reversal is pending")
    pay = dict(store.conn.execute("SELECT * FROM payments WHERE op_id=?",
                                  (pending["payment_op_id"],)).fetchone())
    try:
        last = card_result(terminal.last_result())
    except Exception as exc:
        raise refusal("terminal_unreachable",
                      "Cannot reach the terminal; the reversal stays pending — try again") from exc
    trace = getattr(last, "trace", None) if last is not None else None
    match = (last is not None and getattr(last, "approved", False)
             and getattr(last, "amount_fen", None) == pay["amount_fen"]
             and trace is not None and trace != pending.get("original_trace"))
    if match:
        booked = store.conn.execute("SELECT 1 FROM payments WHERE method='card' AND "
                                    "json_extract(card,'$.trace')=?", (trace,)).fetchone()
        match = booked is None
    if match:
        return _settle(store, pay, pending, last)
    _settle(store, pay, pending, _NotReversed())
    return None


class _NotReversed:
    approved = False
