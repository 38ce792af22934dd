"""Op batch ingest (POST /v1/ops): envelope validation, idempotent apply in seq order.

Per batch, the `sync_ops` idempotency rows and every business effect (readings, payments,
voids, receipts, balances, change feed, exception queue) are collected in memory while the
ops are checked in seq order, then written together in the same transaction. Dedup key is
(device_id, op_id) + payload hash; business tables also carry UNIQUE(op_id). Batches that
arrive concurrently share one transaction (group commit); if it fails, each batch is redone
alone, and a batch that hits an integrity error is redone one op per transaction, so one
bad op cannot take the others down.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from sync import protocol
from sync.gateway import db
from sync.gateway.context import ApiError, Context, now_iso
from sync.gateway.ledger import AccountCache, apply_payment, reverse_payment

MAX_INT = 2 ** 53
HEX64 = re.compile(r"^[0-9a-f]{64}$")
PAN_RUN = re.compile(r"\d{12,19}")
RECORD_ONLY_TYPES = {"card_unknown_resolved", "refund"}


class Invalid(Exception):
    """The op's payload is malformed: rejected (and kept in the exception queue)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class Retry(Exception):
    """This op cannot be applied yet (e.g. a void whose payment is in a seq gap)."""


# ---------------------------------------------------------------- envelope validation

def parse_batch(body: bytes, max_ops: int) -> list[dict]:
    """Decode and validate the batch envelope; raises ApiError 400/413."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "request body is not valid JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("ops"), list):
        raise ApiError(400, "invalid_envelope", 'body must be {"ops": [envelope, ...]}')
    ops = doc["ops"]
    if len(ops) > max_ops:
        raise ApiError(413, "batch_too_large", f"at most {max_ops} ops per batch")
    for i, op in enumerate(ops):
        problem = _envelope_problem(op)
        if problem:
            raise ApiError(400, "invalid_envelope", f"ops[{i}]: {problem}")
    return ops


def _envelope_problem(op) -> str | None:
    if not isinstance(op, dict):
        return "must be an object"
    if not isinstance(op.get("op_id"), str) or not 1 <= len(op["op_id"]) <= 100:
        return "op_id must be a string of 1..100 characters"
    seq = op.get("seq")
    if type(seq) is not int or not 1 <= seq < MAX_INT:
        return "seq must be an integer >= 1"
    if not isinstance(op.get("type"), str) or not 1 <= len(op["type"]) <= 40:
        return "type must be a string of 1..40 characters"
    if not isinstance(op.get("payload"), dict):
        return "payload must be an object"
    if not isinstance(op.get("payload_sha256"), str) or len(op["payload_sha256"]) > 128:
        return "payload_sha256 must be a hex string"
    for key in ("device_time", "operator_id"):
        if op.get(key) is not None and (not isinstance(op[key], str) or len(op[key]) > 64):
            return f"{key} must be a string or null"
    try:
        for key in ("op_id", "type", "device_time", "operator_id"):
            if op.get(key) is not None:
                op[key].encode("utf-8")
    except UnicodeEncodeError:
        return "text holds lone UTF-16 surrogates"
    return None


# ---------------------------------------------------------------- payload field helpers

def _int(p: dict, key: str, lo: int = -MAX_INT, hi: int = MAX_INT, null: bool = True):
    v = p.get(key)
    if v is None and null:
        return None
    if type(v) is not int or not lo <= v <= hi:
        raise Invalid("invalid_payload", f"{key} must be an integer in [{lo}, {hi}]")
    return v


def _str(p: dict, key: str, null: bool = True, maxlen: int = 200):
    v = p.get(key)
    if v is None and null:
        return None
    if not isinstance(v, str) or not 0 < len(v) <= maxlen:
        raise Invalid("invalid_payload", f"{key} must be a non-empty string")
    return v


def _clip(value):
    """A string short enough for an indexed column, else None (the raw payload keeps it)."""
    return value if isinstance(value, str) and len(value) <= 200 else None


def _mask_card(payload: dict) -> dict:
    """Never store a full card number: mask any long digit run in the card block."""
    card = payload.get("card")
    if isinstance(card, dict) and any(isinstance(v, str) and PAN_RUN.search(v)
                                      for v in card.values()):
        payload = dict(payload)
        payload["card"] = {k: PAN_RUN.sub(lambda m: m[0][:6] + "*" * (len(m[0]) - 10)
                                          + m[0][-4:], v) if isinstance(v, str) else v
                           for k, v in card.items()}
    return payload


# ---------------------------------------------------------------- the batch

class Batch:
    """Everything one ops request writes, collected in memory and flushed at once."""

    def __init__(self, ctx: Context, conn, device: dict, ops: list[dict]):
        self.ctx, self.conn, self.device, self.now = ctx, conn, device, now_iso()
        self.device_id = device["device_id"]
        self.ops = sorted(ops, key=lambda o: o["seq"])
        self.accounts = AccountCache(conn)
        self.sync_rows, self.readings, self.payments, self.voids = [], [], [], []
        self.receipts, self.shift_rows, self.exceptions = [], [], []
        self.supersede, self.void_marks = [], []
        self.results: list[dict] = []
        self._prefetch()

    # -- prefetch what the ops refer to, a few queries per batch
    def _prefetch(self):
        c, d, q = self.conn, self.device_id, db.in_query
        self.known = {r[0]: _Prior(*r[1:]) for r in q(
            c, "SELECT op_id, seq, payload_sha256, status, code, message FROM sync_ops "
               "WHERE device_id = {p} AND op_id IN ({in})", (d,), [o["op_id"] for o in self.ops])}
        self.seq_owner = dict(q(c, "SELECT seq, op_id FROM sync_ops "
                                   "WHERE device_id = {p} AND seq IN ({in})",
                                (d,), [o["seq"] for o in self.ops]))
        payloads = [o["payload"] for o in self.ops]
        account_nos = {p.get("account_no") for p in payloads}
        for p in payloads:
            allocations = p.get("allocations")
            if isinstance(allocations, list):
                account_nos.update(a.get("account_no") for a in allocations
                                   if isinstance(a, dict))
        self.accounts.load(account_nos)
        names = [a for a in account_nos if isinstance(a, str)]
        # (account_no, cycle) -> the current reading: a pending row dict or {"op_id", "db"}
        self.current = {(no, cycle): {"op_id": op_id, "db": True} for op_id, no, cycle in q(
            c, "SELECT op_id, account_no, cycle FROM readings WHERE account_no IN ({in}) "
               "AND state = 'current' AND superseded_by IS NULL", (), names)}
        self.thirdparty_paid = dict(q(
            c, "SELECT account_no, sum(amount_fen) FROM thirdparty_payments "
               "WHERE account_no IN ({in}) AND NOT suspense GROUP BY account_no", (), names))
        refs = {p.get("payment_op_id") for p in payloads} | {p.get("corrects") for p in payloads}
        refs = [r for r in refs if isinstance(r, str)]
        cols = ("op_id", "account_no", "amount_fen", "voided_by", "applied")
        self.db_payments = {r[0]: dict(zip(cols, r)) for r in q(
            c, f"SELECT {', '.join(cols)} FROM payments WHERE op_id IN ({{in}})", (), refs)}
        self.db_readings = {r[0] for r in q(c, "SELECT op_id FROM readings "
                                               "WHERE op_id IN ({in})", (), refs)}
        self.receipt_nos = {r[0] for r in q(
            c, "SELECT receipt_no FROM receipts WHERE device_id = {p} AND receipt_no IN ({in})",
            (d,), {str(p["receipt"].get("receipt_no")) for p in payloads
                   if isinstance(p.get("receipt"), dict)})}
        self.batch_payments: dict[str, dict] = {}

    def exception(self, kind: str, code: str, message: str, op: dict | None = None,
                  account_no=None, amount_fen=None, credit_fen=None, detail=None):
        self.exceptions.append({
            "kind": kind, "code": code, "message": message, "device_id": self.device_id,
            "op_id": op["op_id"] if op else None, "seq": op["seq"] if op else None,
            "account_no": _clip(account_no), "amount_fen": amount_fen, "credit_fen": credit_fen,
            "detail": db.dumps(detail) if detail is not None else None,
            "created_at": self.now, "resolved_at": None, "resolved_by": None,
            "resolution_note": None})

    # -- the per-op loop
    def run(self) -> list[dict]:
        seen: dict[str, tuple] = {}
        blocked = False
        for op in self.ops:
            op_id, seq = op["op_id"], op["seq"]
            if blocked:
                self.results.append(_res(op, "retry", "not_processed",
                                         "an earlier op in this batch must be retried first"))
                continue
            try:
                text = protocol.canonical_json(op["payload"])
            except (UnicodeEncodeError, ValueError, RecursionError):
                self.results.append(_res(op, "rejected", "invalid_text",
                                         "payload cannot be stored (e.g. lone surrogates)"))
                self.exception("rejected", "invalid_text", "payload cannot be stored", op)
                continue
            digest = hashlib.sha256(text).hexdigest()
            if op["payload_sha256"] != digest:
                self.results.append(_res(op, "rejected", "bad_hash",
                                         "payload_sha256 does not match the payload"))
                self.exception("rejected", "bad_hash", "payload hash mismatch", op)
                continue
            prior = self.known.get(op_id) or seen.get(op_id)
            if prior is not None:
                self.results.append(self._repeat(op, prior, digest))
                continue
            # A seq already held by another op (e.g. a device restored from a backup): the
            # op is still applied — captures are never dropped — but flagged for review.
            owner = self.seq_owner.get(seq)
            seq_clash = owner is not None and owner != op_id
            stored = text.decode("utf-8")
            if op["type"] == "payment" and isinstance(op["payload"].get("card"), dict):
                masked = _mask_card(op["payload"])
                if masked is not op["payload"]:
                    stored = db.dumps(masked)
            op["_stored"] = stored
            try:
                status, code, message = self._apply(op)
            except Retry as exc:
                self.results.append(_res(op, "retry", "retry_later", str(exc)))
                blocked = True
                continue
            except Invalid as exc:
                status, code, message = "rejected", exc.code, exc.message
                self.exception("rejected", exc.code, exc.message, op)
            if seq_clash and status == "accepted":
                status, code, message = "conflict", "seq_conflict", \
                    f"seq {seq} is also held by op {owner}"
                self.exception("conflict", "seq_conflict", message, op, detail={"held_by": owner})
            self.sync_rows.append({
                "device_id": self.device_id, "op_id": op_id, "seq": seq, "type": op["type"],
                "operator_id": op.get("operator_id"), "device_time": op.get("device_time"),
                "payload": stored, "payload_sha256": digest, "status": status,
                "code": code, "message": message, "received_at": self.now})
            seen[op_id] = _Prior(seq, digest, status, code, message)
            self.seq_owner.setdefault(seq, op_id)
            self.results.append(_res(op, status, code, message))
        return self.results

    def _repeat(self, op, prior, digest) -> dict:
        if prior.payload_sha256 != digest:
            self.exception("rejected", "payload_mismatch",
                           "op_id reused with a different payload; not applied", op,
                           detail={"held_seq": prior.seq})
            return _res(op, "rejected", "payload_mismatch",
                        "op_id already held with a different payload")
        if prior.status == "rejected":
            return _res(op, "rejected", prior.code, prior.message)
        return _res(op, "duplicate", prior.code, "already held")

    def _apply(self, op) -> tuple[str, str | None, str | None]:
        handler = HANDLERS.get(op["type"])
        if handler is None:
            if op["type"] in RECORD_ONLY_TYPES:
                return "accepted", None, None
            self.exception("rejected", "unknown_type", f"unknown op type {op['type']!r}", op)
            return "rejected", "unknown_type", f"unknown op type {op['type']!r}"
        return handler(self, op)

    # -- writing
    def flush(self) -> None:
        c = self.conn
        for table, rows in ((db.sync_ops, self.sync_rows), (db.readings, self.readings),
                            (db.payments, self.payments), (db.voids, self.voids),
                            (db.receipts, self.receipts), (db.shift_events, self.shift_rows),
                            (db.exceptions, self.exceptions)):
            db.insert_many(c, table, rows)
        if self.supersede:
            c.execute(db.readings.update().where(db.readings.c.op_id == bindparam("old"))
                      .values(superseded_by=bindparam("new")), self.supersede)
        if self.void_marks:
            c.execute(db.payments.update().where(db.payments.c.op_id == bindparam("old"))
                      .values(voided_by=bindparam("new")), self.void_marks)
        self.accounts.flush()

    def has_gap_below(self, seq: int) -> bool:
        held = set(self.seq_owner)
        return any(s not in held for s in range(self.device["contiguous_seq"] + 1, seq))


class _Prior:
    __slots__ = ("seq", "payload_sha256", "status", "code", "message")

    def __init__(self, seq, payload_sha256, status, code, message):
        self.seq, self.payload_sha256 = seq, payload_sha256
        self.status, self.code, self.message = status, code, message


def _res(op, status, code=None, message=None) -> dict:
    return {"op_id": op["op_id"], "seq": op["seq"], "status": status, "code": code,
            "message": message}


# ---------------------------------------------------------------- handlers per op type

def _reading(b: Batch, op):
    p = op["payload"]
    account_no = _str(p, "account_no", null=False, maxlen=32)
    status = p.get("status")
    if status not in ("read", "skipped"):
        raise Invalid("invalid_payload", "status must be 'read' or 'skipped'")
    value = _int(p, "value", 0)
    consumption = _int(p, "consumption")
    kwh_e3 = _int(p, "kwh_e3")
    for key in ("meter_no", "route_id", "cycle", "skip_code", "trouble_code", "corrects"):
        _str(p, key)
    if status == "read" and value is None:
        raise Invalid("invalid_payload", "a read needs a value")
    row = {"op_id": op["op_id"], "device_id": b.device_id, "operator_id": op.get("operator_id"),
           "account_no": account_no, "meter_no": p.get("meter_no"), "route_id": p.get("route_id"),
           "cycle": p.get("cycle"), "status": status, "value": value,
           "consumption": consumption, "kwh_e3": kwh_e3, "skip_code": p.get("skip_code"),
           "trouble_code": p.get("trouble_code"), "corrects": p.get("corrects"),
           "superseded_by": None, "state": "current",
           "payload": op["_stored"], "received_at": b.now}
    acc = b.accounts.get(account_no)
    result = ("accepted", None, None)
    if acc is None or not acc["active"]:
        row["state"] = "conflict"
        code = "unknown_account" if acc is None else "account_closed"
        result = ("conflict", code, f"account {account_no} is not an active account")
    elif p.get("route_id") and p["route_id"] != acc["route_id"]:
        row["state"] = "conflict"
        result = ("conflict", "account_moved", f"account {account_no} is now on route "
                                               f"{acc['route_id']}")
    if row["cycle"] is None and acc is not None:
        row["cycle"] = _route_cycle(b, acc["route_id"])
    key = (account_no, row["cycle"])
    if row["state"] == "current":
        current = b.current.get(key)
        corrects = p.get("corrects")
        if corrects:
            if current is not None and current["op_id"] == corrects:
                _supersede(b, current, op["op_id"])
            elif corrects in b.db_readings or any(r["op_id"] == corrects for r in b.readings):
                if current is not None:
                    _supersede(b, current, op["op_id"])
            else:
                b.exception("review", "correction_target_unknown",
                            f"correction of an unknown reading {corrects}", op, account_no)
                if current is not None:
                    _supersede(b, current, op["op_id"])
            b.current[key] = row
        elif current is not None:
            row["state"] = "conflict"
            result = ("conflict", "duplicate_reading",
                      f"meter of {account_no} already read in cycle {row['cycle']}")
        else:
            b.current[key] = row
    if row["state"] == "conflict":
        b.exception("conflict", result[1], result[2], op, account_no,
                    detail={"value": value, "status": status})
    if p.get("trouble_code"):
        b.exception("trouble", str(p["trouble_code"]), "trouble reported at the meter", op,
                    account_no, detail={"note": p.get("note")})
    b.readings.append(row)
    return result


def _supersede(b: Batch, current: dict, new_op_id: str):
    if current.get("db"):
        b.supersede.append({"old": current["op_id"], "new": new_op_id})
    else:
        current["superseded_by"] = new_op_id


def _route_cycle(b: Batch, route_id: str):
    cycle = b.__dict__.setdefault("_cycles", {})
    if route_id not in cycle:
        cycle[route_id] = b.conn.execute(select(db.routes.c.cycle)
                                         .where(db.routes.c.route_id == route_id)).scalar()
    return cycle[route_id]


def _payment(b: Batch, op):
    p = op["payload"]
    amount = _int(p, "amount_fen", null=False)
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
            applied[no] = apply_payment(doc, amt)
            b.accounts.emit_balance(no)
            _check_double(b, op, no, amt, applied[no][1])
    row = {"op_id": op["op_id"], "device_id": b.device_id, "operator_id": op.get("operator_id"),
           "account_no": _clip(account_no), "agent_id": _clip(agent_id),
           "method": _clip(method), "amount_fen": amount, "shift_id": _clip(p.get("shift_id")),
           "receipt_no": None, "suspense": suspense, "voided_by": None,
           "applied": db.dumps(applied), "payload": op["_stored"],
           "received_at": b.now}
    row["receipt_no"] = _store_receipt(b, op, "payment", amount)
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


def _store_receipt(b: Batch, op, kind: str, amount: int) -> str | None:
    """Keep the receipt for verification; chain or code problems go to review."""
    r = op["payload"].get("receipt")
    if not isinstance(r, dict):
        b.exception("review", "receipt_missing", "op carries no receipt", op,
                    op["payload"].get("account_no"), amount)
        return None
    receipt_no, content = r.get("receipt_no"), r.get("content")
    prev_hash, hash_, code = r.get("prev_hash"), r.get("hash"), r.get("verify_code")
    if not (isinstance(receipt_no, (str, int)) and type(receipt_no) is not bool
            and len(str(receipt_no)) <= 32 and isinstance(content, dict)
            and isinstance(prev_hash, str) and HEX64.match(prev_hash)
            and isinstance(hash_, str) and HEX64.match(hash_) and isinstance(code, str)
            and len(code) <= 64):
        b.exception("review", "receipt_malformed", "receipt fields are malformed", op,
                    op["payload"].get("account_no"), amount)
        return None
    receipt_no = str(receipt_no)
    if receipt_no in b.receipt_nos:
        b.exception("review", "receipt_no_reused", f"receipt {receipt_no} already held", op,
                    op["payload"].get("account_no"), amount)
        return None
    problems = []
    if protocol.receipt_hash(prev_hash, content) != hash_:
        problems.append("hash does not match the content")
    expected = protocol.verify_code(b.device["device_key"], b.device_id, receipt_no, amount,
                                    hash_)
    if code != expected:
        problems.append("verify code does not match")
    if problems:
        b.exception("review", "receipt_invalid", "; ".join(problems), op,
                    op["payload"].get("account_no"), amount, detail={"receipt_no": receipt_no})
    b.receipt_nos.add(receipt_no)
    b.receipts.append({"device_id": b.device_id, "receipt_no": receipt_no,
                       "op_id": op["op_id"], "kind": kind, "amount_fen": amount,
                       "content": db.dumps(content), "prev_hash": prev_hash, "hash": hash_,
                       "verify_code": code})
    return receipt_no


def _void(b: Batch, op):
    p = op["payload"]
    target = _str(p, "payment_op_id", null=False, maxlen=100)
    amount = _int(p, "amount_fen", null=False)
    pay = b.batch_payments.get(target) or b.db_payments.get(target)
    if pay is None:
        key = (b.device_id, op["op_id"])
        first = b.ctx.first_retry.setdefault(key, time.monotonic())
        if b.has_gap_below(op["seq"]) and \
                time.monotonic() - first < b.ctx.settings.void_retry_timeout_s:
            raise Retry("the voided payment has not arrived yet")
        b.ctx.first_retry.pop(key, None)
        b.exception("conflict", "void_unknown_payment", f"void of unknown payment {target}",
                    op, amount_fen=amount)
        _store_receipt(b, op, "void", amount)
        b.voids.append(_void_row(b, op, target, amount))
        return "conflict", "void_unknown_payment", "voided payment not found"
    if pay["voided_by"]:
        b.exception("conflict", "already_voided", f"payment {target} was already voided", op,
                    pay["account_no"], amount)
        result = ("conflict", "already_voided", "payment already voided")
    elif pay["amount_fen"] != amount:
        b.exception("conflict", "void_amount_mismatch", "void amount differs from payment", op,
                    pay["account_no"], amount)
        result = ("conflict", "void_amount_mismatch", "void amount differs from the payment")
    else:
        for no, applied in json.loads(pay["applied"]).items():
            acc = b.accounts.get(no)
            if acc is not None:
                reverse_payment(acc["doc"], applied)
                b.accounts.emit_balance(no)
        if target in b.batch_payments:
            b.batch_payments[target]["voided_by"] = op["op_id"]
        else:
            pay["voided_by"] = op["op_id"]
            b.void_marks.append({"old": target, "new": op["op_id"]})
        result = ("accepted", None, None)
    _store_receipt(b, op, "void", amount)
    b.voids.append(_void_row(b, op, target, amount))
    return result


def _void_row(b, op, target, amount):
    p = op["payload"]
    return {"op_id": op["op_id"], "device_id": b.device_id, "payment_op_id": target,
            "amount_fen": amount, "reason": str(p.get("reason"))[:500],
            "approved_by": str(p.get("approved_by"))[:32],
            "payload": db.dumps(p), "received_at": b.now}


def _shift(b: Batch, op):
    p = op["payload"]
    shift_id = _str(p, "shift_id", null=False, maxlen=64)
    if op["type"] == "shift_open":
        _int(p, "float_fen", 0)
    else:
        for key in ("counted_fen", "expected_fen", "variance_fen"):
            _int(p, key)
        if p.get("variance_fen"):
            b.exception("review", "cash_variance",
                        f"shift {shift_id} closed with variance {p['variance_fen']} fen", op,
                        amount_fen=p.get("variance_fen"))
    b.shift_rows.append({"op_id": op["op_id"], "device_id": b.device_id, "shift_id": shift_id,
                         "type": op["type"], "payload": db.dumps(p)})
    return "accepted", None, None


HANDLERS = {"reading": _reading, "payment": _payment, "void": _void,
            "shift_open": _shift, "shift_close": _shift}


# ---------------------------------------------------------------- entry point

class _Pending:
    __slots__ = ("device", "ops", "result", "error")

    def __init__(self, device, ops):
        self.device, self.ops, self.result, self.error = device, ops, None, None


def ingest(ctx: Context, device: dict, ops: list[dict]) -> dict:
    """Apply one batch; returns {"results", "missing_seqs"}.

    Group commit: batches that arrive while another is being written queue up; whichever
    request gets the writer lock next applies every queued batch (each in seq order, one
    after the other) in a single transaction, so concurrent devices share one fsync.
    """
    item = _Pending(device, ops)
    if not ctx.settings.group_commit:
        with ctx.write_lock:
            _apply_alone(ctx, item)
        if item.error is not None:
            raise item.error
        return item.result
    with ctx.group_lock:
        ctx.group_queue.append(item)
    with ctx.write_lock:
        if item.result is None and item.error is None:
            with ctx.group_lock:
                group, ctx.group_queue = ctx.group_queue[:64], ctx.group_queue[64:]
            _apply_group(ctx, group)
    if item.error is not None:
        raise item.error
    return item.result


def _apply_group(ctx: Context, group: list[_Pending]) -> None:
    try:
        with ctx.transaction() as conn:
            outcomes = [_apply_one(ctx, conn, p.device, p.ops) for p in group]
    except Exception:  # one bad batch must not fail the others: redo them one by one
        for p in group:
            _apply_alone(ctx, p)
        return
    _committed(ctx, len(group))
    for p, (results, missing) in zip(group, outcomes):
        p.result = {"results": results, "missing_seqs": missing}


def _apply_alone(ctx: Context, p: _Pending) -> None:
    try:
        try:
            with ctx.transaction() as conn:
                results, missing = _apply_one(ctx, conn, p.device, p.ops)
            _committed(ctx, 1)
        except IntegrityError:  # e.g. an op_id another device already used
            results, missing = [], []
            for op in sorted(p.ops, key=lambda o: o["seq"]):
                try:
                    with ctx.transaction() as conn:
                        one, missing = _apply_one(ctx, conn, p.device, [op])
                    _committed(ctx, 1)
                    results.extend(one)
                except IntegrityError:
                    results.append(_res(op, "rejected", "op_id_reused",
                                        "op_id already used by another device"))
        p.result = {"results": results, "missing_seqs": missing}
    except Exception as exc:  # noqa: BLE001 — handed to the waiting request
        p.error = exc


def _committed(ctx: Context, n: int) -> None:
    before = ctx.committed_batches
    ctx.committed_batches += n
    fault = ctx.settings.fault_after_commit
    if fault is not None and before < fault <= ctx.committed_batches:
        os._exit(75)  # fault hook: committed but never answered


def _apply_one(ctx: Context, conn, device: dict, ops: list[dict]):
    dev = dict(conn.execute(select(db.devices).where(
        db.devices.c.device_id == device["device_id"])).mappings().one())
    batch = Batch(ctx, conn, dev, ops)
    results = batch.run()
    batch.flush()
    _advance(conn, dev, batch)
    return results, device_missing(conn, device["device_id"])


def _advance(conn, dev: dict, batch: Batch) -> None:
    """Move the device's contiguous high-water mark over newly held seqs."""
    contiguous = dev["contiguous_seq"]
    new = [r["seq"] for r in batch.sync_rows]
    top = max([dev["max_seq"]] + new)
    if new:
        held = set(new) | {s for (s,) in conn.execute(
            select(db.sync_ops.c.seq).where(db.sync_ops.c.device_id == dev["device_id"],
                                            db.sync_ops.c.seq > contiguous))}
        while contiguous + 1 in held:
            contiguous += 1
    conn.execute(db.devices.update().where(db.devices.c.device_id == dev["device_id"])
                 .values(contiguous_seq=contiguous, max_seq=top, last_seen=batch.now))


def held_ranges(conn, device_id: str, lo: int, hi: int) -> list[list[int]]:
    seqs = [s for (s,) in conn.execute(
        select(db.sync_ops.c.seq).where(db.sync_ops.c.device_id == device_id,
                                        db.sync_ops.c.seq >= lo, db.sync_ops.c.seq <= hi)
        .order_by(db.sync_ops.c.seq))]
    return to_ranges(seqs)


def to_ranges(seqs) -> list[list[int]]:
    out: list[list[int]] = []
    for s in seqs:
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def missing_ranges(held: list[list[int]], lo: int, hi: int) -> list[list[int]]:
    out, nxt = [], lo
    for a, b in held:
        if a > nxt:
            out.append([nxt, min(a - 1, hi)])
        nxt = max(nxt, b + 1)
    if nxt <= hi:
        out.append([nxt, hi])
    return [r for r in out if r[0] <= r[1]]


def device_missing(conn, device_id: str) -> list[list[int]]:
    dev = conn.execute(select(db.devices.c.contiguous_seq, db.devices.c.max_seq)
                       .where(db.devices.c.device_id == device_id)).one()
    if dev.max_seq <= dev.contiguous_seq:
        return []
    held = held_ranges(conn, device_id, dev.contiguous_seq + 1, dev.max_seq)
    return missing_ranges(held, dev.contiguous_seq + 1, dev.max_seq)
