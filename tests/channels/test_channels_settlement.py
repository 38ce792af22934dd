"""A platform's payment the office settles from the console (docs/ledger.md, "Settling an
exception"; docs/channels.md): a payment for an unknown account, re-assigned to the right
one, leaves suspense with its booking there, so the platform's later reversal takes it back
from that account; a double collection refunded from the console cannot be settled again
through the settle API. Real gateway on SQLite and PostgreSQL, hand-signed requests."""
import json

from sync.gateway.testing import OpFactory, enrol_device, post_ops
from tests.gateway.office_kit import Office


def _balance(gw, account_no: str) -> dict:
    [(doc,)] = gw.query("SELECT doc FROM accounts WHERE account_no = :a", a=account_no)
    doc = json.loads(doc)
    return {"arrears_fen": doc["arrears_fen"], "credit_fen": doc["credit_fen"]}


def _collected_on_a_handheld(gw, offset: int) -> tuple[str, int]:
    """An account of route R003 with a bill (the `offset`-th from the end), its bill
    collected in cash on a freshly enrolled handheld: (account_no, bill_fen)."""
    [(account_no, bill)] = gw.query(
        "SELECT account_no, bill_fen FROM accounts WHERE route_id = 'R003' AND bill_fen > 0 "
        f"AND active = :t ORDER BY account_no DESC LIMIT 1 OFFSET {offset}", t=True)
    dev = enrol_device(gw.base_url)
    f = OpFactory(dev)
    assert post_ops(gw.base_url, dev["token"], [f.shift_open(),
                                                f.payment(account_no, bill)]).ok
    return account_no, bill


def test_reassigned_suspense_payment_is_booked_there_and_its_reversal_comes_from_there(
        gateway, sandbox):
    signer = sandbox.signer()
    notice = {"platform": "sandpay", "trade_no": "SETTLE-SUSP-1", "account_no": "0000000777",
              "amount_fen": 3000, "paid_at": "2026-12-04T10:00:00+08:00"}
    answer = signer.request("POST", "/v1/channels/payments", notice)
    assert answer.status_code == 200 and answer.json()["status"] == "suspense", answer.text
    [(exc_id,)] = gateway.query("SELECT id FROM exceptions WHERE kind = 'suspense' AND "
                                "op_id = 'sandpay:SETTLE-SUSP-1'")
    [(target,)] = gateway.query("SELECT max(account_no) FROM accounts WHERE route_id = 'R002'"
                                " AND active = :t", t=True)
    before = _balance(gateway, target)

    office = Office(gateway.base_url)
    assert office.resolve(exc_id, "reassign", "缴错户号", target=target).status_code == 303
    booked = _balance(gateway, target)
    assert booked["credit_fen"] - before["credit_fen"] \
        + before["arrears_fen"] - booked["arrears_fen"] == 3000
    [(status, account_no)] = gateway.query(
        "SELECT status, account_no FROM channel_payments WHERE trade_no = 'SETTLE-SUSP-1'")
    assert status in ("booked", "credited") and account_no == target

    reversal = signer.request("POST", "/v1/channels/reversals", {
        "platform": "sandpay", "refund_no": "SETTLE-SUSP-R1", "trade_no": "SETTLE-SUSP-1",
        "amount_fen": 3000, "reversed_at": "2026-12-04T11:00:00+08:00"})
    assert reversal.status_code == 200, reversal.text
    assert _balance(gateway, target) == before


def test_a_double_collection_refunded_in_the_console_is_not_settled_again(gateway, sandbox,
                                                                          office):
    account_no, bill = _collected_on_a_handheld(gateway, 0)
    answer = signer_pay(sandbox, account_no, bill, "SETTLE-DOUBLE-1")
    assert answer["status"] == "double_collection", answer
    [(exc_id, credited)] = gateway.query(
        "SELECT id, credit_fen FROM exceptions WHERE op_id = 'sandpay:SETTLE-DOUBLE-1'")
    before = _balance(gateway, account_no)

    assert Office(gateway.base_url).resolve(exc_id, "refund", "退回").status_code == 303
    after = _balance(gateway, account_no)
    assert after == {"arrears_fen": before["arrears_fen"],
                     "credit_fen": before["credit_fen"] - credited}
    assert gateway.query("SELECT refunded_fen FROM channel_payments WHERE trade_no = "
                         "'SETTLE-DOUBLE-1'") == [(credited,)]
    again = office.post(f"{gateway.base_url}/v1/supervisor/channels/payments/sandpay/"
                        "SETTLE-DOUBLE-1/settle", json={"action": "refund", "note": "again"},
                        timeout=30)
    assert again.status_code == 409 and again.json()["error"] == "already_resolved"
    assert _balance(gateway, account_no) == after


def signer_pay(sandbox, account_no: str, amount: int, trade_no: str) -> dict:
    r = sandbox.signer().request("POST", "/v1/channels/payments", {
        "platform": "sandpay", "trade_no": trade_no, "account_no": account_no,
        "amount_fen": amount, "paid_at": "2026-12-04T12:00:00+08:00"})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_reassigned_platform_payment_leaves_the_account_it_was_booked_to(gateway, sandbox):
    """A double collection of a platform payment re-assigned to an account that sorts
    before its own (and is not the first of the route): the credit leaves the account the
    payment was booked to, lands on the target; the platform's later reversal of the whole
    payment takes the re-assigned share back from the target and the rest from the
    payment's own account, so both end as before the platform payment."""
    [(account_no, bill)] = gateway.query(
        "SELECT account_no, bill_fen FROM accounts WHERE route_id = 'R003' AND bill_fen > 0 "
        "AND active = :t ORDER BY account_no DESC LIMIT 1 OFFSET 1", t=True)
    [(target,)] = gateway.query(
        "SELECT account_no FROM accounts WHERE route_id = 'R002' AND active = :t "
        "ORDER BY account_no LIMIT 1 OFFSET 2", t=True)
    assert target < account_no   # the target is found first in account order
    dev = enrol_device(gateway.base_url)
    f = OpFactory(dev)
    assert post_ops(gateway.base_url, dev["token"], [f.shift_open(),
                                                     f.payment(account_no, bill)]).ok
    before = {no: _balance(gateway, no) for no in (account_no, target)}
    paid = bill + 500
    answer = signer_pay(sandbox, account_no, paid, "SETTLE-MOVE-1")
    assert answer["status"] == "double_collection", answer
    [(exc_id, credited)] = gateway.query(
        "SELECT id, credit_fen FROM exceptions WHERE op_id = 'sandpay:SETTLE-MOVE-1'")
    booked = _balance(gateway, account_no)

    assert Office(gateway.base_url).resolve(exc_id, "reassign", "缴错户",
                                            target=target).status_code == 303
    assert _balance(gateway, account_no) == {"arrears_fen": booked["arrears_fen"],
                                             "credit_fen": booked["credit_fen"] - credited}
    moved = _balance(gateway, target)
    assert moved["credit_fen"] - before[target]["credit_fen"] \
        + before[target]["arrears_fen"] - moved["arrears_fen"] == credited
    [(settled_on,)] = gateway.query("SELECT account_no FROM exception_settlements "
                                    "WHERE exception_id = :i", i=exc_id)
    assert settled_on == account_no

    reversal = sandbox.signer().request("POST", "/v1/channels/reversals", {
        "platform": "sandpay", "refund_no": "SETTLE-MOVE-R1", "trade_no": "SETTLE-MOVE-1",
        "amount_fen": paid, "reversed_at": "2026-12-04T13:00:00+08:00"})
    assert reversal.status_code == 200, reversal.text
    assert {no: _balance(gateway, no) for no in (account_no, target)} == before


def test_a_double_collection_the_platform_gave_back_is_not_refunded_again(gateway, sandbox):
    """The platform reverses the whole payment before the office settles its double
    collection: the money already went back, so a refund or a re-assignment is refused in
    both languages and moves nothing; keeping it as credit (nothing moves) still closes it."""
    account_no, bill = _collected_on_a_handheld(gateway, 2)
    before = _balance(gateway, account_no)
    assert signer_pay(sandbox, account_no, bill, "SETTLE-GONE-1")["status"] \
        == "double_collection"
    [(exc_id,)] = gateway.query(
        "SELECT id FROM exceptions WHERE op_id = 'sandpay:SETTLE-GONE-1'")
    reversal = sandbox.signer().request("POST", "/v1/channels/reversals", {
        "platform": "sandpay", "refund_no": "SETTLE-GONE-R1", "trade_no": "SETTLE-GONE-1",
        "amount_fen": bill, "reversed_at": "2026-12-04T14:00:00+08:00"})
    assert reversal.status_code == 200, reversal.text
    assert _balance(gateway, account_no) == before

    office = Office(gateway.base_url)
    refused = office.resolve(exc_id, "refund", "退回")
    assert refused.status_code == 409 and "该笔付款已由支付平台退回" in refused.text
    english = office.resolve(exc_id, "reassign", target="3101000001", lang="en")
    assert english.status_code == 409 and "already given this payment back" in english.text
    assert _balance(gateway, account_no) == before
    assert gateway.query("SELECT count(*) FROM exception_settlements WHERE exception_id = :i",
                         i=exc_id) == [(0,)]
    assert office.resolve(exc_id, "credit", "平台已退款", lang="zh").status_code == 303
    assert _balance(gateway, account_no) == before
