"""Regional agents (区域代管, docs/channels.md): agreements, collected vs remitted, blocks
that reach the handheld in the reference data, the office's lift, statements. Real gateway,
real sync client and terminal core on a real store."""
import json

import pytest

from terminal import agents
from terminal.ledger_errors import LedgerError
from terminal.ui.i18n import error_text
from tests.channels.channel_kit import sv_session
from tests.sync import sync_kit

URL = "/v1/supervisor/agents/A01"


@pytest.fixture(scope="module")
def collector(gateway, tmp_path_factory):
    store, client, _ = sync_kit.collector_on_route(tmp_path_factory.mktemp("hh"),
                                                   gateway.base_url, "agents", "R001")
    assert agents.members(store, "A01")
    return store, client


def _pay(store, amount):
    return agents.agent_payment(store, "A01", amount, sync_kit.READER)


def test_an_agent_past_its_limit_is_blocked_on_the_handheld_until_the_office_lifts_it(
        gateway, office, collector):
    store, client = collector
    base = gateway.base_url
    r = office.put(base + URL + "/agreement", timeout=30,
                   json={"deposit_fen": 1_000, "credit_limit_fen": 2_000, "remit_days": 7})
    assert r.status_code == 200 and r.json()["blocked"] is False
    _pay(store, 2_000)
    sync_kit.drain(client)
    client.refresh_reference()
    _pay(store, 1_500)                 # 2 000 outstanding ≤ 3 000: still allowed
    sync_kit.drain(client)
    answer = office.get(base + URL + "/agreement", timeout=30)
    assert answer.status_code == 200, answer.text
    position = answer.json()
    assert (position["collected_fen"], position["outstanding_fen"]) == (3_500, 3_500)
    assert position["blocked"] is True and position["block_reason"] == "over_limit"

    client.refresh_reference()
    with pytest.raises(LedgerError) as refused:
        _pay(store, 100)
    assert refused.value.code == "agent_blocked"
    zh = error_text(refused.value, "zh")        # the office's reason in Chinese within it
    reasons = [b["zh"] for b in json.loads(store.get_meta("blocked_agents")).values()]
    assert "阳光物业" in zh and "暂停" in zh and reasons and all(r and r in zh for r in reasons)
    assert "blocked" in refused.value.en and "lifts" in refused.value.en
    queued = office.get(base + "/v1/supervisor/exceptions", params={"kind": "agent"},
                        timeout=30).json()
    assert [e["op_id"] for e in queued] == ["agent:A01"]

    remitted = office.post(base + URL + "/remittances", timeout=30, json={
        "amount_fen": 3_000, "reference": "BANK-0001",
        "remitted_at": "2026-12-04T09:00:00+08:00"}).json()
    assert remitted["outstanding_fen"] == 500 and remitted["blocked"] is True   # until lifted
    lifted = office.post(base + URL + "/lift", json={"days": 3, "note": "remitted"},
                         timeout=30).json()
    assert lifted["blocked"] is False
    client.refresh_reference()
    _pay(store, 100)                   # allowed again
    assert not office.get(base + "/v1/supervisor/exceptions", params={"kind": "agent"},
                          timeout=30).json()


def test_an_agent_overdue_is_blocked_and_its_statement_adds_up(gateway, office, collector):
    store, client = collector
    base = gateway.base_url
    office.put(base + URL + "/agreement", timeout=30,
               json={"deposit_fen": 0, "credit_limit_fen": 10 ** 9, "remit_days": 7})
    sync_kit.drain(client)
    assert office.get(base + URL + "/agreement", timeout=30).json()["blocked"] is False
    gateway.advance_clock(10 * 86_400)            # past the 7 days and the 3-day lift
    client.refresh_reference()
    with pytest.raises(LedgerError) as refused:
        _pay(store, 100)
    assert refused.value.code == "agent_blocked" and "remittance period" in refused.value.en
    office = sv_session(base)                     # the office's token expired meanwhile
    position = office.get(base + URL + "/agreement", timeout=30).json()
    assert position["block_reason"] == "overdue"

    statement = office.get(base + URL + "/statement", timeout=30, params={
        "day_from": "2000-01-01", "day_to": "2100-01-01"}).json()
    assert statement["collected_fen"] == sum(c["amount_fen"] for c in statement["collections"])
    assert statement["collected_fen"] == position["collected_fen"] == 3_600
    assert statement["remitted_fen"] == 3_000
    assert statement["closing_fen"] == position["outstanding_fen"] == 600


@pytest.mark.parametrize("day_from, day_to, field", [
    ("0000-00-00", "2026-12-04", "day_from"),      # not a date
    ("2026-12-04", "2026-13-01", "day_to"),
    ("2026-12-04", "2026-12-03", "day_to"),        # the range ends before it starts
    ("9999-12-31", "0001-01-01", "day_to"),
    ("0001-01-01", "9999-12-31", None),            # the widest range is a statement
])
def test_a_statement_range_is_checked_and_named_on_refusal(gateway, day_from, day_to, field):
    office = sv_session(gateway.base_url)   # an earlier test moved the gateway's clock on
    answer = office.get(gateway.base_url + URL + "/statement", timeout=30,
                        params={"day_from": day_from, "day_to": day_to})
    if field is None:
        assert answer.status_code == 200, answer.text
        assert (answer.json()["from"], answer.json()["to"]) == (day_from, day_to)
        return
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_request" and field in answer.json()["message"]
