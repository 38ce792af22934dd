"""Voids of cash payments: same shift only, supervisor approval, recorded as a new record.

A void never changes or deletes the payment's receipt: it writes a `voids` row, marks the
payment `voided`, issues a void slip as the next link of the receipt chain (its own receipt
number; amount = the payment's amount, so a void never returns more than was collected,
and a payment is voided at most once), writes the outbox op `void` (contracts §2) and an
audit entry — all in one transaction.

The approver must be an operator on this device holding the `supervisor` role. With
`supervisor_pin` the PIN is checked here (terminal.operators.approve: lockout and audit
included); without it the caller has already verified `approved_by` that way. Card payments are not voided here: they are reversed at the payment
terminal itself.
"""
from __future__ import annotations

import dataclasses
import json

from terminal import outbox, receipt_docs, receipts, shifts
from terminal.ledger_errors import LedgerError
from terminal.store import Store, audit, now_iso

MAX_REASON = 140


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


def void_payment(store: Store, payment_op_id: str, reason: str, operator_id: str,
                 approved_by: str, supervisor_pin: str | None = None) -> VoidResult:
    """Void a cash payment of the open shift, approved by a (PIN-verified) supervisor.

    Raises LedgerError (nothing written) — or operators.LoginError for a wrong PIN."""
    reason = (reason or "").strip()
    if not reason:
        raise LedgerError("reason_required", "请填写作废原因", "Enter the reason for the void")
    if len(reason) > MAX_REASON:
        raise LedgerError("reason_too_long", f"原因不能超过 {MAX_REASON} 个字",
                          f"The reason is limited to {MAX_REASON} characters")
    conn = store.conn
    if "supervisor" not in _roles(conn, approved_by or ""):
        raise LedgerError("not_supervisor", "作废须由主管批准", "A void needs a supervisor's approval")
    pay = conn.execute("SELECT * FROM payments WHERE op_id=?", (payment_op_id,)).fetchone()
    if pay is None:
        raise LedgerError("unknown_payment", "交易不存在", "That payment does not exist")
    if pay["state"] == "voided":
        raise LedgerError("already_voided", "该收据已作废", "This payment is already voided")
    if pay["method"] != "cash":
        raise LedgerError("card_void_at_terminal", "银行卡交易请在刷卡终端上撤销",
                          "Card payments are reversed on the payment terminal")
    if pay["state"] != "done":
        raise LedgerError("not_voidable", "该交易不能作废", "This payment cannot be voided")
    shift = shifts.current_shift(store)
    if shift is None or shift["shift_id"] != pay["shift_id"]:
        raise LedgerError("other_shift", "只能作废本班次的收据", "Only payments of the open shift can be voided")
    receipts.require_numbers(store)
    if supervisor_pin is not None:
        from terminal import operators
        operators.approve(store, approved_by, supervisor_pin, "void", payment_op_id=payment_op_id)
    op_id = outbox.new_op_id()
    amount = pay["amount_fen"]
    with store.transaction() as conn:
        # re-check inside the write lock: a second void of the same payment must fail
        if conn.execute("SELECT state FROM payments WHERE op_id=?", (payment_op_id,)).fetchone()[0] != "done":
            raise LedgerError("already_voided", "该收据已作废", "This payment is already voided")
        stamp = now_iso()
        conn.execute("INSERT INTO voids (op_id, payment_op_id, reason, approved_by, operator_id, "
                     "device_time) VALUES (?, ?, ?, ?, ?, ?)",
                     (op_id, payment_op_id, reason, approved_by, operator_id, stamp))
        conn.execute("UPDATE payments SET state='voided', updated_at=? WHERE op_id=?",
                     (stamp, payment_op_id))
        voided_no = str(pay["receipt_no"])
        receipt = receipts.issue(store, conn, kind="void", op_id=op_id, amount_fen=amount, fields={
            "voids_receipt_no": voided_no, "payment_op_id": payment_op_id,
            "account_no": pay["account_no"], "agent_id": pay["agent_id"], "reason": reason,
            "approved_by": approved_by, "operator_id": operator_id, "shift_id": pay["shift_id"]})
        outbox.append(conn, "void", {
            "payment_op_id": payment_op_id, "receipt_no": voided_no, "amount_fen": amount,
            "reason": reason, "approved_by": approved_by, "shift_id": pay["shift_id"],
            "receipt": receipt}, operator_id=operator_id, op_id=op_id, device_time=stamp)
        audit(conn, "void", operator_id, op_id=op_id, payment_op_id=payment_op_id,
              receipt_no=voided_no, amount_fen=amount, approved_by=approved_by, reason=reason)
        doc = receipt_docs.receipt_document(store, receipt["receipt_no"])
        job = receipt_docs.queue_print(store, doc)
    return VoidResult(op_id, payment_op_id, receipt["receipt_no"], voided_no, amount, doc, job)
