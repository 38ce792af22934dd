"""The op payload models (sync/gateway/ingest/models.py), the gateway and the handheld agree
(docs/contracts.md §2): every op the terminal's own capture API writes — a read, a skipped
meter, a cash payment, its void, the shift's open and close — passes its type's model and is
accepted by a real gateway; the same payloads with any one field wrong (the wrong type, a
boolean or a fraction for an integer, out of bounds, too long, missing when required) are
rejected per op with `invalid_payload` and a message naming the field, their seqs held."""
import json

import pytest
import requests

import fieldrules
from sync.gateway.ingest.models import PAYLOADS
from sync.gateway.testing import OpFactory, enrol_device
from sync_kit import READER, SUPERVISOR, collector_on_route, drain, server_ops
from terminal import payments, readings, shifts, voids


@pytest.fixture(scope="module")
def handheld(gw, tmp_path_factory):
    """A handheld's outbox after one of each capture, uploaded: {type: [payload, ...]} and
    the gateway's status of each op."""
    store, client, accounts = collector_on_route(tmp_path_factory.mktemp("models"), gw.url,
                                                 "models", "R002", 10000)
    m = accounts[0]["meter"]
    readings.capture_reading(store, account_no=accounts[0]["account_no"], operator_id=READER,
                             status="read", value=(m["prev_value"] or 0) + 5, consumption=5,
                             entries=[(m["prev_value"] or 0) + 5], estimate=False)
    readings.capture_reading(store, account_no=accounts[1]["account_no"], operator_id=READER,
                             status="skipped", skip_code="S05", estimate=False)
    payments.cash_payment(store, accounts[2]["account_no"], 1200, READER, advance=True)
    pay = payments.cash_payment(store, accounts[3]["account_no"], 700, READER, advance=True)
    voids.void_payment(store, pay.op_id, "收错户", READER, SUPERVISOR[0], SUPERVISOR[1])
    shifts.close_shift(store, READER, counted_fen=10000 + 1200)
    drain(client)
    made: dict[str, list[dict]] = {}
    for op_type, payload in store.conn.execute("SELECT type, payload FROM outbox ORDER BY seq"):
        made.setdefault(op_type, []).append(json.loads(payload))
    held = server_ops(gw.db, store.get_meta("device_id"))
    return made, [(r["type"], r["status"], r["code"]) for r in held]


def test_every_op_the_handheld_writes_passes_its_model_and_is_accepted(handheld):
    made, held = handheld
    assert set(made) == set(PAYLOADS)   # one of each type the gateway applies
    assert sorted(t for t, _s, _c in held) == sorted(t for t in made for _ in made[t])
    assert {(t, s) for t, s, _c in held} == {(t, "accepted") for t in made}, held
    for op_type, payloads in made.items():
        for payload in payloads:
            PAYLOADS[op_type].model_validate(payload)


def _wrong(op_type: str, good: dict):
    """(field, payload) with one field wrong, for every field the type's model checks,
    derived from the model's own schema."""
    schema = PAYLOADS[op_type].model_json_schema()
    captured = {f.key for f in fieldrules.CAPTURED.get(op_type, ())}
    for key, prop in schema["properties"].items():
        kinds = prop.get("anyOf", [prop])
        typed = [k for k in kinds if k.get("type") not in (None, "null")]
        if not typed:
            continue   # kept as sent, not checked
        kind = typed[0]
        if kind["type"] == "integer":
            bads = ["12", True, False, 12.0, [12], kind["minimum"] - 1, kind["maximum"] + 1]
        elif "enum" in kind:
            bads = [5, True, "", kind["enum"][0].upper() + "?"]
        else:
            bads = [5, True, [good.get(key) or "x"]]
            bads += [""] if kind.get("minLength") else []
            if key not in captured:   # too long for a captured text: fieldrules' too_long
                bads.append("x" * (kind["maxLength"] + 1))
        if len(typed) == len(kinds):   # not nullable
            bads.append(None)
        for bad in bads:
            yield key, dict(good, **{key: bad})
        if key in schema.get("required", ()):
            yield key, {k: v for k, v in good.items() if k != key}


@pytest.mark.parametrize("op_type", sorted(PAYLOADS))
def test_each_payload_field_wrong_is_rejected_naming_the_field(gw, handheld, op_type):
    made, _held = handheld
    good = made[op_type][0]
    cases = list(_wrong(op_type, good))
    if op_type == "reading":   # the model's own rule: a read carries a value
        read = next(p for p in made["reading"] if p["status"] == "read")
        cases.append(("value", dict(read, value=None)))
        cases.append(("value", {k: v for k, v in read.items() if k != "value"}))
    assert len(cases) >= 8
    dev = enrol_device(gw.url)
    f = OpFactory(dev)
    ops = [f.envelope(op_type, payload) for _key, payload in cases]
    r = requests.post(gw.url + "/v1/ops", json={"ops": ops},
                      headers={"Authorization": f"Bearer {dev['token']}"}, timeout=60)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert r.json()["missing_seqs"] == []   # every rejected op holds its seq
    for (key, payload), res in zip(cases, results):
        assert (res["status"], res["code"]) == ("rejected", "invalid_payload"), \
            (key, payload.get(key, "<missing>"), res)
        assert key in res["message"], (key, res["message"])
