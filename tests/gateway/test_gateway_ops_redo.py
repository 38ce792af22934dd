"""An upload the gateway applies a second time — op by op after an op_id another device
already used, or after a failed first attempt — answers every op as the first attempt
would: a payment whose text held a card number (masked on arrival, docs/contracts.md §0) is
still applied, not taken for a changed payload (`bad_hash`). And a payment with a card
number and an amount no column holds is rejected on its own (`invalid_payload`), not a 500."""
import requests

from sync import protocol
from sync.gateway.testing import OpFactory, enrol_device

PAN = "6228480402564890018"   # passes the Luhn check: masked to its last four digits


def _with_pan(op: dict) -> dict:
    op["payload"]["note"] = f"paid with card {PAN}"
    op["payload_sha256"] = protocol.sha256hex(op["payload"])
    return op


def test_a_masked_payment_redone_op_by_op_is_still_applied(base_url, device):
    other = enrol_device(base_url)
    taken = OpFactory(other).reading("3101000011", 500)
    r = requests.post(base_url + "/v1/ops", json={"ops": [taken]}, timeout=30,
                      headers={"Authorization": f"Bearer {other['token']}"})
    assert r.json()["results"][0]["status"] == "accepted", r.text
    f = device["ops"]
    pay = _with_pan(f.payment("3101000012", 1500))
    clash = f.reading("3101000013", 600)
    clash["op_id"] = taken["op_id"]       # already held for the other device
    r = device["session"].post(base_url + "/v1/ops", json={"ops": [pay, clash]}, timeout=30)
    assert r.status_code == 200, r.text
    results = {x["op_id"]: x for x in r.json()["results"]}
    assert (results[pay["op_id"]]["status"], results[pay["op_id"]]["code"]) == \
        ("accepted", None)
    assert results[clash["op_id"]]["code"] == "op_id_reused"


def test_a_masked_payment_with_an_amount_beyond_any_column_is_rejected_alone(base_url, device):
    f = device["ops"]
    pay = f.payment("3101000014", 1500)
    pay["payload"]["amount_fen"] = 2 ** 63
    ops = [_with_pan(pay), f.shift_open("SH-next")]
    r = device["session"].post(base_url + "/v1/ops", json={"ops": ops}, timeout=30)
    assert r.status_code == 200, r.text
    first, second = r.json()["results"]
    assert (first["status"], first["code"]) == ("rejected", "invalid_payload")
    assert "amount_fen" in first["message"]
    assert second["status"] == "accepted"
