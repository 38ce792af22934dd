"""Run the sandbox platform as a process (the demo and the tests):

    sandbox = SandboxProcess(gateway_url, platform="alipay").start()   # key registered
    sandbox.pay("3101000001", 12_000)       # a customer pays; answers once notified
    sandbox.stop()
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from sync import platform_sign
from sync.sandbox_platform.notifier import Signer

REPO = Path(__file__).resolve().parents[2]
DEMO_SUPERVISOR = "9001:99999999"


def wait_until(cond, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.05)
    return value


class SandboxProcess:
    """`python -m sync.sandbox_platform` against `gateway_url`, its key registered."""

    def __init__(self, gateway_url: str, platform: str = "sandpay", scheme: str = "rsa",
                 supervisor: str = DEMO_SUPERVISOR, retry_base: float = 0.05,
                 trade_day: str | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="chaoshou-sandbox-"))
        self.supervisor, self.retry_base, self.trade_day = supervisor, retry_base, trade_day
        self.gateway_url, self.platform, self.scheme = gateway_url, platform, scheme
        self.key_file = self.dir / "key"
        self.proc = None
        self.base_url = None

    def start(self) -> "SandboxProcess":
        port_file = self.dir / "port"
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self._log = open(self.dir / "log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync.sandbox_platform", "--gateway", self.gateway_url,
             "--platform", self.platform, "--scheme", self.scheme, "--key-file",
             str(self.key_file), "--supervisor", self.supervisor, "--port-file", str(port_file),
             "--retry-base", str(self.retry_base)]
            + (["--trade-day", self.trade_day] if self.trade_day else []), cwd=REPO, env=env, stdout=self._log,
            stderr=subprocess.STDOUT)
        wait_until(lambda: port_file.exists() and port_file.read_text() or
                   self.proc.poll() is not None, what="sandbox platform port")
        assert self.proc.poll() is None, (self.dir / "log").read_text()
        self.base_url = f"http://127.0.0.1:{port_file.read_text()}"
        wait_until(lambda: self.proc.poll() is not None or _up(self.base_url + "/trades"),
                   what="sandbox platform answers")
        assert self.proc.poll() is None, (self.dir / "log").read_text()
        return self

    def signer(self) -> Signer:
        key = (platform_sign.load_private(self.key_file.read_text()) if self.scheme == "rsa"
               else self.key_file.read_text().strip())
        return Signer(self.gateway_url, self.platform, self.scheme, key)

    def pay(self, account_no: str, amount_fen: int, **extra) -> dict:
        r = requests.post(self.base_url + "/pay?wait=1", timeout=150,
                          json={"account_no": account_no, "amount_fen": amount_fen, **extra})
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


