"""The office settles an exception with money (docs/ledger.md, "Settling an exception"):
credit, refund, re-assign or write off. Each runs in the caller's write transaction
together with the exception's resolution (conditional on it being open, so a second
resolve — in this process or another — is refused and nothing is booked twice), the
balances (row-locked, sync/gateway/ledger.py), the change-feed entries every device holding
the route pulls, and one `exception_settlements` row the reports count.

Money a customer paid (`suspense`, `double_collection`) is credited, refunded or
re-assigned, never written off; any other exception is written off."""
from __future__ import annotations

import json

from sqlalchemy import select

from sync.gateway import db, money, supervisor
from sync.gateway.context import ApiError, now_iso
from sync.gateway.ledger import AccountCache, apply_payment, book, reverse_payment

ACTIONS = ("credit", "refund", "reassign", "write_off")
RECEIVED = frozenset({"suspense", "double_collection"})   # money a customer paid
# a write-off of these concerns the books of a device or a platform, not an account's debt
BOOKS_ONLY = frozenset({"closeout", "reconciliation", "review", "channel", "agent"})


def refuse(status: int, code: str, zh: str, en: str) -> ApiError:
    return ApiError(status, code, f"{zh} / {en}")


def settle(conn, by: str, exception_id: int, action: str, reason: str,
           target: str | None = None, audit_as: str | None = None) -> dict:
    """Resolve exception `exception_id` with `action` and move its money; `by` is named as
    who resolved it, `audit_as` (default `by`) in the audit row, which holds each touched
    account's balance before and after. Returns the exception as it was, the amount, what
    moved on balances and the balances ({account_no: {"before": {...}, "after": {...}}})."""
    if action not in ACTIONS:
        raise refuse(400, "unknown_action", "未知的处理方式", "unknown action")
    row = supervisor.resolve_exception_in(conn, by, exception_id, f"{action}: {reason}")
    _allowed(row, action, target)
    money = _Money(conn, row)
    amount = money.amount
    if action == "credit":
        moved = money.credit()
    elif action == "refund":
        moved = money.refund()
    elif action == "reassign":
        moved = money.reassign(target)
    else:
        moved = money.write_off()
    money.cache.flush()
    conn.execute(db.settlements.insert().values(
        exception_id=exception_id, kind=row["kind"], action=action,
        account_no=row["account_no"], target_account_no=target if action == "reassign" else None,
        amount_fen=amount, balance_fen=moved, reason=reason, by_user=by, at=now_iso()))
    balances = money.balances
    conn.execute(db.supervisor_audit.insert().values(
        at=now_iso(), operator_id=audit_as or by, action=f"exception_{action}",
        account_no=row["account_no"], detail=db.dumps({
            "before": {"id": exception_id, "kind": row["kind"], "resolved": False,
                       "balances": {no: b["before"] for no, b in balances.items()}},
            "after": {"id": exception_id, "resolved": True, "note": f"{action}: {reason}",
                      "balances": {no: b.get("after", b["before"])
                                   for no, b in balances.items()}},
            "amount_fen": amount, "balance_fen": moved,
            "target_account_no": target if action == "reassign" else None})))
    return {"exception": row, "amount_fen": amount, "balance_fen": moved,
            "accounts": balances}


def _allowed(row: dict, action: str, target: str | None) -> None:
    received = row["kind"] in RECEIVED
    if action == "write_off" and received:
        raise refuse(409, "action_not_allowed", "客户付的款只能转预存、退款或改派，不能核销",
                     "money a customer paid is credited, refunded or re-assigned, "
                     "not written off")
    if action != "write_off" and not received:
        raise refuse(409, "action_not_allowed", "此类异常只能核销",
                     "this kind of exception can only be written off")
    if action == "reassign" and not target:
        raise refuse(400, "target_required", "改派需要填写目标户号",
                     "a re-assignment needs the target account")
    if action == "reassign" and target == row["account_no"]:
        raise refuse(409, "same_account", "目标户号与原户号相同",
                     "the target account is the payment's own account")


def _snap(doc: dict) -> dict:
    return {"arrears_fen": doc["arrears_fen"], "credit_fen": doc["credit_fen"]}


class _Money:
    """The exception's amount, the accounts it concerns and the payment it came from."""

    def __init__(self, conn, row: dict):
        self.conn, self.row = conn, row
        self.cache = AccountCache(conn)
        self.balances: dict[str, dict] = {}
        booked = row["kind"] == "double_collection"   # credited when it was flagged
        self.amount = (row["credit_fen"] if booked else row["amount_fen"]) or 0
        if row["kind"] == "closeout" and row["amount_fen"] is None:
            self.amount = _closeout_variance(conn, row)
        self.booked = booked
        self.source = _source(conn, row)
        # a device's payment op: the balances that settle it name it as booked
        self.op_id = row["op_id"] if row["device_id"] and self.source else None
        self.voided = self._lock_source()

    def _lock_source(self) -> bool:
        """Lock the payment the money came from before any balance (PostgreSQL: FOR UPDATE;
        SQLite has one writer), the order a void or a platform reversal takes too, so the
        two wait for each other and the second reads what the first wrote. True when the
        payment has been voided: its money went back with the void."""
        kind = self.source[0] if self.source else None
        if kind == "device":
            p = db.payments.c
            return self.conn.execute(select(p.voided_by).where(p.op_id == self.source[1])
                                     .with_for_update()).scalar() is not None
        if kind == "channel":
            c = db.channel_payments.c
            amount, reversed_fen, refunded = self.conn.execute(
                select(c.amount_fen, c.reversed_fen, c.refunded_fen).where(
                    c.platform == self.source[1], c.trade_no == self.source[2])
                .with_for_update()).one()
            self.reversed = amount - reversed_fen - refunded < self.amount
        return False

    reversed = False   # a platform's payment: what is to go back already went back

    def _not_voided(self) -> None:
        if self.reversed:
            raise refuse(409, "payment_reversed", "该笔付款已由支付平台退回，不能再入账、退款或改派",
                         "the platform has already given this payment back: it cannot be "
                         "credited, refunded or re-assigned again")
        if self.voided:
            raise refuse(409, "payment_voided",
                         "该笔付款已作废，款项已随作废冲回，不能再入账、退款或改派",
                         "this payment was voided and its money went back with the void: "
                         "it cannot be credited, refunded or re-assigned again")

    def account(self, account_no: str | None, *, required: bool) -> dict | None:
        acc = self.cache.get(account_no) if account_no else None
        if acc is not None and not acc["active"]:
            acc = None
        if acc is None and required:
            raise refuse(404, "unknown_account", f"户号 {account_no or '—'} 不存在或已销户",
                         f"account {account_no or '—'} does not exist or is closed")
        if acc is not None:
            self.balances.setdefault(account_no, {"before": _snap(acc["doc"])})
        return acc

    def _changed(self, account_no: str) -> None:
        self.balances[account_no]["after"] = _snap(self.cache.rows[account_no]["doc"])
        self.cache.emit_balance(account_no)

    def _positive(self) -> None:
        if self.amount <= 0:
            raise refuse(409, "nothing_to_settle", "此异常没有可处理的金额",
                         "this exception carries no amount to settle")

    def credit(self) -> int:
        """Suspense: booked to its account (arrears first, the rest credit). A double
        collection is credit already: it stays so."""
        self._positive()
        if self.booked:
            return 0
        self._not_voided()
        no = self.row["account_no"]
        acc = self.account(no, required=True)
        applied = apply_payment(acc["doc"], self.amount, self.op_id)
        self._changed(no)
        self._mark_booked(no, applied)
        return self.amount

    def refund(self) -> int:
        """The money goes back to the payer: a booked amount is reversed first."""
        self._positive()
        self._not_voided()
        if not self.booked:
            self._name_on_source_account()
            return 0
        self._take_back(refunded=True)
        return self.amount

    def reassign(self, target: str) -> int:
        """Booked on `target` (which must exist), reversed from the first account."""
        self._positive()
        self._not_voided()
        self.cache.load([a for a in (self.row["account_no"], target) if a])   # locks in order
        acc = self.account(target, required=True)
        if self.booked:
            self._take_back(refunded=False)
        else:
            self._name_on_source_account()
        applied = apply_payment(acc["doc"], self.amount, self.op_id)
        self._changed(target)
        if self.booked:
            self._add_booking(target, applied)
        else:
            self._mark_booked(target, applied)
        return self.amount

    def write_off(self) -> int:
        """Recorded; an account's arrears drop by up to the amount (never below 0)."""
        no = self.row["account_no"]
        if self.row["kind"] in BOOKS_ONLY or self.amount <= 0:
            return 0
        acc = self.account(no, required=False)
        if acc is None or acc["doc"]["arrears_fen"] <= 0:
            return 0
        doc = acc["doc"]
        taken = min(self.amount, doc["arrears_fen"])
        doc["arrears_fen"] -= taken
        if doc["arrears_fen"] == 0:
            doc["arrears_due_date"] = None
        self._changed(no)
        return taken

    # -- the booked amount and the payment it came from
    def _take_back(self, refunded: bool) -> None:
        """Reverse the credited amount from the first account (ledger.reverse_payment: credit
        used meanwhile comes back as arrears); the payment's own booking shrinks by it, so a
        later void or platform reversal takes back only what is left."""
        no = self.row["account_no"]
        acc = self.account(no, required=False)
        if acc is not None:
            reverse_payment(acc["doc"], [0, self.amount, self._due()])
            if refunded and self.source and self.source[0] == "channel":
                third = acc["doc"].get("last_third_party") or {}
                if third.get("trade_no") == self.source[2]:
                    third["refunded_fen"] = third.get("refunded_fen", 0) + self.amount
            self._changed(no)
        kind, *key = self.source or (None,)
        if kind == "device":
            applied = json.loads(self._payment()["applied"])
            if no in applied:
                applied[no][1] = max(0, applied[no][1] - self.amount)
            self._update_payment(applied=db.dumps(applied))
        elif kind == "channel":
            pay = self._channel()
            values = {}
            if pay.applied:
                applied = json.loads(pay.applied)
                applied[1] = max(0, applied[1] - self.amount)
                values["applied"] = json.dumps(applied)
            if refunded:
                values["refunded_fen"] = pay.refunded_fen + self.amount
            if values:
                self._update_channel(**values)

    def _due(self):
        applied = None
        if self.source and self.source[0] == "device":
            applied = json.loads(self._payment()["applied"]).get(self.row["account_no"])
        elif self.source and self.source[0] == "channel" and self._channel().applied:
            applied = json.loads(self._channel().applied)
        return applied[2] if applied else None

    def _add_booking(self, target: str, applied: list) -> None:
        """A payment re-assigned in part: its void (device) or the platform's reversal
        (channel: a fourth element {target: booking} of its `applied`) reverses the
        target's share too, from the target."""
        if self.source and self.source[0] == "device":
            bookings = json.loads(self._payment()["applied"])
            bookings[target] = applied
            self._update_payment(applied=db.dumps(bookings))
        elif self.source and self.source[0] == "channel" and self._channel().applied:
            own = json.loads(self._channel().applied)
            moved = own[3] if len(own) > 3 else {}
            if target in moved:   # booked there before: the shares add up
                applied = [moved[target][0] + applied[0], moved[target][1] + applied[1],
                           moved[target][2]]
            moved[target] = applied
            self._update_channel(applied=json.dumps(own[:3] + [moved]))

    def _mark_booked(self, account_no: str, applied: list) -> None:
        """A suspense payment, now booked on `account_no`, leaves suspense."""
        kind = self.source[0] if self.source else None
        if kind == "device":
            self._update_payment(suspense=False, account_no=account_no,
                                 applied=db.dumps({account_no: applied}))
        elif kind == "channel":
            self._update_channel(status="credited" if applied[1] else "booked",
                                 account_no=account_no, applied=json.dumps(applied))
        elif kind == "thirdparty":
            t = db.thirdparty.c
            self.conn.execute(db.thirdparty.update().where(
                t.platform == self.source[1], t.txn_id == self.source[2]).values(
                suspense=False, account_no=account_no))

    def _name_on_source_account(self) -> None:
        """A device's suspense payment settled elsewhere: the balance of the account it was
        taken for names it, so the device stops counting it there (docs/ledger.md)."""
        no = self.row["account_no"]
        if self.op_id and self.account(no, required=False) is not None:
            book(self.cache.rows[no]["doc"], self.op_id)
            self._changed(no)

    def _payment(self) -> dict:
        p = db.payments.c
        return self.conn.execute(select(db.payments).where(p.op_id == self.source[1])
                                 ).mappings().one()

    def _update_payment(self, **values) -> None:
        self.conn.execute(db.payments.update().where(db.payments.c.op_id == self.source[1])
                          .values(**values))

    def _channel(self):
        c = db.channel_payments.c
        return self.conn.execute(select(db.channel_payments).where(
            c.platform == self.source[1], c.trade_no == self.source[2])).one()

    def _update_channel(self, **values) -> None:
        c = db.channel_payments.c
        self.conn.execute(db.channel_payments.update().where(
            c.platform == self.source[1], c.trade_no == self.source[2]).values(**values))


def _source(conn, row: dict) -> tuple | None:
    """The payment an exception of money received came from: ("device", op_id),
    ("channel", platform, trade_no) or ("thirdparty", platform, txn_id); None otherwise."""
    if row["kind"] not in RECEIVED:
        return None
    if row["device_id"] and row["op_id"]:
        found = conn.execute(select(db.payments.c.op_id).where(
            db.payments.c.op_id == row["op_id"])).first()
        return ("device", row["op_id"]) if found else None
    if row["op_id"] and ":" in row["op_id"]:
        platform, trade_no = row["op_id"].split(":", 1)
        c = db.channel_payments.c
        found = conn.execute(select(c.trade_no).where(c.platform == platform,
                                                      c.trade_no == trade_no)).first()
        return ("channel", platform, trade_no) if found else None
    detail = json.loads(row["detail"]) if row["detail"] else {}
    if isinstance(detail, dict) and detail.get("txn_id") and detail.get("platform"):
        return ("thirdparty", detail["platform"], detail["txn_id"])
    return None


def _closeout_variance(conn, row: dict) -> int:
    """A closeout mismatch queued before its exception carried the variance: expected −
    counted, from the closeout report the gateway kept for the shift (0 when none)."""
    detail = json.loads(row["detail"]) if row["detail"] else {}
    shift_id = detail.get("shift_id") or (row["message"] or "").removeprefix(
        "shift ").removesuffix(" does not reconcile")
    c = db.closeouts.c
    report = conn.execute(select(c.report).where(
        c.device_id == detail.get("device_id"), c.shift_id == shift_id)).scalar()
    if report is None:
        return 0
    report = json.loads(report)
    return money.closeout_net(report["device"]["sums_fen"]) \
        - money.closeout_net(report["server"]["sums_fen"])
