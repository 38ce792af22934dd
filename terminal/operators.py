"""Operators: roles, PIN login with persistent lockout, supervisor approval; all in the audit log.

Roles: `reader`, `collector`, `supervisor` (a person may hold several). PINs are stored
only as `pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>` (contracts §4) and checked with
a constant-time compare. After `MAX_FAILURES` wrong PINs in a row the operator is locked
out for `lockout_seconds` (meta key `lockout_seconds`, default 300); the count and the lock
live in `login_failures`, so a restart does not reset them. Every login, failed attempt,
lockout and refused attempt while locked goes to the audit log (never the PIN).

A supervisor's PIN has at least `SUPERVISOR_PIN_DIGITS` digits: a supervisor's login or
approval with a shorter PIN is refused even when it matches, so a verifier taken from a
device yields an approval only after an offline search of 10^8 PINs (docs/contracts.md §4).
"""
import dataclasses
import hashlib
import hmac
import json
import os
import time

from terminal.ledger_errors import Term
from terminal.store import Store, audit

ROLES = ("reader", "collector", "supervisor")
SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 60_000
MAX_FAILURES = 5
SUPERVISOR_PIN_DIGITS = 8
DEFAULT_LOCKOUT_SECONDS = 300
_FULL_WIDTH = {0xFF10 + i: str(i) for i in range(10)}


@dataclasses.dataclass(frozen=True)
class Operator:
    operator_id: str
    name: str
    roles: tuple

    def has_role(self, role: str) -> bool:
        return role in self.roles


class LoginError(Exception):
    """Login refused. `code`: wrong_pin | locked | no_role | pin_too_short; `remaining_s` while
    locked. The English `msgid` (+ `params`) is translated by the UI (chaoshou_core catalog)."""

    def __init__(self, code: str, msgid: str, remaining_s: int = 0,
                 attempts_left: int | None = None, **params):
        self.code, self.msgid, self.params = code, msgid, params
        self.message_en = msgid.format(**params)
        super().__init__(self.message_en)
        self.remaining_s, self.attempts_left = remaining_s, attempts_left


def hash_pin(pin: str, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    """True when `pin` matches `stored`; False for a wrong PIN or any malformed hash."""
    try:
        scheme, iterations, salt_hex, hash_hex = stored.split("$")
        iterations = int(iterations)
        if scheme != SCHEME or not 1 <= iterations <= 10_000_000:
            return False
        expected = bytes.fromhex(hash_hex)
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), bytes.fromhex(salt_hex), iterations)
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(digest, expected)


def _operator(row) -> Operator:
    return Operator(row["operator_id"], row["name"], tuple(json.loads(row["roles"])))


def get(store: Store, operator_id: str) -> Operator | None:
    row = store.conn.execute("SELECT * FROM operators WHERE operator_id=?", (operator_id,)).fetchone()
    return None if row is None else _operator(row)


def list_operators(store: Store) -> list[Operator]:
    """Operators on this device (for the login screen), by id."""
    return [_operator(r) for r in store.conn.execute("SELECT * FROM operators ORDER BY operator_id")]


def lockout_seconds(store: Store) -> int:
    try:
        return int(store.get_meta("lockout_seconds", DEFAULT_LOCKOUT_SECONDS))
    except (TypeError, ValueError):
        return DEFAULT_LOCKOUT_SECONDS


def _fmt_wait(seconds: int) -> Term:
    m, s = divmod(max(0, seconds), 60)
    return Term("{m} min {s} s", m=m, s=s) if m else Term("{s} s", s=s)


def lock_state(store: Store, operator_id: str, *, clock=time.time) -> dict:
    """{'failures', 'locked', 'remaining_s'} for an operator."""
    row = store.conn.execute("SELECT failures, locked_until FROM login_failures WHERE operator_id=?",
                             (operator_id,)).fetchone()
    now = clock()
    locked_until = row["locked_until"] if row else None
    remaining = int(-(-(locked_until - now) // 1)) if locked_until and locked_until > now else 0
    return {"failures": row["failures"] if row else 0, "locked": remaining > 0, "remaining_s": remaining}


def login(store: Store, operator_id: str, pin: str, *, role: str | None = None, clock=time.time,
          event: str = "login", **detail) -> Operator:
    """Check the PIN; returns the Operator or raises LoginError (bilingual, with wait time).

    `role` additionally requires that role (e.g. 'supervisor' for an approval); `event`
    names the audit entry of a success (`login`, `approval`, …) with `detail`.
    """
    pin = (pin or "").strip().translate(_FULL_WIDTH)
    now = clock()
    limit = lockout_seconds(store)
    remaining = 0
    with store.transaction() as conn:  # the audit entry must commit even when login is refused
        row = conn.execute("SELECT failures, locked_until FROM login_failures WHERE operator_id=?",
                           (operator_id,)).fetchone()
        failures = row["failures"] if row else 0
        locked_until = row["locked_until"] if row else None
        if locked_until and locked_until > now:
            remaining = int(-(-(locked_until - now) // 1))
            audit(conn, "login_locked", operator_id, remaining_s=remaining)
    if remaining:
        raise LoginError("locked", "Too many wrong PINs: locked, try again in {wait}",
                         remaining, wait=_fmt_wait(remaining))
    with store.transaction() as conn:
        if locked_until:  # the lock has run out: a fresh set of attempts
            failures = 0
        op_row = conn.execute("SELECT * FROM operators WHERE operator_id=?", (operator_id,)).fetchone()
        ok = op_row is not None and check_pin(pin, op_row["pin_hash"])
        if not ok:
            failures += 1
            lock = now + limit if failures >= MAX_FAILURES else None
            conn.execute("INSERT INTO login_failures (operator_id, failures, locked_until, last_failure_at)"
                         " VALUES (?, ?, ?, datetime('now')) ON CONFLICT (operator_id) DO UPDATE SET"
                         " failures=excluded.failures, locked_until=excluded.locked_until,"
                         " last_failure_at=excluded.last_failure_at", (operator_id, failures, lock))
            audit(conn, "login_failed", operator_id, failures=failures, known=op_row is not None)
            if lock:
                audit(conn, "lockout", operator_id, seconds=limit)
        else:
            conn.execute("DELETE FROM login_failures WHERE operator_id=?", (operator_id,))
            operator = _operator(op_row)
            if operator.has_role("supervisor") and len(pin) < SUPERVISOR_PIN_DIGITS:
                audit(conn, "login_short_pin", operator_id)
            elif role and not operator.has_role(role):
                audit(conn, "login_no_role", operator_id, role=role)
            else:
                audit(conn, event, operator_id, **({"role": role} if role else {}), **detail)
    if not ok:
        if failures >= MAX_FAILURES:
            raise LoginError("locked", "Too many wrong PINs: locked for {wait}", limit, 0,
                             wait=_fmt_wait(limit))
        left = MAX_FAILURES - failures
        raise LoginError("wrong_pin", "Wrong operator or PIN; {left} attempt(s) left before "
                         "lockout", 0, left, left=left)
    if operator.has_role("supervisor") and len(pin) < SUPERVISOR_PIN_DIGITS:
        raise LoginError("pin_too_short", "A supervisor's PIN has at least {digits} digits; "
                         "have the office issue a new one", digits=SUPERVISOR_PIN_DIGITS)
    if role and not operator.has_role(role):
        raise LoginError("no_role", "{name} does not hold the {role} role", name=operator.name,
                         role=Term(role) if role in ROLES else role)
    return operator



def approve(store: Store, supervisor_id: str, pin: str, action: str, *, clock=time.time, **detail) -> Operator:
    """A supervisor's PIN approval of `action` (e.g. 'void'); same lockout; audited as `approval`."""
    return login(store, supervisor_id, pin, role="supervisor", clock=clock, event="approval",
                 action=action, **detail)


def write_operators(conn, operators: list[dict]) -> None:
    """Replace the operator table (reference data) inside the caller's transaction."""
    conn.execute("DELETE FROM operators")
    conn.executemany("INSERT INTO operators (operator_id, name, roles, pin_hash) VALUES (?, ?, ?, ?)",
                     [(o["operator_id"], o["name"], json.dumps(list(o["roles"])), o["pin_hash"])
                      for o in operators])
