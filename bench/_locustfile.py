"""Locust load of simulated handhelds against a gateway (bench/gateway_scale.py runs it
headless; by hand: `locust -f bench/_locustfile.py --headless -u 1000 -r 100 -t 60s
--host http://127.0.0.1:8700`, on a gateway seeded with `--seed-demo
--bench-route-accounts 20000`).

Each simulated handheld enrols, downloads one demo route once (snapshot, pages), then in a
loop, with a think time of CHAOSHOU_LOAD_THINK seconds ("lo,hi", default 5,15): uploads a
batch of CHAOSHOU_LOAD_BATCH ops (default 30; half readings on bench route R900, half cash
payments on its own route's accounts), then pulls its route's change feed. A 503/429 is
the gateway shedding load: the handheld waits Retry-After (as the sync client does) and
sends the same batch again; those answers are reported under their own name ("… busy"),
so the latency of the requests that were served stays readable.
"""
from __future__ import annotations

import itertools
import os
import random

from locust import HttpUser, between, task

from sync.gateway.testing import DEMO_ENROL_CODE, OpFactory

BATCH = int(os.environ.get("CHAOSHOU_LOAD_BATCH", "30"))
THINK = tuple(float(x) for x in os.environ.get("CHAOSHOU_LOAD_THINK", "5,15").split(","))
BENCH_ACCOUNTS = int(os.environ.get("CHAOSHOU_LOAD_BENCH_ACCOUNTS", "20000"))
_numbers = itertools.count()


class Handheld(HttpUser):
    wait_time = between(*THINK)

    def on_start(self):
        self.n = next(_numbers)
        self.rng = random.Random(self.n)
        dev = self.call("POST", "/v1/devices/enrol", "enrol", json={
            "code": DEMO_ENROL_CODE, "device_name": f"load-{self.n}"})
        self.client.headers.update({"Authorization": f"Bearer {dev['token']}",
                                    "X-Device-Id": dev["device_id"]})
        self.ops = OpFactory(dev, operator_id="3001")
        self.route = f"R00{1 + self.n % 3}"
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
        self.next_reading = self.n * 97

    def call(self, method: str, path: str, name: str, **kw):
        """One request; on 503/429 wait Retry-After and send it again."""
        while True:
            with self.client.request(method, path, name=name, catch_response=True,
                                     **kw) as resp:
                if resp.status_code in (429, 503):
                    resp.request_meta["name"] = name + " busy"
                    resp.success()
                    pause = float(resp.headers.get("Retry-After") or 1)
                elif resp.status_code == 200:
                    return resp.json()
                else:
                    resp.failure(f"HTTP {resp.status_code}")
                    return None
            self._sleep(pause)

    def _sleep(self, seconds: float) -> None:
        import gevent
        gevent.sleep(seconds * (0.5 + self.rng.random()))

    def batch(self) -> list[dict]:
        ops = []
        for _ in range(BATCH):
            if self.rng.random() < 0.5:
                self.next_reading += 1
                no = f"3{self.next_reading % BENCH_ACCOUNTS + 1:09d}"
                ops.append(self.ops.reading(no, self.rng.randrange(1000, 90000)))
            else:
                ops.append(self.ops.payment(self.rng.choice(self.accounts),
                                            self.rng.randrange(100, 20000)))
        return ops

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
