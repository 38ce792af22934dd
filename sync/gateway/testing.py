"""Test helpers: run the real gateway (`python -m sync.gateway`) as a subprocess on a free
loopback port, plus small HTTP helpers for enrolment, supervisor login and assignment.

    with run_gateway(tmp_path / "gw.db") as base_url:
        device = enrol_device(base_url)              # {"device_id", "token", "device_key"}
        token = supervisor_token(base_url)            # demo supervisor 9001 / 99999999
        assign_route(base_url, "R001", device["device_id"])

`OpFactory(device)` builds valid op envelopes (readings, payments with chained signed
receipts, voids, shift ops) and closeout summaries; `post_ops(base_url, token, ops)`.

`GatewayProcess` gives control for fault tests: `start()`, `stop()`, `kill()`,
`restart()`, `wait_exit(timeout)`, `base_url`, `port` (kept across restarts), `proc`,
`query(sql, **params)` (read the gateway's rows), `log()` (its output; tests/gateway/conftest.py
shows it under a failed test), `advance_clock(seconds)` (moves the
gateway's clock forward: a TTL expires without sleeping). Server-side fault: pass
`args=["--fault-after-commit", "N"]` or `env={"CHAOSHOU_GATEWAY_FAULT":
"crash_after_commit:N"}` (an inherited CHAOSHOU_GATEWAY_FAULT is ignored, so a restart with
`start(args=[], env={})` is clean); the process exits with status 75. Set CHAOSHOU_TEST_PG to a
PostgreSQL server URL to run every gateway started here on PostgreSQL instead
(`database_url`: one fresh database per SQLite path named, the same across restarts).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

from sync import protocol

REPO = Path(__file__).resolve().parents[2]
DEMO_ENROL_CODE = "DEMO-ENROL"
DEMO_PLATFORM_KEY = "demo-platform-key"
DEMO_SUPERVISOR = ("9001", "99999999")


class GatewayProcess:
    """One gateway subprocess on 127.0.0.1; the same port and database across restarts."""

    def __init__(self, db_path, seed_demo: bool = True, port: int | None = None,
                 args=(), env: dict | None = None, db_url: str | None = None,
                 migrate: bool = True):
        self.db_path = Path(db_path) if db_path is not None else None
        self.url = db_url or database_url(self.db_path)
        self.db_url = self.url
        self._engine = None
        self.seed_demo, self.args, self.env = seed_demo, list(args), env or {}
        self.migrate = migrate
        # no port given: the first start binds port 0 and reads back the one it got
        # (--port-file); restarts listen on that same port again, so URLs stay valid
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}" if port else None
        self.proc: subprocess.Popen | None = None
        self._log = None
        self._dir = Path(tempfile.mkdtemp(prefix="chaoshou-gw-"))   # port and clock files
        self.clock_file = self._dir / "clock_offset_s"

    def advance_clock(self, seconds: float) -> None:
        """Move the gateway's clock `seconds` forward (sync.gateway.context reads the offset
        on every reading of the time; restarts keep it)."""
        current = float(self.clock_file.read_text()) if self.clock_file.exists() else 0.0
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(repr(current + seconds), encoding="ascii")
        tmp.replace(self.clock_file)          # never a half-written offset

    def start(self, timeout: float = 30.0, args=None, env=None) -> str:
        """Start and wait for /v1/health; `args`/`env` replace the ones given before."""
        if args is not None:
            self.args = list(args)
        if env is not None:
            self.env = env
        port_file = self._dir / "port"
        port_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "sync.gateway", "--db-url", self.url, "--port",
               str(self.port or 0), "--port-file", str(port_file)] \
            + (["--migrate"] if self.migrate else []) \
            + (["--seed-demo"] if self.seed_demo else []) + self.args
        if not self.seed_demo and "--platform-key" not in self.args:   # required then
            cmd += ["--platform-key", DEMO_PLATFORM_KEY]
        full_env = dict(os.environ)
        full_env.pop("CHAOSHOU_GATEWAY_FAULT", None)
        full_env.update(self.env)
        full_env["CHAOSHOU_GATEWAY_CLOCK_FILE"] = str(self.clock_file)
        if self.db_path is not None:     # photos beside the test's database, on any engine
            full_env.setdefault("CHAOSHOU_GATEWAY_BLOB_DIR", str(self.db_path) + ".blobs")
        full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}: {self.log()}")
            if self.port is None:
                if not port_file.exists():
                    time.sleep(0.05)
                    continue
                self.port = int(port_file.read_text(encoding="ascii"))
                self.base_url = f"http://127.0.0.1:{self.port}"
            try:
                if requests.get(self.base_url + "/v1/health", timeout=1).ok:
                    return self.base_url
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"gateway did not come up in {timeout} s: {self.log()}")

    def query(self, sql: str, **params) -> list[tuple]:
        """Run SQL (`:name` parameters) against the gateway's database; returns rows."""
        from sqlalchemy import create_engine, text
        if self._engine is None:
            self._engine = create_engine(self.url)
        with self._engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []

    def stop_queries(self) -> None:
        """Close the connections `query` keeps (e.g. before the database restarts)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def log(self, tail: int | None = 4000, since: int = 0) -> str:
        """The process's output (stdout and stderr): its last `tail` characters, or all;
        `since`: only what came after that `log_mark()`."""
        if self._log is None:
            return ""
        # pread, not seek + read: the gateway's processes write through the same open file,
        # and moving its offset would have them write over the start of the log
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        since = since if since <= size else 0          # restarted since: a new log
        text = os.pread(fd, size - since, since).decode("utf-8", "replace")
        return text if tail is None else text[-tail:]

    def log_mark(self) -> int:
        """Where the output is now (give it to `log(since=...)`)."""
        return 0 if self._log is None else os.fstat(self._log.fileno()).st_size

    def wait_exit(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        self.stop_queries()
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


_pg_databases: dict[str, str] = {}


def database_url(db_path) -> str:
    """The SQLAlchemy URL of the gateway database named by `db_path`: that SQLite file, or,
    with CHAOSHOU_TEST_PG set (a server URL such as postgresql+psycopg://postgres@host:port),
    a fresh PostgreSQL database made for this path on first use and the same one after."""
    server = os.environ.get("CHAOSHOU_TEST_PG")
    path = str(Path(db_path).resolve())
    if not server:
        return "sqlite:///" + path
    key = server + "|" + path
    if key not in _pg_databases:
        _pg_databases[key] = fresh_pg_database(server)
    return _pg_databases[key]


def fresh_pg_database(server_url: str) -> str:
    """Create an empty database on a PostgreSQL server; returns its SQLAlchemy URL."""
    from sqlalchemy import create_engine, text
    name = "chaoshou_" + uuid.uuid4().hex[:12]
    engine = create_engine(server_url.rstrip("/") + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rstrip("/") + "/" + name


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


class OpFactory:
    """Builds protocol-correct op envelopes for one enrolled device (tests, benchmarks):
    contiguous seqs, payload hashes, receipts chained and signed with the device key."""

    def __init__(self, device: dict, operator_id: str = "1001", first_receipt: int = 100000,
                 cycle: str = "2026-11"):
        self.device, self.operator_id, self.cycle = device, operator_id, cycle
        self.seq = 0
        self.receipt_no = first_receipt
        self.prev_hash = protocol.GENESIS_HASH
        self.log: list[dict] = []  # every envelope made, in seq order

    def envelope(self, type_: str, payload: dict) -> dict:
        self.seq += 1
        op = {"op_id": str(uuid.uuid4()), "seq": self.seq, "type": type_,
              "device_time": "2026-11-27T10:00:00+08:00", "operator_id": self.operator_id,
              "payload": payload, "payload_sha256": protocol.sha256hex(payload)}
        self.log.append(op)
        return op

    def reading(self, account_no: str, value: int | None = 1234, status: str = "read",
                route_id: str | None = None, corrects: str | None = None, **extra) -> dict:
        payload = {"account_no": account_no, "meter_no": None, "route_id": route_id,
                   "cycle": self.cycle, "status": status, "value": value,
                   "consumption": None, "rollover": False, "kwh_e3": None,
                   "skip_code": None if status == "read" else "S01", "trouble_code": None,
                   "note": None, "warnings": [], "entries": [] if value is None else [value],
                   "reentry_ms": None, "gps": None, "bill_estimate_fen": None,
                   "corrects": corrects}
        payload.update(extra)
        return self.envelope("reading", payload)

    def receipt(self, amount_fen: int, content: dict) -> dict:
        self.receipt_no += 1
        receipt_no = str(self.receipt_no)
        content = dict(content, receipt_no=receipt_no)
        hash_ = protocol.receipt_hash(self.prev_hash, content)
        code = protocol.verify_code(self.device["device_key"], self.device["device_id"],
                                    receipt_no, amount_fen, hash_)
        out = {"receipt_no": receipt_no, "content": content, "prev_hash": self.prev_hash,
               "hash": hash_, "verify_code": code}
        self.prev_hash = hash_
        return out

    def payment(self, account_no: str | None, amount_fen: int, method: str = "cash",
                shift_id: str = "SH1", agent_id: str | None = None,
                allocations: list | None = None) -> dict:
        payload = {"account_no": account_no, "agent_id": agent_id, "method": method,
                   "amount_fen": amount_fen,
                   "tendered_fen": amount_fen if method == "cash" else None,
                   "change_fen": 0 if method == "cash" else None, "shift_id": shift_id,
                   "allocations": allocations or [],
                   "card": None if method == "cash" else {
                       "result_code": "00", "trace": "000123", "terminal_receipt_no": "0042",
                       "masked_pan": "622848******1234", "card_type": "UnionPay",
                       "terminal_id": "T0001"},
                   "receipt": self.receipt(amount_fen, {"kind": "collection",
                                                        "account_no": account_no,
                                                        "amount_fen": amount_fen})}
        return self.envelope("payment", payload)

    def void(self, payment_op: dict, reason: str = "wrong account", approved_by: str = "9001",
             shift_id: str = "SH1") -> dict:
        amount = payment_op["payload"]["amount_fen"]
        payload = {"payment_op_id": payment_op["op_id"],
                   "receipt_no": payment_op["payload"]["receipt"]["receipt_no"],
                   "amount_fen": amount, "reason": reason, "approved_by": approved_by,
                   "shift_id": shift_id,
                   "receipt": self.receipt(amount, {"kind": "void", "amount_fen": amount})}
        return self.envelope("void", payload)

    def shift_open(self, shift_id: str = "SH1", float_fen: int = 10000) -> dict:
        return self.envelope("shift_open", {"shift_id": shift_id, "float_fen": float_fen})

    def closeout_summary(self, shift_id: str, seq_from: int, seq_to: int) -> dict:
        """The §3 summary the device would compute over its ops seq_from..seq_to."""
        ops = [o for o in self.log if seq_from <= o["seq"] <= seq_to]
        counts: dict[str, int] = {}
        sums = {"cash": 0, "card": 0, "void": 0}
        for o in ops:
            counts[o["type"]] = counts.get(o["type"], 0) + 1
            if o["type"] == "payment":
                sums[o["payload"]["method"]] += o["payload"]["amount_fen"]
            elif o["type"] == "void":
                sums["void"] += o["payload"]["amount_fen"]
        return {"shift_id": shift_id, "device_id": self.device["device_id"],
                "seq_from": seq_from, "seq_to": seq_to, "counts": counts, "sums_fen": sums,
                "digest": protocol.closeout_digest(o["payload_sha256"] for o in ops)}


def post_ops(base_url: str, token: str, ops: list[dict], session=None) -> requests.Response:
    s = session or requests
    return s.post(base_url + "/v1/ops", json={"ops": ops},
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
