"""Batch application: everything one ops request writes, collected in memory while the
ops are checked in seq order (dedup by (device_id, op_id) + payload hash, seq clashes,
per-type handlers), then written together in the caller's transaction."""
from __future__ import annotations

import hashlib
import json

import fieldrules
from sync import protocol
from sync.gateway import bulk, db
from sync.gateway.context import Context, now_iso
from sync.gateway.ingest.fields import MAX_INT, Invalid, Retry, clip, result
from sync.gateway.ingest.handlers import HANDLERS, RECORD_ONLY_TYPES
from sync.gateway.ingest.models import payload_problem
from sync.gateway.ledger import AccountCache


class Batch:
    """Everything one ops request writes, collected in memory and flushed at once."""

    def __init__(self, ctx: Context, conn, device: dict, ops: list[dict]):
        self.ctx, self.conn, self.device, self.now = ctx, conn, device, now_iso()
        self.device_id = device["device_id"]
        # copies: masking a card number replaces an op's payload here, and a batch redone
        # (op by op, or after a failed group) must see the payloads as they were sent
        self.ops = sorted((dict(o) for o in ops), key=lambda o: o["seq"])
        self.accounts = AccountCache(conn)
        self.sync_rows, self.readings, self.payments, self.voids = [], [], [], []
        self.receipts, self.shift_rows, self.exceptions = [], [], []
        self.supersede, self.void_marks = [], []
        self.results: list[dict] = []
        self._prefetch()

    # -- prefetch what the ops refer to, a few queries per batch
    def _prefetch(self):
        c, d, q = self.conn, self.device_id, bulk.in_query
        self.known = {r[0]: _Prior(*r[1:]) for r in q(
            c, "SELECT op_id, seq, payload_sha256, status, code, message FROM sync_ops "
               "WHERE device_id = {p} AND op_id IN ({in})", (d,), [o["op_id"] for o in self.ops])}
        self.seq_owner = dict(q(c, "SELECT seq, op_id FROM sync_ops "
                                   "WHERE device_id = {p} AND seq IN ({in})",
                                (d,), [o["seq"] for o in self.ops]))
        payloads = [o["payload"] for o in self.ops]
        refs = [p.get(k) for p in payloads for k in ("payment_op_id", "corrects")]
        refs = list({r for r in refs if isinstance(r, str)})
        cols = ("op_id", "account_no", "amount_fen", "voided_by", "applied")
        # locked (PostgreSQL) before any balance, as a settlement locks them: a void and a
        # refund of the same payment wait for each other, and take their locks in the same
        # order — payment, then accounts — so they never deadlock (docs/ledger.md)
        lock = "" if c.dialect.name == "sqlite" else " ORDER BY op_id FOR UPDATE"
        self.db_payments = {r[0]: dict(zip(cols, r)) for r in q(
            c, f"SELECT {', '.join(cols)} FROM payments WHERE op_id IN ({{in}})" + lock, (),
            refs)}
        # only text can name a row (a malformed payload may hold a list: rejected later)
        account_nos = {p.get("account_no") for p in payloads
                       if isinstance(p.get("account_no"), str)}
        for p in payloads:
            allocations = p.get("allocations")
            if isinstance(allocations, list):
                account_nos.update(a.get("account_no") for a in allocations
                                   if isinstance(a, dict) and isinstance(a.get("account_no"), str))
        self.accounts.load(account_nos)
        names = list(account_nos)
        # (account_no, cycle) -> the current reading: a pending row dict or {"op_id", "db"}
        self.current = {(no, cycle): {"op_id": op_id, "db": True} for op_id, no, cycle in q(
            c, "SELECT op_id, account_no, cycle FROM readings WHERE account_no IN ({in}) "
               "AND state = 'current' AND superseded_by IS NULL", (), names)}
        self.thirdparty_paid = dict(q(
            c, "SELECT account_no, sum(amount_fen) FROM thirdparty_payments "
               "WHERE account_no IN ({in}) AND NOT suspense GROUP BY account_no", (), names))
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
            "account_no": clip(account_no), "amount_fen": amount_fen, "credit_fen": credit_fen,
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
                self.results.append(result(op, "retry", "not_processed",
                                         "an earlier op in this batch must be retried first"))
                continue
            problem, text, digest = _content(op)
            prior = self.known.get(op_id) or seen.get(op_id)
            if prior is not None:
                if digest is None or digest != op["payload_sha256"]:
                    same = prior.status == "rejected" and prior.payload_sha256 == \
                        op["payload_sha256"]
                    self.results.append(result(op, "rejected", prior.code if same
                                               else problem[0], prior.message if same
                                               else problem[1]))
                else:
                    self.results.append(self._repeat(op, prior, digest))
                continue
            if problem is not None:  # rejected, yet its seq is held: no gap, closeout completes
                self._reject(op, *problem)
                seen[op_id] = _Prior(seq, op["payload_sha256"], "rejected", *problem)
                self.seq_owner.setdefault(seq, op_id)
                continue
            # A seq already held by another op (e.g. a device restored from a backup): the
            # op is still applied — captures are never dropped — but flagged for review.
            owner = self.seq_owner.get(seq)
            seq_clash = owner is not None and owner != op_id
            stored = text.decode("utf-8")
            masked, found = fieldrules.mask_doc(op["payload"], stored)
            if found:  # a card number: never stored; the op (money included) still applies
                op["_original"], op["payload"] = op["payload"], masked
                stored = db.dumps(masked)
                amount = masked.get("amount_fen")
                self.exception("review", "card_number_masked",
                               f"{found} text(s) held a card number, masked on arrival; check "
                               "the device and its card terminal", op, masked.get("account_no"),
                               amount if type(amount) is int and abs(amount) <= MAX_INT
                               else None)   # a bad amount: the op is rejected below
            op["_stored"] = stored
            try:
                status, code, message = self._apply(op)
            except Retry as exc:
                self.results.append(result(op, "retry", "retry_later", str(exc)))
                blocked = True
                continue
            except Invalid as exc:
                status, code, message = "rejected", exc.code, exc.message
                self.exception("rejected", exc.code, exc.message, op)
            if seq_clash and status == "accepted":
                status, code, message = "conflict", "seq_conflict", \
                    f"seq {seq} is also held by op {owner}"
                self.exception("conflict", "seq_conflict", message, op, detail={"held_by": owner})
            self.sync_rows.append(self._sync_row(op, stored, digest, status, code, message))
            seen[op_id] = _Prior(seq, digest, status, code, message)
            self.seq_owner.setdefault(seq, op_id)
            self.results.append(result(op, status, code, message))
        return self.results

    def _reject(self, op, code: str, message: str) -> None:
        """Hold a rejected op (its seq counts as received) with a storable, masked copy of
        its payload (NUL and lone surrogates escaped), and queue it for a supervisor."""
        masked, _found = fieldrules.mask_doc(op["payload"])
        stored = json.dumps(masked, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        self.results.append(result(op, "rejected", code, message))
        self.exception("rejected", code, message, op)
        self.sync_rows.append(self._sync_row(op, stored, op["payload_sha256"], "rejected",
                                             code, message))

    def _sync_row(self, op, stored, digest, status, code, message) -> dict:
        return {"device_id": self.device_id, "op_id": op["op_id"], "seq": op["seq"],
                "type": op["type"], "operator_id": op.get("operator_id"),
                "device_time": op.get("device_time"), "payload": stored,
                "payload_sha256": digest, "status": status, "code": code, "message": message,
                "received_at": self.now}

    def _repeat(self, op, prior, digest) -> dict:
        if prior.payload_sha256 != digest:
            self.exception("rejected", "payload_mismatch",
                           "op_id reused with a different payload; not applied", op,
                           detail={"held_seq": prior.seq})
            return result(op, "rejected", "payload_mismatch",
                        "op_id already held with a different payload")
        if prior.status == "rejected":
            return result(op, "rejected", prior.code, prior.message)
        return result(op, "duplicate", prior.code, "already held")

    def _apply(self, op) -> tuple[str, str | None, str | None]:
        handler = HANDLERS.get(op["type"])
        if handler is None:
            if op["type"] in RECORD_ONLY_TYPES:
                return "accepted", None, None
            self.exception("rejected", "unknown_type", f"unknown op type {op['type']!r}", op)
            return "rejected", "unknown_type", f"unknown op type {op['type']!r}"
        problem = payload_problem(op["type"], op["payload"])   # the type's payload model
        if problem is not None:
            raise Invalid("invalid_payload", problem)
        return handler(self, op)

    # -- writing
    def flush(self) -> None:
        c = self.conn
        for table, rows in ((db.sync_ops, self.sync_rows), (db.readings, self.readings),
                            (db.payments, self.payments), (db.voids, self.voids),
                            (db.receipts, self.receipts), (db.shift_events, self.shift_rows),
                            (db.exceptions, self.exceptions)):
            bulk.insert_many(c, table, rows)
        bulk.update_many(c, db.readings, "op_id", [
            {"op_id": m["old"], "superseded_by": m["new"]} for m in self.supersede])
        bulk.update_many(c, db.payments, "op_id", [
            {"op_id": m["old"], "voided_by": m["new"]} for m in self.void_marks])
        self.accounts.flush()

    def has_gap_below(self, seq: int) -> bool:
        held = set(self.seq_owner)
        return any(s not in held for s in range(self.device["contiguous_seq"] + 1, seq))


# What `_content` may answer for an op's content besides `bad_hash`: the devices' own rules
# (fieldrules.REASONS), so that a device refuses at capture whatever would be rejected here.
CONTENT_REASONS = tuple(fieldrules.REASONS)


def _content(op) -> tuple[tuple[str, str] | None, bytes | None, str | None]:
    """(problem, canonical text, digest) of an op's payload; the problem is (code, message)
    for a payload that cannot be encoded, whose hash does not match, or whose captured
    text breaks the content rules the devices follow too (fieldrules)."""
    try:
        text = protocol.canonical_json(op["payload"])
    except (UnicodeEncodeError, ValueError, RecursionError):
        found = fieldrules.unstorable(op["payload"])
        return ((found.code, found.message_en) if found else
                ("invalid_text", "payload cannot be stored")), None, None
    digest = hashlib.sha256(text).hexdigest()
    if op["payload_sha256"] != digest:
        return ("bad_hash", "payload_sha256 does not match the payload"), text, digest
    found = fieldrules.payload_problem(op["type"], op["payload"], text)
    return ((found.code, found.message_en) if found else None), text, digest


class _Prior:
    __slots__ = ("seq", "payload_sha256", "status", "code", "message")

    def __init__(self, seq, payload_sha256, status, code, message):
        self.seq, self.payload_sha256 = seq, payload_sha256
        self.status, self.code, self.message = status, code, message
