"""A bill paid on the customer's phone through a platform (docs/channels.md) reaches the
collector before the money is taken again: the sandbox platform pays, the app's sync
pulls the change, the account and payment screens say "paid via 支付宝 at HH:MM" and
nothing is left to collect. Real app offscreen, real gateway and sandbox processes."""
import json

from test_ui_field_collect import collector_on_shift

from sync.sandbox_platform.process import SandboxProcess


def test_platform_payment_shows_on_the_account_and_payment_screens(make_ui, gateway, ui_flows):
    ui, _device_id = collector_on_shift(make_ui, gateway, ui_flows)
    acct = ui.store.conn.execute(
        "SELECT account_no, arrears_fen FROM accounts WHERE route_id='R001' AND arrears_fen > 0"
        " AND agent_id IS NULL AND last_third_party IS NULL ORDER BY seq LIMIT 1").fetchone()
    sandbox = SandboxProcess(gateway.url, platform="alipay").start()
    try:
        trade = sandbox.pay(acct["account_no"], acct["arrears_fen"])
    finally:
        sandbox.stop()
    assert trade["delivery"]["status"] == "delivered"
    ui.services.sync_now()

    def pulled():
        row = ui.store.conn.execute("SELECT last_third_party FROM accounts WHERE account_no=?",
                                    (acct["account_no"],)).fetchone()
        return row["last_third_party"] and json.loads(row["last_third_party"])
    assert ui.wait_for(pulled, 60, "the platform payment pulled")["trade_no"] == \
        trade["trade_no"]
    hhmm = trade["paid_at"][11:16]
    account = ui.go("account", account_no=acct["account_no"], route_id="R001")
    ui.wait_for(lambda: account.loaded, 10, "account")
    assert "支付宝" in account.third_party and hhmm in account.third_party
    ui.shot("platform-paid-account")
    ui.tap("collect")
    pay = ui.wait_screen("payment")
    ui.wait_for(lambda: pay.loaded, 10, "bill")
    assert "支付宝" in pay.third_party and hhmm in pay.third_party
    assert pay.due_fen == 0
    ui.shot("platform-paid-payment")
