"""Route import (whole and paged), server changes, walk order, unread navigation, progress."""
import copy
import json

import pytest

from sync.gateway import demo_data as dd
from terminal import outbox, route_walk, routes, search
from terminal.store import Store


@pytest.fixture(scope="module")
def utility():
    return dd.demo_utility(accounts=300, routes=3, pin_iterations=1000)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "t.db")


@pytest.fixture
def doc(utility):
    return copy.deepcopy(dd.route_document(utility, "R001"))


def header_of(doc):
    return {k: doc[k] for k in ("route", "tariffs", "codes", "agents")}


def count(store, table, where="1", args=()):
    return store.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", args).fetchone()[0]


def test_import_route_writes_everything(store, doc):
    result = routes.import_route(store, doc)
    assert result == {"route_id": "R001", "accounts": 100, "exceptions": []}
    assert count(store, "accounts", "route_id='R001'") == 100
    assert count(store, "meters") == 100
    assert count(store, "codes", "kind='skip'") == len(doc["codes"]["skip"])
    assert count(store, "tariffs") == 2
    assert count(store, "name_fts") == 100
    assert routes.current_version(store, "R001") == 1
    first = doc["accounts"][0]
    assert search.search(store, first["name"])[0]["account_no"] == first["account_no"]


def test_reimport_replaces_accounts_but_keeps_walk_order_and_readings(store, doc):
    routes.import_route(store, doc)
    nos = [a["account_no"] for a in doc["accounts"]]
    route_walk.move_after(store, nos[0], nos[5])
    doc2 = copy.deepcopy(doc)
    doc2["accounts"] = doc2["accounts"][:50]
    doc2["accounts"][1]["name"] = "新名字"
    doc2["route"]["server_version"] = 7
    routes.import_route(store, doc2)
    assert count(store, "accounts") == 50
    assert count(store, "name_fts") == 50
    assert search.search(store, "新名")[0]["account_no"] == nos[1]
    assert search.search(store, doc["accounts"][80]["account_no"]) == []
    assert count(store, "walk_order") == 1
    order = [r["account_no"] for r in route_walk.walk(store, "R001")]
    assert order.index(nos[0]) == order.index(nos[5]) + 1
    assert routes.current_version(store, "R001") == 7


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d["accounts"][3].pop("account_no"), "account_no"),
    (lambda d: d["accounts"][3].update(seq="ten"), "seq"),
    (lambda d: d["accounts"][3].update(arrears_fen=12.5), "integer fen"),
    (lambda d: d["accounts"][3]["meter"].update(dials=0), "dials"),
    (lambda d: d["accounts"][3]["meter"].update(prev_value=12.5), "prev_value"),
    (lambda d: d["accounts"][4].update(account_no=d["accounts"][3]["account_no"]), "twice"),
    (lambda d: d["accounts"][4]["meter"].update(meter_no=d["accounts"][3]["meter"]["meter_no"]), "twice"),
    (lambda d: d["route"].pop("cycle"), "cycle"),
])
def test_bad_document_changes_nothing(store, doc, breakage, message):
    routes.import_route(store, doc)
    before = store.conn.execute("SELECT group_concat(account_no || name) FROM accounts").fetchone()[0]
    bad = copy.deepcopy(doc)
    for a in bad["accounts"]:
        a["name"] = "X"
    breakage(bad)
    with pytest.raises(routes.RouteImportError, match=message):
        routes.import_route(store, bad)
    after = store.conn.execute("SELECT group_concat(account_no || name) FROM accounts").fetchone()[0]
    assert after == before


def test_paged_staging_is_invisible_until_finish_and_resumable(store, doc, tmp_path):
    accounts = doc["accounts"]
    digest = routes.account_digest(accounts)
    routes.stage_begin(store, header_of(doc), "snap-1", len(accounts))
    assert routes.stage_resume_point(store, "R001") == ("snap-1", None)
    routes.stage_page(store, "snap-1", accounts[:40], "c40")
    assert count(store, "accounts") == 0  # nothing visible yet
    assert search.search(store, accounts[0]["account_no"]) == []
    store.close()
    reopened = Store(tmp_path / "t.db")  # a restart in the middle of the download
    assert routes.stage_resume_point(reopened, "R001") == ("snap-1", "c40")
    routes.stage_page(reopened, "snap-1", accounts[30:80], "c80")  # overlapping replay is harmless
    routes.stage_page(reopened, "snap-1", accounts[80:], None)
    assert routes.stage_status(reopened, "R001")["complete"] is True
    assert routes.stage_finish(reopened, "snap-1", len(accounts), digest) == \
        {"route_id": "R001", "accounts": 100, "exceptions": []}
    assert count(reopened, "accounts") == 100
    assert count(reopened, "stage_accounts") == 0
    assert routes.stage_resume_point(reopened, "R001") is None
    assert reopened.conn.execute("SELECT snapshot_id FROM routes").fetchone()[0] == "snap-1"


def test_digest_matches_the_gateway_definition(doc):
    from sync.protocol import route_digest
    assert routes.account_digest(doc["accounts"]) == route_digest(doc["accounts"])


@pytest.mark.parametrize("wrong", ["count", "digest", "missing_page"])
def test_verify_failure_keeps_the_old_route(store, doc, wrong):
    routes.import_route(store, doc)
    new = copy.deepcopy(doc)
    for a in new["accounts"]:
        a["arrears_fen"] = 1
    accounts = new["accounts"]
    digest = routes.account_digest(accounts)
    routes.stage_begin(store, header_of(new), "snap-2", len(accounts))
    routes.stage_page(store, "snap-2", accounts if wrong != "missing_page" else accounts[:50], None)
    n = len(accounts) + (1 if wrong == "count" else 0)
    d = "0" * 64 if wrong == "digest" else digest
    with pytest.raises(routes.RouteVerifyError, match="previous route data is kept"):
        routes.stage_finish(store, "snap-2", n, d)
    assert count(store, "accounts", "arrears_fen=1") == 0
    assert count(store, "accounts") == 100
    assert count(store, "stage_accounts") == 0


def test_stage_page_without_begin_is_a_clear_error(store, doc):
    with pytest.raises(routes.RouteImportError, match="stage_begin"):
        routes.stage_page(store, "nope", doc["accounts"][:2], None)


def test_apply_changes_all_kinds(store, doc):
    routes.import_route(store, doc)
    a0, a1, a2 = (doc["accounts"][i]["account_no"] for i in range(3))
    new = copy.deepcopy(doc["accounts"][3])
    new.update(account_no="3999999999", name="欧阳新户", seq=15)
    new["meter"]["meter_no"] = "M99999999"
    changes = [
        {"kind": "balance", "account_no": a0, "arrears_fen": 0, "arrears_due_date": None, "credit_fen": 500,
         "last_third_party": {"platform": "alipay", "amount_fen": 5000, "paid_at": "2026-11-20T10:00:00+08:00"}},
        {"kind": "hazard", "account_no": a1, "hazard": "恶犬 Dog"},
        {"kind": "upsert", "account": new},
        {"kind": "remove", "account_no": a2},
        {"kind": "from_the_future", "x": 1},
    ]
    result = routes.apply_changes(store, "R001", changes, 9)
    assert result == {"balance": 1, "hazard": 1, "upsert": 1, "remove": 1,
                      "meter_exchange": 0, "ignored": 1}
    assert routes.current_version(store, "R001") == 9
    d0 = route_walk.account_detail(store, a0)
    assert d0["account"]["credit_fen"] == 500 and d0["account"]["last_third_party"]["platform"] == "alipay"
    assert route_walk.account_detail(store, a1)["hazard"] == "恶犬 Dog"
    assert route_walk.account_detail(store, a2) is None
    assert search.search(store, "欧阳新")[0]["account_no"] == "3999999999"
    order = [r["account_no"] for r in route_walk.walk(store, "R001")]
    assert order[:2] == [a0, "3999999999"]
    assert count(store, "name_fts") == 100


def test_apply_changes_bad_change_rolls_back(store, doc):
    routes.import_route(store, doc)
    a0 = doc["accounts"][0]["account_no"]
    with pytest.raises(routes.RouteImportError, match="integer fen"):
        routes.apply_changes(store, "R001", [
            {"kind": "hazard", "account_no": a0, "hazard": "new"},
            {"kind": "balance", "account_no": a0, "arrears_fen": "12"}], 5)
    assert route_walk.account_detail(store, a0)["hazard"] == doc["accounts"][0]["hazard"]
    assert routes.current_version(store, "R001") == 1
    with pytest.raises(routes.RouteImportError, match="download it first"):
        routes.apply_changes(store, "R404", [], 1)


def _read(store, account_no, status="read", trouble=None, cycle="2026-11"):
    with store.transaction() as conn:
        op = outbox.append(conn, "reading", {"account_no": account_no}, operator_id="1001")
        meter = conn.execute("SELECT meter_no FROM meters WHERE account_no=?", (account_no,)).fetchone()[0]
        conn.execute("INSERT INTO readings (op_id, seq, account_no, meter_no, route_id, cycle, status,"
                     " trouble_code, operator_id, device_time) VALUES (?, ?, ?, ?, 'R001', ?, ?, ?, '1001', ?)",
                     (op.op_id, op.seq, account_no, meter, cycle, status, trouble, op.device_time))
    return op


def test_walk_filters_progress_and_unread_navigation(store, doc):
    routes.import_route(store, doc)
    nos = [a["account_no"] for a in doc["accounts"]]
    _read(store, nos[0])
    _read(store, nos[1], "skipped")
    _read(store, nos[2], trouble="T01")
    _read(store, nos[3], cycle="2026-10")  # last cycle's reading does not count
    with store.transaction() as conn:
        conn.execute("INSERT INTO payments (op_id, account_no, method, amount_fen, state, operator_id,"
                     " device_time) VALUES ('p1', ?, 'cash', 100, 'done', '2001', '2026-11-27T10:00:00+08:00')",
                     (nos[4],))
        conn.execute("INSERT INTO payments (op_id, account_no, method, amount_fen, state, operator_id,"
                     " device_time) VALUES ('p2', ?, 'card', 100, 'declined', '2001', '2026-11-27T10:00:00+08:00')",
                     (nos[5],))
    p = route_walk.progress(store, "R001")
    assert p == {"total": 100, "read": 2, "skipped": 1, "unread": 97, "problems": 1, "paid": 1}
    assert route_walk.progress_of(route_walk.walk(store, "R001")) == p   # the walk screen's way
    assert [r["account_no"] for r in route_walk.walk(store, "R001", "skipped")] == [nos[1]]
    assert [r["account_no"] for r in route_walk.walk(store, "R001", "problems")] == [nos[2]]
    assert [r["account_no"] for r in route_walk.walk(store, "R001", "paid")] == [nos[4]]
    arrears = route_walk.walk(store, "R001", "arrears")
    assert arrears and all(r["arrears_fen"] > 0 for r in arrears)
    assert len(route_walk.walk(store, "R001", "unread")) == 97
    with pytest.raises(ValueError, match="unknown filter"):
        route_walk.walk(store, "R001", "bogus")
    assert route_walk.next_unread(store, "R001") == nos[3]
    assert route_walk.next_unread(store, "R001", nos[0]) == nos[3]
    assert route_walk.next_unread(store, "R001", nos[3]) == nos[4]
    assert route_walk.previous_unread(store, "R001", nos[4]) == nos[3]
    assert route_walk.previous_unread(store, "R001", nos[3]) == nos[-1]  # wraps around
    assert route_walk.next_unread(store, "R001", nos[-1]) == nos[3]  # wraps around
    listed = route_walk.list_routes(store)
    assert listed[0]["route_id"] == "R001" and listed[0]["progress"] == p


def test_next_unread_is_none_when_all_done(store, doc):
    doc["accounts"] = doc["accounts"][:2]
    routes.import_route(store, doc)
    for a in doc["accounts"]:
        _read(store, a["account_no"])
    assert route_walk.next_unread(store, "R001") is None
    assert route_walk.next_unread(store, "R001", doc["accounts"][0]["account_no"]) is None


def test_move_after_and_to_front_and_many_moves(store, doc):
    routes.import_route(store, doc)
    nos = [a["account_no"] for a in doc["accounts"]]
    route_walk.move_after(store, nos[10], None)
    order = [r["account_no"] for r in route_walk.walk(store, "R001")]
    assert order[0] == nos[10]
    # squeeze accounts repeatedly into the same gap until floats run out: order stays right
    for i in range(60):
        route_walk.move_after(store, nos[20 + (i % 2)], nos[1])
    order = [r["account_no"] for r in route_walk.walk(store, "R001")]
    assert order.index(nos[1]) + 1 in (order.index(nos[20]), order.index(nos[21]))
    assert len(set(order)) == 100
    assert route_walk.next_unread(store, "R001", nos[1]) in (nos[20], nos[21])
    with pytest.raises(KeyError):
        route_walk.move_after(store, nos[3], "nope")
    route_walk.reset_walk_order(store, "R001")
    assert [r["account_no"] for r in route_walk.walk(store, "R001")] == nos
    events = [r[0] for r in store.conn.execute("SELECT event FROM audit_log")]
    assert "walk_moved" in events


def test_account_detail_hides_previous_when_the_route_says_so(store, utility):
    doc2 = copy.deepcopy(dd.route_document(utility, "R002"))
    assert doc2["route"]["hide_previous"] is True
    routes.import_route(store, doc2)
    a = doc2["accounts"][0]
    d = route_walk.account_detail(store, a["account_no"])
    assert d["meter"]["hidden"] is True and d["meter"]["prev_value"] is None
    assert d["meter"]["dials"] == a["meter"]["dials"]
    full = route_walk.account_detail(store, a["account_no"], reveal_previous=True)
    assert full["meter"]["prev_value"] == a["meter"]["prev_value"]
    assert d["tariff"]["tariff_id"] == a["tariff_id"]


def test_account_detail_agent_and_hazard(store, utility):
    doc1 = copy.deepcopy(dd.route_document(utility, "R001"))
    member = next(a for a in doc1["accounts"] if a["agent_id"])
    member["hazard"] = "院内有狗 Beware of dog"
    routes.import_route(store, doc1)
    d = route_walk.account_detail(store, member["account_no"])
    assert d["agent"]["name"] == "阳光物业"
    assert d["hazard"] == "院内有狗 Beware of dog"
    assert count(store, "agent_members", "account_no=?", (member["account_no"],)) == 1
    rows = route_walk.walk(store, "R001")
    assert next(r for r in rows if r["account_no"] == member["account_no"])["hazard"] is True
    assert json.loads(json.dumps(d))  # JSON-able for the UI


def test_out_of_range_meter_figures_are_route_exceptions_not_failures(store, doc):
    bad_prev, bad_avg = doc["accounts"][3], doc["accounts"][4]
    bad_prev["meter"].update(dials=4, prev_value=-2289)
    bad_avg["meter"].update(dials=4, prev_value=12345, avg_daily_wh=-1)
    result = routes.import_route(store, doc)
    assert result["accounts"] == 100
    assert [e["account_no"] for e in result["exceptions"]] == [bad_prev["account_no"], bad_avg["account_no"]]
    assert "negative" in result["exceptions"][0]["problems"][0]
    assert len(result["exceptions"][1]["problems"]) == 2
    m = route_walk.account_detail(store, bad_avg["account_no"])["meter"]
    assert (m["prev_value"], m["avg_daily_wh"], m["dials"]) == (None, None, 4)
    logged = [json.loads(r[0]) for r in store.conn.execute("SELECT detail FROM audit_log WHERE event='route_exception'")]
    assert [d["account_no"] for d in logged] == [bad_prev["account_no"], bad_avg["account_no"]]


def test_the_whole_demo_utility_imports(store):
    u = dd.demo_utility()
    for r in u["routes"]:
        routes.import_route(store, dd.route_document(u, r["route_id"]))
    assert count(store, "accounts") == 1200
