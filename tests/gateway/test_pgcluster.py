"""The throw-away PostgreSQL cluster of tests and benchmarks (sync/gateway/pgcluster.py)
never outlives the process that started it, even when that process is SIGKILLed (a test
run stopped by a timeout, an impatient developer): its watchdog stops the server and
removes the folder."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sync.gateway.pgcluster import PgUnavailable, bindir
from sync.gateway.testing import REPO
from tests.deadline import wait_until

OWNER = """
import sys
from sync.gateway.pgcluster import PgCluster
pg = PgCluster().start()
print(pg.dir, flush=True)
sys.stdin.read()   # hold the cluster until killed
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_cluster_is_stopped_and_removed_when_its_owner_is_killed():
    try:
        bindir()
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    owner = subprocess.Popen([sys.executable, "-c", OWNER], cwd=REPO, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        folder = Path(owner.stdout.readline().strip())
        assert folder.name.startswith("chaoshou-pg-"), folder
        postmaster = int((folder / "data" / "postmaster.pid").read_text().split()[0])
        assert _running(postmaster)
    finally:
        owner.kill()
        owner.wait(30)
    wait_until(lambda: not _running(postmaster) and not folder.exists(),
               what="the killed owner's PostgreSQL cluster to be stopped and removed")
