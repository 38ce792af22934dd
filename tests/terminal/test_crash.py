"""Crash test: a child process captures readings and payments and is killed with SIGKILL at
random moments (≥ 50 times) — readings, cash and card payments, voids. After every kill the store opens, passes its integrity check,
holds every capture the child reported as committed (row + outbox op), its outbox seq is
contiguous from 1, the receipt chain verifies and the receipt numbers are unbroken."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ledger_fixtures import make_store, outbox_seqs
from terminal import receipts, shifts
from terminal.store import Store

HERE = Path(__file__).parent
REPO = HERE.parents[1]
KILLS = 50


def check(path, reported):
    store = Store(path)   # runs PRAGMA integrity_check and raises StoreCorrupt if not ok
    try:
        conn = store.conn
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        held = {r[0]: r[1] for r in conn.execute("SELECT op_id, type FROM outbox")}
        for kind, op_id in reported:
            expected_type = {"reading": "reading", "void": "void"}.get(kind, "payment")
            assert held.get(op_id) == expected_type, (kind, op_id)
            if kind == "reading":
                assert conn.execute("SELECT 1 FROM readings WHERE op_id=?", (op_id,)).fetchone()
            elif kind == "void":
                payment = conn.execute("SELECT p.state FROM voids v JOIN payments p ON "
                                       "p.op_id=v.payment_op_id WHERE v.op_id=?", (op_id,)).fetchone()
                assert payment["state"] == "voided"
            else:
                row = conn.execute("SELECT state, receipt_no FROM payments WHERE op_id=?",
                                   (op_id,)).fetchone()
                assert row["state"] in ("done", "approved", "voided") and row["receipt_no"] is not None
        seqs = outbox_seqs(store)
        assert seqs == list(range(1, len(seqs) + 1))
        assert receipts.verify_store(store) == []
        # every booked payment has its receipt and op; nothing half-written
        assert conn.execute("SELECT COUNT(*) FROM payments WHERE state IN ('done','approved') "
                            "AND (receipt_no IS NULL OR op_id NOT IN (SELECT op_id FROM outbox))"
                            ).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM readings WHERE seq NOT IN "
                            "(SELECT seq FROM outbox)").fetchone()[0] == 0
        return len(seqs)
    finally:
        store.close()


def test_sigkill_at_random_moments_loses_nothing(tmp_path):
    path = tmp_path / "crash.db"
    store = make_store(path, block=(100000, 199999))
    shifts.open_shift(store, "2001", 10000)
    # nothing is synced in this test: lift the offline card limits out of the way
    store.set_meta("card_limits", json.dumps({"max_count": 10**6, "max_total_fen": 10**12}))
    store.close()
    rng = random.Random(20261127)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
    reported: list[tuple[str, str]] = []
    kinds: set[str] = set()
    for i in range(KILLS):
        child = subprocess.Popen([sys.executable, str(HERE / "crash_child.py"), str(path), str(i)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)
        # wait until it runs (imports take most of a child's life), then a short random delay
        first = child.stdout.readline()
        assert first == b"ready\n", child.stderr.read().decode()
        time.sleep(rng.uniform(0.0, 0.25))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate()
        assert child.returncode == -signal.SIGKILL, err.decode()
        for line in out.decode().splitlines(keepends=True):
            if line.endswith("\n"):    # a line cut by the kill was never confirmed
                kind, op_id = line.split()
                reported.append((kind, op_id))
                kinds.add(kind)
        check(path, reported)
    assert len(reported) > KILLS and kinds == {"reading", "cash", "card", "void"}
    # the shift still closes and its closeout covers every op
    store = Store(path)
    z = shifts.close_shift(store, "2001", counted_fen=0)
    summary = z["report"]["summary"]
    assert summary["seq_from"] == 1 and summary["seq_to"] == len(outbox_seqs(store)) - 1
    assert json.loads(store.conn.execute("SELECT payload FROM outbox ORDER BY seq DESC LIMIT 1")
                      .fetchone()[0])["z_no"] == 1
