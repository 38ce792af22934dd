"""The money core against the real reference gateway on loopback: every op it writes —
cash, agent and card payments, cash and card voids approved with the supervisor's PIN, shift open and
close — is accepted, its receipt verifies on the server, and the closeout reconciles."""
import sqlite3

from ledger_fixtures import FakeTerminal
from sync.client import SyncClient
from terminal import agents, outbox, payments, receipts, shifts, voids
from terminal.store import Store

COLLECTOR = "2001"


def test_every_money_op_is_accepted_and_reconciled(gw, tmp_path):
    store = Store(tmp_path / "dev.db")
    client = SyncClient(store)
    client.enrol(gw.url, "DEMO-ENROL", "money test")
    client.refresh_reference()           # operators with PIN hashes, settings, receipt block
    client.download_route("R001")
    assert receipts.numbers_left(store) > 0
    accounts = [r[0] for r in store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' AND agent_id IS NULL ORDER BY seq LIMIT 3")]
    agent = store.conn.execute("SELECT agent_id FROM accounts WHERE route_id='R001' AND agent_id "
                               "IS NOT NULL LIMIT 1").fetchone()

    shifts.open_shift(store, COLLECTOR, 20000)
    cash = payments.cash_payment(store, accounts[0], 1500, COLLECTOR, tendered_fen=2000, advance=True)
    payments.cash_payment(store, accounts[1], 2500, COLLECTOR, advance=True)
    term = FakeTerminal()
    card = payments.card_payment(store, term, accounts[2], 3300, COLLECTOR, advance=True)
    card2 = payments.card_payment(store, term, accounts[2], 700, COLLECTOR, advance=True)
    assert card.state == card2.state == "approved"
    assert agent is not None    # the demo route has agent members
    due = sum(d["total_due_fen"] for d in agents.dues(store, agent[0]))
    lump = min(due, 5000)
    assert lump > 0
    agents.agent_payment(store, agent[0], lump, COLLECTOR)
    voids.void_payment(store, cash.op_id, "金额有误 wrong amount", COLLECTOR, "9001",
                       supervisor_pin="99999999")
    voids.void_payment(store, card2.op_id, "刷错卡 wrong card", COLLECTOR, "9001",
                       supervisor_pin="99999999", terminal=term)
    z = shifts.close_shift(store, COLLECTOR, counted_fen=20000 + 2500 + lump)
    assert z["report"]["variance_fen"] == 0

    report = client.upload()
    assert report.attention == 0 and outbox.pending_counts(store) == {}
    states = {r[0] for r in store.conn.execute("SELECT state FROM outbox")}
    assert states == {"accepted"}
    summary = z["report"]["summary"]
    verdict = client.closeout(summary)
    assert verdict["missing_seqs"] == []
    for key in ("seq_from", "seq_to", "counts", "sums_fen", "digest"):
        assert verdict["server"][key] == verdict["device"][key] == summary[key]
    # the shift_close op carries the summary, so it lies just after the summary's range
    # (contracts §3); a gateway must not count it as an extra op of the shift
    close_seq = summary["seq_to"] + 1
    assert outbox.ops_in_range(store, close_seq, close_seq)[0].type == "shift_close"
    assert verdict["extra_seqs"] == [] and verdict["ok"] is True

    conn = sqlite3.connect(gw.db)
    try:
        device_id = store.get_meta("device_id")
        problems = conn.execute("SELECT code, message FROM exceptions WHERE device_id=?",
                                (device_id,)).fetchall()
        assert problems == []
        held = conn.execute("SELECT COUNT(*) FROM receipts WHERE device_id=?",
                            (device_id,)).fetchone()[0]
        assert held == store.conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
    finally:
        conn.close()
    # a receipt checks out at the gateway's public verification endpoint; a forged one not
    row = receipts.get(store, card.receipt_no)
    body = {"device_id": device_id, "receipt_no": card.receipt_no, "amount_fen": 3300,
            "verify_code": row["verify_code"]}
    assert client._call("POST", "/v1/receipts/verify", body=body)["valid"] is True
    forged = dict(body, amount_fen=33000)
    assert client._call("POST", "/v1/receipts/verify", body=forged)["valid"] is False
