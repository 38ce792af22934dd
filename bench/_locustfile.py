"""Locust load of simulated handhelds against a gateway (bench/gateway_scale.py runs it
headless; by hand: `locust -f bench/_locustfile.py --headless -u 1000 -r 100 -t 60s
--host http://127.0.0.1:8700`, on a gateway seeded with `--seed-demo --bench-routes 1000
--bench-route-accounts 200`).

Each simulated handheld enrols and downloads ITS OWN route once (snapshot, pages): handheld
n gets route B000(n+1) of CHAOSHOU_LOAD_ROUTES bench routes, as a meter reader carries the
route they read, not one shared with hundreds of others. Then in a loop, with a think time
of CHAOSHOU_LOAD_THINK seconds ("lo,hi", default 5,15), it uploads a batch of
CHAOSHOU_LOAD_BATCH ops (default 30): about half readings of its route's meters in route
order (a meter read again once the whole route is read is sent as a correction of the
first reading, never a duplicate reading), half cash payments on its route's accounts, and
pulls its route's change feed (its own balance changes, plus whatever the office changed).

Why not the earlier load (every handheld on one of the three demo routes, readings on one
shared 20,000-account route): 333 handhelds paying onto the same few hundred accounts
serialised every batch on the same balance row locks, and each change-feed pull returned
the balance changes of 332 other devices (hundreds of kB per pull): no utility has 333
collectors on one route, so the figure measured contention the field does not have.

A 503/429 is the gateway shedding load: the handheld waits Retry-After (as the sync client
does) and sends the same batch again; those answers are reported under their own name
("… busy"), so the latency of the requests that were served stays readable. A request that
got no answer at all is a failure named after its transport error.

The handhelds speak HTTP through locust's FastHttpUser (geventhttpclient): the load
generator shares the machine's cores with the gateway and PostgreSQL, and the requests
-based HttpUser spends several times more CPU per request.
"""
from __future__ import annotations

import itertools
import os
import random

from locust import FastHttpUser, between, task

from sync.gateway.seed import bench_route_id
from sync.gateway.testing import DEMO_ENROL_CODE, OpFactory

BATCH = int(os.environ.get("CHAOSHOU_LOAD_BATCH", "30"))
THINK = tuple(float(x) for x in os.environ.get("CHAOSHOU_LOAD_THINK", "5,15").split(","))
ROUTES = int(os.environ.get("CHAOSHOU_LOAD_ROUTES", "1000"))
_numbers = itertools.count()


class Handheld(FastHttpUser):
    wait_time = between(*THINK)

    def on_start(self):
        self.n = next(_numbers)
        self.rng = random.Random(self.n)
        self.headers = {}
        dev = self.call("POST", "/v1/devices/enrol", "enrol", json={
            "code": DEMO_ENROL_CODE, "device_name": f"load-{self.n}"})
        self.headers = {"Authorization": f"Bearer {dev['token']}",
                        "X-Device-Id": dev["device_id"]}
        self.ops = OpFactory(dev, operator_id="3001")
        self.route = bench_route_id(self.n % ROUTES)
        snap = self.call("POST", f"/v1/routes/{self.route}/snapshots", "snapshot")
        self.accounts, after = [], None
        while True:
            params = {"limit": 1000, **({"after": after} if after else {})}
            page = self.call("GET", f"/v1/routes/{self.route}/snapshots/{snap['snapshot_id']}",
                             "snapshot page", params=params)
            self.accounts += [a["account_no"] for a in page["accounts"]]
            after = page["next"]
            if after is None:
                break
        self.since = snap["header"]["route"]["server_version"]
        self.read = 0                      # readings made, in route order
        self.first_reading: dict[str, str] = {}   # account → op_id of its reading

    def call(self, method: str, path: str, name: str, **kw):
        """One request; on 503/429 wait Retry-After and send it again."""
        while True:
            with self.client.request(method, path, name=name, catch_response=True,
                                     headers=self.headers, **kw) as resp:
                if resp.status_code in (429, 503):
                    resp.request_meta["name"] = name + " busy"
                    resp.success()
                    pause = float(resp.headers.get("Retry-After") or 1)
                elif resp.status_code == 200:
                    return resp.json()
                else:
                    resp.failure(f"HTTP {resp.status_code}" if resp.status_code
                                 else f"no answer: {type(resp.error).__name__}")
                    return None
            self._sleep(pause)

    def _sleep(self, seconds: float) -> None:
        import gevent
        gevent.sleep(seconds * (0.5 + self.rng.random()))

    def _reading(self) -> dict:
        account_no = self.accounts[self.read % len(self.accounts)]
        self.read += 1
        first = self.first_reading.get(account_no)
        op = self.ops.reading(account_no, self.rng.randrange(1000, 90000), route_id=self.route,
                              corrects=first)
        self.first_reading.setdefault(account_no, op["op_id"])
        return op

    def batch(self) -> list[dict]:
        return [self._reading() if self.rng.random() < 0.5 else
                self.ops.payment(self.rng.choice(self.accounts), self.rng.randrange(100, 20000))
                for _ in range(BATCH)]

    @task
    def upload_and_pull(self):
        doc = self.call("POST", "/v1/ops", "ops", json={"ops": self.batch()})
        if doc is not None:
            self.environment.events.request.fire(
                request_type="OPS", name="ops applied", response_time=0,
                response_length=len(doc["results"]), exception=None, context={})
        feed = self.call("GET", f"/v1/routes/{self.route}/changes", "changes",
                         params={"since": self.since})
        if feed is not None:
            self.since = feed["version"]
