"""The customer pages (docs/channels.md §Customer pages) in a real headless Chromium on a
phone-sized screen, against a real gateway and the sandbox platform's checkout: pay →
e-receipt → verify; verify valid / voided / forged for handheld receipts and e-receipts; a
wrong account number; the rate limit. Screenshots in artifacts/browser/customer-*.png."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import requests

from sync.gateway.customer.pages import RATE
from sync.gateway.testing import OpFactory, enrol_device, post_ops
from sync.sandbox_platform.process import SandboxProcess


@pytest.fixture
def sandbox(gateway):
    sb = SandboxProcess(gateway.base_url, platform="alipay").start()
    yield sb
    sb.stop()


def _owing(gateway) -> tuple[str, str]:
    """(account_no, meter number) of an account owing money."""
    for account_no, doc in gateway.query("SELECT account_no, doc FROM accounts WHERE active "
                                         "AND agent_id IS NULL ORDER BY account_no"):
        d = json.loads(doc)
        if d["arrears_fen"] > d["credit_fen"]:
            return account_no, d["meter"]["meter_no"]
    raise AssertionError("no account owes money")


def _look_up(phone, base, account_no, meter4):
    phone.goto(f"{base}/pay?acct={account_no}")
    phone.fill("#meter4", meter4)
    phone.click("#lookup")


def test_pay_through_the_platform_then_e_receipt_then_verify(phone_page, gateway, sandbox,
                                                             shot):
    phone = phone_page
    base = gateway.base_url
    account_no, meter_no = _owing(gateway)
    _look_up(phone, base, account_no, meter_no[-4:])
    due = phone.inner_text("#due")
    assert due != "0.00" and account_no not in phone.inner_text("body")   # shown masked
    shot(phone, "customer-bill")
    phone.click("#pay-alipay")
    phone.wait_for_selector("#pay")                     # the platform's checkout page
    assert phone.url.startswith(sandbox.base_url)
    assert phone.inner_text("#amount") == due.replace(",", "")
    shot(phone, "customer-checkout")
    phone.click("#pay")
    phone.wait_for_selector("#receipt")
    assert phone.url.startswith(base + "/pay/done")
    assert phone.inner_text("#amount") == due and phone.inner_text("#now_due") == "0.00"
    code = phone.inner_text("#code")
    assert len(code) == 16
    shot(phone, "customer-e-receipt")
    phone.click("#verify")
    assert phone.get_attribute("#status", "data-status") == "valid"
    shot(phone, "customer-verify-valid")
    _look_up(phone, base, account_no, meter_no[-4:])   # the bill shows paid at once
    assert phone.inner_text("#due") == "0.00" and phone.is_visible("#nothing")

    [trade] = [t for t in requests.get(sandbox.base_url + "/trades", timeout=30).json()]
    forged = {"p": "alipay", "t": trade["trade_no"], "a": trade["amount_fen"],
              "c": "0" * 16}
    phone.goto(f"{base}/verify?{urlencode(forged)}")
    assert phone.get_attribute("#status", "data-status") == "not_ours"
    shot(phone, "customer-verify-forged")
    requests.post(sandbox.base_url + "/refund?wait=1", timeout=120,
                  json={"trade_no": trade["trade_no"], "amount_fen": trade["amount_fen"]})
    phone.goto(f"{base}/verify?{urlencode({**forged, 'c': code})}")
    assert phone.get_attribute("#status", "data-status") == "voided"


def test_verify_a_handheld_receipt_valid_voided_and_forged(phone_page, gateway, shot):
    phone = phone_page
    base = gateway.base_url
    dev = enrol_device(base)
    ops = OpFactory(dev)
    account_no, _ = _owing(gateway)
    kept, voided = ops.payment(account_no, 1_000), ops.payment(account_no, 2_000)
    answer = post_ops(base, dev["token"], [ops.shift_open(), kept, voided, ops.void(voided)])
    assert {r["status"] for r in answer.json()["results"]} == {"accepted"}

    def check(op, code=None):
        rc = op["payload"]["receipt"]
        phone.goto(f"{base}/verify?" + urlencode({
            "d": dev["device_id"], "n": rc["receipt_no"], "a": op["payload"]["amount_fen"],
            "c": code or rc["verify_code"]}))
        return phone.get_attribute("#status", "data-status")

    assert check(kept) == "valid"
    assert account_no not in phone.content() and account_no[-2:] in phone.inner_text("body")
    assert check(voided) == "voided"
    shot(phone, "customer-verify-voided")
    assert check(kept, code="ffffffffffffffff") == "not_ours"


def test_a_wrong_account_number_says_nothing_about_which_exist(phone_page, gateway, shot):
    phone = phone_page
    base = gateway.base_url
    account_no, meter_no = _owing(gateway)
    _look_up(phone, base, "9999999999", "1234")
    unknown = phone.inner_text("#error")
    shot(phone, "customer-wrong-account")
    wrong_meter = str((int(meter_no[-4:]) + 1) % 10_000).zfill(4)
    _look_up(phone, base, account_no, wrong_meter)
    assert phone.inner_text("#error") == unknown and "9999999999" not in unknown
    phone.goto(f"{base}/pay?lang=en&acct=9999999999")
    phone.fill("#meter4", "1234")
    phone.click("#lookup")
    assert "No bill matches" in phone.inner_text("#error")


def test_look_ups_are_rate_limited(gateway):
    url = gateway.base_url + "/pay"
    codes = [requests.post(url, data={"account_no": f"99{i:08d}", "meter4": "0000"},
                           timeout=30).status_code for i in range(RATE[0] + 1)]
    assert codes[:RATE[0]] == [200] * RATE[0] and codes[-1] == 429
