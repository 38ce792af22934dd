"""Protocol primitives (contracts §0–§3) and the deterministic demo utility."""
import hashlib
import hmac

from sync import protocol
from sync.gateway.demo_data import (NON_GBK, RARE_NAMES, demo_utility, fake_accounts,
                                    route_document)


def test_canonical_json_is_sorted_compact_utf8():
    assert protocol.canonical_json({"b": 1, "a": "王𠮷"}) == '{"a":"王𠮷","b":1}'.encode()
    assert protocol.sha256hex({"x": [1, 2]}) == hashlib.sha256(b'{"x":[1,2]}').hexdigest()


def test_route_digest_sorts_by_seq_then_account():
    a = {"seq": 20, "account_no": "2"}
    b = {"seq": 10, "account_no": "9"}
    c = {"seq": 10, "account_no": "1"}
    expected = hashlib.sha256(b"".join(protocol.canonical_json(x) + b"\n"
                                       for x in (c, b, a))).hexdigest()
    assert protocol.route_digest([a, b, c]) == expected


def test_closeout_digest_and_receipt_chain_and_verify_code():
    assert protocol.closeout_digest(["ab", "cd"]) == hashlib.sha256(b"ab\ncd\n").hexdigest()
    content = {"amount_fen": 100}
    h = protocol.receipt_hash(protocol.GENESIS_HASH, content)
    assert h == hashlib.sha256(("0" * 64).encode() + b'{"amount_fen":100}').hexdigest()
    key = "11" * 32
    code = protocol.verify_code(key, "D1", "100001", 100, h)
    full = hmac.new(bytes.fromhex(key), f"D1|100001|100|{h}".encode(), hashlib.sha256)
    assert code == full.hexdigest()[:16]


def test_pin_hash_format_and_check():
    stored = protocol.hash_pin("1234", iterations=1000)
    scheme, iterations, salt, digest = stored.split("$")
    assert (scheme, iterations, len(salt), len(digest)) == ("pbkdf2_sha256", "1000", 32, 64)
    assert protocol.check_pin("1234", stored)
    assert not protocol.check_pin("1235", stored)
    assert not protocol.check_pin("1234", "garbage")
    assert not protocol.check_pin("1234", "pbkdf2_sha256$0$00$00")


def test_demo_utility_is_deterministic_and_complete():
    u1, u2 = demo_utility(), demo_utility()
    assert u1 == u2
    accounts = [a for rows in u1["route_accounts"].values() for a in rows]
    assert len(u1["routes"]) == 3 and len(accounts) == 1200
    assert len({a["account_no"] for a in accounts}) == 1200
    assert all(len(a["account_no"]) == 10 and a["account_no"].isdigit() for a in accounts)
    names = {a["name"] for a in accounts}
    assert set(RARE_NAMES) <= names

    def gbk_ok(s):
        try:
            s.encode("gbk")
            return True
        except UnicodeEncodeError:
            return False
    not_gbk = [n for n in names if not gbk_ok(n)]
    assert len(not_gbk) >= 2 and any(ord(ch) > 0xFFFF for n in not_gbk for ch in n)
    assert all(not gbk_ok(ch) for ch in NON_GBK)
    assert {a["meter"]["dials"] for a in accounts} >= {4, 5, 6, 7}
    assert any(a["meter"]["decimals"] == 1 for a in accounts)
    assert any(a["meter"]["multiplier"] > 1 for a in accounts)
    assert any(a["meter"]["prev_value"] > 10 ** a["meter"]["dials"] * 0.97 for a in accounts)
    assert any(a["arrears_fen"] > 0 and a["arrears_due_date"] for a in accounts)
    assert {a["tariff_id"] for a in accounts} == {"RES-TIER", "COM-FLAT"}
    assert any(a["hazard"] for a in accounts)
    assert {g["kind"] for g in u1["agents"]} == {"property", "village"}
    assert all(g["members"] for g in u1["agents"])
    roles = {r for o in u1["operators"] for r in o["roles"]}
    assert roles == {"reader", "collector", "supervisor"}
    assert any(set(o["roles"]) == {"reader", "collector"} for o in u1["operators"])
    for o in u1["operators"]:
        assert protocol.check_pin(u1["demo_pins"][o["operator_id"]], o["pin_hash"])
    rules = {c["reading"] for c in u1["codes"]["skip"]}
    assert rules == {"required", "forbidden", "optional"}
    assert any(c["urgent"] for c in u1["codes"]["trouble"])


def test_route_document_shape():
    doc = route_document(demo_utility(), "R001")
    assert doc["format"] == "chaoshou.route/1"
    assert set(doc["route"]) == {"route_id", "name", "cycle", "read_date", "hide_previous",
                                 "server_version"}
    assert {a["agent_id"] for a in doc["agents"]} == {"A01"}
    assert "members" not in doc["agents"][0]
    assert len(doc["accounts"]) == 400


def test_fake_accounts_many_and_distinct_from_demo():
    rows = fake_accounts(20000, seed=7)
    assert rows == fake_accounts(20000, seed=7)
    assert len({a["account_no"] for a in rows}) == 20000
    demo_meters = {a["meter"]["meter_no"] for r in demo_utility()["route_accounts"].values()
                   for a in r}
    assert not demo_meters & {a["meter"]["meter_no"] for a in rows}
