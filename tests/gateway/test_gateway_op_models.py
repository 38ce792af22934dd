"""The ops upload's models (sync/gateway/ingest/models.py) are what a real gateway process
documents and checks: /openapi.json describes the batch, the envelope and every op type's
payload exactly as the models state them, a batch the device would send conforms to that
document, and an envelope with any one field wrong is answered 400 `invalid_envelope`
naming the op and the field (docs/contracts.md §2)."""
import json

import jsonschema_rs
import pytest

from sync.gateway.ingest.models import MAX_INT, PAYLOADS, OpEnvelope, ReadingPayload


def ops_body_schema(base_url, device) -> dict:
    spec = device["session"].get(base_url + "/openapi.json").json()
    return spec["paths"]["/v1/ops"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]


def as_served(node):
    """A model's JSON schema as FastAPI serves it: null values (`"default": null`) left out."""
    if isinstance(node, dict):
        return {k: as_served(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [as_served(v) for v in node]
    return node


def test_openapi_describes_each_op_type_payload_from_its_model(base_url, device):
    body = ops_body_schema(base_url, device)
    assert body["x-checked-per-op"] is True   # a bad payload is rejected per op, seq held
    item = body["properties"]["ops"]["items"]
    assert item["properties"] == as_served(OpEnvelope.model_json_schema()["properties"])
    served = {v["properties"]["type"]["const"]: v["properties"]["payload"]
              for v in item["oneOf"] if "const" in v["properties"]["type"]}
    assert set(served) == set(PAYLOADS)
    for op_type, model in PAYLOADS.items():
        assert served[op_type] == as_served(model.model_json_schema()), op_type
    value = served["reading"]["properties"]["value"]["anyOf"]
    assert value == as_served(ReadingPayload.model_json_schema())["properties"]["value"]["anyOf"]
    assert (value[0]["minimum"], value[0]["maximum"], value[1]) == (0, MAX_INT,
                                                                    {"type": "null"})
    others = [v for v in item["oneOf"] if "const" not in v["properties"]["type"]]
    assert others[0]["properties"]["type"] == {"not": {"enum": sorted(PAYLOADS)}}
    assert "#/$defs/" not in json.dumps(body)   # self-contained: no dangling references


def test_a_device_batch_conforms_to_the_served_schema(base_url, device):
    f = device["ops"]
    pay = f.payment("3101000005", 1500)
    ops = [f.reading("3101000005", 321), f.reading("3101000006", None, status="skipped"),
           pay, f.payment("3101000007", 900, method="card"), f.void(pay), f.shift_open(),
           f.envelope("shift_close", {"shift_id": "SH1", "counted_fen": 10000,
                                      "expected_fen": 10000, "variance_fen": 0, "z_no": 1,
                                      "summary": {}}),
           f.envelope("refund", {"anything": [1, 2]})]
    validator = jsonschema_rs.validator_for(ops_body_schema(base_url, device))
    assert validator.is_valid({"ops": ops}), [e.message for e in
                                              validator.iter_errors({"ops": ops})]
    read = ops[0]
    for bad in (dict(read, seq=True), dict(read, payload=dict(read["payload"], value=-1)),
                dict(read, payload=dict(read["payload"], value=None))):
        assert not validator.is_valid({"ops": [bad]})


def _bad_envelopes():
    """(field, bad value) for every envelope field, from the envelope model's own schema:
    the wrong type, a boolean or fraction for an integer, out of bounds, too long, missing."""
    schema = OpEnvelope.model_json_schema()
    for key, prop in schema["properties"].items():
        kind = next(k for k in prop.get("anyOf", [prop]) if k["type"] != "null")
        if kind["type"] == "integer":
            bads = ["7", True, 7.0, kind["minimum"] - 1, kind["maximum"] + 1]
        elif kind["type"] == "string":
            bads = [7, False, ["x"], "x" * (kind["maxLength"] + 1)]
            bads += [""] if kind.get("minLength") else []
        else:
            bads = ["{}", [], 7]
        if not any(k["type"] == "null" for k in prop.get("anyOf", [prop])):
            bads.append(None)
        for bad in bads:
            yield key, bad
        if key in schema["required"]:
            yield key, KeyError


@pytest.mark.parametrize("key,bad", list(_bad_envelopes()))
def test_each_envelope_field_wrong_is_400_naming_the_op_and_field(base_url, device, key, bad):
    f = device["ops"]
    good, op = f.reading("3101000008", 5), f.reading("3101000009", 5)
    if bad is KeyError:
        del op[key]
    else:
        op[key] = bad
    r = device["session"].post(base_url + "/v1/ops", json={"ops": [good, op]})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_envelope"
    assert r.json()["message"].startswith(f"ops[1]: {key} "), r.json()["message"]


def test_a_non_object_op_and_a_batch_too_large_keep_their_answers(base_url, device):
    r = device["session"].post(base_url + "/v1/ops", json={"ops": [5]})
    assert (r.status_code, r.json()) == (400, {"error": "invalid_envelope",
                                               "message": "ops[0]: must be an object"})
    too_many = [5] * 2001   # the default max_ops_per_batch is 2000
    r = device["session"].post(base_url + "/v1/ops", json={"ops": too_many})
    assert r.status_code == 413 and r.json()["error"] == "batch_too_large"
