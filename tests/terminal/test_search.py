"""Search: number prefixes, Chinese substrings of 1/2/3+ characters, normalising, index upkeep."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.gateway import demo_data as dd
from terminal import routes, search
from terminal.schema import MIGRATIONS
from terminal.store import Store


def acct(no, name, address, meter=None, seq=None):
    return {"account_no": no, "seq": seq or int(no[-4:]), "name": name, "address": address,
            "tariff_id": "RES-TIER", "arrears_fen": 0,
            "meter": {"meter_no": meter or "M" + no[-8:], "dials": 5, "decimals": 0, "multiplier": 1,
                      "prev_value": 1, "avg_daily_wh": 1000}}


ACCOUNTS = [
    acct("3100000001", "王小明", "杭州市西湖区幸福路12号3单元201室"),
    acct("3100000002", "王𠮷", "杭州市西湖区幸福路112号1单元1302室"),
    acct("3100000003", "欧阳堃", "杭州市拱墅区文一路5号"),
    acct("3100000004", "李小红", "余杭区径山镇前溪村3组12号"),
    acct("3100000005", "Zhang Wei 张伟", "文三路 88 号（东门）", meter="MX0000005"),
    acct("3100000105", "华联超市", "幸福路2号1楼商铺"),
]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    routes.import_route(s, {"format": "chaoshou.route/1",
                            "route": {"route_id": "R1", "name": "段", "cycle": "2026-11"},
                            "tariffs": [], "codes": {}, "agents": [], "accounts": ACCOUNTS})
    return s


def found(store, q, **kw):
    return [r["account_no"] for r in search.search(store, q, **kw)]


@pytest.mark.parametrize("q, expected", [
    ("王", ["3100000001", "3100000002"]),          # 1 character (a common surname)
    ("小", ["3100000001", "3100000004"]),
    ("小明", ["3100000001"]),                      # 2 characters
    ("王小明", ["3100000001"]),                    # 3 characters
    ("𠮷", ["3100000002"]),                       # outside the BMP
    ("王𠮷", ["3100000002"]),
    ("欧阳", ["3100000003"]), ("堃", ["3100000003"]),
    ("zhang", ["3100000005"]), ("WEI", ["3100000005"]),
    ("超市", ["3100000105"]),
])
def test_name_substrings(store, q, expected):
    assert found(store, q) == expected
    assert all(r["match"] == "name" for r in search.search(store, q))


@pytest.mark.parametrize("q, expected", [
    ("幸福路", ["3100000001", "3100000002", "3100000105"]),
    ("12号", ["3100000001", "3100000002", "3100000004"]),   # substring: 112号 contains 12号
    ("112号", ["3100000002"]),
    ("2号3", ["3100000001"]),
    ("1302", ["3100000002"]),
    ("１３０２室", ["3100000002"]),                         # full-width digits from an IME
    ("前溪", ["3100000004"]),
    ("88号东", ["3100000005"]),                            # spaces and brackets ignored
    ("文", ["3100000003", "3100000005"]),
])
def test_address_substrings(store, q, expected):
    assert found(store, q) == expected


@pytest.mark.parametrize("q, expected, kind", [
    ("3100000", [a["account_no"] for a in ACCOUNTS], "account_no"),
    ("31000000", [a["account_no"] for a in ACCOUNTS[:5]], "account_no"),
    ("3100000001", ["3100000001"], "account_no"),
    ("３１０００００１０", ["3100000105"], "account_no"),
    ("M0000000", ["3100000001", "3100000002", "3100000003", "3100000004"], "meter_no"),
    ("m00000001", ["3100000001"], "meter_no"),
    ("mx", ["3100000005"], "meter_no"),
])
def test_number_prefixes(store, q, expected, kind):
    rows = search.search(store, q)
    assert [r["account_no"] for r in rows] == expected
    assert all(r["match"] == kind for r in rows)


def test_number_prefix_comes_before_address_match(store):
    rows = search.search(store, "3")
    assert [r["match"] for r in rows] == ["account_no"] * 6  # each account listed once
    rows = search.search(store, "201")
    assert [r["account_no"] for r in rows] == ["3100000001"] and rows[0]["match"] == "address"


@pytest.mark.parametrize("q", ["", "   ", "，。", "龘", "999", "zz"])
def test_no_match_and_empty(store, q):
    assert found(store, q) == []


def test_limit_and_row_shape(store):
    rows = search.search(store, "区", limit=2)
    assert len(rows) == 2
    assert set(rows[0]) == {"account_no", "name", "address", "route_id", "arrears_fen", "meter_no", "match"}
    assert search.search(store, "区", limit=0) == []


def test_sql_and_fts_syntax_in_queries_is_harmless(store):
    for q in ['"', "王\" OR 1", "* NEAR(", "'; DROP TABLE accounts; --", "a:b", "^王"]:
        search.search(store, q)
    assert found(store, "王") == ["3100000001", "3100000002"]


# one ideograph from each CJK extension, A to I (H and I are newer than Python 3.11's tables)
EXTENSIONS = {"A": "\u3400", "B": "\U00020000", "C": "\U0002A700", "D": "\U0002B740",
              "E": "\U0002B820", "F": "\U0002CEB0", "G": "\U00030000", "H": "\U00031350",
              "I": "\U0002EBF0"}


@pytest.mark.parametrize("ext", sorted(EXTENSIONS))
def test_a_name_in_every_cjk_extension_is_found(tmp_path, ext):
    char = EXTENSIONS[ext]
    s = Store(tmp_path / "t.db")
    routes.import_route(s, {"format": "chaoshou.route/1",
                            "route": {"route_id": "R1", "name": "段", "cycle": "2026-11"},
                            "tariffs": [], "codes": {}, "agents": [],
                            "accounts": ACCOUNTS + [acct("3100000300", f"陈{char}", f"{char}园1号")]})
    assert search.is_cjk(char)
    assert found(s, char) == ["3100000300"]                 # 1 character, name then address
    assert [r["match"] for r in search.search(s, char)] == ["name"]
    assert found(s, f"陈{char}") == ["3100000300"]         # a 2-character name
    assert found(s, f"{char}园") == ["3100000300"]         # in an address


def test_index_follows_changes(store):
    new = acct("3100000200", "赵新", "新街1号")
    routes.apply_changes(store, "R1", [{"kind": "upsert", "account": new},
                                        {"kind": "remove", "account_no": "3100000001"}], 2)
    assert found(store, "赵新") == ["3100000200"]
    assert found(store, "王") == ["3100000002"]
    renamed = dict(ACCOUNTS[1], name="钱多多")
    routes.apply_changes(store, "R1", [{"kind": "upsert", "account": renamed}], 3)
    assert found(store, "王") == [] and found(store, "多多") == ["3100000002"]


def test_index_rebuilt_after_migration_from_version_2(tmp_path):
    path = tmp_path / "old.db"
    old = Store(path, migrate_to=3)
    with old.transaction() as conn:
        conn.execute("INSERT INTO accounts (account_no, route_id, seq, name, address) "
                     "VALUES ('3100000009', 'R1', 1, '孙悟空', '花果山1号')")
    old.close()
    store = Store(path)
    assert store.version == len(MIGRATIONS)
    assert found(store, "悟空") == ["3100000009"] and found(store, "果") == ["3100000009"]
    assert store.get_meta("search_index_stale") is None
    assert search.rebuild_index(store) == 1


ALPHABET = "王小明𠮷欧阳堃李红张伟幸福路号单元室12034文三"


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=ALPHABET, min_size=1, max_size=4))
def test_search_equals_a_substring_oracle(tmp_path_factory, q):
    store = _oracle_store(tmp_path_factory)
    units = "".join(search._units(q))
    expected = {a["account_no"] for a in ACCOUNTS_BIG
                if units and (units in "".join(search._units(a["name"]))
                              or units in "".join(search._units(a["address"]))
                              or a["account_no"].startswith(units) or a["meter"]["meter_no"].startswith(units))}
    assert set(found(store, q, limit=10_000)) == expected


ACCOUNTS_BIG = ACCOUNTS + [acct(f"32000{i:05d}", n, a, meter=f"N{i:05d}") for i, (n, a) in enumerate(
    [("王明", "幸福路1号"), ("明王", "路幸福3单元"), ("小小", "号号号"), ("张三", "文三路12034号"),
     ("李𠮷红", "单元室201"), ("欧阳明", "红路")])]
_CACHE = {}


def _oracle_store(factory):
    if "s" not in _CACHE:
        s = Store(factory.mktemp("oracle") / "o.db")
        routes.import_route(s, {"format": "chaoshou.route/1", "route": {"route_id": "R1", "name": "段", "cycle": "c"},
                                "tariffs": [], "codes": {}, "agents": [], "accounts": ACCOUNTS_BIG})
        _CACHE["s"] = s
    return _CACHE["s"]


def test_demo_names_are_all_findable(tmp_path):
    store = Store(tmp_path / "d.db")
    u = dd.demo_utility(accounts=300, routes=3, pin_iterations=1000)
    doc = dd.route_document(u, "R001")
    routes.import_route(store, doc)
    for a in doc["accounts"]:
        assert a["account_no"] in found(store, a["name"], limit=500)


def test_fts_table_is_not_queried_with_raw_user_syntax():
    assert search._fts_match('王" OR "x') == 'bigrams : "王o or rx"'
    assert search._fts_match("王") == 'chars : "王"'
    assert search._fts_match("!!") is None
