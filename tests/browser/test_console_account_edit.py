"""Account edits in the office console (README "Office console"; edits through the typed office
models), in a real headless Chromium against a real gateway
process: a bad value is refused by the office model naming the field and nothing changes;
a good edit is stored, audited with before and after, and reaches a handheld (the sync
client against the same gateway) through the change feed; an auditor cannot edit."""
from __future__ import annotations

import json

from tests.browser.test_console import USERS, as_role, csrf_of
from tests.sync.sync_kit import collector_on_route, supervisor

ROUTE = "R001"


def stored(gateway, account_no: str) -> dict:
    [(doc,)] = gateway.query("SELECT doc FROM accounts WHERE account_no = :a", a=account_no)
    return json.loads(doc)


def audits(gateway, account_no: str) -> list[dict]:
    return [json.loads(d) for (d,) in gateway.query(
        "SELECT detail FROM supervisor_audit WHERE account_no = :a ORDER BY id", a=account_no)]


def handheld_row(store, account_no: str):
    return store.conn.execute("SELECT name, phone, arrears_due_date, hazard FROM accounts "
                              "WHERE account_no = ?", (account_no,)).fetchone()


def test_account_edit_refuses_a_bad_date_then_stores_audits_and_reaches_a_handheld(
        page, gateway, sign_in, shot, tmp_path):
    store, client, accounts = collector_on_route(tmp_path, gateway.base_url, "handheld", ROUTE)
    no = accounts[0]["account_no"]
    before = stored(gateway, no)
    as_role(sign_in, page, gateway, "supervisor")
    page.goto(f"{gateway.base_url}/console/accounts/{no}")
    assert page.input_value("#edit-form input[name=name]") == before["name"]

    page.fill("#edit-form input[name=arrears_due_date]", "2026/10/25")
    page.fill("#edit-form input[name=name]", "改名未存")
    with page.expect_navigation() as nav:
        page.click("#edit-form button")
    assert nav.value.status == 422
    assert "欠费到期日" in page.inner_text("#error")               # the field, in Chinese
    assert page.input_value("#edit-form input[name=name]") == "改名未存"   # what was typed kept
    shot(page, "console-account-edit-refused")
    assert stored(gateway, no) == before and audits(gateway, no) == []

    page.goto(f"{gateway.base_url}/console/accounts/{no}?lang=en")
    page.fill("#edit-form input[name=arrears_fen]", "12.5")
    with page.expect_navigation() as nav:
        page.click("#edit-form button")
    assert nav.value.status == 422 and "Arrears (fen)" in page.inner_text("#error")
    assert stored(gateway, no) == before and audits(gateway, no) == []

    page.goto(f"{gateway.base_url}/console/accounts/{no}?lang=zh")
    edits = {"name": "王建国（更名）", "phone": "13911112222", "arrears_due_date": "2026-12-31",
             "hazard": "院内有犬，先敲门"}
    for name, value in edits.items():
        page.fill(f"#edit-form input[name={name}]", value)
    with page.expect_navigation():
        page.click("#edit-form button")
    after = stored(gateway, no)
    assert {k: after[k] for k in edits} == edits
    assert {k: v for k, v in after.items() if k not in edits} == \
        {k: v for k, v in before.items() if k not in edits}        # nothing else touched
    [entry] = audits(gateway, no)
    assert entry["changes"] == {k: [before[k], v] for k, v in edits.items()
                                if before[k] != v}
    [(by,)] = gateway.query("SELECT operator_id FROM supervisor_audit WHERE account_no = :a",
                            a=no)
    assert by == USERS["supervisor"][0]
    assert edits["name"] in page.inner_text("#bill") and edits["hazard"] in page.inner_text(
        "#audit")
    shot(page, "console-account-edit")

    assert tuple(handheld_row(store, no)) != tuple(edits.values())
    client.pull_changes(ROUTE)
    assert tuple(handheld_row(store, no)) == tuple(edits.values())
    store.close()


def test_auditor_cannot_edit_an_account(page, gateway, sign_in, tmp_path):
    [(no, doc)] = gateway.query("SELECT account_no, doc FROM accounts WHERE route_id = :r "
                                "ORDER BY seq LIMIT 1", r=ROUTE)
    as_role(sign_in, page, gateway, "auditor")
    page.goto(f"{gateway.base_url}/console/accounts/{no}")
    assert page.is_visible("#bill") and page.locator("#edit-form").count() == 0
    refused = page.request.post(f"{gateway.base_url}/console/accounts/{no}/edit", form={
        "csrf": csrf_of(page), "name": "稽核改名", "address": "", "tariff_id": "RES-TIER",
        "arrears_fen": "0"}, max_redirects=0)
    assert refused.status == 403
    assert gateway.query("SELECT doc FROM accounts WHERE account_no = :a", a=no) == [(doc,)]
    assert audits(gateway, no) == []


def test_an_edit_of_an_account_changed_meanwhile_is_refused_and_keeps_both(
        page, gateway, sign_in):
    [(no,)] = gateway.query("SELECT account_no FROM accounts WHERE route_id = :r "
                            "ORDER BY seq LIMIT 1", r=ROUTE)
    as_role(sign_in, page, gateway, "supervisor")
    page.goto(f"{gateway.base_url}/console/accounts/{no}")
    shown_arrears = page.input_value("#edit-form input[name=arrears_fen]")
    meanwhile = supervisor(gateway.base_url).post(        # another write while the page is open
        f"{gateway.base_url}/v1/supervisor/accounts/{no}/hazard", json={"hazard": "高压线下"},
        timeout=10)
    meanwhile.raise_for_status()
    before = stored(gateway, no)
    page.fill("#edit-form input[name=phone]", "13700001111")
    with page.expect_navigation() as nav:
        page.click("#edit-form button")
    assert nav.value.status == 409 and "已被更改" in page.inner_text("#error")
    assert stored(gateway, no) == before                       # the page's stale values not put back
    assert page.input_value("#edit-form input[name=phone]") == "13700001111"   # typed, kept
    assert page.input_value("#edit-form input[name=hazard]") == "高压线下"     # the new stored one
    assert page.input_value("#edit-form input[name=arrears_fen]") == shown_arrears
    with page.expect_navigation():
        page.click("#edit-form button")
    after = stored(gateway, no)
    assert (after["phone"], after["hazard"]) == ("13700001111", "高压线下")
