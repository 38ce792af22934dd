"""The receipt carried by a payment or void op: kept for verification; chain, code or
number problems go to review."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sync import protocol
from sync.gateway import db
from sync.gateway.ingest.fields import HEX64

if TYPE_CHECKING:
    from sync.gateway.ingest.batch import Batch


def store_receipt(b: Batch, op, kind: str, amount: int) -> str | None:
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
    # the chain is checked on the content as signed, before any card number was masked
    signed = (op.get("_original") or op["payload"])["receipt"].get("content")
    if protocol.receipt_hash(prev_hash, signed) != hash_:
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
