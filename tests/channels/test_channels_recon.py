"""Daily reconciliation (对账) and channel fees (docs/channels.md): the sandbox platform
sends its statement file to a real gateway."""
import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from sync import statement_csv
from sync.sandbox_platform.process import SandboxProcess

DAY = datetime.now(timezone(timedelta(hours=8))).date().isoformat()


@pytest.fixture(scope="module")
def sandbox(gateway):
    """The platform books every trade of this module on one business day, `DAY`, so a run
    that crosses midnight (Beijing time) still sends one day's statement."""
    sb = SandboxProcess(gateway.base_url, trade_day=DAY).start()
    yield sb
    sb.stop()


def _accounts(gateway, n):
    return [r[0] for r in gateway.query(
        "SELECT account_no FROM accounts WHERE agent_id IS NULL AND active "
        "ORDER BY account_no LIMIT :n", n=n)]


def _exceptions(gateway, office, kind):
    return office.get(gateway.base_url + "/v1/supervisor/exceptions",
                      params={"kind": kind, "status": "all"}, timeout=30).json()


def test_statement_with_one_missing_one_extra_one_mismatch(gateway, sandbox, office):
    fee = {"kind": "percent", "rate_bp": 60, "min_fen": 1, "max_fen": 2000}
    assert office.put(gateway.base_url + "/v1/supervisor/channels/fees/sandpay", json=fee,
                      timeout=30).status_code == 200
    a, b, c, d, e = _accounts(gateway, 5)
    day = DAY
    matched = [sandbox.pay(a, 10_000), sandbox.pay(b, 100)]
    lost = sandbox.pay(c, 2_500, notify=False)                  # never notified
    unlisted = sandbox.pay(d, 500_000, in_statement=False)      # not on their statement
    mismatch = sandbox.pay(e, 3_000, statement_amount_fen=3_100)
    assert all(t["delivery"]["status"] == "delivered" for t in matched + [unlisted, mismatch])

    sent = requests.post(f"{sandbox.base_url}/statement/send", params={"day": day},
                         timeout=120).json()
    assert sent["status"] == 200 and sent["answer_signed"] is True, sent
    report = sent["answer"]
    assert report["counts"] == {"matched": 2, "missing_ours": 1, "missing_theirs": 1,
                                "amount_mismatch": 1}
    by_kind = {x["kind"]: x for x in report["differences"]}
    assert by_kind["missing_ours"]["trade_no"] == lost["trade_no"]
    assert by_kind["missing_theirs"]["trade_no"] == unlisted["trade_no"]
    assert (by_kind["amount_mismatch"]["ours_fen"],
            by_kind["amount_mismatch"]["theirs_fen"]) == (3_000, 3_100)
    assert report["totals"] == {"statement_fen": 10_000 + 100 + 2_500 + 3_100,
                                "notified_fen": 10_000 + 100 + 500_000 + 3_000}

    queued = _exceptions(gateway, office, "reconciliation")
    assert sorted((x["code"], x["op_id"]) for x in queued) == sorted([
        ("missing_ours", f"sandpay:{lost['trade_no']}"),
        ("missing_theirs", f"sandpay:{unlisted['trade_no']}"),
        ("amount_mismatch", f"sandpay:{mismatch['trade_no']}")])

    # missing on our side: booked from the statement; missing on theirs: held
    listed = {p["trade_no"]: p for acc in (c, d) for p in office.get(
        gateway.base_url + "/v1/supervisor/channels/payments", params={"account_no": acc},
        timeout=30).json()}
    assert listed[lost["trade_no"]]["source"] == "statement"
    assert listed[lost["trade_no"]]["status"] in ("booked", "credited")
    assert listed[lost["trade_no"]]["amount_fen"] == 2_500
    assert listed[unlisted["trade_no"]]["status"] == "held"

    again = requests.post(f"{sandbox.base_url}/statement/send", params={"day": day},
                          timeout=120).json()["answer"]
    assert again == report and len(_exceptions(gateway, office, "reconciliation")) == 3
    stored = office.get(f"{gateway.base_url}/v1/supervisor/channels/statements/sandpay/{day}",
                        timeout=30).json()
    assert stored == report

    daily = office.get(gateway.base_url + "/v1/supervisor/channels/daily",
                       params={"day_from": day, "day_to": day}, timeout=30).json()
    row = next(x for x in daily if x["channel"] == "sandpay")
    # 60 bp each: 10 000 → 60; 100 → 0.6 → 1 (min 1); 2 500 → 15; 500 000 → 3 000 → 2 000
    # (max); 3 000 → 18
    assert row["count"] == 5
    assert row["gross_fen"] == 10_000 + 100 + 2_500 + 500_000 + 3_000
    assert row["fees_fen"] == 60 + 1 + 15 + 2_000 + 18
    assert row["net_fen"] == row["gross_fen"] - row["fees_fen"]


def test_a_bad_statement_file_is_refused_with_its_line(gateway, office):
    text = statement_csv.write("sandpay", "2026-12-01", [
        {"time": "2026-12-01 10:00:00", "trade_no": "T1", "account_no": "1", "kind": "payment",
         "amount_fen": 100}]).replace("1.00,0.00", "1.0,0.00")
    r = office.post(gateway.base_url + "/v1/supervisor/channels/statements/sandpay",
                    data=text.encode(), headers={"Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 400 and "line 6" in r.json()["message"]


def test_refunds_on_the_statement_are_matched_or_booked(gateway, sandbox, office):
    day = DAY
    account_no = _accounts(gateway, 7)[6]
    paid = sandbox.pay(account_no, 5_000)
    owed_after_pay = _arrears(gateway, account_no)
    told = requests.post(sandbox.base_url + "/refund?wait=1", timeout=120, json={
        "trade_no": paid["trade_no"], "amount_fen": 1_000}).json()
    assert told["delivery"]["status"] == "delivered"
    untold = requests.post(sandbox.base_url + "/refund", timeout=120, json={
        "trade_no": paid["trade_no"], "amount_fen": 2_000, "notify": False}).json()
    before = {x["id"] for x in _exceptions(gateway, office, "reconciliation")}
    report = requests.post(f"{sandbox.base_url}/statement/send", params={"day": day},
                           timeout=120).json()["answer"]
    assert report["refunds"] == {"matched": 1, "missing_ours": 1, "missing_theirs": 0,
                                 "amount_mismatch": 0}
    new = [x for x in _exceptions(gateway, office, "reconciliation") if x["id"] not in before]
    assert [(x["code"], x["op_id"]) for x in new] == [
        ("refund_missing_ours", f"sandpay:{untold['refund_no']}")]
    # the untold refund is booked from the statement: the account owes it again
    assert _arrears(gateway, account_no) - owed_after_pay == 1_000 + 2_000


def _arrears(gateway, account_no) -> int:
    [(doc,)] = gateway.query("SELECT doc FROM accounts WHERE account_no = :a", a=account_no)
    d = json.loads(doc)
    return d["arrears_fen"] - d["credit_fen"]
