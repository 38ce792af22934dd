"""Receipt numbers, hash chain, verification codes, URLs, verifier and receipt documents."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from ledger_fixtures import DEVICE_KEY, make_store
from sync import protocol
from terminal import payments, print_queue, receipt_docs, receipts, shifts, voids
from terminal.canonical import GENESIS_HASH
from terminal.ledger_errors import LedgerError


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "t.db", block=(100000, 100004))
    shifts.open_shift(s, "2001", 10000)
    return s


def pay(store, amount=1000, acct="3100000001"):
    return payments.cash_payment(store, acct, amount, "2001", advance=True)


# -- numbers -------------------------------------------------------------------------------

def test_numbers_come_from_blocks_in_order(store):
    assert receipts.numbers_left(store) == 5
    got = [pay(store).receipt_no for _ in range(5)]
    assert got == ["100000", "100001", "100002", "100003", "100004"]
    assert receipts.numbers_left(store) == 0
    with pytest.raises(LedgerError) as err:
        pay(store)
    assert err.value.code == "no_receipt_numbers"
    receipts.add_block(store, 200000, 200001)
    assert pay(store).receipt_no == "200000"
    assert receipts.verify_store(store) == []


def test_rolled_back_payment_burns_no_number(store):
    pay(store)
    with pytest.raises(RuntimeError):
        with store.transaction() as conn:
            receipts.issue(store, conn, kind="collection", op_id="x", amount_fen=1, fields={})
            raise RuntimeError("crash before commit")
    assert pay(store).receipt_no == "100001"
    assert receipts.verify_store(store) == []


@pytest.mark.parametrize("start,end", [(0, 5), (10, 9), (-3, 2), (1.0, 5), ("1", 5)])
def test_bad_blocks_refused(store, start, end):
    with pytest.raises(LedgerError):
        receipts.add_block(store, start, end)


def test_overlapping_block_refused_same_block_is_idempotent(store):
    receipts.add_block(store, 100000, 100004)   # the same block again: a retried request
    assert receipts.numbers_left(store) == 5
    with pytest.raises(LedgerError) as err:
        receipts.add_block(store, 100003, 100010)
    assert err.value.code == "block_overlap"


# -- chain and codes -------------------------------------------------------------------------

def test_chain_links_and_codes_match_the_gateway_copy(store):
    p1, p2 = pay(store, 1000), pay(store, 2500)
    rows = receipts.chain_rows(store)
    assert rows[0]["prev_hash"] == GENESIS_HASH and rows[1]["prev_hash"] == rows[0]["hash"]
    for row in rows:
        content = json.loads(row["content"])
        assert row["hash"] == protocol.receipt_hash(row["prev_hash"], content)
        assert row["verify_code"] == protocol.verify_code(
            DEVICE_KEY, "DEV-7", str(row["receipt_no"]), content["amount_fen"], row["hash"])
    op = store.conn.execute("SELECT payload FROM outbox WHERE op_id=?", (p2.op_id,)).fetchone()
    receipt = json.loads(op[0])["receipt"]
    assert receipt["receipt_no"] == "100001" and receipt["hash"] == rows[1]["hash"]
    assert store.get_meta(receipts.TAIL_KEY) == rows[1]["hash"]
    assert p1.receipt_no == "100000"


def test_forged_paper_receipt_detected(store):
    p = pay(store, 1000)
    row = receipts.get(store, p.receipt_no)
    ok = (DEVICE_KEY, "DEV-7", p.receipt_no, 1000, row["hash"])
    assert receipts.verify_receipt(*ok, row["verify_code"])
    assert not receipts.verify_receipt(DEVICE_KEY, "DEV-7", p.receipt_no, 100000, row["hash"],
                                       row["verify_code"])                 # amount changed
    assert not receipts.verify_receipt(*ok, "0123456789abcdef")            # made-up code
    assert not receipts.verify_receipt("11" * 32, *ok[1:], row["verify_code"])  # other key


def test_deleted_or_altered_receipt_in_store_detected(store):
    ps = [pay(store, 1000 + i) for i in range(4)]
    with store.transaction() as conn:
        conn.execute("UPDATE receipts SET content=replace(content, '\"amount_fen\":1002', "
                     "'\"amount_fen\":9') WHERE receipt_no=?", (int(ps[2].receipt_no),))
    problems = receipts.verify_store(store)
    assert any("altered" in p for p in problems)
    with store.transaction() as conn:
        conn.execute("DELETE FROM receipts WHERE receipt_no=?", (int(ps[1].receipt_no),))
    problems = receipts.verify_store(store)
    assert any("link broken" in p for p in problems)
    assert any("missing" in p for p in problems)


def _chain(n):
    rows, prev = [], GENESIS_HASH
    for i in range(n):
        content = {"receipt_no": str(1000 + i), "amount_fen": 100 + i, "device_id": "D"}
        h = receipts.receipt_hash(prev, content)
        rows.append({"receipt_no": str(1000 + i), "content": content, "prev_hash": prev, "hash": h,
                     "verify_code": receipts.verify_code(DEVICE_KEY, "D", 1000 + i, 100 + i, h)})
        prev = h
    return rows


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.data())
def test_any_deletion_detected(n, data):
    rows = _chain(n)
    tail = rows[-1]["hash"]
    assert receipts.verify_chain(rows, device_key_hex=DEVICE_KEY, tail=tail) == []
    i = data.draw(st.integers(0, n - 1))
    del rows[i]
    assert receipts.verify_chain(rows, device_key_hex=DEVICE_KEY, tail=tail) != []


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.data())
def test_any_alteration_detected(n, data):
    rows = _chain(n)
    i = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["amount_fen", "receipt_no", "device_id", "extra"]))
    value = data.draw(st.one_of(st.integers(), st.text(max_size=5)))
    content = dict(rows[i]["content"])
    if content.get(field) == value:
        value = [value]
    content[field] = value
    rows[i] = dict(rows[i], content=content)
    assert receipts.verify_chain(rows, device_key_hex=DEVICE_KEY) != []


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 12), st.data())
def test_any_reordering_detected(n, data):
    rows = _chain(n)
    i, j = data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
    rows[i], rows[j] = rows[j], rows[i]
    assert receipts.verify_chain(rows) != []


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.data())
def test_forged_receipt_in_chain_detected(n, data):
    """A forger who recomputes the hashes still cannot make the codes without the key."""
    rows = _chain(n)
    i = data.draw(st.integers(0, n - 1))
    prev = GENESIS_HASH if i == 0 else rows[i - 1]["hash"]
    content = dict(rows[i]["content"], amount_fen=rows[i]["content"]["amount_fen"] + 1)
    h = receipts.receipt_hash(prev, content)
    rows[i] = dict(rows[i], content=content, hash=h)
    for k in range(i + 1, n):
        h = receipts.receipt_hash(rows[k - 1]["hash"], rows[k]["content"])
        rows[k] = dict(rows[k], prev_hash=rows[k - 1]["hash"], hash=h)
    assert receipts.verify_chain(rows) == []   # hashes alone were re-forged …
    assert any("forged" in p for p in receipts.verify_chain(rows, device_key_hex=DEVICE_KEY))


def test_verify_numbers():
    assert receipts.verify_numbers([5, 6, 7], [(5, 9, 8)]) == []
    assert receipts.verify_numbers([5, 7], [(5, 9, 8)]) != []
    assert receipts.verify_numbers([5, 6, 7, 12], [(5, 9, 8)]) != []
    assert receipts.verify_numbers([5, 5, 6, 7], [(5, 9, 8)]) != []


# -- URLs and documents --------------------------------------------------------------------

def test_urls_from_templates(store):
    assert receipts.pay_url(store, "3100000001") == \
        "https://pay.example-utility.cn/p?acct=3100000001"
    store.set_meta("pay_url_template", "https://pay.example.cn/p?acct={account_no}&amt={amount_fen}")
    assert receipts.pay_url(store, "31", 500) == "https://pay.example.cn/p?acct=31&amt=500"
    store.set_meta("verify_url_template", "https://v.cn/{device_id}/{receipt_no}/{verify_code}?x={other}")
    assert receipts.verify_url(store, "100", 5, "abc") == "https://v.cn/DEV-7/100/abc?x={other}"


def _blocks(doc, t):
    return [b for b in doc["blocks"] if b["t"] == t]


def test_collection_document(store):
    p = payments.cash_payment(store, "3100000001", 5000, "2001", tendered_fen=10000, advance=True)
    doc = p.doc
    print_queue.validate(doc)
    assert doc["kind"] == "collection" and doc["receipt_no"] == p.receipt_no and not doc["copy"]
    kv = {b["k"]: b["v"] for b in _blocks(doc, "kv")}
    assert kv["户名 Name"] == "王𠮷" and kv["实收 Paid"] == "¥50.00"
    assert kv["收款 Tendered"] == "¥100.00" and kv["找零 Change"] == "¥50.00"
    qrs = _blocks(doc, "qr")
    row = receipts.get(store, p.receipt_no)
    assert qrs[0]["data"] == ("https://pay.example-utility.cn/v?d=DEV-7&r=100000&a=5000&c="
                              + row["verify_code"])
    assert qrs[1]["data"] == "https://pay.example-utility.cn/p?acct=3100000001"
    assert doc["blocks"][-1] == {"t": "cut"}


def test_reprint_is_copy_with_same_number_and_queued(store):
    p = pay(store)
    jobs_before = len(print_queue.pending(store))
    copy = receipt_docs.reprint(store, p.receipt_no, "2001")
    assert copy["copy"] and copy["receipt_no"] == p.receipt_no
    assert copy["blocks"][0] == receipt_docs.COPY_BANNER
    assert copy["blocks"][1:] == p.doc["blocks"]
    assert print_queue.as_copy(copy) == copy   # never bannered twice
    assert len(print_queue.pending(store)) == jobs_before + 1
    assert receipts.get(store, p.receipt_no)["print_count"] == 1
    assert receipts.numbers_left(store) == 4   # a reprint takes no number
    with pytest.raises(LedgerError):
        receipt_docs.reprint(store, "999999", "2001")


def test_void_slip_is_a_chain_link(store):
    p = pay(store, 3000)
    v = voids.void_payment(store, p.op_id, "金额输错", "2001", "9001")
    assert v.doc["kind"] == "void" and v.receipt_no == "100001" and v.voided_receipt_no == "100000"
    kv = {b["k"]: b["v"] for b in _blocks(v.doc, "kv")}
    assert kv["作废收据 Voids receipt"] == "100000" and kv["退还金额 Amount returned"] == "¥30.00"
    print_queue.validate(v.doc)
    assert receipts.verify_store(store) == []


def test_bill_notice_document(store):
    doc = receipt_docs.bill_notice(store, "3100000001", 450_000)
    print_queue.validate(doc)
    keys = [b["k"] for b in _blocks(doc, "kv")]
    assert any(k.startswith("第3档") for k in keys)
    assert _blocks(doc, "qr")[0]["data"].endswith("acct=3100000001")


def test_malformed_rows_are_reported_not_crashed_on():
    rows = _chain(3)
    rows[1] = dict(rows[1], content="{not json")
    rows[2] = dict(rows[2], prev_hash="é" * 64)
    problems = receipts.verify_chain(rows)
    assert sum("malformed" in p for p in problems) == 2
