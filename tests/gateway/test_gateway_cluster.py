"""Three gateway processes on one PostgreSQL, 30 devices spread over them round robin,
uploading readings and payments and pulling the change feed, while one gateway process is
SIGKILLed under load and restarted and PostgreSQL itself is restarted once (docs/deploy.md).

Afterwards: every op is held exactly once; every account's balance equals its opening
balance with the payments booked; every device's change feed skipped no version (what it
pulled equals the feed's rows, and its view of the balances equals a fresh snapshot); a
revocation and a lockout made through one process hold on all of them at once."""
import json
import random
import threading
import time

import pytest
import requests

from sync.gateway.testing import (DEMO_SUPERVISOR, GatewayProcess, OpFactory, enrol_device,
                                  supervisor_token)
from tests import deadline
from tests.engines import ENGINES

# several gateway processes share one database server: PostgreSQL only (SQLite is one file
# on one machine), so this module is made for that engine alone
pytestmark = pytest.mark.parametrize("db_engine", [e for e in ENGINES if e == "postgresql"],
                                     indirect=True)

DEVICES, ROUNDS, BATCH = 30, 8, 6


class Device:
    """One handheld: resends a batch until it has a result for every op (any gateway)."""

    def __init__(self, index: int, gateways: list, info: dict):
        self.index, self.gateways, self.info = index, gateways, info
        self.ops = OpFactory(info)
        self.route = f"R00{1 + index % 3}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {info['token']}"
        self.turn = index
        self.since = None
        self.versions: list[int] = []
        self.view: dict[str, dict] = {}
        self.sent: list[dict] = []

    def call(self, method: str, path: str, **kw) -> dict:
        limit = deadline.Deadline(120, f"device {self.index}: {method} {path}")
        while True:
            gw = self.gateways[self.turn % len(self.gateways)]
            self.turn += 1
            try:
                r = self.session.request(method, gw.base_url + path, timeout=30, **kw)
                if r.status_code < 300:
                    return r.json()
                assert r.status_code in (500, 502, 503), (r.status_code, r.text)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                pass   # that gateway is down, or died mid-answer: the next one (as sync.transport)
            limit.check()
            time.sleep(0.05)          # a retry pause, as a device's backoff

    def start(self, snapshot: list[dict], version: int) -> None:
        self.view = {a["account_no"]: a for a in snapshot}
        self.since = version

    def upload(self, accounts: list[str], rng: random.Random) -> None:
        batch = []
        for _ in range(BATCH):
            no = rng.choice(accounts)
            batch.append(self.ops.payment(no, rng.randint(1, 5000)) if rng.random() < 0.5
                         else self.ops.reading(no, value=rng.randint(1, 10 ** 5)))
        self.sent.extend(batch)
        while True:
            doc = self.call("POST", "/v1/ops", json={"ops": batch})
            statuses = {r["op_id"]: r["status"] for r in doc["results"]}
            batch = [op for op in batch if statuses.get(op["op_id"]) == "retry"]
            if not batch:
                return

    def pull(self) -> None:
        while True:
            doc = self.call("GET", f"/v1/routes/{self.route}/changes",
                            params={"since": self.since})
            for change in doc["changes"]:
                if change["kind"] == "balance":
                    self.view[change["account_no"]].update(
                        {k: change[k] for k in ("arrears_fen", "credit_fen")})
            self.versions.append(doc["version"])
            self.since = doc["version"]
            if not doc["has_more"]:
                return


def snapshot(dev: Device) -> tuple[list[dict], int]:
    snap = dev.call("POST", f"/v1/routes/{dev.route}/snapshots")
    accounts, after = [], None
    while True:
        page = dev.call("GET", f"/v1/routes/{dev.route}/snapshots/{snap['snapshot_id']}",
                        params={"limit": 1000, **({"after": after} if after else {})})
        accounts += page["accounts"]
        if page["next"] is None:
            return accounts, snap["header"]["route"]["server_version"]
        after = page["next"]


def test_three_processes_one_postgresql_kill_and_restart(tmp_path, engine, pg_server):
    first = GatewayProcess(tmp_path / "cluster.db", args=["--max-in-flight", "200"])
    first.start()
    gateways = [first] + [GatewayProcess(None, db_url=first.url, seed_demo=False,
                                         migrate=False, args=["--max-in-flight", "200"])
                          for _ in range(2)]
    try:
        for gw in gateways[1:]:
            gw.start()
        run_cluster(gateways, pg_server)
    finally:
        for gw in gateways:
            gw.stop()


def run_cluster(gateways, pg_server):
    devices = [Device(i, gateways, enrol_device(gateways[i % 3].base_url, name=f"hh{i}"))
               for i in range(DEVICES)]
    opening = {}
    for dev in devices:
        accounts, version = snapshot(dev)
        dev.start([dict(a) for a in accounts], version)
        opening.update({a["account_no"]: a for a in accounts})
    hot = {d.route: sorted(d.view)[:40] for d in devices[:3]}   # shared: contention
    progress, errors = [0], []
    restarted = threading.Event()

    def handheld(dev: Device):
        rng = random.Random(dev.index)
        try:
            for n in range(ROUNDS):
                if n == ROUNDS - 2 and dev.index % 2 == 0:   # traffic after the restart
                    restarted.wait(deadline.seconds(300))
                dev.upload(hot[dev.route], rng)
                dev.pull()
                progress[0] += 1
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=handheld, args=(d,)) for d in devices]
    for t in threads:
        t.start()

    def wait_progress(n):
        deadline.wait_until(lambda: progress[0] >= n or errors, 300, f"{n} device rounds")

    wait_progress(DEVICES)                 # traffic on every process: kill one mid-batch
    gateways[1].proc.kill()
    assert gateways[1].proc.wait(10) == -9
    wait_progress(DEVICES * 3)
    gateways[1].start()
    wait_progress(DEVICES * 5)
    started = gateways[0].query("SELECT pg_postmaster_start_time()")
    gateways[0].stop_queries()
    pg_server.restart()                    # every open connection is cut
    assert gateways[0].query("SELECT pg_postmaster_start_time()") != started
    restarted.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    for dev in devices:
        dev.pull()
    check_exactly_once(gateways[0], devices)
    check_balances(gateways[0], opening)
    check_feeds(gateways[0], devices)
    check_revocation_and_lockout(gateways, devices)


def check_exactly_once(gw, devices):
    held = {}
    for device_id, op_id, sha in gw.query("SELECT device_id, op_id, payload_sha256 "
                                          "FROM sync_ops"):
        assert (device_id, op_id) not in held
        held[(device_id, op_id)] = sha
    sent = {(d.info["device_id"], op["op_id"]): op["payload_sha256"]
            for d in devices for op in d.sent}
    assert held == sent
    payments = gw.query("SELECT op_id FROM payments")
    assert len(payments) == len({p[0] for p in payments}) == \
        sum(op["type"] == "payment" for d in devices for op in d.sent)


def check_balances(gw, opening):
    paid = dict(gw.query("SELECT account_no, SUM(amount_fen) FROM payments "
                         "WHERE NOT suspense GROUP BY account_no"))
    for no, doc in gw.query("SELECT account_no, doc FROM accounts"):
        old, new, amount = opening.get(no), json.loads(doc), paid.get(no, 0)
        if old is None:
            continue
        to_arrears = min(amount, old["arrears_fen"])
        assert (new["arrears_fen"], new["credit_fen"]) == \
            (old["arrears_fen"] - to_arrears, old["credit_fen"] + amount - to_arrears), no


def check_feeds(gw, devices):
    for dev in devices:
        fresh, version = snapshot(dev)
        assert dev.versions == sorted(dev.versions) and dev.since == version
        assert {a["account_no"]: (a["arrears_fen"], a["credit_fen"]) for a in fresh} == \
            {no: (a["arrears_fen"], a["credit_fen"]) for no, a in dev.view.items()}


def check_revocation_and_lockout(gateways, devices):
    victim = devices[0]
    sv = {"Authorization": f"Bearer {supervisor_token(gateways[0].base_url)}"}
    requests.post(f"{gateways[0].base_url}/v1/supervisor/devices/"
                  f"{victim.info['device_id']}/revoke", headers=sv, timeout=10) \
        .raise_for_status()
    for gw in gateways:
        assert requests.get(gw.base_url + "/v1/assignments", timeout=10,
                            headers=victim.session.headers).status_code == 403
    operator_id, pin = DEMO_SUPERVISOR
    for _ in range(5):
        assert requests.post(gateways[2].base_url + "/v1/supervisor/login", timeout=10,
                             json={"operator_id": operator_id, "pin": "0000"}) \
            .status_code == 401
    for gw in gateways:
        assert requests.post(gw.base_url + "/v1/supervisor/login", timeout=10,
                             json={"operator_id": operator_id, "pin": pin}).status_code == 429
