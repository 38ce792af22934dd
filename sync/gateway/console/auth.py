"""Office sign-in for the console: users with a slow password hash (scrypt, standard
library), lockout kept in the database, sessions behind an HttpOnly SameSite cookie with
a per-session CSRF token checked on every form, roles, and the audit of every write.

Roles: `supervisor` (dispatch, approvals, devices), `cashier` (the cashier office: shifts,
reconciliation, exceptions), `auditor` (reads everything, writes nothing).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import delete, select

from sync.gateway import db
from sync.gateway.context import Context, now_iso, now_s

ROLES = ("supervisor", "cashier", "auditor")
MAX_FAILURES = 5          # wrong passwords in a row before the account locks
LOCK_S = 15 * 60          # how long it stays locked
SESSION_S = 8 * 3600      # a working day
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}   # ~50 ms per check: slow for a guesser
COOKIE = "chaoshou_office"
LOGIN_CSRF_COOKIE = "chaoshou_login_csrf"

# What each role may change (pages are readable by every signed-in role, except the
# devices page, which shows enrolment codes: supervisors only).
WRITES = {
    "supervisor": {"assign", "request_download", "void_review", "enrol_code", "revoke",
                   "exception", "account"},
    "cashier": {"shift_review", "exception"},
    "auditor": set(),
}
PAGES_FOR = {"devices": {"supervisor"}}


class SignInError(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code   # bad_credentials | locked


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _scheme, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), dklen=32,
                             n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def add_user(conn, username: str, name: str, role: str, password: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    conn.execute(db.office_users.insert().values(
        username=username, name=name, role=role, password_hash=hash_password(password),
        failed=0, locked_until=None, created_at=now_iso()))


def sign_in(ctx: Context, username: str, password: str) -> tuple[str, dict]:
    """Check the password (counting failures, locking after MAX_FAILURES); returns a new
    session token and the user. Raises SignInError."""
    u = db.office_users
    with ctx.read() as conn:
        row = conn.execute(select(u).where(u.c.username == username)).mappings().first()
    if row is None:
        check_password(password, hash_password("x"))   # same cost: no user enumeration
        raise SignInError("bad_credentials")
    if row["locked_until"] and row["locked_until"] > now_s():
        raise SignInError("locked")
    good = check_password(password, row["password_hash"])
    with ctx.write() as conn:
        if not good:
            failed = conn.execute(select(u.c.failed).where(u.c.username == username)).scalar()
            failed += 1
            locked = now_s() + LOCK_S if failed >= MAX_FAILURES else None
            conn.execute(u.update().where(u.c.username == username).values(
                failed=0 if locked else failed, locked_until=locked))
            audit(conn, username, "sign_in_failed", None, after={"failed": failed,
                                                                   "locked": bool(locked)})
        else:
            conn.execute(u.update().where(u.c.username == username).values(
                failed=0, locked_until=None))
            token = secrets.token_urlsafe(32)
            conn.execute(delete(db.office_sessions).where(
                db.office_sessions.c.expires_at < now_s()))
            conn.execute(db.office_sessions.insert().values(
                token_hash=_hash(token), username=username, csrf=secrets.token_urlsafe(24),
                expires_at=now_s() + SESSION_S))
    if not good:   # raised after the commit: the failure count must stay
        raise SignInError("locked" if locked else "bad_credentials")
    return token, {"username": username, "name": row["name"], "role": row["role"]}


def session_user(ctx: Context, token: str | None) -> dict | None:
    """The signed-in user of a session cookie (with the session's `csrf`), or None."""
    if not token:
        return None
    s, u = db.office_sessions, db.office_users
    with ctx.read() as conn:
        row = conn.execute(select(u.c.username, u.c.name, u.c.role, s.c.csrf, s.c.expires_at)
                           .select_from(s.join(u, u.c.username == s.c.username))
                           .where(s.c.token_hash == _hash(token))).mappings().first()
    if row is None or row["expires_at"] <= now_s():
        return None
    return dict(row)


def sign_out(ctx: Context, token: str | None) -> None:
    if token:
        with ctx.write() as conn:
            conn.execute(delete(db.office_sessions).where(
                db.office_sessions.c.token_hash == _hash(token)))


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(expected, given)


def may_write(user: dict, action: str) -> bool:
    return action in WRITES.get(user["role"], set())


def may_see(user: dict, page: str) -> bool:
    return user["role"] in PAGES_FOR.get(page, set(ROLES))


def audit(conn, who: str, action: str, account_no: str | None, before=None, after=None,
          **detail) -> None:
    """One audit row (in the caller's transaction): who, when, what, before and after."""
    conn.execute(db.supervisor_audit.insert().values(
        at=now_iso(), operator_id=who, action=action, account_no=account_no,
        detail=db.dumps({"before": before, "after": after, **detail})))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()
