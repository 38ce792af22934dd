"""Operators: PIN hashes, login, persistent lockout with remaining time, roles, approvals, audit."""
import json

import pytest

from sync.protocol import hash_pin as gateway_hash_pin
from terminal import operators
from terminal.operators import LoginError
from terminal.store import Store
from terminal.ui.i18n import error_text

ITER = 1000


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    with s.transaction() as conn:
        operators.write_operators(conn, [
            {"operator_id": "1001", "name": "张伟", "roles": ["reader"], "pin_hash": operators.hash_pin("1234", ITER)},
            {"operator_id": "3001", "name": "刘洋", "roles": ["reader", "collector"],
             "pin_hash": gateway_hash_pin("5678", ITER)},
            {"operator_id": "9001", "name": "陈静", "roles": ["supervisor"], "pin_hash": operators.hash_pin("99999999", ITER)},
        ])
    return s


def events(store):
    return [(r[0], r[1], json.loads(r[2])) for r in
            store.conn.execute("SELECT event, operator_id, detail FROM audit_log ORDER BY id")]


def test_hash_and_check_pin():
    h = operators.hash_pin("1234", ITER, salt=b"\x01" * 16)
    assert h.startswith(f"pbkdf2_sha256${ITER}${'01' * 16}$")
    assert operators.check_pin("1234", h) and not operators.check_pin("1235", h)
    assert h == gateway_hash_pin("1234", ITER, b"\x01" * 16)  # same format as the gateway's
    for bad in ("", "md5$1$00$00", "pbkdf2_sha256$x$00$00", "pbkdf2_sha256$0$00$00",
                "pbkdf2_sha256$1000$zz$00", None):
        assert operators.check_pin("1234", bad) is False


def test_login_success_roles_and_audit(store):
    op = operators.login(store, "3001", "5678")
    assert op.name == "刘洋" and op.has_role("collector") and op.has_role("reader") and not op.has_role("supervisor")
    assert operators.login(store, "1001", "１２３４").operator_id == "1001"  # full-width digits from an IME
    assert [e[0] for e in events(store)] == ["login", "login"]
    assert "1234" not in json.dumps(events(store))
    assert [o.operator_id for o in operators.list_operators(store)] == ["1001", "3001", "9001"]


def test_wrong_pin_counts_down_then_locks_with_remaining_time(store):
    clock = Clock()
    for left in (4, 3, 2, 1):
        with pytest.raises(LoginError) as err:
            operators.login(store, "1001", "0000", clock=clock)
        assert err.value.code == "wrong_pin" and err.value.attempts_left == left
        assert f"{left}" in err.value.message_en
        assert error_text(err.value, "zh") == f"工号或密码错误，还可尝试 {left} 次"
    with pytest.raises(LoginError) as err:
        operators.login(store, "1001", "0000", clock=clock)
    assert err.value.code == "locked" and err.value.remaining_s == 300
    clock.t += 100
    with pytest.raises(LoginError) as err:
        operators.login(store, "1001", "1234", clock=clock)  # right PIN, still locked
    assert err.value.code == "locked" and err.value.remaining_s == 200
    assert "3 min 20 s" in err.value.message_en
    assert error_text(err.value, "zh") == "密码错误次数过多，已锁定，请 3 分 20 秒 后再试"
    assert operators.lock_state(store, "1001", clock=clock) == {"failures": 5, "locked": True, "remaining_s": 200}
    clock.t += 200
    assert operators.login(store, "1001", "1234", clock=clock).operator_id == "1001"
    assert operators.lock_state(store, "1001", clock=clock)["failures"] == 0
    names = [e[0] for e in events(store)]
    assert names == ["login_failed"] * 5 + ["lockout", "login_locked", "login"]


def test_lockout_survives_restart_and_is_configurable(store, tmp_path):
    store.set_meta("lockout_seconds", "60")
    clock = Clock()
    for _ in range(5):
        with pytest.raises(LoginError):
            operators.login(store, "1001", "1", clock=clock)
    store.close()
    again = Store(tmp_path / "t.db")
    with pytest.raises(LoginError) as err:
        operators.login(again, "1001", "1234", clock=clock)
    assert err.value.code == "locked" and err.value.remaining_s == 60
    clock.t += 61
    assert operators.login(again, "1001", "1234", clock=clock)


def test_after_a_lock_expires_the_count_starts_again(store):
    clock = Clock()
    for _ in range(5):
        with pytest.raises(LoginError):
            operators.login(store, "1001", "1", clock=clock)
    clock.t += 301
    with pytest.raises(LoginError) as err:
        operators.login(store, "1001", "1", clock=clock)
    assert err.value.code == "wrong_pin" and err.value.attempts_left == 4


def test_success_resets_the_failure_count(store):
    clock = Clock()
    for _ in range(4):
        with pytest.raises(LoginError):
            operators.login(store, "1001", "1", clock=clock)
    operators.login(store, "1001", "1234", clock=clock)
    with pytest.raises(LoginError) as err:
        operators.login(store, "1001", "1", clock=clock)
    assert err.value.attempts_left == 4


def test_unknown_operator_is_a_failure_with_the_same_message(store):
    with pytest.raises(LoginError) as err:
        operators.login(store, "7777", "1234")
    assert err.value.code == "wrong_pin" and "Wrong operator or PIN" in err.value.message_en
    assert events(store)[-1] == ("login_failed", "7777", {"failures": 1, "known": False})


def test_supervisor_approval(store):
    op = operators.approve(store, "9001", "99999999", "void", payment_op_id="p1")
    assert op.operator_id == "9001"
    assert events(store)[-1] == ("approval", "9001", {"action": "void", "payment_op_id": "p1", "role": "supervisor"})
    with pytest.raises(LoginError) as err:
        operators.approve(store, "3001", "5678", "void")
    assert err.value.code == "no_role" and "supervisor" in err.value.message_en
    assert error_text(err.value, "zh").endswith(" 没有主管权限")
    with pytest.raises(LoginError) as err:
        operators.approve(store, "9001", "0000", "void")
    assert err.value.code == "wrong_pin"


def test_a_supervisor_pin_shorter_than_eight_digits_approves_nothing(store):
    """docs/contracts.md §4: a supervisor's approval needs >= 8 digits, so a verifier taken
    from the device needs an offline search of 10^8 PINs; a 4-digit supervisor PIN that
    matches is still refused (login and approval), audited, and counts no failure."""
    with store.transaction() as conn:
        operators.write_operators(conn, [{"operator_id": "9002", "name": "周", "roles": ["supervisor"],
                                          "pin_hash": operators.hash_pin("4321", ITER)}])
    for attempt in (lambda: operators.approve(store, "9002", "4321", "void"),
                    lambda: operators.login(store, "9002", "4321")):
        with pytest.raises(LoginError) as exc:
            attempt()
        assert exc.value.code == "pin_too_short"
    assert [e for e, who, _d in events(store) if who == "9002"] == ["login_short_pin"] * 2
    assert operators.lock_state(store, "9002")["failures"] == 0
