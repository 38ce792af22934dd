"""An op whose payload names a row (an account, a corrected reading, a voided payment, a
receipt) with text no database can store — a NUL, a lone UTF-16 surrogate — is rejected on
its own in the 200 batch answer, its seq held, the rest of the batch applied, on SQLite and
on PostgreSQL alike (docs/contracts.md §2). PostgreSQL refuses such text even as a query
parameter, so it must not reach the lookups made before each op is checked (a 500 found by
the API fuzz test on PostgreSQL). A reference longer than its column is refused the same
way on both engines, never cut short."""
import pytest

from sync import protocol

BAD_TEXT = {"nul_character": "31010\x0000005", "invalid_text": "31010\ud80000005"}


def _payment(f):
    return [f.payment("3101000005", 1500)]


def _void(f):
    pay = f.payment("3101000005", 1500)
    return [pay, f.void(pay)]


def _set(op, path, value):
    """The op with payload[path...] = value and its hash recomputed where one exists."""
    doc = op["payload"]
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value
    try:
        op["payload_sha256"] = protocol.sha256hex(op["payload"])
    except (UnicodeEncodeError, ValueError):   # a lone surrogate: no UTF-8, no hash
        pass
    return op


CASES = {   # (ops maker: the last op gets the bad text, payload path of a text naming a row)
    "reading.account_no": (lambda f: [f.reading("3101000005", 321)], ["account_no"]),
    "reading.corrects": (lambda f: [f.reading("3101000005", 322)], ["corrects"]),
    "payment.account_no": (_payment, ["account_no"]),
    "payment.allocations": (lambda f: [f.payment(None, 1500, agent_id="A01", allocations=[
        {"account_no": "3101000005", "amount_fen": 1500}])], ["allocations", 0, "account_no"]),
    "payment.receipt_no": (_payment, ["receipt", "receipt_no"]),
    "void.payment_op_id": (_void, ["payment_op_id"]),
}


@pytest.mark.parametrize("reason", sorted(BAD_TEXT))
@pytest.mark.parametrize("case", sorted(CASES))
def test_unstorable_reference_rejects_that_op_only(base_url, device, case, reason):
    f = device["ops"]
    make, path = CASES[case]
    ops = make(f)
    bad = _set(ops[-1], path, BAD_TEXT[reason])
    ops.append(f.shift_open("SH-after"))
    r = device["session"].post(base_url + "/v1/ops", json={"ops": ops}, timeout=30)
    assert r.status_code == 200, r.text
    results = {x["op_id"]: x for x in r.json()["results"]}
    assert (results[bad["op_id"]]["status"], results[bad["op_id"]]["code"]) == \
        ("rejected", reason)
    assert all(results[o["op_id"]]["status"] == "accepted" for o in ops if o is not bad)
    assert r.json()["missing_seqs"] == []
    again = device["session"].post(base_url + "/v1/ops", json={"ops": [bad]}, timeout=30)
    assert again.status_code == 200, again.text     # the same answer when sent again
    assert again.json()["results"][0]["code"] == reason


def test_a_correction_names_an_op_id_of_at_most_100_characters(gateway, base_url, device):
    """`corrects` names an op_id (1-100 characters): longer is rejected on its own on both
    engines — PostgreSQL's readings column holds 100 and would cut it short silently — and
    100 is kept whole."""
    f = device["ops"]
    longest, too_long = "c" * 100, "d" * 101
    ops = [f.reading("3101000009", 400, corrects=longest),
           f.reading("3101000009", 401, corrects=too_long)]
    r = device["session"].post(base_url + "/v1/ops", json={"ops": ops}, timeout=30)
    assert r.status_code == 200, r.text
    first, second = r.json()["results"]
    assert first["status"] == "accepted"
    assert (second["status"], second["code"]) == ("rejected", "invalid_payload")
    assert "corrects" in second["message"]
    assert gateway.query("SELECT corrects FROM readings WHERE op_id = :o",
                         o=ops[0]["op_id"]) == [(longest,)]
    assert gateway.query("SELECT count(*) FROM readings WHERE op_id = :o",
                         o=ops[1]["op_id"]) == [(0,)]
