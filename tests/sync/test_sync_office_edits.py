"""Office data the devices cannot choke on (README, Reliability), against a real gateway and real
device stores: every account edit the gateway accepts can be downloaded by a fresh device,
billed and paid in cash; what it refuses is a 422/409 naming the field; a meter moves only
by a meter exchange, which devices receive as such."""
import itertools
import tempfile
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from sync.gateway.testing import GatewayProcess
from terminal import payments, routes, tariffs
from tests.sync.sync_kit import READER, collector_on_route, supervisor

ROUTE = "R001"
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gw = GatewayProcess(tmp_path_factory.mktemp("office") / "gw.db",
                        args=["--demo-accounts", "24"])
    gw.start()
    yield gw
    gw.stop()


def account(n: int, **meter) -> dict:
    return {"account_no": f"39{n:08d}", "seq": 5000 + n, "name": "新户", "address": "幸福路1号",
            "phone": "13800000000", "tariff_id": "RES-TIER", "arrears_fen": 12345,
            "arrears_due_date": "2026-10-25", "credit_fen": 0, "agent_id": None,
            "hazard": None, "last_third_party": None,
            "meter": {"meter_no": f"MX{n:08d}", "dials": 5, "decimals": 0, "multiplier": 1,
                      "prev_value": 1234, "prev_date": "2026-10-27", "avg_daily_wh": 5200,
                      "limit_low": None, "limit_high": None, **meter}}


def put(sv, doc: dict) -> requests.Response:
    return sv.put(f"{sv.base}/v1/supervisor/accounts/{doc['account_no']}",
                  json={"route_id": ROUTE, "account": doc}, timeout=30)


WILD = st.one_of(st.none(), st.booleans(), st.integers(-10, 10 ** 13),
                 st.sampled_from([5200.5, 5200.0, 0.5, -1.0]),
                 st.sampled_from(["2026/10/25", "2026-02-30", "", "x", "2026-10-25", "1e3"]),
                 st.lists(st.integers(0, 9), max_size=2), st.just({"a": 1}))
ACCOUNT_FIELDS = ["seq", "name", "address", "phone", "tariff_id", "arrears_fen",
                  "arrears_due_date", "credit_fen", "agent_id", "hazard"]
METER_FIELDS = ["dials", "decimals", "multiplier", "prev_value", "prev_date", "avg_daily_wh",
                "limit_low", "limit_high"]
DATES = st.dates().map(lambda d: d.isoformat())
VALID = {"seq": st.integers(0, 2 ** 31), "name": st.text(min_size=1, max_size=20),
         "address": st.text(max_size=30), "phone": st.none() | st.text(max_size=20),
         "tariff_id": st.sampled_from(["RES-TIER", "COM-FLAT"]),
         "arrears_fen": st.integers(0, 10 ** 9), "arrears_due_date": st.none() | DATES,
         "credit_fen": st.integers(0, 10 ** 9), "agent_id": st.none(),
         "hazard": st.none() | st.text(max_size=40), "dials": st.integers(5, 12),
         "decimals": st.integers(0, 4), "multiplier": st.integers(1, 100_000),
         "prev_value": st.none() | st.integers(0, 99_999), "prev_date": st.none() | DATES,
         "avg_daily_wh": st.none() | st.integers(0, 10 ** 9),
         "limit_low": st.none() | st.integers(0, 10), "limit_high": st.none() | st.integers(10, 10 ** 6)}
EDITS = st.lists(st.sampled_from(ACCOUNT_FIELDS + METER_FIELDS).flatmap(
    lambda f: st.tuples(st.just(f), st.one_of(VALID[f], VALID[f], VALID[f], WILD))),
    min_size=1, max_size=3)


def fresh_device_bills_and_takes_cash_for_every_account(url: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        store, _client, accounts = collector_on_route(Path(tmp), url, "fresh", ROUTE)
        for a in accounts:
            assert tariffs.bill_for(store, a["account_no"]).total_due_fen >= 0
            paid = payments.cash_payment(store, a["account_no"], 100, READER, advance=True)
            assert paid.receipt_no
        store.close()
    return len(accounts)


@settings(max_examples=20, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(edits=EDITS)
def test_whatever_the_gateway_accepts_a_fresh_device_can_bill_and_collect(gw, edits):
    sv = supervisor(gw.base_url)
    sv.base = gw.base_url
    doc = account(next(_numbers))
    for field, value in edits:
        (doc["meter"] if field in METER_FIELDS else doc)[field] = value
    r = put(sv, doc)
    assert r.status_code in (200, 409, 422), r.text
    if r.status_code != 200:
        assert set(r.json()) == {"error", "message"}
        assert any(field in r.json()["message"] for field, _v in edits) or \
            r.json()["error"] in ("unknown_reference", "meter_changed", "meter_in_use"), r.text
        return
    assert fresh_device_bills_and_takes_cash_for_every_account(gw.base_url) > 0


def test_named_bad_office_values_are_refused_with_the_field(gw):
    sv = supervisor(gw.base_url)
    sv.base = gw.base_url
    for field, value in (("arrears_due_date", "2026/10/25"), ("phone", ["138"]),
                         ("credit_fen", False)):
        r = put(sv, {**account(next(_numbers)), field: value})
        assert r.status_code == 422 and field in r.json()["message"], r.text
    r = put(sv, account(next(_numbers), avg_daily_wh=5200.5))
    assert r.status_code == 422 and "avg_daily_wh" in r.json()["message"], r.text


def test_a_meter_belongs_to_one_account_and_moves_by_exchange(gw, tmp_path):
    sv = supervisor(gw.base_url)
    sv.base = gw.base_url
    a, b = account(next(_numbers)), account(next(_numbers))
    assert put(sv, a).status_code == 200
    twice = put(sv, {**b, "meter": {**b["meter"], "meter_no": a["meter"]["meter_no"]}})
    assert twice.status_code == 409 and twice.json()["error"] == "meter_in_use"
    store, client, _accounts = collector_on_route(tmp_path, gw.base_url, "ex", ROUTE)
    swapped = {**a["meter"], "meter_no": "MXNEW" + a["account_no"], "prev_value": 7}
    changed = put(sv, {**a, "meter": swapped})
    assert changed.status_code == 409 and changed.json()["error"] == "meter_changed"
    r = sv.post(f"{gw.base_url}/v1/supervisor/accounts/{a['account_no']}/meter-exchange",
                json={"meter": swapped, "reason": "meter burnt out"}, timeout=30)
    assert r.status_code == 200 and r.json()["old_meter_no"] == a["meter"]["meter_no"]
    client.pull_changes(ROUTE)
    row = store.conn.execute("SELECT meter_no, prev_value FROM meters WHERE account_no=?",
                             (a["account_no"],)).fetchone()
    assert tuple(row) == (swapped["meter_no"], 7)
    logged = store.conn.execute("SELECT COUNT(*) FROM audit_log WHERE event='meter_exchange'"
                                ).fetchone()[0]
    assert logged == 1
    # the freed meter may now go on the other account
    assert put(sv, {**b, "meter": {**b["meter"], "meter_no": a["meter"]["meter_no"]}}
               ).status_code == 200
    audit = sv.get(f"{gw.base_url}/v1/supervisor/audit",
                   params={"account_no": a["account_no"]}, timeout=30).json()
    assert audit[0]["action"] == "meter_exchange" and audit[0]["operator_id"] == "9001"
    assert audit[0]["detail"]["changes"]["meter.meter_no"] == [a["meter"]["meter_no"],
                                                               swapped["meter_no"]]


def test_device_import_names_the_account_for_wrong_types(tmp_path):
    from terminal.store import Store
    store = Store(tmp_path / "t.db")
    doc = {"format": routes.FORMAT,
           "route": {"route_id": "RX", "name": "x", "cycle": "2026-11", "read_date":
                     "2026-11-27", "hide_previous": False, "server_version": 1},
           "tariffs": [], "codes": {}, "agents": []}
    for field, value in (("phone", ["138"]), ("arrears_due_date", "2026/10/25")):
        bad = {**account(1), field: value}
        with pytest.raises(routes.RouteImportError, match=f"account {bad['account_no']}.*{field}"):
            routes.import_route(store, {**doc, "accounts": [bad]})
    bad = account(2, prev_date="27.10.2026")
    with pytest.raises(routes.RouteImportError, match="prev_date"):
        routes.import_route(store, {**doc, "accounts": [bad]})
    store.close()
