"""Who may call: device enrolment with one-time codes, bearer device tokens (only their
hash is stored), token re-issue against a proof of the device key, revocation, and
supervisor login with operator id + PIN."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time

from sqlalchemy import select

from sync import protocol
from sync.gateway import db
from sync.gateway.context import ApiError, Context, now_iso, now_s

LOCKOUT_FAILURES = 5
LOCKOUT_S = 300
PROOF_WINDOW_S = 300   # a token proof's ts may differ this much from server time

_cache_lock = threading.Lock()
_generation = 0   # bumped on every token re-issue; a lookup racing one is not cached


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def enrol(ctx: Context, code: str, device_name: str) -> dict:
    with ctx.write() as conn:
        row = conn.execute(select(db.enrol_codes).where(db.enrol_codes.c.code == code)) \
            .mappings().first()
        if row is None or (row["used_at"] and not row["reusable"]):
            raise ApiError(403, "invalid_code", "enrolment code unknown or already used")
        device_id = "D" + secrets.token_hex(6).upper()
        token = secrets.token_urlsafe(32)
        device_key = secrets.token_hex(32)
        conn.execute(db.devices.insert().values(
            device_id=device_id, name=device_name, token_hash=token_hash(token),
            device_key=device_key, enrolled_at=now_iso(), revoked_at=None, last_seen=None,
            contiguous_seq=0, max_seq=0))
        if not row["reusable"]:
            conn.execute(db.enrol_codes.update().where(db.enrol_codes.c.code == code)
                         .values(used_by=device_id, used_at=now_iso()))
    return {"device_id": device_id, "token": token, "device_key": device_key}


def device_for_token(ctx: Context, token: str) -> dict | None:
    """The device row for a bearer token (cached), or None."""
    h = token_hash(token)
    dev = ctx.token_cache.get(h)
    if dev is None:
        generation = _generation
        with ctx.read() as conn:
            row = conn.execute(select(db.devices.c.device_id, db.devices.c.device_key,
                                      db.devices.c.revoked_at)
                               .where(db.devices.c.token_hash == h)).mappings().first()
        if row is None:
            return None
        dev = dict(row)
        with _cache_lock:
            if _generation == generation:   # no token re-issued while we read
                ctx.token_cache[h] = dev
    return dev


def reissue_token(ctx: Context, device_id: str, ts: int, nonce: str, proof: str) -> dict:
    """A new bearer token for a device proving it holds its device key; the old token
    stops working. Each proof is accepted once: kv `token_proofs:<id>` keeps the
    `[ts, nonce]` pairs accepted within the replay window, so a captured proof cannot be
    replayed, while two proofs signed in the same second (other nonces) both pass."""
    global _generation
    bad = ApiError(401, "bad_proof", "device id or proof is wrong")
    with ctx.write() as conn:
        row = conn.execute(select(db.devices.c.device_key, db.devices.c.revoked_at,
                                  db.devices.c.token_hash)
                           .where(db.devices.c.device_id == device_id)).mappings().first()
        if row is None:
            raise bad
        try:
            expected = protocol.token_proof(row["device_key"], device_id, ts, nonce)
        except ValueError:   # a device key that is not hex cannot prove anything
            raise bad from None
        if not hmac.compare_digest(expected.encode(), proof.strip().lower().encode()):
            raise bad
        now = now_s()
        if abs(now - ts) > PROOF_WINDOW_S:
            raise ApiError(401, "stale_timestamp",
                           f"ts is more than {PROOF_WINDOW_S} s from server time {now}")
        if row["revoked_at"]:
            raise ApiError(403, "device_revoked", "this device has been revoked")
        key = f"token_proofs:{device_id}"
        # pairs older than the window can never pass the timestamp check again
        used = [pair for pair in json.loads(ctx.kv_get(conn, key, "[]"))
                if isinstance(pair, list) and abs(now - pair[0]) <= 2 * PROOF_WINDOW_S]
        if any(pair[1] == nonce for pair in used):
            raise ApiError(401, "proof_replayed", "this proof was already used; "
                                                  "sign a new nonce")
        ctx.kv_set(conn, key, json.dumps(used + [[ts, nonce]]))
        token = secrets.token_urlsafe(32)
        conn.execute(db.devices.update().where(db.devices.c.device_id == device_id)
                     .values(token_hash=token_hash(token)))
    with _cache_lock:
        _generation += 1
        for h, dev in list(ctx.token_cache.items()):
            if dev["device_id"] == device_id:
                del ctx.token_cache[h]
    return {"token": token}


def revoke(ctx: Context, device_id: str, audit=None) -> dict:
    """Revoke a device; `audit(conn)` (the office console's) runs in the same transaction."""
    with ctx.write() as conn:
        found = conn.execute(db.devices.update().where(db.devices.c.device_id == device_id)
                             .values(revoked_at=now_iso())).rowcount
        if found and audit:
            audit(conn)
    if not found:
        raise ApiError(404, "unknown_device", f"no device {device_id!r}")
    for dev in ctx.token_cache.values():
        if dev["device_id"] == device_id:
            dev["revoked_at"] = "revoked"
    return {"device_id": device_id, "revoked": True}


def new_enrol_code(ctx: Context, operator_id: str, audit=None) -> dict:
    """A one-time enrolment code; `audit(conn, code)` runs in the same transaction."""
    code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
    with ctx.write() as conn:
        conn.execute(db.enrol_codes.insert().values(code=code, reusable=False,
                                                     created_by=operator_id,
                                                     created_at=now_iso()))
        if audit:
            audit(conn, code)
    return {"code": code}


_failures: dict[str, list] = {}


def supervisor_login(ctx: Context, operator_id: str, pin: str) -> dict:
    fails = _failures.setdefault(operator_id, [0, 0.0])
    if fails[0] >= LOCKOUT_FAILURES and time.monotonic() - fails[1] < LOCKOUT_S:
        raise ApiError(429, "locked_out", "too many wrong PINs; try again later",
                       {"Retry-After": str(LOCKOUT_S)})
    with ctx.read() as conn:
        row = conn.execute(select(db.operators).where(
            db.operators.c.operator_id == operator_id)).mappings().first()
    ok = row is not None and protocol.check_pin(pin, row["pin_hash"])
    if not ok:
        fails[0] += 1
        fails[1] = time.monotonic()
        raise ApiError(401, "bad_credentials", "operator id or PIN is wrong")
    if "supervisor" not in json.loads(row["roles"]):
        raise ApiError(403, "not_supervisor", "this operator is not a supervisor")
    _failures.pop(operator_id, None)
    token = "sv_" + secrets.token_urlsafe(32)
    with ctx.write() as conn:
        conn.execute(db.supervisor_tokens.insert().values(
            token_hash=token_hash(token), operator_id=operator_id,
            expires_at=now_s() + ctx.settings.supervisor_token_ttl_s))
    return {"token": token, "operator_id": operator_id}


def supervisor_for_token(ctx: Context, token: str) -> str | None:
    with ctx.read() as conn:
        row = conn.execute(select(db.supervisor_tokens).where(
            db.supervisor_tokens.c.token_hash == token_hash(token))).mappings().first()
    if row is None or row["expires_at"] < now_s():
        return None
    return row["operator_id"]
