"""A payment's money goes back once (docs/ledger.md, "Settling an exception"): the handheld's
void of a payment and the office's refund of the double collection it made lock the
payment before any balance, so whichever comes second reads what the first wrote — a
refund after the void is refused in both languages and changes nothing; a void after the
refund takes back only what is left. Two real concurrent requests against a real gateway,
on SQLite and PostgreSQL (tests/engines.py)."""
from __future__ import annotations

import json
import threading

import pytest
import requests

from sync.gateway.testing import (GatewayProcess, OpFactory, enrol_device,
                                  thirdparty_payment)
from tests import deadline
from tests.gateway.office_kit import Office


@pytest.fixture(scope="module")
def office(base_url):
    return Office(base_url)


@pytest.fixture(scope="module")
def second(gateway):
    """A second gateway process on the same database (each process keeps its own writes
    in order; two processes race at the database)."""
    gw = GatewayProcess(None, db_url=gateway.url, seed_demo=False, migrate=False)
    gw.start()
    yield gw
    gw.stop()


def balance(gw, account_no: str) -> dict:
    [(doc,)] = gw.query("SELECT doc FROM accounts WHERE account_no = :a", a=account_no)
    doc = json.loads(doc)
    return {"arrears_fen": doc["arrears_fen"], "credit_fen": doc["credit_fen"]}


def fresh_accounts(gw, n: int, used=set()) -> list[str]:   # noqa: B006 — untouched accounts
    rows = gw.query("SELECT account_no FROM accounts WHERE route_id = 'R002' AND active = :t "
                    "AND bill_fen > 0 ORDER BY account_no DESC", t=True)
    out = [a for (a,) in rows if a not in used][:n]
    used.update(out)
    assert len(out) == n
    return out


def paid_twice(gw, device, account_no: str, txn: str) -> tuple[dict, dict, int, int]:
    """Paid through a platform, then collected again on site: the handheld's payment lands
    as credit and a `double_collection` exception names it. Returns its op, the balance
    before the handheld's payment, the exception id and the credited amount."""
    [(bill,)] = gw.query("SELECT bill_fen FROM accounts WHERE account_no = :a", a=account_no)
    owed = balance(gw, account_no)["arrears_fen"]
    thirdparty_payment(gw.base_url, account_no, owed or bill, txn)
    before = balance(gw, account_no)
    f = device["ops"]
    pay = f.payment(account_no, bill)
    ops = ([f.shift_open()] if f.seq == 0 else []) + [pay]
    r = device["session"].post(gw.base_url + "/v1/ops", json={"ops": ops}, timeout=30)
    assert r.ok, r.text
    [(exc_id, credited)] = gw.query(
        "SELECT id, credit_fen FROM exceptions WHERE kind = 'double_collection' "
        "AND op_id = :o", o=pay["op_id"])
    assert credited == bill and balance(gw, account_no)["credit_fen"] \
        == before["credit_fen"] + bill
    return pay, before, exc_id, credited


def settled(gw, exc_id: int) -> list[tuple]:
    return gw.query("SELECT action, amount_fen FROM exception_settlements "
                    "WHERE exception_id = :i", i=exc_id)


def test_a_refund_after_the_void_is_refused_and_moves_nothing(gateway, device, office):
    [account_no, other] = fresh_accounts(gateway, 2)
    pay, before, exc_id, _credited = paid_twice(gateway, device, account_no, "TXN-RACE-SEQ")
    void = device["ops"].void(pay)
    assert device["session"].post(gateway.base_url + "/v1/ops", json={"ops": [void]},
                                  timeout=30).json()["results"][0]["status"] == "accepted"
    assert balance(gateway, account_no) == before   # the void gave the whole payment back

    refused = office.resolve(exc_id, "refund", "用户要求退款")
    assert refused.status_code == 409 and "该笔付款已作废" in refused.text
    english = office.resolve(exc_id, "reassign", target=other, lang="en")
    assert english.status_code == 409 and "This payment was voided" in english.text
    assert balance(gateway, account_no) == before and not settled(gateway, exc_id)
    assert gateway.query("SELECT resolved_at FROM exceptions WHERE id = :i",
                         i=exc_id) == [(None,)]


def test_a_void_and_a_refund_sent_at_once_give_the_money_back_once(gateway, second, office):
    """Each round: the handheld's void (to one gateway process) and the office's refund of
    the same payment (to another) at the same moment; the account ends where it was before
    the handheld's payment, whichever commits first."""
    outcomes = []
    for round_no, account_no in enumerate(fresh_accounts(gateway, 4)):
        dev = _device(gateway)
        pay, before, exc_id, credited = paid_twice(gateway, dev, account_no,
                                                   f"TXN-RACE-{round_no}")
        void = dev["ops"].void(pay)
        start, got = threading.Barrier(2), {}

        def send_void():
            start.wait()
            got["void"] = dev["session"].post(gateway.base_url + "/v1/ops",
                                              json={"ops": [void]}, timeout=60)

        def send_refund():
            s = requests.Session()
            s.cookies.update(office.s.cookies)
            start.wait()
            got["refund"] = s.post(f"{second.base_url}/console/exceptions/{exc_id}/resolve"
                                   "?lang=zh", timeout=60, allow_redirects=False, data={
                                       "csrf": office.csrf, "action": "refund",
                                       "reason": "同时退款"})
        threads = [threading.Thread(target=send_void), threading.Thread(target=send_refund)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got["void"].status_code == 200, got["void"].text
        assert got["void"].json()["results"][0]["status"] == "accepted"
        assert got["refund"].status_code in (303, 409), got["refund"].text
        # the money of the payment went back exactly once, whoever won
        assert balance(gateway, account_no) == before, (round_no, got["refund"].status_code)
        if got["refund"].status_code == 409:
            assert "该笔付款已作废" in got["refund"].text and not settled(gateway, exc_id)
        else:
            assert settled(gateway, exc_id) == [("refund", credited)]
        outcomes.append(got["refund"].status_code)
    print("refund outcomes (303 = refund first, 409 = void first):", outcomes)


def test_a_void_after_the_refund_takes_back_only_what_is_left(gateway, device, office):
    [account_no] = fresh_accounts(gateway, 1)
    pay, before, exc_id, credited = paid_twice(gateway, device, account_no, "TXN-RACE-AFTER")
    assert office.resolve(exc_id, "refund", "已退回用户").status_code == 303
    assert balance(gateway, account_no) == before   # the double collection went back
    void = device["ops"].void(pay)
    assert device["session"].post(gateway.base_url + "/v1/ops", json={"ops": [void]},
                                  timeout=30).json()["results"][0]["status"] == "accepted"
    assert balance(gateway, account_no) == before   # nothing was left to take back
    assert settled(gateway, exc_id) == [("refund", credited)]


def test_postgresql_a_void_and_a_refund_held_at_the_balance_reverse_once(gateway, second,
                                                                         office, engine):
    """The interleaving that reversed twice, made certain: the test holds the account's
    row lock while the void (one gateway process) and the refund (another) arrive, so both
    are inside their transactions, waiting, before either moves a balance (PostgreSQL row
    locks; SQLite has one writer)."""
    if engine != "postgresql":
        pytest.skip("row locks: PostgreSQL only")
    from sqlalchemy import create_engine, text

    [account_no] = fresh_accounts(gateway, 1)
    dev = _device(gateway)
    pay, before, exc_id, _credited = paid_twice(gateway, dev, account_no, "TXN-RACE-HELD")
    void = dev["ops"].void(pay)
    holder = create_engine(gateway.url)
    got = {}
    with holder.connect() as conn:
        tx = conn.begin()
        conn.execute(text("SELECT doc FROM accounts WHERE account_no = :a FOR UPDATE"),
                     {"a": account_no})
        s = requests.Session()
        s.cookies.update(office.s.cookies)
        threads = [threading.Thread(target=lambda: got.__setitem__("void", dev["session"].post(
                       gateway.base_url + "/v1/ops", json={"ops": [void]}, timeout=120))),
                   threading.Thread(target=lambda: got.__setitem__("refund", s.post(
                       f"{second.base_url}/console/exceptions/{exc_id}/resolve?lang=zh",
                       timeout=120, allow_redirects=False,
                       data={"csrf": office.csrf, "action": "refund", "reason": "同时退款"})))]
        for t in threads:
            t.start()
        deadline.wait_until(lambda: gateway.query(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")[0][0] >= 2, what="the void and the refund "
            "waiting on locks")
        tx.rollback()
    for t in threads:
        t.join()
    holder.dispose()
    assert got["void"].json()["results"][0]["status"] == "accepted", got["void"].text
    assert got["refund"].status_code in (303, 409), got["refund"].text
    assert balance(gateway, account_no) == before   # reversed once, whoever went first


def _device(gw) -> dict:
    dev = enrol_device(gw.base_url)
    dev["session"] = requests.Session()
    dev["session"].headers["Authorization"] = f"Bearer {dev['token']}"
    dev["ops"] = OpFactory(dev)
    return dev


def test_postgresql_a_batch_paying_the_account_and_voiding_while_a_refund_waits(
        gateway, second, office, engine):
    """A handheld's batch that pays the account again and voids the first payment, and the
    office's refund of that payment, both held at the account's row lock: each takes the
    payment's lock before the balances, so neither waits on the other in a circle (which
    PostgreSQL breaks by failing one of them); the money goes back once."""
    if engine != "postgresql":
        pytest.skip("row locks: PostgreSQL only")
    from sqlalchemy import create_engine, text

    [account_no] = fresh_accounts(gateway, 1)
    dev = _device(gateway)
    pay, before, exc_id, _credited = paid_twice(gateway, dev, account_no, "TXN-RACE-CIRCLE")
    again = dev["ops"].payment(account_no, 300)
    void = dev["ops"].void(pay)
    holder = create_engine(gateway.url)
    got = {}

    def waiting() -> int:
        return gateway.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                             "'Lock' AND datname = current_database()")[0][0]
    s = requests.Session()
    s.cookies.update(office.s.cookies)
    threads = [threading.Thread(target=lambda: got.__setitem__("batch", dev["session"].post(
                   gateway.base_url + "/v1/ops", json={"ops": [again, void]}, timeout=120))),
               threading.Thread(target=lambda: got.__setitem__("refund", s.post(
                   f"{second.base_url}/console/exceptions/{exc_id}/resolve?lang=zh",
                   timeout=120, allow_redirects=False,
                   data={"csrf": office.csrf, "action": "refund", "reason": "同时退款"})))]
    with holder.connect() as conn:
        tx = conn.begin()
        conn.execute(text("SELECT doc FROM accounts WHERE account_no = :a FOR UPDATE"),
                     {"a": account_no})
        threads[0].start()   # the batch first: it queues at the lock first
        deadline.wait_until(lambda: waiting() >= 1, what="the batch waiting on a lock")
        threads[1].start()
        deadline.wait_until(lambda: waiting() >= 2, what="the batch and the refund waiting")
        tx.rollback()
    for t in threads:
        t.join()
    holder.dispose()
    assert got["batch"].status_code == 200, got["batch"].text
    assert [r["status"] for r in got["batch"].json()["results"]] == ["accepted", "accepted"]
    assert got["refund"].status_code in (303, 409), got["refund"].text
    after = balance(gateway, account_no)   # the new 300 fen is all that is left booked
    assert after["credit_fen"] - before["credit_fen"] \
        + before["arrears_fen"] - after["arrears_fen"] == 300
