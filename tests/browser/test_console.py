"""The office console in a real headless Chromium against a real gateway process
(README "Office console"): sign-in and lockout, dispatch reaching a handheld, a void
decided, a double collection resolved, a report's sums against the database, roles and
CSRF refused. Every page is saved as a screenshot in artifacts/browser/."""
from __future__ import annotations

import csv
import io
import json

import requests

from sync.gateway.seed import DEMO_OFFICE_USERS
from sync.gateway.testing import OpFactory, enrol_device, post_ops, thirdparty_payment
from tests.sync.sync_kit import device, local_accounts

USERS = {role: (username, password) for username, _n, role, password in DEMO_OFFICE_USERS}


def as_role(sign_in, page, gw, role):
    sign_in(page, gw.base_url, *USERS[role])
    assert page.url.endswith("/console/"), page.content()[:500]


def csrf_of(page) -> str:
    return page.get_attribute("input[name=csrf]", "value")


def test_sign_in_and_lockout_after_five_wrong_passwords(page, gateway, sign_in, shot):
    username, password = USERS["supervisor"]
    sign_in(page, gateway.base_url, username, "wrong")
    assert page.inner_text("#error") == "用户名或密码错误"
    shot(page, "console-sign-in-refused")
    for _ in range(4):
        sign_in(page, gateway.base_url, username, "still wrong")
    assert "锁定" in page.inner_text("#error")
    sign_in(page, gateway.base_url, username, password)        # right password, still locked
    assert "锁定" in page.inner_text("#error") and page.url.endswith("/console/login")
    [(failed, locked_until)] = gateway.query(
        "SELECT failed, locked_until FROM office_users WHERE username = :u", u=username)
    assert locked_until is not None
    fails = gateway.query("SELECT detail FROM supervisor_audit WHERE action = 'sign_in_failed' "
                          "AND operator_id = :u", u=username)
    assert len(fails) == 5
    as_role(sign_in, page, gateway, "cashier")                 # others are not locked out
    assert page.is_visible("#progress") and page.is_visible("#channels")
    cookie = next(c for c in page.context.cookies() if c["name"] == "chaoshou_office")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    shot(page, "console-today")


def test_assign_a_route_and_the_handheld_receives_it(page, gateway, sign_in, shot, tmp_path):
    store, client = device(tmp_path, gateway.base_url, "handheld")
    client.refresh_reference()
    device_id = store.get_meta("device_id")
    assert all(a["route_id"] != "R002" for a in client.assignments())
    as_role(sign_in, page, gateway, "supervisor")
    page.goto(gateway.base_url + "/console/routes/R002")
    page.select_option("select[name=operator_id]", "1001")
    page.select_option("select[name=device_id]", device_id)
    page.fill("#assign-form input[name=read_date]", "2026-11-30")
    page.fill("#assign-form input[name=reason]", "张师傅病假，改派")
    with page.expect_navigation():
        page.click("#assign-form button")
    assert page.inner_text("#current-device") == device_id
    shot(page, "console-route")
    mine = [a for a in client.assignments() if a["route_id"] == "R002"]
    assert mine, client.assignments()
    client.download_route("R002")
    [(n,)] = gateway.query("SELECT count(*) FROM accounts WHERE route_id = 'R002' AND active")
    assert len(local_accounts(store, "R002")) == n
    assert gateway.query("SELECT read_date FROM routes WHERE route_id = 'R002'") == [
        ("2026-11-30",)]
    mine = next(a for a in client.assignments() if a["route_id"] == "R002")
    assert not mine["download_requested"]                      # downloaded: nothing asked
    with page.expect_navigation():
        page.click("text=要求下载")
    mine = next(a for a in client.assignments() if a["route_id"] == "R002")
    assert mine["download_requested"]                          # the handheld is asked again
    [(detail,)] = gateway.query("SELECT detail FROM supervisor_audit WHERE action = "
                                "'assign_route' AND operator_id = :u", u=USERS["supervisor"][0])
    assert device_id in detail and "张师傅病假" in detail and '"before"' in detail


def test_approve_a_void_requested_by_a_handheld(page, gateway, sign_in, shot):
    dev = enrol_device(gateway.base_url)
    f = OpFactory(dev)
    [(account_no,)] = gateway.query("SELECT account_no FROM accounts WHERE route_id = 'R001' "
                                    "AND bill_fen > 0 ORDER BY account_no LIMIT 1")
    pay = f.payment(account_no, 1500)
    void = f.void(pay, reason="收错户")
    assert post_ops(gateway.base_url, dev["token"], [f.shift_open(), pay, void]).ok
    as_role(sign_in, page, gateway, "supervisor")
    page.goto(gateway.base_url + "/console/voids")
    row = page.locator(f"#void-{void['op_id']}")
    assert "收错户" in row.inner_text()
    shot(page, "console-voids")
    with page.expect_navigation():
        row.locator("button.approve").click()
    assert page.locator(f"#void-{void['op_id']} .decision").inner_text() == "已批准"
    assert gateway.query("SELECT decision, by_user FROM void_reviews WHERE void_op_id = :v",
                         v=void["op_id"]) == [("approved", USERS["supervisor"][0])]
    assert gateway.query("SELECT count(*) FROM supervisor_audit WHERE action = 'void_approved'"
                         " AND account_no = :a", a=account_no) == [(1,)]


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"   # as the console shows money


def test_resolve_a_double_collection_by_refund(page, gateway, sign_in, shot):
    """Collected on site, then paid again through a platform: the cashier refunds the
    extra; the account page shows the credit gone, the report and its CSV count the refund
    (docs/ledger.md, "Settling an exception")."""
    dev = enrol_device(gateway.base_url)
    f = OpFactory(dev)
    [(account_no, bill)] = gateway.query(
        "SELECT account_no, bill_fen FROM accounts WHERE route_id = 'R001' AND bill_fen > 0 "
        "ORDER BY account_no LIMIT 1")
    assert post_ops(gateway.base_url, dev["token"], [f.shift_open(), f.payment(account_no,
                                                                               bill)]).ok
    thirdparty_payment(gateway.base_url, account_no, bill, "TXN-DOUBLE-1")
    [(exc_id, credited)] = gateway.query(
        "SELECT id, credit_fen FROM exceptions WHERE kind = 'double_collection' "
        "AND account_no = :a AND resolved_at IS NULL", a=account_no)
    [(doc,)] = gateway.query("SELECT doc FROM accounts WHERE account_no = :a", a=account_no)
    credit_before = json.loads(doc)["credit_fen"]
    assert credited > 0 and credit_before >= credited
    as_role(sign_in, page, gateway, "cashier")
    page.goto(f"{gateway.base_url}/console/accounts/{account_no}")
    assert page.inner_text("#credit") == yuan(credit_before)

    page.goto(gateway.base_url + "/console/exceptions")
    row = page.locator(f"#exception-{exc_id}")
    row.locator("select[name=action]").select_option("refund")
    row.locator("input[name=reason]").fill("用户要求退回现金")
    shot(page, "console-exceptions")
    with page.expect_navigation():
        row.locator("button").click()
    assert gateway.query("SELECT resolved_by, resolution_note FROM exceptions WHERE id = :i",
                         i=exc_id) == [(f"office:{USERS['cashier'][0]}",
                                        "refund: 用户要求退回现金")]
    assert page.locator(f"#exception-{exc_id}").count() == 0   # no longer open
    page.goto(gateway.base_url + "/console/exceptions?status=resolved")
    assert page.inner_text(f"#exception-{exc_id} .settled").startswith(yuan(credited))

    page.goto(f"{gateway.base_url}/console/accounts/{account_no}")
    assert page.inner_text("#credit") == yuan(credit_before - credited)
    assert "exception_refund" in page.inner_text("#audit")
    shot(page, "console-account-after-refund")

    page.goto(gateway.base_url + "/console/reports?report=settlements")
    shot(page, "console-report-settlements")
    cells = page.locator("#settlements tr.settlement-refund td").all_inner_texts()
    assert cells[1:4] == ["退款", "1", yuan(credited)]
    with page.expect_download() as dl:
        page.click("#csv-settlements")
    rows = list(csv.DictReader(io.StringIO(open(dl.value.path(), encoding="utf-8-sig").read())))
    got = {r["action"]: int(r["amount_fen"]) for r in rows}
    assert got == dict(gateway.query("SELECT action, sum(amount_fen) FROM "
                                     "exception_settlements GROUP BY action"))
    assert got == {"refund": credited}


def test_exported_report_sums_match_the_database(page, gateway, sign_in, shot):
    dev = enrol_device(gateway.base_url)
    f = OpFactory(dev)
    accounts = [a for (a,) in gateway.query("SELECT account_no FROM accounts WHERE route_id = "
                                            "'R001' ORDER BY account_no LIMIT 4")]
    ops = [f.shift_open(), f.payment(accounts[0], 1234), f.payment(accounts[1], 5678, "card"),
           f.payment(accounts[2], 990)]
    ops.append(f.void(ops[3]))
    assert post_ops(gateway.base_url, dev["token"], ops).ok
    thirdparty_payment(gateway.base_url, accounts[3], 4321, "TXN-REPORT-1")
    as_role(sign_in, page, gateway, "auditor")
    page.goto(gateway.base_url + "/console/reports")
    shot(page, "console-reports")
    with page.expect_download() as dl:
        page.click("#csv-daily")
    text = open(dl.value.path(), encoding="utf-8-sig").read()
    rows = list(csv.DictReader(io.StringIO(text)))
    got = {}
    for r in rows:
        got[r["channel"]] = got.get(r["channel"], 0) + int(r["amount_fen"])
    want = dict(gateway.query(
        "SELECT CASE WHEN agent_id IS NOT NULL THEN 'agent' ELSE method END, sum(amount_fen) "
        "FROM payments WHERE voided_by IS NULL GROUP BY 1"))
    want.update({f"platform:{p}": s for p, s in gateway.query(
        "SELECT platform, sum(amount_fen) FROM thirdparty_payments GROUP BY platform")})
    assert got == want and sum(got.values()) > 0


def test_auditor_is_refused_a_supervisor_page_and_a_write(page, gateway, sign_in, shot):
    as_role(sign_in, page, gateway, "auditor")
    response = page.goto(gateway.base_url + "/console/devices")
    assert response.status == 403 and page.inner_text("#error") == "您的角色无权执行此操作"
    shot(page, "console-forbidden")
    page.goto(gateway.base_url + "/console/routes/R001")
    assert page.locator("#assign-form").count() == 0          # no form offered …
    refused = page.request.post(gateway.base_url + "/console/routes/R001/assign", form={
        "csrf": csrf_of(page), "operator_id": "1001", "reason": "x"}, max_redirects=0)
    assert refused.status == 403                               # … and none taken
    assert gateway.query("SELECT count(*) FROM route_assignments") == [(0,)]


def test_a_form_without_its_csrf_token_is_refused(page, gateway, sign_in):
    as_role(sign_in, page, gateway, "supervisor")
    page.goto(gateway.base_url + "/console/routes/R001")
    url = gateway.base_url + "/console/routes/R001/assign"
    fields = {"operator_id": "1001", "reason": "forged"}
    for token in (None, "forged-token"):
        form = dict(fields, **({"csrf": token} if token else {}))
        answer = page.request.post(url, form=form, max_redirects=0)
        assert answer.status == 400 and "表单已过期" in answer.text()
    assert gateway.query("SELECT count(*) FROM route_assignments") == [(0,)]
    # a cross-site request carries no cookie at all (SameSite=Strict) and is sent to sign-in
    bare = requests.post(url, data=dict(fields, csrf=csrf_of(page)), allow_redirects=False,
                         timeout=10)
    assert bare.status_code == 303 and bare.headers["location"].endswith("/console/login")
    blank = page.request.post(url, form=dict(fields, reason="  ", csrf=csrf_of(page)),
                              max_redirects=0)                # the form's own model refuses
    assert blank.status == 400 and "请检查此项： reason" in blank.text()
    ok = page.request.post(url, form=dict(fields, csrf=csrf_of(page)), max_redirects=0)
    assert ok.status == 303
    assert gateway.query("SELECT count(*) FROM route_assignments") == [(1,)]


def test_cashier_marks_a_shift_variance_explained(page, gateway, sign_in, shot):
    dev = enrol_device(gateway.base_url)
    f = OpFactory(dev, operator_id="2001")
    opened = f.shift_open("SH9", float_fen=20000)
    [(account_no,)] = gateway.query("SELECT account_no FROM accounts WHERE route_id = 'R001' "
                                    "ORDER BY account_no LIMIT 1")
    pay = f.payment(account_no, 4500, shift_id="SH9")
    close = f.envelope("shift_close", {
        "shift_id": "SH9", "counted_fen": 24400, "expected_fen": 24500, "variance_fen": -100,
        "z_no": 7, "summary": f.closeout_summary("SH9", opened["seq"], pay["seq"])})
    assert post_ops(gateway.base_url, dev["token"], [opened, pay, close]).ok
    as_role(sign_in, page, gateway, "cashier")
    page.goto(gateway.base_url + "/console/shifts")
    row = page.locator("#shifts tr", has_text="SH9")
    assert "-1.00" in row.inner_text() and "245.00" in row.inner_text()
    row.locator("input[name=note]").fill("找零少给一元，已补")
    with page.expect_navigation():
        row.locator("button").click()
    shot(page, "console-shifts-explained")
    assert "找零少给一元" in page.locator("#shifts tr", has_text="SH9").inner_text()
    assert gateway.query("SELECT note, by_user FROM shift_reviews WHERE shift_id = 'SH9'") == [
        ("找零少给一元，已补", USERS["cashier"][0])]
    assert gateway.query("SELECT count(*) FROM supervisor_audit WHERE action = "
                         "'shift_explained'") == [(1,)]


PAGES = (("today", "/console/", "#channels"), ("routes", "/console/routes", "#routes"),
         ("route", "/console/routes/R001", "#map"), ("accounts", "/console/accounts?q=王",
                                                    "#results a"),
         ("exceptions", "/console/exceptions", "#exceptions"), ("voids", "/console/voids",
                                                                 "#voids"),
         ("devices", "/console/devices", "#devices"), ("shifts", "/console/shifts", "#shifts"),
         ("reports", "/console/reports?report=ageing", "#ageing"))


def test_every_page_on_a_laptop_and_a_tablet_in_both_languages(page, tablet_page, gateway,
                                                               sign_in, shot):
    dev = enrol_device(gateway.base_url)
    f = OpFactory(dev)
    accounts = [a for (a,) in gateway.query("SELECT account_no FROM accounts WHERE route_id = "
                                            "'R001' ORDER BY account_no LIMIT 3")]
    gps = {"lat": 30.27, "lon": 120.15, "accuracy_m": 5.0}
    ops = [f.shift_open(), f.reading(accounts[0], 1234, route_id="R001", gps=gps),
           f.reading(accounts[1], None, status="skipped", route_id="R001",
                     gps={**gps, "lat": 30.272}),
           f.payment(accounts[0], 2500), f.payment(accounts[1], 3300, "card")]
    ops.append(f.void(ops[-1], reason="刷错卡"))
    assert post_ops(gateway.base_url, dev["token"], ops).ok
    as_role(sign_in, page, gateway, "supervisor")
    for name, url, ready in PAGES:
        answer = page.goto(gateway.base_url + url)
        assert answer.status == 200 and page.locator(ready).count() > 0, name
        shot(page, f"console-{name}")
    for account_no, doc in gateway.query("SELECT account_no, doc FROM accounts WHERE "
                                         "route_id = 'R001' ORDER BY account_no LIMIT 40"):
        name = json.loads(doc)["name"]
        for fragment in {name[-1], name[:2]}:                 # one or two characters
            page.goto(gateway.base_url + "/console/accounts?q=" + fragment)
            assert account_no in page.inner_text("#results") or \
                page.locator("#results tr").count() > 50, (fragment, account_no)
    page.goto(gateway.base_url + "/console/accounts?q=" + accounts[0])
    with page.expect_navigation():
        page.click("#results a >> nth=0")
    assert page.locator("#receipts").is_visible()
    shot(page, "console-account")
    page.goto(gateway.base_url + "/console/devices")
    with page.expect_navigation():
        page.click("#new-code")
    code = page.inner_text("#code")
    assert page.locator("#qr svg").count() == 1 and code
    assert gateway.query("SELECT count(*) FROM enrol_codes WHERE code = :c", c=code) == [(1,)]
    shot(page, "console-devices-qr")
    row = page.locator("#devices tr", has_text=dev["device_id"])
    row.locator("input[name=reason]").fill("设备遗失")
    page.once("dialog", lambda dialog: dialog.accept())      # "Revoke …?" asks first
    with page.expect_navigation():
        row.locator("button").click()
    [(revoked_at,)] = gateway.query("SELECT revoked_at FROM devices WHERE device_id = :d",
                                    d=dev["device_id"])
    assert revoked_at and gateway.query(
        "SELECT count(*) FROM supervisor_audit WHERE action = 'revoke_device' AND detail "
        "LIKE :d", d=f"%{dev['device_id']}%设备遗失%") == [(1,)]
    assert requests.get(gateway.base_url + "/v1/reference", timeout=10, headers={
        "Authorization": f"Bearer {dev['token']}"}).status_code == 403
    page.goto(gateway.base_url + "/console/?lang=en")
    assert "Collections today by channel" in page.inner_text("#channels")
    shot(page, "console-today-en")
    sign_in(tablet_page, gateway.base_url, *USERS["cashier"])
    for name, url, ready in PAGES[:2] + PAGES[4:6]:
        tablet_page.goto(gateway.base_url + url)
        width = tablet_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1024, (name, width)       # no sideways scrolling on a tablet
        shot(tablet_page, f"console-tablet-{name}")
