"""Agent (区域代管: property manager, village association) lump payments and statements.

Allocation rule when the agent does not choose (documented, tested):
1. overdue money first — each member's arrears + late fee (less its credit and what was
   already paid here), oldest `arrears_due_date` first, ties in walk order;
2. then current charges, in walk order;
3. an amount above the members' total due is REFUSED (`amount_exceeds_due`): an advance
   payment must be allocated explicitly, so no money lands on an account by accident.
The agent may instead give explicit allocations `[{"account_no", "amount_fen"}]`: each a
member, each amount a positive int, no account twice, summing exactly to the amount
(advance payments allowed this way).
One payment row, one allocation row per account, one receipt listing them, one op.
"""
from __future__ import annotations

import datetime as dt
import json

from terminal import payments, receipt_docs, tariffs
from terminal.ledger_errors import LedgerError, Term, fen_text, refusal, require_int


def _agent(store, agent_id: str):
    row = store.conn.execute("SELECT * FROM agents WHERE agent_id=?", (agent_id,)).fetchone()
    if row is None:
        raise refusal("unknown_agent",
                      "Agent {agent_id} is not on this device", agent_id=agent_id)
    return row


def check_not_blocked(store, agent_id: str) -> None:
    """Refuse a new lump payment of an agent the office has blocked (over its limit or
    overdue; reference data `settings.blocked_agents`, docs/channels.md) until it lifts it."""
    try:
        blocked = json.loads(store.get_meta("blocked_agents") or "{}")
    except ValueError:
        blocked = {}
    block = blocked.get(agent_id) if isinstance(blocked, dict) else None
    if block:
        name = _agent(store, agent_id)["name"]
        reason = Term("", given={k: str(block.get(k) or "") for k in ("zh", "en")})
        raise refusal("agent_blocked", "Agent {name} is blocked: {reason}. No new lump "
                      "payments until the office lifts the block", name=name, reason=reason)


def members(store, agent_id: str) -> list[dict]:
    """The agent's member accounts on this device, in walk order."""
    _agent(store, agent_id)
    rows = store.conn.execute(
        "SELECT a.* FROM agent_members m JOIN accounts a ON a.account_no=m.account_no "
        "LEFT JOIN walk_order w ON w.account_no=a.account_no WHERE m.agent_id=? "
        "ORDER BY COALESCE(w.position, a.seq), a.account_no", (agent_id,)).fetchall()
    return [dict(r) for r in rows]


def dues(store, agent_id: str, today: dt.date | None = None) -> list[dict]:
    """Per member, in walk order: overdue part, current part, total due."""
    out = []
    for pos, m in enumerate(members(store, agent_id)):
        bill = tariffs.bill_for(store, m["account_no"], today=today)
        old = (bill.arrears_fen + bill.late_fee_fen - bill.credit_fen - bill.paid_here_fen
               + bill.voided_here_fen)
        old = min(bill.total_due_fen, max(0, old))
        out.append({"account_no": m["account_no"], "name": m["name"], "walk": pos,
                    "due_date": bill.arrears_due_date or "9999-12-31", "overdue_fen": old,
                    "current_fen": bill.total_due_fen - old, "total_due_fen": bill.total_due_fen,
                    "bill": bill})
    return out


def allocate(store, agent_id: str, amount_fen: int, today: dt.date | None = None) -> list[dict]:
    """Split `amount_fen` across the members by the rule in the module docstring."""
    require_int(amount_fen, "Amount")
    if amount_fen <= 0:
        raise refusal("amount_not_positive", "The amount must be greater than zero")
    table = dues(store, agent_id, today)
    total = sum(d["total_due_fen"] for d in table)
    if amount_fen > total:
        raise refusal("amount_exceeds_due",
                      "The amount exceeds the members' total due ({total} yuan); "
                      "allocate an advance payment account by account", total=fen_text(total))
    left = amount_fen
    got: dict[str, int] = {}
    order = sorted(table, key=lambda d: (d["due_date"], d["walk"])) + table
    parts = ["overdue_fen"] * len(table) + ["current_fen"] * len(table)
    for d, part in zip(order, parts):
        take = min(left, d[part])
        if take > 0:
            got[d["account_no"]] = got.get(d["account_no"], 0) + take
            left -= take
    names = {d["account_no"]: d["name"] for d in table}
    return [{"account_no": d["account_no"], "name": names[d["account_no"]],
             "amount_fen": got[d["account_no"]]} for d in table if d["account_no"] in got]


def check_allocations(store, agent_id: str, amount_fen: int, allocations: list[dict]) -> list[dict]:
    member = {m["account_no"]: m["name"] for m in members(store, agent_id)}
    seen: set[str] = set()
    out = []
    for a in allocations:
        acct = a.get("account_no")
        if acct not in member:
            raise refusal("not_a_member",
                          "Account {acct} is not a member of agent {agent_id}",
                          acct=acct, agent_id=agent_id)
        if acct in seen:
            raise refusal("duplicate_allocation", "Account {acct} appears twice", acct=acct)
        seen.add(acct)
        amt = require_int(a.get("amount_fen"), "Allocated amount")
        if amt <= 0:
            raise refusal("amount_not_positive",
                          "Each allocated amount must be greater than zero")
        out.append({"account_no": acct, "name": member[acct], "amount_fen": amt})
    if not out or sum(a["amount_fen"] for a in out) != amount_fen:
        raise refusal("allocation_sum", "The allocated amounts must add up to the payment amount")
    return out


def prepare(store, agent_id: str, amount_fen: int, allocations: list[dict] | None,
            today: dt.date | None = None) -> tuple[dict, list[dict]]:
    """(receipt content, allocations) of an agent payment, checked."""
    agent = _agent(store, agent_id)
    check_not_blocked(store, agent_id)
    require_int(amount_fen, "Amount")
    if allocations is None:
        allocations = allocate(store, agent_id, amount_fen, today)
    else:
        allocations = check_allocations(store, agent_id, amount_fen, allocations)
    return {"name": agent["name"]}, allocations


def agent_payment(store, agent_id: str, amount_fen: int, operator_id: str,
                  tendered_fen: int | None = None, allocations: list[dict] | None = None,
                  today: dt.date | None = None):
    """Take one cash lump payment from an agent, allocated by the rule or explicitly."""
    payments.check_amount(amount_fen, payments.cash_limits(store)["max_fen"])
    content, allocs = prepare(store, agent_id, amount_fen, allocations, today)
    return payments.take_cash(store, amount_fen=amount_fen, operator_id=operator_id,
                              tendered_fen=tendered_fen, agent_id=agent_id,
                              allocations=allocs, content=content, today=today)


def agent_card_payment(store, terminal, agent_id: str, amount_fen: int, operator_id: str,
                       on_status=None, *, allocations: list[dict] | None = None,
                       today: dt.date | None = None, now: dt.datetime | None = None):
    """Take one lump payment from an agent by bank card, allocated like cash (by the rule or
    explicitly), under the card crash rule of `payments.card_payment`."""
    payments.check_card_limits(store, amount_fen, now)
    allocs = prepare(store, agent_id, amount_fen, allocations, today)[1]
    return payments.card_payment(store, terminal, None, amount_fen, operator_id, on_status,
                                 agent_id=agent_id, allocations=allocs, today=today, now=now)


def statement(store, agent_id: str, today: dt.date | None = None) -> dict:
    """Every member's latest reading this cycle and amount due, with the total."""
    agent = _agent(store, agent_id)
    rows = []
    for d in dues(store, agent_id, today):
        r = tariffs.latest_reading(store.conn, d["account_no"])
        bill = d["bill"]
        rows.append({"account_no": d["account_no"], "name": d["name"],
                     "reading": None if r is None else r["value"], "kwh_e3": bill.kwh_e3,
                     "current_fen": bill.current_fen, "arrears_fen": bill.arrears_fen,
                     "late_fee_fen": bill.late_fee_fen, "total_due_fen": bill.total_due_fen})
    return {"agent_id": agent_id, "name": agent["name"],
            "date": (today or dt.date.today()).isoformat(), "members": rows,
            "total_due_fen": sum(r["total_due_fen"] for r in rows)}


def statement_document(store, agent_id: str, today: dt.date | None = None) -> dict:
    return receipt_docs.agent_statement_document(store, statement(store, agent_id, today))
