"""Who is calling: a payment platform's signed request (sync/platform_sign.py), checked
against the platform's credentials, a timestamp window and a nonce kept in the database —
so a replay is refused by every gateway process, not only the one that saw it first."""
from __future__ import annotations

import re
import secrets

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from sync import platform_sign
from sync.gateway import db
from sync.gateway.context import ApiError, Context, now, now_iso
from sync.gateway.observe import log

NONCE = re.compile(r"^[A-Za-z0-9]{16,64}$")


def _refuse(code: str, message: str) -> ApiError:
    log.warning("platform request refused: %s", code)
    return ApiError(401, code, message)


def platform_row(conn, platform: str):
    return conn.execute(select(db.platforms).where(db.platforms.c.platform == platform,
                                                    db.platforms.c.active.is_(True))).first()


def authenticate(ctx: Context, headers, method: str, path: str, body: bytes) -> dict:
    """The calling platform's row as a dict, or ApiError 401 (unsigned, unknown platform,
    stale timestamp, bad signature, replayed nonce). A forged message uses up no nonce."""
    platform, ts, nonce, signature = (headers.get(h) for h in platform_sign.HEADERS)
    if not (platform and ts and nonce and signature):
        raise _refuse("unsigned", "X-Platform, X-Timestamp, X-Nonce and X-Signature are "
                                  "required")
    if not ts.isdigit() or abs(now() - int(ts)) > platform_sign.WINDOW_S:
        raise _refuse("stale_timestamp", f"X-Timestamp must be unix seconds within "
                                         f"{platform_sign.WINDOW_S} s of the gateway's clock")
    if not NONCE.match(nonce):
        raise _refuse("bad_nonce", "X-Nonce must be 16-64 letters or digits")
    with ctx.read() as conn:
        row = platform_row(conn, platform)
    if row is None:
        raise _refuse("unknown_platform", "no active platform by that name")
    key = row.public_key if row.scheme == "rsa" else row.secret
    if not platform_sign.verify(row.scheme, key,
                                platform_sign.message(method, path, ts, nonce, body), signature):
        raise _refuse("bad_signature", "the signature does not verify with this platform's key")
    try:
        with ctx.write() as conn:
            seen = conn.execute(select(db.platform_nonces.c.ts).where(
                db.platform_nonces.c.platform == platform,
                db.platform_nonces.c.nonce == nonce)).first()
            if seen is None:
                conn.execute(delete(db.platform_nonces).where(
                    db.platform_nonces.c.ts < int(now()) - 2 * platform_sign.WINDOW_S))
                conn.execute(db.platform_nonces.insert().values(platform=platform, nonce=nonce,
                                                                ts=int(ts)))
    except IntegrityError:        # another gateway process stored it first
        seen = True
    if seen is not None:
        raise _refuse("nonce_replayed", "this nonce was already used")
    return dict(row._mapping)


def register(ctx: Context, platform: str, body: dict) -> dict:
    """Add or replace a platform's credentials (office)."""
    if body["scheme"] == "rsa":
        if not body.get("public_key") or not platform_sign.verify_key_ok(body["public_key"]):
            raise ApiError(400, "invalid_key", "rsa needs the platform's public key (PEM)")
    elif not body.get("secret"):
        raise ApiError(400, "invalid_key", "hmac needs a shared secret (hex, ≥ 16 bytes)")
    values = {"name_zh": body["name_zh"], "name_en": body["name_en"], "scheme": body["scheme"],
              "public_key": body.get("public_key") if body["scheme"] == "rsa" else None,
              "secret": body.get("secret") if body["scheme"] == "hmac" else None,
              "active": True}
    with ctx.write() as conn:
        if conn.execute(select(db.platforms.c.platform).where(
                db.platforms.c.platform == platform)).first():
            conn.execute(db.platforms.update().where(db.platforms.c.platform == platform)
                         .values(**values))
        else:
            conn.execute(db.platforms.insert().values(platform=platform, created_at=now_iso(),
                                                      **values))
        if body.get("checkout_url"):
            ctx.kv_set(conn, f"checkout_url:{platform}", body["checkout_url"])
    return {"platform": platform, "scheme": body["scheme"]}


def names(conn) -> dict[str, dict]:
    return {r.platform: {"zh": r.name_zh, "en": r.name_en}
            for r in conn.execute(select(db.platforms.c.platform, db.platforms.c.name_zh,
                                         db.platforms.c.name_en))}


BILLER_KEY = "biller_signing_key"   # kv: the gateway's RSA private key (PEM), made once


def biller_key(ctx: Context):
    """The gateway's own signing key, made on first use and shared by every process. A
    reference gateway keeps it in its database; a utility's loads it from its key store."""
    with ctx.read() as conn:
        pem = ctx.kv_get(conn, BILLER_KEY)
    if pem is None:
        try:
            with ctx.write() as conn:
                if ctx.kv_get(conn, BILLER_KEY) is None:
                    ctx.kv_set(conn, BILLER_KEY,
                               platform_sign.private_pem(platform_sign.new_rsa_key()))
        except IntegrityError:        # another process made it first
            pass
        with ctx.read() as conn:
            pem = ctx.kv_get(conn, BILLER_KEY)
    return platform_sign.load_private(pem)


def signed_answer_headers(ctx: Context, row: dict, body: bytes) -> dict:
    """X-Timestamp, X-Nonce, X-Signature of an answer to platform `row`: RSA with our key for
    an rsa platform (it checks with our public key), HMAC with the shared secret else."""
    ts, nonce = str(int(now())), secrets.token_hex(16)
    key = biller_key(ctx) if row["scheme"] == "rsa" else row["secret"]
    return {"X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": platform_sign.sign(
        row["scheme"], key, platform_sign.response_message(ts, nonce, body))}
