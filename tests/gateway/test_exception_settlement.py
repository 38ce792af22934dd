"""The office settles exceptions with money through the console (docs/ledger.md, "Settling
an exception"): credit, refund, re-assign, write off. For each: the balance before and
after (read from the gateway's database by its SQLAlchemy URL), the change a device pulls
from the route's feed, the audit row, the settlement the reports count, and a second
resolve refused with nothing booked twice — also by a second gateway process on the same
database. Runs on SQLite and PostgreSQL (tests/engines.py)."""
from __future__ import annotations

import csv
import io
import json
import threading

import pytest
import requests

from sync.gateway.testing import GatewayProcess, supervisor_token, thirdparty_payment
from tests.gateway.office_kit import USERS, Office


@pytest.fixture(scope="module")
def office(base_url):
    return Office(base_url)


def balance(gw, account_no: str) -> dict:
    [(doc,)] = gw.query("SELECT doc FROM accounts WHERE account_no = :a", a=account_no)
    doc = json.loads(doc)
    return {"arrears_fen": doc["arrears_fen"], "credit_fen": doc["credit_fen"]}


def feed_version(gw) -> int:
    [(v,)] = gw.query("SELECT value FROM counters WHERE name = 'feed_version'")
    return v


def pulled(gw, device, account_no: str, since: int) -> list[dict]:
    """The balance changes of `account_no` a device pulls from its route's feed."""
    [(route_id,)] = gw.query("SELECT route_id FROM accounts WHERE account_no = :a", a=account_no)
    r = device["session"].get(f"{gw.base_url}/v1/routes/{route_id}/changes",
                              params={"since": since}, timeout=10)
    assert r.ok, r.text
    return [c for c in r.json()["changes"]
            if c["kind"] == "balance" and c["account_no"] == account_no]


def audit_of(gw, exception_id: int, action: str) -> list[dict]:
    rows = gw.query("SELECT operator_id, action, detail FROM supervisor_audit "
                    "WHERE action = :x ORDER BY id", x=f"exception_{action}")
    return [dict(json.loads(d), operator_id=o) for o, _a, d in rows
            if json.loads(d)["before"]["id"] == exception_id]


def open_exception(gw, kind: str, account_no: str | None = None) -> int:
    sql = "SELECT max(id) FROM exceptions WHERE kind = :k AND resolved_at IS NULL"
    [(exc_id,)] = gw.query(sql + (" AND account_no = :a" if account_no else ""), k=kind,
                           a=account_no)
    assert exc_id is not None
    return exc_id


def fresh_account(gw, used=set()) -> str:   # noqa: B006 — accounts no test has touched
    rows = gw.query("SELECT account_no FROM accounts WHERE route_id = 'R001' AND active = :t "
                    "AND bill_fen > 0 ORDER BY account_no", t=True)
    no = next(a for (a,) in rows if a not in used)
    used.add(no)
    return no


def settled(gw, exception_id: int) -> list[tuple]:
    return gw.query("SELECT action, amount_fen, balance_fen, by_user FROM exception_settlements "
                    "WHERE exception_id = :i", i=exception_id)


def refused_twice(gw, office, exc_id: int, account_no: str) -> None:
    """A second resolve (any action, or the supervisor API's) is refused in both languages
    and moves nothing."""
    before = balance(gw, account_no)
    again = office.resolve(exc_id, "refund")
    assert again.status_code == 409 and "该异常已处理" in again.text
    assert "already resolved" in office.resolve(exc_id, "credit", lang="en").text
    api = requests.post(f"{gw.base_url}/v1/supervisor/exceptions/{exc_id}/resolve",
                        json={"note": "again"}, timeout=10,
                        headers={"Authorization": f"Bearer {supervisor_token(gw.base_url)}"})
    assert api.status_code == 409 and api.json()["error"] == "already_resolved"
    assert balance(gw, account_no) == before and len(settled(gw, exc_id)) == 1


def test_credit_books_a_suspense_payment_on_its_account(gateway, device, office):
    account_no = fresh_account(gateway)
    f = device["ops"]
    r = device["session"].post(gateway.base_url + "/v1/ops", timeout=30, json={"ops": [
        f.shift_open(), f.payment(account_no, 4321, method="cheque")]})
    assert r.ok and r.json()["results"][1]["code"] == "suspense", r.text
    exc_id = open_exception(gateway, "suspense", account_no)
    before, since = balance(gateway, account_no), feed_version(gateway)

    assert office.resolve(exc_id, "credit", "用户确认为预存").status_code == 303
    after = balance(gateway, account_no)
    to_arrears = min(4321, before["arrears_fen"])
    assert after == {"arrears_fen": before["arrears_fen"] - to_arrears,
                     "credit_fen": before["credit_fen"] + 4321 - to_arrears}
    [change] = pulled(gateway, device, account_no, since)
    assert (change["arrears_fen"], change["credit_fen"]) == (after["arrears_fen"],
                                                             after["credit_fen"])
    op_id = f.log[1]["op_id"]
    assert op_id in change["booked"]   # the device stops counting it as "paid here"
    assert gateway.query("SELECT suspense, account_no FROM payments WHERE op_id = :o",
                         o=op_id) == [(False, account_no)]
    [audit] = audit_of(gateway, exc_id, "credit")
    assert audit["operator_id"] == USERS["cashier"][0]
    assert audit["before"]["balances"] == {account_no: before}
    assert audit["after"]["balances"] == {account_no: after}
    assert settled(gateway, exc_id) == [("credit", 4321, 4321,
                                         f"office:{USERS['cashier'][0]}")]
    refused_twice(gateway, office, exc_id, account_no)


def double_collection(gw, device, account_no: str, txn: str) -> tuple[int, int]:
    """Collected on site, then paid again through a platform: (exception id, credited)."""
    [(bill,)] = gw.query("SELECT bill_fen FROM accounts WHERE account_no = :a", a=account_no)
    f = device["ops"]
    ops = ([f.shift_open()] if f.seq == 0 else []) + [f.payment(account_no, bill)]
    assert device["session"].post(gw.base_url + "/v1/ops", json={"ops": ops}, timeout=30).ok
    thirdparty_payment(gw.base_url, account_no, bill, txn)
    exc_id = open_exception(gw, "double_collection", account_no)
    [(credited,)] = gw.query("SELECT credit_fen FROM exceptions WHERE id = :i", i=exc_id)
    assert credited > 0
    return exc_id, credited


def test_refund_of_a_double_collection_takes_the_credit_back(gateway, device, office):
    account_no = fresh_account(gateway)
    exc_id, credited = double_collection(gateway, device, account_no, "TXN-SETTLE-REFUND")
    assert office.resolve(exc_id, "write_off").status_code == 409   # a customer's money
    before, since = balance(gateway, account_no), feed_version(gateway)

    assert office.resolve(exc_id, "refund", "已退回用户").status_code == 303
    after = balance(gateway, account_no)
    assert after == {"arrears_fen": before["arrears_fen"],
                     "credit_fen": before["credit_fen"] - credited}
    [change] = pulled(gateway, device, account_no, since)
    assert change["credit_fen"] == after["credit_fen"]
    [audit] = audit_of(gateway, exc_id, "refund")
    assert (audit["before"]["balances"], audit["after"]["balances"]) == (
        {account_no: before}, {account_no: after})
    assert settled(gateway, exc_id) == [("refund", credited, credited,
                                         f"office:{USERS['cashier'][0]}")]
    csv_text = office.s.get(gateway.base_url + "/console/reports/settlements.csv",
                            timeout=10).content.decode("utf-8-sig")
    refunds = sum(int(r["amount_fen"]) for r in csv.DictReader(io.StringIO(csv_text))
                  if r["action"] == "refund")
    [(want,)] = gateway.query("SELECT sum(amount_fen) FROM exception_settlements "
                              "WHERE action = 'refund'")
    assert refunds == want >= credited
    refused_twice(gateway, office, exc_id, account_no)


def test_reassign_moves_a_suspense_payment_to_an_existing_account(gateway, device, office):
    thirdparty_payment(gateway.base_url, "0000000404", 2500, "TXN-SETTLE-SUSPENSE")
    exc_id = open_exception(gateway, "suspense", "0000000404")
    target = fresh_account(gateway)
    before, since = balance(gateway, target), feed_version(gateway)

    no_account = office.resolve(exc_id, "credit")   # its own account does not exist
    assert no_account.status_code == 404 and "户号" in no_account.text
    missing = office.resolve(exc_id, "reassign")
    assert missing.status_code == 400 and "改派到户号" in missing.text
    unknown = office.resolve(exc_id, "reassign", target="0000000999", lang="en")
    assert unknown.status_code == 404 and "No such open account" in unknown.text \
        and "0000000999" in unknown.text
    assert "户号不存在" in office.resolve(exc_id, "reassign", target="0000000999").text
    assert gateway.query("SELECT resolved_at FROM exceptions WHERE id = :i", i=exc_id) \
        == [(None,)] and balance(gateway, target) == before and not settled(gateway, exc_id)

    assert office.resolve(exc_id, "reassign", "用户缴错户号", target=target).status_code == 303
    after = balance(gateway, target)
    to_arrears = min(2500, before["arrears_fen"])
    assert after == {"arrears_fen": before["arrears_fen"] - to_arrears,
                     "credit_fen": before["credit_fen"] + 2500 - to_arrears}
    [change] = pulled(gateway, device, target, since)
    assert (change["arrears_fen"], change["credit_fen"]) == (after["arrears_fen"],
                                                             after["credit_fen"])
    assert gateway.query("SELECT suspense, account_no FROM thirdparty_payments "
                         "WHERE txn_id = 'TXN-SETTLE-SUSPENSE'") == [(False, target)]
    [audit] = audit_of(gateway, exc_id, "reassign")
    assert audit["target_account_no"] == target
    assert (audit["before"]["balances"], audit["after"]["balances"]) == (
        {target: before}, {target: after})
    refused_twice(gateway, office, exc_id, target)


def test_reassign_of_a_double_collection_reverses_it_from_the_first_account(
        gateway, device, office):
    first, target = fresh_account(gateway), fresh_account(gateway)
    exc_id, credited = double_collection(gateway, device, first, "TXN-SETTLE-MOVE")
    before = {no: balance(gateway, no) for no in (first, target)}
    since = feed_version(gateway)

    assert office.resolve(exc_id, "reassign", "缴错户", target=target).status_code == 303
    after = {no: balance(gateway, no) for no in (first, target)}
    assert after[first] == {"arrears_fen": before[first]["arrears_fen"],
                            "credit_fen": before[first]["credit_fen"] - credited}
    to_arrears = min(credited, before[target]["arrears_fen"])
    assert after[target] == {
        "arrears_fen": before[target]["arrears_fen"] - to_arrears,
        "credit_fen": before[target]["credit_fen"] + credited - to_arrears}
    for no in (first, target):
        [change] = pulled(gateway, device, no, since)
        assert change["credit_fen"] == after[no]["credit_fen"]
    [audit] = audit_of(gateway, exc_id, "reassign")
    assert (audit["before"]["balances"], audit["after"]["balances"]) == (before, after)
    refused_twice(gateway, office, exc_id, target)


def test_write_off_of_a_refused_void_lowers_the_arrears(gateway, device, office):
    account_no = fresh_account(gateway)
    f = device["ops"]
    ops = [f.shift_open()]
    pay = f.payment(account_no, 1500)
    assert device["session"].post(gateway.base_url + "/v1/ops", timeout=30, json={
        "ops": ops + [pay, f.void(pay)]}).ok
    supervisor = Office(gateway.base_url, "supervisor")
    assert supervisor.post(f"/console/voids/{f.log[-1]['op_id']}/refuse",
                           reason="未经批准").status_code == 303
    exc_id = open_exception(gateway, "void_refused", account_no)
    assert office.resolve(exc_id, "credit").status_code == 409   # not money received
    before, since = balance(gateway, account_no), feed_version(gateway)
    assert before["arrears_fen"] > 0

    assert office.resolve(exc_id, "write_off", "无法追回，核销").status_code == 303
    after = balance(gateway, account_no)
    taken = min(1500, before["arrears_fen"])
    assert after == {"arrears_fen": before["arrears_fen"] - taken,
                     "credit_fen": before["credit_fen"]}
    [change] = pulled(gateway, device, account_no, since)
    assert change["arrears_fen"] == after["arrears_fen"]
    [audit] = audit_of(gateway, exc_id, "write_off")
    assert (audit["before"]["balances"], audit["after"]["balances"]) == (
        {account_no: before}, {account_no: after})
    assert settled(gateway, exc_id) == [("write_off", 1500, taken,
                                         f"office:{USERS['cashier'][0]}")]
    refused_twice(gateway, office, exc_id, account_no)


def test_write_off_of_a_cash_variance_is_recorded_and_moves_no_balance(gateway, device,
                                                                       office):
    f = device["ops"]
    ops = [f.shift_open("SH-V")]
    ops.append(f.envelope("shift_close", {"shift_id": "SH-V", "counted_fen": 9000,
                                          "expected_fen": 10000, "variance_fen": -1000,
                                          "z_no": 1, "summary": {}}))
    assert device["session"].post(gateway.base_url + "/v1/ops", json={"ops": ops},
                                  timeout=30).ok
    exc_id = open_exception(gateway, "review")
    since = feed_version(gateway)
    assert office.resolve(exc_id, "write_off", "短款由收费员赔付").status_code == 303
    assert settled(gateway, exc_id) == [("write_off", -1000, 0,
                                         f"office:{USERS['cashier'][0]}")]
    assert feed_version(gateway) == since   # no account was touched


def test_two_gateway_processes_book_a_resolve_once(gateway, device, office):
    """The same credit sent at once to two gateway processes on one database: one books
    it, the other is refused (the exception's conditional UPDATE waits on the row lock)."""
    second = GatewayProcess(None, db_url=gateway.url, seed_demo=False, migrate=False)
    second.start()
    try:
        account_no = fresh_account(gateway)
        f = device["ops"]
        ops = [f.shift_open(), f.payment(account_no, 777, "cheque")]
        assert device["session"].post(gateway.base_url + "/v1/ops", json={"ops": ops},
                                      timeout=30).ok
        exc_id = open_exception(gateway, "suspense", account_no)
        before = balance(gateway, account_no)
        start, codes = threading.Barrier(2), []

        def send(url):
            s = requests.Session()
            s.cookies.update(office.s.cookies)
            start.wait()
            codes.append(s.post(f"{url}/console/exceptions/{exc_id}/resolve", timeout=60,
                                allow_redirects=False, data={
                                    "csrf": office.csrf, "action": "credit",
                                    "reason": "同时处理"}).status_code)
        threads = [threading.Thread(target=send, args=(u,))
                   for u in (gateway.base_url, second.base_url)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [303, 409]
        after = balance(gateway, account_no)
        assert after["credit_fen"] + (before["arrears_fen"] - after["arrears_fen"]) \
            - before["credit_fen"] == 777
        assert len(settled(gateway, exc_id)) == 1 and len(audit_of(gateway, exc_id,
                                                                   "credit")) == 1
    finally:
        second.stop()
