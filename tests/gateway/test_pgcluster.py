"""The throw-away PostgreSQL cluster of tests and benchmarks (sync/gateway/pgcluster.py)
never outlives the process that started it, even when that process is SIGKILLed (a test
run stopped by a timeout, an impatient developer): its watchdog stops the server and
removes the folder. And it starts on a port nobody else holds, even when its first pick
was taken between the pick and the start."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sync.gateway.pgcluster import PgCluster, PgUnavailable, bindir
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


def _need_postgresql():
    try:
        bindir()
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


def test_cluster_is_stopped_and_removed_when_its_owner_is_killed():
    _need_postgresql()
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


def test_a_port_taken_between_the_pick_and_the_start_is_picked_again():
    _need_postgresql()
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    pg = PgCluster()
    first = pg.port
    assert first < low, "picked outside the range the kernel hands to port-0 sockets"
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", first))      # another program takes it meanwhile
    squatter.listen()
    try:
        pg.start()
        assert pg.port != first and str(pg.port) in pg.url
        url = pg.create_database()
        from sqlalchemy import create_engine, text
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()
        pg.restart()                          # a restart keeps the port the URLs name
        assert pg.port != first and str(pg.port) in url
    finally:
        squatter.close()
        pg.destroy()
