"""SIGKILL of the client at each step of a sync, then a restart: every op exactly once.

The client runs as a child process (sync_child.py) on a real store file; the gateway is a
real process. Steps: after a capture commit; after a batch was sent (held by the proxy,
which delivers it after the client died); after the gateway committed but died before
answering (its own crash hook); after the answer, before the local acknowledgement commit.
"""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sync.faultproxy import FaultProxy
from sync.gateway.testing import GatewayProcess
from sync_kit import assert_exactly_once, capture_readings, device, local_accounts
from terminal import outbox, recovery
from terminal.store import Store
from tests.deadline import Deadline, seconds, wait_until

CHILD = Path(__file__).with_name("sync_child.py")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gwp(tmp_path_factory, engine):
    proc = GatewayProcess(tmp_path_factory.mktemp("gwkill") / "gateway.db", seed_demo=True)
    proc.start()
    yield proc
    proc.stop()


class Child:
    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, str(CHILD), *map(str, args)], cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_line(self, prefix: str, timeout: float = 30) -> str:
        deadline = Deadline(timeout, f"the child's {prefix!r} line")
        while not deadline.passed():
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"child ended before {prefix!r}: {self.proc.stderr.read()}")
            if line.startswith(prefix):
                return line.strip()
        deadline.check()

    def sigkill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL
        self.proc.stdout.close()
        self.proc.stderr.close()

    def finish(self, timeout: float = 60) -> str:
        out, err = self.proc.communicate(timeout=seconds(timeout))
        assert self.proc.returncode == 0, err
        return out


def prepared(tmp_path, url, name, n_ops=50):
    """An enrolled device with a route and `n_ops` captured reading ops; store closed."""
    store, client = device(tmp_path, url, name)
    client.download_route("R001")
    if n_ops:
        capture_readings(store, local_accounts(store, "R001")[:n_ops], "R001")
    path = store.path
    store.close()
    return path


def states(path) -> dict:
    """The outbox's states as a restarted sync worker sees them (after its recovery)."""
    store = Store(path)
    recovery.recover(store, cards=False)
    try:
        return dict(store.conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
    finally:
        store.close()


def check_exactly_once(gwp, path):
    store = Store(path)
    try:
        assert_exactly_once(gwp.db_path, store)
    finally:
        store.close()


def test_kill_after_capture_commit(gwp, tmp_path):
    path = prepared(tmp_path, gwp.base_url, "cap", n_ops=0)
    child = Child(path, gwp.base_url, "capture", 40, "R001")
    confirmed = [int(child.wait_line("CAPTURED").split()[1]) for _ in range(15)]
    child.sigkill()
    store = Store(path)                       # integrity check on open
    held = {r[0] for r in store.conn.execute("SELECT seq FROM outbox")}
    rows = {r[0] for r in store.conn.execute("SELECT seq FROM readings")}
    store.close()
    assert set(confirmed) <= held             # every confirmed capture survived…
    assert held == rows                       # …with its reading row: never one without the other
    assert "DRAINED 0" in Child(path, gwp.base_url, "upload").finish()
    check_exactly_once(gwp, path)


def test_kill_after_batch_sent(gwp, tmp_path):
    path = prepared(tmp_path, gwp.base_url, "sent")
    with FaultProxy(gwp.base_url, rates={"delay": 1.0}, delay_range=(0.8, 0.8),
                    paths=("/v1/ops",)) as proxy:
        child = Child(path, proxy.url, "upload")
        wait_until(lambda: proxy.stats["requests"] >= 1, 30, "the batch leaving the client")
        child.sigkill()
        wait_until(lambda: proxy.stats["forwarded"] >= 1, 30,
                   "the batch reaching the gateway after the client died")
    assert states(path) == {"pending": 50}        # restarted: in flight → pending
    assert "DRAINED 0" in Child(path, gwp.base_url, "upload").finish()
    check_exactly_once(gwp, path)
    assert states(path) == {"duplicate": 50}   # the gateway had them; not applied twice


def test_kill_after_server_commit_before_answer(gwp, tmp_path):
    path = prepared(tmp_path, gwp.base_url, "srv")
    gwp.restart(args=["--fault-after-commit", "1"])
    try:
        child = Child(path, gwp.base_url, "upload", "after_fail")
        child.wait_line("FAILED")
        assert gwp.wait_exit(10) == 75         # the gateway died right after its commit
        child.sigkill()
    finally:
        gwp.restart(args=[])
    assert "DRAINED 0" in Child(path, gwp.base_url, "upload").finish()
    check_exactly_once(gwp, path)
    assert states(path) == {"duplicate": 50}


def test_kill_after_answer_before_local_ack(gwp, tmp_path):
    path = prepared(tmp_path, gwp.base_url, "ack")
    child = Child(path, gwp.base_url, "upload", "after_answer")
    child.wait_line("ANSWERED")
    child.sigkill()
    store = Store(path)
    assert recovery.recover(store)["ops_released"] == 50   # restart: in flight → pending
    assert outbox.pending_counts(store) == {"reading": 50}
    store.close()
    assert "DRAINED 0" in Child(path, gwp.base_url, "upload").finish()
    check_exactly_once(gwp, path)
    assert states(path) == {"duplicate": 50}
