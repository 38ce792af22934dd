"""Who may change what (README, Reliability): a real gateway never runs with a guessable platform
key — outside `--seed-demo` it refuses to start until one is given."""
import subprocess
import sys

import requests

from sync.gateway.testing import REPO, GatewayProcess


def test_refuses_to_start_without_a_platform_key_outside_the_demo(tmp_path):
    url = "sqlite:///" + str(tmp_path / "gw.db")
    run = subprocess.run([sys.executable, "-m", "sync.gateway", "--db-url", url, "--migrate",
                          "--port", "0"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "--platform-key" in run.stderr
    gw = GatewayProcess(tmp_path / "gw.db", seed_demo=False, args=["--platform-key", "s3cret"])
    gw.start()
    try:
        body = {"platform": "alipay", "txn_id": "T1", "account_no": "1", "amount_fen": 100,
                "paid_at": "2026-11-27T10:00:00+08:00"}
        demo = requests.post(gw.base_url + "/v1/thirdparty/payments", json=body,
                             headers={"X-Platform-Key": "demo-platform-key"}, timeout=10)
        assert demo.status_code == 403
        real = requests.post(gw.base_url + "/v1/thirdparty/payments", json=body,
                             headers={"X-Platform-Key": "s3cret"}, timeout=10)
        assert real.status_code == 200
    finally:
        gw.stop()


def test_a_kept_demo_database_takes_todays_demo_pins(tmp_path):
    """A demo gateway database seeded when the demo supervisor's PIN was 4 digits lets the
    supervisor sign in with today's documented 8-digit PIN after a restart (README)."""
    from sqlalchemy import create_engine, update

    from sync import protocol
    from sync.gateway import db
    from sync.gateway.testing import DEMO_SUPERVISOR, supervisor_token

    gw = GatewayProcess(tmp_path / "gw.db")
    gw.start()
    gw.stop()
    engine = create_engine(gw.db_url)
    with engine.begin() as conn:
        conn.execute(update(db.operators).where(db.operators.c.operator_id == "9001")
                     .values(pin_hash=protocol.hash_pin("9999", 1000)))
    engine.dispose()
    gw.start()
    try:
        assert supervisor_token(gw.base_url, *DEMO_SUPERVISOR)
    finally:
        gw.stop()
