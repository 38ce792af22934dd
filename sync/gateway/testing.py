"""Test helpers: run the real gateway (`python -m sync.gateway`) as a subprocess on a free
loopback port, plus small HTTP helpers for enrolment, supervisor login and assignment.

    with run_gateway(tmp_path / "gw.db") as base_url:
        device = enrol_device(base_url)              # {"device_id", "token", "device_key"}
        token = supervisor_token(base_url)            # demo supervisor 9001 / 9999
        assign_route(base_url, "R001", device["device_id"])

`GatewayProcess` gives control for fault tests: `start()`, `stop()`, `kill()`,
`restart()`, `wait_exit(timeout)`, `base_url`, `port` (kept across restarts), `proc`.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
DEMO_ENROL_CODE = "DEMO-ENROL"
DEMO_PLATFORM_KEY = "demo-platform-key"
DEMO_SUPERVISOR = ("9001", "9999")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayProcess:
    """One gateway subprocess on 127.0.0.1; the same port and database across restarts."""

    def __init__(self, db_path, seed_demo: bool = True, port: int | None = None,
                 args=(), env: dict | None = None):
        self.db_path = Path(db_path)
        self.seed_demo, self.args, self.env = seed_demo, list(args), env or {}
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 30.0, args=None, env=None) -> str:
        """Start and wait for /v1/health; `args`/`env` replace the ones given before."""
        if args is not None:
            self.args = list(args)
        if env is not None:
            self.env = env
        cmd = [sys.executable, "-m", "sync.gateway", "--db", str(self.db_path),
               "--port", str(self.port)] + (["--seed-demo"] if self.seed_demo else []) \
            + self.args
        full_env = dict(os.environ)
        full_env.pop("CHAOSHOU_GATEWAY_FAULT", None)
        full_env.update(self.env)
        full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}: {self.log()}")
            try:
                if requests.get(self.base_url + "/v1/health", timeout=1).ok:
                    return self.base_url
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"gateway did not come up in {timeout} s: {self.log()}")

    def log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-4000:]

    def wait_exit(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, **kwargs) -> str:
        self.stop()
        return self.start(**kwargs)


@contextmanager
def run_gateway(db_path, seed_demo: bool = True, args=(), env: dict | None = None,
                port: int | None = None):
    """Context manager: a running gateway on a free loopback port; yields its base URL."""
    gw = GatewayProcess(db_path, seed_demo=seed_demo, port=port, args=args, env=env)
    gw.start()
    try:
        yield gw.base_url
    finally:
        gw.stop()


def enrol_device(base_url: str, code: str = DEMO_ENROL_CODE, name: str = "test device") -> dict:
    r = requests.post(base_url + "/v1/devices/enrol", json={"code": code, "device_name": name},
                      timeout=10)
    r.raise_for_status()
    return r.json()


def supervisor_token(base_url: str, operator_id: str = DEMO_SUPERVISOR[0],
                     pin: str = DEMO_SUPERVISOR[1]) -> str:
    r = requests.post(base_url + "/v1/supervisor/login",
                      json={"operator_id": operator_id, "pin": pin}, timeout=10)
    r.raise_for_status()
    return r.json()["token"]


def assign_route(base_url: str, route_id: str, device_id: str, operator_id: str = "1001",
                 reason: str = "test assignment", token: str | None = None) -> dict:
    token = token or supervisor_token(base_url)
    r = requests.post(f"{base_url}/v1/supervisor/routes/{route_id}/assign",
                      json={"operator_id": operator_id, "device_id": device_id,
                            "reason": reason},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    r.raise_for_status()
    return r.json()


def thirdparty_payment(base_url: str, account_no: str, amount_fen: int, txn_id: str,
                       platform: str = "alipay",
                       paid_at: str = "2026-11-27T10:00:00+08:00") -> dict:
    r = requests.post(base_url + "/v1/thirdparty/payments",
                      json={"platform": platform, "txn_id": txn_id, "account_no": account_no,
                            "amount_fen": amount_fen, "paid_at": paid_at},
                      headers={"X-Platform-Key": DEMO_PLATFORM_KEY}, timeout=10)
    r.raise_for_status()
    return r.json()
