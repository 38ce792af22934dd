"""Biller interface end to end (docs/channels.md §Biller interface): the sandbox platform
and hand-signed requests against a real gateway; the handheld is the real sync client and
terminal core on a real store."""
import json
import time

import pytest
import requests

from sync import platform_sign
from sync.gateway.testing import GatewayProcess
from sync.sandbox_platform.notifier import Signer
from terminal import payments, route_walk
from terminal.ledger_errors import LedgerError
from terminal.ui.i18n import error_text
from tests.channels.channel_kit import SandboxProcess
from tests.deadline import wait_until
from tests.sync import sync_kit


def _bill(signer: Signer, account_no: str) -> dict:
    r = signer.request("GET", f"/v1/channels/bills?account_no={account_no}")
    assert r.status_code == 200, r.text
    return r.json()


def _fresh_accounts(store, route_id: str) -> list[str]:
    """Accounts of the route owing money, no agent, no platform payment yet."""
    return [r[0] for r in store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id=? AND arrears_fen>0 AND agent_id IS NULL"
        " AND last_third_party IS NULL ORDER BY seq", (route_id,))]


@pytest.fixture(scope="module")
def handheld(gateway, tmp_path_factory):
    store, client, _ = sync_kit.collector_on_route(tmp_path_factory.mktemp("hh"),
                                                   gateway.base_url, "hh", "R001")
    return store, client, _fresh_accounts(store, "R001")


def test_platform_payment_reaches_the_handheld_which_refuses_to_collect_again(
        gateway, sandbox, handheld):
    store, client, fresh = handheld
    account_no = fresh[0]
    signer = sandbox.signer()
    bill = _bill(signer, account_no)
    assert bill["amount_due_fen"] > 0 and "*" in bill["masked_name"]
    due_before = payments.due_after(store, account_no)
    assert due_before >= bill["amount_due_fen"]

    trade = sandbox.pay(account_no, bill["amount_due_fen"], bill_id=bill["bill_id"])
    assert trade["delivery"]["status"] == "delivered", trade
    assert trade["delivery"]["answer"]["status"] == "booked"

    client.pull_changes("R001")                       # one pull
    tp = route_walk.account_detail(store, account_no)["account"]["last_third_party"]
    assert tp["platform"] == "sandpay" and tp["trade_no"] == trade["trade_no"]
    assert tp["amount_fen"] == bill["amount_due_fen"]
    # the whole office bill is paid; a late fee stops with the arrears (docs/ledger.md)
    assert payments.due_after(store, account_no) == 0 < due_before
    with pytest.raises(LedgerError) as refused:
        payments.cash_payment(store, account_no, due_before, sync_kit.READER)
    assert refused.value.code == "over_due"
    zh = error_text(refused.value, "zh")
    assert "sandpay" in zh and "sandpay" in refused.value.en
    paid_at = trade["paid_at"][11:16]
    assert paid_at in zh and paid_at in refused.value.en and "通过sandpay缴费" in zh
    n = store.conn.execute("SELECT COUNT(*) FROM payments WHERE account_no=?",
                           (account_no,)).fetchone()[0]
    assert n == 0


def test_the_same_notification_100_times_is_booked_once(gateway, sandbox, handheld, office):
    account_no = handheld[2][1]
    signer = sandbox.signer()
    before = _bill(signer, account_no)
    notice = {"platform": "sandpay", "trade_no": "REPLAY100", "account_no": account_no,
              "amount_fen": 1234, "paid_at": "2026-12-04T10:32:00+08:00"}
    answers = [signer.request("POST", "/v1/channels/payments", notice) for _ in range(100)]
    assert {a.status_code for a in answers} == {200}
    assert len({json.dumps(a.json(), sort_keys=True) for a in answers}) == 1
    after = _bill(signer, account_no)
    assert before["breakdown"]["arrears_fen"] - after["breakdown"]["arrears_fen"] == \
        min(1234, before["breakdown"]["arrears_fen"])
    listed = office.get(gateway.base_url + "/v1/supervisor/channels/payments",
                        params={"account_no": account_no}, timeout=30).json()
    assert [p["trade_no"] for p in listed].count("REPLAY100") == 1


def _raw(signer, body: dict, *, key=None, nonce=None, ts=None):
    data = json.dumps(body).encode()
    headers = platform_sign.signed_headers(signer.platform, signer.scheme, key or signer.key,
                                           "POST", "/v1/channels/payments", data, ts=ts,
                                           nonce=nonce)
    return data, headers


def _post(gateway, data, headers):
    return requests.post(gateway.base_url + "/v1/channels/payments", data=data,
                         headers=headers, timeout=30)


def test_forged_signature_replayed_nonce_and_stale_time_are_refused(gateway, sandbox,
                                                                   handheld):
    signer = sandbox.signer()
    notice = {"platform": "sandpay", "trade_no": "FORGED1", "account_no": handheld[2][2],
              "amount_fen": 500, "paid_at": "2026-12-04T10:40:00+08:00"}
    forged = _post(gateway, *_raw(signer, notice, key=platform_sign.new_rsa_key()))
    assert forged.status_code == 401 and forged.json()["error"] == "bad_signature"
    data, headers = _raw(signer, notice)
    tampered = _post(gateway, data.replace(b"500", b"5000"), headers)
    assert tampered.status_code == 401 and tampered.json()["error"] == "bad_signature"
    first = _post(gateway, data, headers)           # the forged tries used up no nonce
    assert first.status_code == 200, first.text
    again = _post(gateway, data, headers)
    assert again.status_code == 401 and again.json()["error"] == "nonce_replayed"
    stale = _post(gateway, *_raw(signer, notice, ts=int(time.time()) - 3600))
    assert stale.status_code == 401 and stale.json()["error"] == "stale_timestamp"
    unsigned = requests.post(gateway.base_url + "/v1/channels/payments", json=notice,
                             timeout=30)
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "unsigned"


def test_same_trade_number_with_another_amount_is_refused_and_queued(gateway, sandbox,
                                                                    handheld, office):
    signer = sandbox.signer()
    notice = {"platform": "sandpay", "trade_no": "CLASH1", "account_no": handheld[2][3],
              "amount_fen": 700, "paid_at": "2026-12-04T11:00:00+08:00"}
    assert signer.request("POST", "/v1/channels/payments", notice).status_code == 200
    clash = signer.request("POST", "/v1/channels/payments", {**notice, "amount_fen": 7000})
    assert clash.status_code == 409 and clash.json()["error"] == "trade_mismatch"
    queued = office.get(gateway.base_url + "/v1/supervisor/exceptions",
                        params={"kind": "channel"}, timeout=30).json()
    assert any(e["code"] == "trade_mismatch" and e["amount_fen"] == 7000 for e in queued)
    assert signer.request("POST", "/v1/channels/payments", notice).json()["amount_fen"] == 700


def test_partial_and_over_payment_and_a_refund(gateway, sandbox, handheld):
    signer = sandbox.signer()
    account_no = handheld[2][4]
    owed = _bill(signer, account_no)["breakdown"]["arrears_fen"]
    part = sandbox.pay(account_no, owed // 2)["delivery"]["answer"]
    assert part["status"] == "booked" and part["to_arrears_fen"] == owed // 2
    over = sandbox.pay(account_no, owed)["delivery"]["answer"]
    assert over["status"] == "credited"
    assert over["to_credit_fen"] == owed // 2 and over["to_arrears_fen"] == owed - owed // 2
    bill = _bill(signer, account_no)
    assert bill["amount_due_fen"] == 0 and bill["breakdown"]["credit_fen"] == owed // 2
    r = requests.post(sandbox.base_url + "/refund?wait=1", timeout=150,
                      json={"trade_no": over["trade_no"], "amount_fen": owed})
    assert r.json()["delivery"]["answer"]["status"] == "reversed"
    back = _bill(signer, account_no)["breakdown"]
    assert back == {"arrears_fen": owed - owed // 2, "credit_fen": 0}


def test_platform_payment_after_cash_on_site_is_flagged_as_double_and_credited(
        gateway, sandbox, handheld, office):
    store, client, fresh = handheld
    account_no = fresh[5]
    signer = sandbox.signer()
    owed = _bill(signer, account_no)["amount_due_fen"]
    payments.cash_payment(store, account_no, payments.due_after(store, account_no),
                          sync_kit.READER)
    sync_kit.drain(client)                        # the office has the cash payment
    assert _bill(signer, account_no)["amount_due_fen"] == 0

    # the customer pays the same bill from the printed notice on a phone
    answer = sandbox.pay(account_no, owed)["delivery"]["answer"]
    assert answer["status"] == "double_collection"
    assert answer["double_collection_fen"] == owed
    assert _bill(signer, account_no)["breakdown"]["credit_fen"] >= owed
    queued = office.get(gateway.base_url + "/v1/supervisor/exceptions",
                        params={"kind": "double_collection"}, timeout=30).json()
    mine = [e for e in queued if e["account_no"] == account_no]
    assert len(mine) == 1 and mine[0]["credit_fen"] == owed

    client.pull_changes("R001")                   # the device sees the credit
    acct = route_walk.account_detail(store, account_no)["account"]
    assert acct["last_third_party"]["double_collection_fen"] == owed
    credit_on_device = acct["credit_fen"]
    assert credit_on_device >= owed

    settled = office.post(f"{gateway.base_url}/v1/supervisor/channels/payments/sandpay/"
                          f"{answer['trade_no']}/settle", timeout=30,
                          json={"action": "refund", "note": "customer asked for it back"})
    assert settled.status_code == 200, settled.text
    assert settled.json()["refunded_fen"] == owed
    still_open = office.get(gateway.base_url + "/v1/supervisor/exceptions",
                            params={"kind": "double_collection"}, timeout=30).json()
    assert not [e for e in still_open if e["account_no"] == account_no]
    client.pull_changes("R001")
    acct = route_walk.account_detail(store, account_no)["account"]
    assert acct["credit_fen"] == credit_on_device - owed
    assert acct["last_third_party"]["refunded_fen"] == owed


def test_a_nonce_used_on_one_gateway_process_is_refused_by_another(gateway, sandbox,
                                                                   handheld):
    second = GatewayProcess(gateway.db_path, seed_demo=False, db_url=gateway.url)
    second.start()
    try:
        signer = sandbox.signer()
        notice = {"platform": "sandpay", "trade_no": "TWOPROC1", "account_no": handheld[2][6],
                  "amount_fen": 300, "paid_at": "2026-12-04T12:00:00+08:00"}
        data, headers = _raw(signer, notice)
        assert _post(gateway, data, headers).status_code == 200
        replay = requests.post(second.base_url + "/v1/channels/payments", data=data,
                               headers=headers, timeout=30)
        assert replay.status_code == 401 and replay.json()["error"] == "nonce_replayed"
    finally:
        second.stop()


def test_the_platform_retries_with_back_off_until_the_gateway_answers(gateway, sandbox,
                                                                     handheld):
    signer = sandbox.signer()
    account_no = handheld[2][7]
    before = _bill(signer, account_no)["breakdown"]["arrears_fen"]
    gateway.stop()
    try:
        trade = requests.post(sandbox.base_url + "/pay", timeout=30,
                              json={"account_no": account_no, "amount_fen": 400}).json()

        def attempts():
            [t] = [x for x in requests.get(sandbox.base_url + "/trades", timeout=30).json()
                   if x["trade_no"] == trade["trade_no"]]
            return t["delivery"]
        wait_until(lambda: attempts()["attempts"] >= 3, what="three failed attempts")
    finally:
        gateway.start()
    done = wait_until(lambda: attempts()["status"] != "pending" and attempts(),
                      what="delivery after the gateway is back")
    assert done["status"] == "delivered" and done["attempts"] > 3
    assert _bill(signer, account_no)["breakdown"]["arrears_fen"] == before - min(400, before)


def test_a_platform_signing_with_hmac_is_booked_and_a_wrong_secret_refused(gateway, handheld):
    bank = SandboxProcess(gateway.base_url, platform="bankx", scheme="hmac").start()
    try:
        account_no = handheld[2][8]
        answer = bank.pay(account_no, 200)["delivery"]
        assert answer["status"] == "delivered" and answer["answer"]["platform"] == "bankx"
        wrong = Signer(gateway.base_url, "bankx", "hmac", "00" * 32)
        r = wrong.request("GET", f"/v1/channels/bills?account_no={account_no}")
        assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    finally:
        bank.stop()


def test_the_gateway_signs_its_answers_with_its_own_key(gateway, sandbox, handheld, office):
    signer = sandbox.signer()
    r = signer.request("GET", f"/v1/channels/bills?account_no={handheld[2][9]}")
    ours = office.get(gateway.base_url + "/v1/supervisor/biller-key", timeout=30).json()
    assert platform_sign.verify_response("rsa", ours["public_key"], r.headers, r.content)
    assert not platform_sign.verify_response("rsa", ours["public_key"], r.headers,
                                             r.content.replace(b"arrears", b"arrearz"))
    other = platform_sign.public_pem(platform_sign.new_rsa_key())
    assert not platform_sign.verify_response("rsa", other, r.headers, r.content)


@pytest.mark.parametrize("query", ["", "?account_no=", "?account_no=" + "9" * 40,
                                   "?account_no=3101000001"])
def test_an_unsigned_bill_query_is_refused_before_its_query_is_read(gateway, query):
    """Whatever the query, a caller that did not sign learns only that (401), never which
    parameter it got wrong (422)."""
    r = requests.get(gateway.base_url + "/v1/channels/bills" + query, timeout=30)
    assert r.status_code == 401, r.text
    assert set(r.json()) == {"error", "message"}


def test_a_signed_bill_query_with_a_bad_account_number_names_the_field(gateway, sandbox):
    r = sandbox.signer().request("GET", "/v1/channels/bills?account_no=" + "9" * 40)
    assert r.status_code == 422 and "account_no" in r.json()["message"], r.text


def test_an_unsigned_notification_is_refused_before_its_body_is_looked_at(gateway):
    """A body the gateway would refuse (a NUL character) still answers an unsigned caller
    only that it did not sign (401)."""
    r = requests.post(gateway.base_url + "/v1/channels/payments", json={"a": "\u0000"},
                      timeout=30)
    assert r.status_code == 401 and r.json()["error"] == "unsigned", r.text
