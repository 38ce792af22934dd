"""The gateway's processes and configuration (docs/deploy.md, Processes): `--workers N` runs
N worker processes on one port, and every option comes from the command line, else the
environment (`CHAOSHOU_GATEWAY_<OPTION>`), else the TOML file (`--config` or
`CHAOSHOU_GATEWAY_CONFIG`), else its default; a bad configuration stops the gateway with
a message naming the option."""
import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from sync import protocol
from sync.gateway.testing import REPO, GatewayProcess
from tests import deadline

CONFIG = """\
workers = 1
log_level = "error"
platform_key = "file-key"
min_client_version = "2.0.0"
"""


def _ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.fixture(scope="module")
def configured(tmp_path_factory, engine):
    """`--workers 2` and `--log-level info` on the command line; the environment says 1
    worker, log level warning and its own platform key; the file says 1 worker, log level
    error, a platform key and a minimum client version."""
    folder = tmp_path_factory.mktemp("config")
    config = folder / "gateway.toml"
    config.write_text(CONFIG, encoding="utf-8")
    gw = GatewayProcess(folder / "gateway.db",
                        args=["--workers", "2", "--log-level", "info"],
                        env={"CHAOSHOU_GATEWAY_CONFIG": str(config),
                             "CHAOSHOU_GATEWAY_WORKERS": "1",
                             "CHAOSHOU_GATEWAY_LOG_LEVEL": "warning",
                             "CHAOSHOU_GATEWAY_PLATFORM_KEY": "env-key"})
    gw.start()
    yield gw
    gw.stop()


def _access_lines(gw) -> dict[str, dict]:
    out = {}
    for line in gw.log(tail=None).splitlines():
        if line.startswith("{"):
            doc = json.loads(line)
            if doc.get("logger") == "chaoshou.gateway.access":
                out[doc["request_id"]] = doc
    return out


def test_an_option_only_in_the_file_holds(configured):
    """min_client_version = "2.0.0" is set in the file alone: older clients get 426."""
    header = protocol.CLIENT_VERSION_HEADER
    old = requests.get(configured.base_url + "/v1/health", headers={header: "1.9.0"},
                       timeout=10)
    assert old.status_code == 426 and old.json()["error"] == "update_required"
    assert requests.get(configured.base_url + "/v1/health", headers={header: "2.0.0"},
                        timeout=10).status_code == 200


def test_the_environment_overrides_the_file(configured):
    """platform_key: the environment's key is the gateway's, the file's and the demo's are
    refused (CHAOSHOU_GATEWAY_PLATFORM_KEY, as for every other option)."""
    def notice(key, txn):
        return requests.post(configured.base_url + "/v1/thirdparty/payments",
                             json={"platform": "alipay", "txn_id": txn,
                                   "account_no": "3101000001", "amount_fen": 100,
                                   "paid_at": "2026-11-27T10:00:00+08:00"},
                             headers={"X-Platform-Key": key}, timeout=10)
    assert notice("file-key", "CFG-1").status_code == 403
    assert notice("demo-platform-key", "CFG-2").status_code == 403
    assert notice("env-key", "CFG-3").status_code == 200


def test_the_command_line_overrides_both_and_two_workers_serve(configured):
    """--log-level info beats the environment's warning and the file's error: the access
    log (info) is written. --workers 2 beats the 1 of both: the requests are answered by
    two distinct processes, each a child of the gateway's parent process."""
    parent = configured.proc.pid
    seen: dict[str, dict] = {}

    def ask(request_id):
        r = requests.get(configured.base_url + "/v1/health",
                         headers={"X-Request-Id": request_id}, timeout=10)
        assert r.status_code == 200
        return request_id

    def two_pids():
        # a burst of concurrent requests on fresh connections: both workers accept some
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(ask, [uuid.uuid4().hex[:16] for _ in range(16)]))
        lines = deadline.wait_until(
            lambda: (lambda got: got if all(i in got for i in ids) else None)(
                _access_lines(configured)),
            what="the access log lines of the burst")
        seen.update({i: lines[i] for i in ids})
        pids = {doc["pid"] for doc in seen.values()}
        return pids if len(pids) >= 2 else None

    pids = deadline.wait_until(two_pids, what="requests answered by two worker processes")
    assert len(pids) == 2 and parent not in pids
    assert all(_ppid(pid) == parent for pid in pids)
    assert all(doc["level"] == "INFO" and doc["path"] == "/v1/health"
               for doc in seen.values())


def _run(tmp_path, args, env=None):
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "sync.gateway", "--db",
                           str(tmp_path / "gw.db"), "--migrate", "--seed-demo", "--port", "0"]
                          + args, cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=full_env)


@pytest.mark.parametrize("text, named", [
    ('workers = 2\nmax_inflight = 8\n', "max_inflight"),
    ('workers = "two"\n', "workers"),
    ('workers = 2.5\n', "workers"),
    ('no_access_log = "perhaps"\n', "no_access_log"),
    ('workers = 0\n', "workers"),
])
def test_a_bad_config_file_stops_the_gateway_naming_the_option(tmp_path, text, named):
    """An unknown key or a value of the wrong type names the option and the file; a
    number out of range (no worker at all) names the option."""
    config = tmp_path / "gateway.toml"
    config.write_text(text, encoding="utf-8")
    run = _run(tmp_path, ["--config", str(config)])
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert named in last and "Traceback" not in run.stderr
    assert str(config) in last or "at least 1" in last
    assert not (tmp_path / "gw.db").exists()      # stopped before touching the database


def test_a_bad_environment_value_stops_the_gateway_naming_the_variable(tmp_path):
    run = _run(tmp_path, [], env={"CHAOSHOU_GATEWAY_WORKERS": "two"})
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "CHAOSHOU_GATEWAY_WORKERS" in run.stderr.strip().splitlines()[-1]
    run = _run(tmp_path, ["--workers", "two"])
    assert run.returncode != 0 and "--workers" in run.stderr
