"""Property: whatever batches are sent, re-sent, split, reordered or answered into the void,
the gateway ends up holding every op exactly once and the device's outbox drains."""
import itertools
import random

from hypothesis import HealthCheck, given, settings, strategies as st

from sync.client import SyncClient
from sync_kit import DEMO_CODE, READER, assert_exactly_once, device, local_accounts, reading_payload
from terminal import outbox, receipts
from terminal.store import Store

N_OPS = 12
_counter = itertools.count()
_ACCOUNTS: list = []


def capture_mix(store, accounts, route_id):
    """Readings and two cash-payment ops with real receipts, one transaction each."""
    ops = []
    for i, a in enumerate(accounts):
        with store.transaction() as conn:
            if i % 5 == 4:
                op_id = outbox.new_op_id()
                receipt = receipts.issue(store, conn, kind="collection", op_id=op_id,
                                         amount_fen=500 + i, fields={"account_no": a["account_no"]})
                payload = {"account_no": a["account_no"], "agent_id": None, "method": "cash",
                           "amount_fen": 500 + i, "tendered_fen": 500 + i, "change_fen": 0,
                           "shift_id": "S-prop", "allocations": [], "card": None,
                           "receipt": receipt}
                ops.append(outbox.append(conn, "payment", payload, operator_id=READER,
                                         op_id=op_id))
            else:
                ops.append(outbox.append(conn, "reading", reading_payload(a, route_id),
                                         operator_id=READER))
    return ops


batch = st.tuples(st.integers(0, N_OPS - 1), st.integers(1, N_OPS),   # start, length
                  st.booleans(),                                      # reorder inside
                  st.booleans())                                      # answer lost


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(actions=st.lists(batch, min_size=1, max_size=8), seed=st.integers(0, 2 ** 16))
def test_any_replay_of_batches_is_exactly_once(gw, tmp_path_factory, actions, seed):
    base = tmp_path_factory.mktemp(f"replay{next(_counter)}")
    if not _ACCOUNTS:
        tmpl, tclient = device(base, gw.url, "template")
        tclient.download_route("R003")
        _ACCOUNTS.extend(local_accounts(tmpl, "R003"))
    accounts = _ACCOUNTS
    store = Store(base / "d.db")
    client = SyncClient(store)
    client.enrol(gw.url, DEMO_CODE, "replay")
    client.ensure_receipt_numbers()
    rng = random.Random(seed)
    ops = capture_mix(store, rng.sample(accounts, N_OPS), "R003")
    for start, length, reorder, lost in actions:
        chosen = ops[start:start + length]
        envelopes = [op.envelope() for op in chosen]
        if reorder:
            rng.shuffle(envelopes)
        _, doc = client._request("POST", "/v1/ops", body={"ops": envelopes}, compress=True)
        statuses = {r["op_id"]: r["status"] for r in doc["results"]}
        assert set(statuses.values()) <= {"accepted", "duplicate", "conflict", "retry"}, doc
        if not lost:
            client._commit_results(chosen, doc["results"])
    client.upload()                               # the real client finishes the job
    assert_exactly_once(gw.db, store)
    store.close()
