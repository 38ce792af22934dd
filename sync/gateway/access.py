"""Who may call: device enrolment with one-time codes, bearer device tokens (only their
hash is stored), token re-issue against a proof of the device key, revocation, and
supervisor login with operator id + PIN.

Everything is read from the database on each call, so every gateway process sees a
revocation, a re-issued token or a PIN lockout the moment it commits (no per-process
cache: a token lookup is one primary-key read)."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from sqlalchemy import delete, select, text

from sync import protocol
from sync.gateway import db
from sync.gateway.context import ApiError, Context, now_iso, now_s

LOCKOUT_FAILURES = 5
LOCKOUT_S = 300
PROOF_WINDOW_S = 300   # a token proof's ts may differ this much from server time


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
    """The device row for a bearer token, or None."""
    with ctx.peek() as conn:
        row = conn.execute(select(db.devices.c.device_id, db.devices.c.device_key,
                                  db.devices.c.revoked_at)
                           .where(db.devices.c.token_hash == token_hash(token))) \
            .mappings().first()
    return None if row is None else dict(row)


def reissue_token(ctx: Context, device_id: str, ts: int, nonce: str, proof: str) -> dict:
    """A new bearer token for a device proving it holds its device key; the old token
    stops working. Each proof is accepted once: kv `token_proofs:<id>` keeps the
    `[ts, nonce]` pairs accepted within the replay window, so a captured proof cannot be
    replayed, while two proofs signed in the same second (other nonces) both pass."""
    bad = ApiError(401, "bad_proof", "device id or proof is wrong")
    with ctx.write() as conn:
        # the row lock makes the replay check below hold across gateway processes
        row = conn.execute(select(db.devices.c.device_key, db.devices.c.revoked_at,
                                  db.devices.c.token_hash)
                           .where(db.devices.c.device_id == device_id).with_for_update()) \
            .mappings().first()
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


def supervisor_login(ctx: Context, operator_id: str, pin: str) -> dict:
    """Operator id + PIN → supervisor token. LOCKOUT_FAILURES wrong PINs in a row lock the
    operator out for LOCKOUT_S (table login_failures, shared by every process)."""
    now = now_s()
    with ctx.read() as conn:
        fails = conn.execute(select(db.login_failures).where(
            db.login_failures.c.operator_id == operator_id)).mappings().first()
        row = conn.execute(select(db.operators).where(
            db.operators.c.operator_id == operator_id)).mappings().first()
    if fails and fails["failures"] >= LOCKOUT_FAILURES and \
            now - fails["last_failure_at"] < LOCKOUT_S:
        raise ApiError(429, "locked_out", "too many wrong PINs; try again later",
                       {"Retry-After": str(LOCKOUT_S - (now - fails["last_failure_at"]))})
    ok = row is not None and protocol.check_pin(pin, row["pin_hash"])
    if not ok:
        with ctx.write() as conn:   # one atomic statement: concurrent failures all count
            conn.execute(text(
                "INSERT INTO login_failures (operator_id, failures, last_failure_at) "
                "VALUES (:op, 1, :now) ON CONFLICT (operator_id) DO UPDATE SET "
                "failures = CASE WHEN login_failures.last_failure_at < :stale THEN 1 "
                "ELSE login_failures.failures + 1 END, last_failure_at = :now"),
                {"op": operator_id, "now": now, "stale": now - LOCKOUT_S})
        raise ApiError(401, "bad_credentials", "operator id or PIN is wrong")
    if "supervisor" not in json.loads(row["roles"]):
        raise ApiError(403, "not_supervisor", "this operator is not a supervisor")
    token = "sv_" + secrets.token_urlsafe(32)
    with ctx.write() as conn:
        conn.execute(delete(db.login_failures).where(
            db.login_failures.c.operator_id == operator_id))
        conn.execute(db.supervisor_tokens.insert().values(
            token_hash=token_hash(token), operator_id=operator_id,
            expires_at=now_s() + ctx.settings.supervisor_token_ttl_s))
    return {"token": token, "operator_id": operator_id}


def holder(ctx: Context, token: str) -> dict | None:
    """Who holds a bearer token: {"device": row or None, "supervisor": operator id or None},
    or None for an unknown token. Read once per request, by the request guard."""
    dev = device_for_token(ctx, token)
    operator_id = None if dev is not None else supervisor_for_token(ctx, token)
    if dev is None and operator_id is None:
        return None
    return {"token": token, "device": dev, "supervisor": operator_id}


def supervisor_for_token(ctx: Context, token: str) -> str | None:
    with ctx.peek() as conn:
        row = conn.execute(select(db.supervisor_tokens).where(
            db.supervisor_tokens.c.token_hash == token_hash(token))).mappings().first()
    if row is None or row["expires_at"] < now_s():
        return None
    return row["operator_id"]
