"""A long-offline device: its change cursor expired (410) → snapshot reload, captures intact;
and the incremental change feed when the cursor is still good."""

from sync_kit import (READER, assert_exactly_once, capture_readings, device, local_accounts,
                      supervisor)
from sync.gateway.testing import GatewayProcess, run_gateway, thirdparty_payment
from terminal import outbox, payments, shifts


def local(store, account_no):
    row = store.conn.execute("SELECT * FROM accounts WHERE account_no=?", (account_no,)).fetchone()
    return dict(row) if row else None


def server_changes(url, hazard_no, closed_no, paid_no, tag):
    sv = supervisor(url)
    sv.post(f"{url}/v1/supervisor/accounts/{hazard_no}/hazard",
            json={"hazard": f"新恶犬 New dog {tag}"}, timeout=10).raise_for_status()
    sv.delete(f"{url}/v1/supervisor/accounts/{closed_no}", timeout=10).raise_for_status()
    thirdparty_payment(url, paid_no, 4200, txn_id=f"T-{tag}-{paid_no}")


def test_change_feed_applies_balance_hazard_and_removal(tmp_path):
    with run_gateway(tmp_path / "gw.db") as url:
        store, client = device(tmp_path, url, "feed")
        client.download_route("R001")
        a, b, c = (x["account_no"] for x in local_accounts(store, "R001")[10:13])
        v0 = store.conn.execute("SELECT server_version FROM routes WHERE route_id='R001'").fetchone()[0]
        server_changes(url, a, b, c, "feed")
        result = client.pull_changes("R001")
        assert result["reloaded"] is False and result["changes"] >= 3
        assert result["version"] > v0
        assert "New dog feed" in local(store, a)["hazard"]
        assert local(store, b) is None
        assert '"amount_fen": 4200' in local(store, c)["last_third_party"]
        again = client.pull_changes("R001")                 # nothing new
        assert again["changes"] == 0 and again["version"] == result["version"]


def test_expired_cursor_reloads_snapshot_and_keeps_captures(tmp_path):
    gw = GatewayProcess(tmp_path / "gw.db", args=["--change-retention", "60"])
    url = gw.start()
    try:
        store, client = device(tmp_path, url, "offline")
        client.ensure_receipt_numbers()
        client.download_route("R001")
        accounts = local_accounts(store, "R001")
        shifts.open_shift(store, READER, 0)
        capture_readings(store, accounts[:5], "R001")
        payments.cash_payment(store, accounts[5]["account_no"], 1234, READER, advance=True)
        client.upload()                                      # some captures already synced…
        capture_readings(store, accounts[20:25], "R001")     # …and some still pending
        before = store.conn.execute("SELECT seq, op_id, payload_sha256, state FROM outbox "
                                    "ORDER BY seq").fetchall()
        pays_before = store.conn.execute("SELECT * FROM payments").fetchall()
        a, b, c = (x["account_no"] for x in accounts[10:13])
        server_changes(url, a, b, c, "late")
        gw.advance_clock(61)                                 # the device stays away too long
        result = client.pull_changes("R001")
        assert result["reloaded"] is True                    # 410 → fresh snapshot
        assert "New dog late" in local(store, a)["hazard"]
        assert local(store, b) is None                       # a removed account stays removed
        assert '"amount_fen": 4200' in local(store, c)["last_third_party"]
        after = store.conn.execute("SELECT seq, op_id, payload_sha256, state FROM outbox "
                                   "ORDER BY seq").fetchall()
        assert [tuple(r) for r in after] == [tuple(r) for r in before]
        assert [tuple(r) for r in store.conn.execute("SELECT * FROM payments")] == \
            [tuple(r) for r in pays_before]
        assert outbox.pending_counts(store) == {"reading": 5}
        client.upload()
        assert_exactly_once(tmp_path / "gw.db", store)
    finally:
        gw.stop()
