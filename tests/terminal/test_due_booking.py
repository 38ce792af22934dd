"""No double collection (README, Reliability; docs/ledger.md): a payment taken on this device counts against the bill
until the device holds an office balance that books it — never both, never neither — over
every interleaving of capture (cash, card, agent), upload, change-feed pull, void,
third-party payment notification and route re-download, against the real gateway process
on loopback (docs/ledger.md, "The due figure")."""
import dataclasses
import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ledger_fixtures import FakeTerminal
from sync.client import SyncClient
from sync.gateway.testing import thirdparty_payment
from terminal import agents, outbox, payments, receipts, shifts, tariffs, voids
from terminal.ledger_errors import LedgerError
from terminal.store import Store
from tests.deadline import seconds

COLLECTOR, SUPERVISOR, PIN = "2001", "9001", "99999999"
ROUTE = "R001"
# a day before every arrears due date of the demo utility: no late fee, so the office's
# balance and the payments move the due one fen for one fen (the late fee has its own test)
NO_FEE_DAY = dt.date(2000, 1, 1)
_txn = itertools.count()
_dev = itertools.count()


def new_device(gw, base):
    store = Store(base / f"dev{next(_dev)}.db")
    client = SyncClient(store)
    client.enrol(gw.url, "DEMO-ENROL", "due test")
    client.refresh_reference()
    client.download_route(ROUTE)
    assert receipts.numbers_left(store) > 0
    shifts.open_shift(store, COLLECTOR, 100_000)
    return store, client


def member_account(store) -> tuple[str, str]:
    """An agent member of the route with no reading yet (the due is the balance alone)."""
    row = store.conn.execute("SELECT account_no, agent_id FROM accounts WHERE route_id=? AND "
                             "agent_id IS NOT NULL ORDER BY seq LIMIT 1", (ROUTE,)).fetchone()
    assert row is not None
    return row[0], row[1]


def balance(store, account_no) -> int:
    """The office's net balance as this device holds it: arrears − credit."""
    row = store.conn.execute("SELECT arrears_fen, credit_fen FROM accounts WHERE account_no=?",
                             (account_no,)).fetchone()
    return row[0] - row[1]


@dataclasses.dataclass
class Taken:
    op_id: str
    amount: int
    method: str
    uploaded: bool = False
    voided: bool = False
    void_uploaded: bool = False


class Model:
    """What the office and the device know, kept without looking at the device's code."""

    def __init__(self, net: int):
        self.office = net          # the office's real balance (arrears − credit)
        self.seen = net            # the balance the device last received
        self.seen_booked: set = set()
        self.taken: list[Taken] = []

    def upload(self):
        for t in self.taken:
            if not t.uploaded:
                t.uploaded = True
                self.office -= t.amount
            if t.voided and not t.void_uploaded:
                t.void_uploaded = True
                self.office += t.amount

    def pull(self):
        self.seen = self.office
        self.seen_booked = ({("pay", t.op_id) for t in self.taken if t.uploaded}
                            | {("void", t.op_id) for t in self.taken if t.void_uploaded})

    def due(self) -> int:
        """Office balance as seen − every payment the office has not yet booked (as seen),
        + every void of a booked payment whose void it has not yet booked."""
        owed = self.seen
        for t in self.taken:
            booked = ("pay", t.op_id) in self.seen_booked
            void_booked = ("void", t.op_id) in self.seen_booked
            if not t.voided and not booked:
                owed -= t.amount
            if t.voided and booked and not void_booked:
                owed += t.amount
        return max(0, owed)


STEP = st.one_of(
    st.tuples(st.sampled_from(["cash", "card", "agent", "agent_card"]),
              st.sampled_from(["full", "half", "advance", "over"])),
    st.tuples(st.just("void"), st.integers(0, 5)),
    st.tuples(st.sampled_from(["upload", "pull", "redownload"]), st.just(None)),
    st.tuples(st.just("thirdparty"), st.integers(1, 20_000)),
)


def take(store, client, term, account_no, agent_id, method, kind, due):
    """Collect as a collector would; returns (op_id, amount) or None when refused."""
    amount = {"full": due, "half": due // 2, "advance": due + 1234, "over": due + 500}[kind]
    advance = kind == "advance"     # the collector confirmed an advance; "over" did not
    if amount <= 0 or "card" in method and amount < payments.card_limits(store)["min_fen"]:
        return None
    if method == "cash":
        r = payments.cash_payment(store, account_no, amount, COLLECTOR, today=NO_FEE_DAY,
                                  advance=advance)
    elif method == "card":
        r = payments.card_payment(store, term, account_no, amount, COLLECTOR,
                                  today=NO_FEE_DAY, advance=advance)
        assert r.state == "approved"
    else:   # an advance is allocated by hand; more than the members owe is refused
        allocations = [{"account_no": account_no, "amount_fen": amount}] if advance else None
        if method == "agent":
            r = agents.agent_payment(store, agent_id, amount, COLLECTOR, today=NO_FEE_DAY,
                                     allocations=allocations)
        else:
            r = agents.agent_card_payment(store, term, agent_id, amount, COLLECTOR,
                                          allocations=allocations, today=NO_FEE_DAY)
            assert r.state == "approved"
    if not method.startswith("agent"):
        assert r.due_after_fen == tariffs.bill_for(store, account_no,
                                                   today=NO_FEE_DAY).total_due_fen
    return r.op_id, amount


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=12))
def test_due_is_office_balance_less_what_the_office_has_not_booked(gw, tmp_path_factory, steps):
    store, client = new_device(gw, tmp_path_factory.mktemp("due"))
    try:
        account_no, agent_id = member_account(store)
        # other members of the agent must not take an automatic allocation
        others = [d for d in agents.dues(store, agent_id, NO_FEE_DAY)
                  if d["account_no"] != account_no and d["total_due_fen"] > 0]
        model = Model(balance(store, account_no))
        term = FakeTerminal()
        for step, arg in steps:
            due = tariffs.bill_for(store, account_no, today=NO_FEE_DAY).total_due_fen
            assert due == model.due(), (step, arg)
            if step in ("cash", "card", "agent", "agent_card"):
                if step.startswith("agent") and others and arg != "advance":
                    continue    # the oldest-first rule would spread it over other members
                if arg == "over":   # more than the due, no advance confirmed: refused
                    with pytest.raises(LedgerError) as err:
                        take(store, client, term, account_no, agent_id, step, arg, due)
                    assert err.value.code == ("amount_exceeds_due" if step.startswith("agent")
                                              else "over_due")
                    continue
                got = take(store, client, term, account_no, agent_id, step, arg, due)
                if got:
                    model.taken.append(Taken(got[0], got[1], step))
            elif step == "void":
                live = [t for t in model.taken if not t.voided]
                if live:
                    t = live[arg % len(live)]
                    voids.void_payment(store, t.op_id, "测试作废 test void", COLLECTOR, SUPERVISOR,
                                       supervisor_pin=PIN,
                                       terminal=term if "card" in t.method else None)
                    t.voided = True
            elif step == "upload":
                client.upload()
                assert outbox.pending_counts(store) == {} and not outbox.attention(store)
                model.upload()
            elif step == "pull":
                client.pull_changes(ROUTE)
                model.pull()
            elif step == "redownload":
                client.download_route(ROUTE, fresh=True)
                model.pull()
            else:
                thirdparty_payment(gw.url, account_no, arg, f"due-test-{next(_txn)}")
                model.office -= arg
        assert tariffs.bill_for(store, account_no, today=NO_FEE_DAY).total_due_fen == model.due()
        # once everything is uploaded and pulled, the device and the office agree exactly
        client.upload()
        client.pull_changes(ROUTE)
        model.upload()
        model.pull()
        bill = tariffs.bill_for(store, account_no, today=NO_FEE_DAY)
        assert bill.paid_here_fen == 0 and bill.total_due_fen == model.due()
        assert balance(store, account_no) == model.office
    finally:
        store.close()


def test_a_paid_bill_is_not_due_again_after_upload(gw, tmp_path):
    """The reproduction: cash for the whole bill → due 0 → upload accepted → the bill must
    not show the full amount again before the change feed is pulled (or after)."""
    store, client = new_device(gw, tmp_path)
    account_no = store.conn.execute("SELECT account_no FROM accounts WHERE route_id=? AND "
                                    "arrears_fen > 0 ORDER BY seq LIMIT 1", (ROUTE,)).fetchone()[0]
    due = tariffs.bill_for(store, account_no).total_due_fen
    assert due > 0
    payments.cash_payment(store, account_no, due, COLLECTOR)
    assert tariffs.bill_for(store, account_no).total_due_fen == 0
    client.upload()
    assert outbox.pending_counts(store) == {}
    assert tariffs.bill_for(store, account_no).total_due_fen == 0       # was: `due` again
    with pytest.raises(LedgerError) as err:      # collecting it again needs a confirmed advance
        payments.cash_payment(store, account_no, due, COLLECTOR)
    assert err.value.code == "over_due"
    client.pull_changes(ROUTE)
    assert tariffs.bill_for(store, account_no).total_due_fen == 0
    client.download_route(ROUTE, fresh=True)
    assert tariffs.bill_for(store, account_no).total_due_fen == 0
    store.close()


def test_partial_payment_due_does_not_move_when_the_office_books_it(gw, tmp_path):
    """One due figure (docs/ledger.md): after a partial payment the payment screen's 尚欠 and the account screen's
    应缴 are one figure, before and after the office books it (the late fee follows the
    arrears still open, by the office's own rule)."""
    store, client = new_device(gw, tmp_path)
    today = dt.date.today()
    row = None
    for (no,) in store.conn.execute("SELECT account_no FROM accounts WHERE route_id=? AND "
                                    "arrears_fen > 2000 ORDER BY seq", (ROUTE,)):
        if tariffs.bill_for(store, no, today=today).late_fee_fen > 0:
            row = no
            break
    assert row is not None, "the demo route has an account with a late fee"
    before = tariffs.bill_for(store, row, today=today)
    part = before.arrears_fen // 2
    r = payments.cash_payment(store, row, part, COLLECTOR, today=today)
    screen = tariffs.bill_for(store, row, today=today)
    assert r.due_after_fen == screen.total_due_fen < before.total_due_fen - part + 1
    receipt = receipts.get(store, r.receipt_no)["content"]
    assert receipt["due_after_fen"] == screen.total_due_fen
    client.upload()
    assert tariffs.bill_for(store, row, today=today).total_due_fen == screen.total_due_fen
    client.pull_changes(ROUTE)
    after = tariffs.bill_for(store, row, today=today)
    assert after.paid_here_fen == 0 and after.arrears_fen == before.arrears_fen - part
    assert after.total_due_fen == screen.total_due_fen
    store.close()


def test_an_office_edit_keeps_the_payments_its_balance_booked(gw, tmp_path):
    """The office re-states an account after booking a payment from this device: the device
    must not count that payment against the new balance again."""
    import requests
    from sync.gateway.testing import supervisor_token

    store, client = new_device(gw, tmp_path)
    account_no = store.conn.execute("SELECT account_no FROM accounts WHERE route_id=? AND "
                                    "arrears_fen > 3000 AND agent_id IS NULL ORDER BY seq DESC "
                                    "LIMIT 1", (ROUTE,)).fetchone()[0]
    r = payments.cash_payment(store, account_no, 1000, COLLECTOR, today=NO_FEE_DAY)
    client.upload()
    token = supervisor_token(gw.url)
    row = store.conn.execute("SELECT * FROM accounts WHERE account_no=?", (account_no,)).fetchone()
    meter = dict(store.conn.execute("SELECT * FROM meters WHERE account_no=?",
                                    (account_no,)).fetchone())
    office = {"account_no": account_no, "seq": row["seq"], "name": row["name"],
              "address": row["address"], "phone": row["phone"], "tariff_id": row["tariff_id"],
              "arrears_fen": row["arrears_fen"] - 1000 + 77, "credit_fen": 0,
              "arrears_due_date": row["arrears_due_date"], "agent_id": None, "hazard": None,
              "last_third_party": None, "booked": ["an-op-the-office-made-up"],
              "meter": {k: meter[k] for k in ("meter_no", "dials", "decimals", "multiplier",
                                              "prev_value", "prev_date", "avg_daily_wh",
                                              "limit_low", "limit_high")}}
    url, auth = f"{gw.url}/v1/supervisor/accounts/{account_no}", {
        "Authorization": f"Bearer {token}"}
    # `booked` is written by the gateway, never by the office (docs/contracts.md §account)
    refused = requests.put(url, json={"route_id": ROUTE, "account": office}, headers=auth,
                           timeout=seconds(10))
    assert refused.status_code == 422 and "booked" in refused.json()["message"], refused.text
    del office["booked"]
    put = requests.put(url, json={"route_id": ROUTE, "account": office}, headers=auth,
                       timeout=seconds(10))
    assert put.status_code == 200, put.text
    client.download_route(ROUTE, fresh=True)     # the office's new document, as a snapshot
    bill = tariffs.bill_for(store, account_no, today=NO_FEE_DAY)
    assert bill.arrears_fen == office["arrears_fen"] and bill.paid_here_fen == 0
    assert bill.total_due_fen == office["arrears_fen"]
    assert store.conn.execute("SELECT op_id FROM booked_ops").fetchall()[0][0] == r.op_id
    store.close()
