"""The terminal and the gateway implement the wire rules separately (the gateway never
imports the terminal); these properties show both sides compute the same bytes."""
from hypothesis import given, settings, strategies as st

from sync import protocol
from terminal import canonical, operators, receipts, routes

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**15, 10**15) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@given(json_values)
def test_canonical_json_and_hash_agree(value):
    assert canonical.canonical_json(value) == protocol.canonical_json(value)
    assert canonical.sha256_hex(value) == protocol.sha256hex(value)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5), st.text("0123456789abcdef", min_size=64, max_size=64))
def test_receipt_chain_link_agrees(content, prev):
    assert receipts.receipt_hash(prev, content) == protocol.receipt_hash(prev, content)


@given(st.binary(min_size=16, max_size=32), st.text(min_size=1, max_size=12),
       st.integers(1, 10**9), st.integers(1, 10**9))
def test_verify_code_agrees(key, device_id, receipt_no, amount):
    h = "ab" * 32
    assert receipts.verify_code(key.hex(), device_id, receipt_no, amount, h) == \
        protocol.verify_code(key.hex(), device_id, str(receipt_no), amount, h)


@settings(max_examples=30)
@given(st.lists(st.fixed_dictionaries({"seq": st.integers(0, 1000), "account_no": st.text("0123456789", min_size=10, max_size=10),
                                       "name": st.text(max_size=4)}), max_size=8, unique_by=lambda a: a["account_no"]))
def test_route_digest_agrees(accounts):
    assert routes.account_digest(accounts) == protocol.route_digest(accounts)


def test_pin_hashes_cross_check():
    made_by_gateway = protocol.hash_pin("2468", iterations=1000)
    made_by_terminal = operators.hash_pin("2468", iterations=1000)
    assert operators.check_pin("2468", made_by_gateway)
    assert protocol.check_pin("2468", made_by_terminal)
    assert not operators.check_pin("2469", made_by_gateway)
