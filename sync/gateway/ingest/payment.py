"""The `payment` op: cash or card, one account or an agent's allocations; problems put
the payment in suspense (never lost); double collection after a third-party payment."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from sync.gateway import db
from sync.gateway.ingest.fields import MAX_INT, clip
from sync.gateway.ingest.receipts import store_receipt
from sync.gateway.ledger import apply_payment

if TYPE_CHECKING:
    from sync.gateway.ingest.batch import Batch


def handle_payment(b: Batch, op):
    p = op["payload"]   # checked by PaymentPayload
    amount = p["amount_fen"]
    account_no, agent_id = p.get("account_no"), p.get("agent_id")
    method = p.get("method")
    problems = []
    if amount <= 0:
        problems.append(("bad_amount", f"amount {amount} is not positive"))
    if method not in ("cash", "card"):
        problems.append(("bad_method", f"unknown method {method!r}"))
    targets = []
    allocations = p.get("allocations")
    if agent_id is not None or (isinstance(allocations, list) and allocations):
        if agent_id is not None and not _agent_exists(b, agent_id):
            problems.append(("unknown_agent", f"unknown agent {agent_id!r}"))
        if not isinstance(allocations, list) or not all(
                isinstance(a, dict) and type(a.get("amount_fen")) is int
                and 0 < a["amount_fen"] < MAX_INT for a in allocations):
            problems.append(("bad_allocations", "allocations are malformed"))
        else:
            targets = [(a.get("account_no"), a["amount_fen"]) for a in allocations]
            if sum(t[1] for t in targets) != amount:
                problems.append(("allocation_mismatch", "allocations do not add up to the amount"))
    else:
        targets = [(account_no, amount)]
    for no, _amt in targets:
        acc = b.accounts.get(no)
        if acc is None:
            problems.append(("unknown_account", f"unknown account {no!r}"))
        elif not acc["active"]:
            problems.append(("account_closed", f"account {no} is closed"))
    tendered, change = p.get("tendered_fen"), p.get("change_fen")
    if method == "cash" and type(tendered) is int and type(change) is int \
            and tendered - change != amount:
        b.exception("review", "cash_change_mismatch", "tendered - change != amount", op,
                    account_no, amount)
    suspense = bool(problems)
    applied = {}
    result = ("accepted", None, None)
    if suspense:
        code = problems[0][0]
        message = "; ".join(m for _c, m in problems)
        b.exception("suspense", code, "payment held in suspense: " + message, op,
                    account_no, amount, detail={"problems": [c for c, _m in problems]})
        result = ("accepted", "suspense", message)
    else:
        for no, amt in targets:
            doc = b.accounts.rows[no]["doc"]
            applied[no] = apply_payment(doc, amt, op["op_id"])
            b.accounts.emit_balance(no)
            _check_double(b, op, no, amt, applied[no][1])
    row = {"op_id": op["op_id"], "device_id": b.device_id, "operator_id": op.get("operator_id"),
           "account_no": clip(account_no), "agent_id": clip(agent_id),
           "method": clip(method), "amount_fen": amount, "shift_id": clip(p.get("shift_id")),
           "receipt_no": None, "suspense": suspense, "voided_by": None,
           "applied": db.dumps(applied), "payload": op["_stored"],
           "received_at": b.now}
    row["receipt_no"] = store_receipt(b, op, "payment", amount)
    b.payments.append(row)
    b.batch_payments[op["op_id"]] = row
    return result


def _check_double(b: Batch, op, account_no: str, amount: int, to_credit: int):
    """An on-site payment beyond the arrears after a third-party payment: collected twice."""
    paid_online = b.thirdparty_paid.get(account_no) or 0
    if to_credit > 0 and paid_online > 0 and b.accounts.rows[account_no]["bill_fen"] > 0:
        credit = min(to_credit, paid_online)
        b.exception("double_collection", "double_collection",
                    f"collected on site after a third-party payment; {credit} fen credited",
                    op, account_no, amount, credit)


def _agent_exists(b: Batch, agent_id) -> bool:
    if not isinstance(agent_id, str):
        return False
    cache = b.__dict__.setdefault("_agents", {})
    if agent_id not in cache:
        cache[agent_id] = b.conn.execute(select(db.agents.c.agent_id)
                                         .where(db.agents.c.agent_id == agent_id)).first() \
            is not None
    return cache[agent_id]
