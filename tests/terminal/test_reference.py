"""Reference data import: operators, codes, tariffs, agents and members, settings; all or nothing."""
import json

import pytest

from sync.gateway import demo_data as dd
from terminal import codes, operators, reference
from terminal.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "t.db")


@pytest.fixture
def ref():
    u = dd.demo_utility(accounts=60, routes=3, pin_iterations=1000)
    return {"operators": u["operators"], "codes": u["codes"], "tariffs": u["tariffs"],
            "agents": u["agents"], "settings": u["settings"]}


def test_import_reference(store, ref):
    counts = reference.import_reference(store, ref)
    assert counts["operators"] == 5 and counts["tariffs"] == 2
    assert operators.login(store, "9001", "99999999").has_role("supervisor")
    assert [c["code"] for c in codes.list_codes(store, "skip")] == [c["code"] for c in dd.SKIP_CODES]
    s03 = codes.get_code(store.conn, "skip", "S03")
    assert s03["reading"] == "optional" and s03["note_required"] is True and s03["zh"] == "表被遮挡"
    assert codes.get_code(store.conn, "trouble", "T03")["urgent"] is True
    assert store.get_meta("pay_url_template") == dd.SETTINGS["pay_url_template"]
    assert json.loads(store.get_meta("card_limits")) == dd.SETTINGS["card_limits"]
    members = store.conn.execute("SELECT COUNT(*) FROM agent_members WHERE agent_id='A01'").fetchone()[0]
    assert members == len(ref["agents"][0]["members"])
    assert store.conn.execute("SELECT event FROM audit_log").fetchone()[0] == "reference_imported"


def test_reimport_replaces_operators_and_members(store, ref):
    reference.import_reference(store, ref)
    ref["operators"] = ref["operators"][:1]
    ref["agents"][0]["members"] = ["3101000001"]
    reference.import_reference(store, ref)
    assert [o.operator_id for o in operators.list_operators(store)] == ["1001"]
    assert [r[0] for r in store.conn.execute("SELECT account_no FROM agent_members WHERE agent_id='A01'")] == ["3101000001"]


@pytest.mark.parametrize("breakage, message", [
    (lambda r: r["operators"][0].pop("name"), "operator"),
    (lambda r: r["operators"][1].update(roles="reader"), "roles"),
    (lambda r: r["operators"][1].update(pin_hash="1234"), "pin_hash"),
    (lambda r: r["tariffs"][0].pop("bands"), "tariff"),
    (lambda r: r["codes"]["skip"].append({"zh": "x"}), "code"),
    (lambda r: r.update(settings=[1]), "settings"),
])
def test_malformed_reference_changes_nothing(store, ref, breakage, message):
    reference.import_reference(store, ref)
    bad = json.loads(json.dumps(ref))
    bad["tariffs"][1]["name"] = "改过"
    breakage(bad)
    with pytest.raises(reference.ReferenceDataError, match=message):
        reference.import_reference(store, bad)
    assert store.conn.execute("SELECT name FROM tariffs WHERE tariff_id='COM-FLAT'").fetchone()[0] == "一般工商业"
    assert len(operators.list_operators(store)) == 5


@pytest.mark.parametrize("bad", [{"max_fen": 3_000_000, "max_total_fen": 2_000_000},
                                 {"min_fen": 600, "max_fen": 500},
                                 {"max_fen": "5000"}, {"max_count": -1}])
def test_inconsistent_card_limits_are_refused_and_change_nothing(store, ref, bad):
    """The handheld's card limits come from the office (docs/contracts.md §4); a per-payment
    limit above the total limit, a minimum above the maximum or a non-integer is refused."""
    reference.import_reference(store, ref)
    before = store.get_meta("card_limits")
    broken = json.loads(json.dumps(ref))
    broken["settings"]["card_limits"] = {**ref["settings"]["card_limits"], **bad}
    with pytest.raises(reference.ReferenceDataError, match="card_limits"):
        reference.import_reference(store, broken)
    assert store.get_meta("card_limits") == before
