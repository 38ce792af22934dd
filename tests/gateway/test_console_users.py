"""Office users made from the command line can sign in to the console; unlock clears a
lockout (README "Office console")."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import requests

from sync.gateway.testing import REPO, GatewayProcess


def users(*args, password=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if password is not None:
        env["CHAOSHOU_OFFICE_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "sync.gateway.console.users", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def sign_in(base_url, username, password) -> int:
    s = requests.Session()
    page = s.get(base_url + "/console/login", timeout=10).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return s.post(base_url + "/console/login", data={"csrf": token, "username": username,
                                                     "password": password},
                  allow_redirects=False, timeout=10).status_code


def test_add_user_sign_in_lock_and_unlock(tmp_path):
    gw = GatewayProcess(tmp_path / "gw.db")
    gw.start()
    try:
        short = users("add", "--db-url", gw.url, "chen", "cashier", "--name", "陈出纳",
                      password="short")
        assert short.returncode == 1 and "10 characters" in short.stderr
        made = users("add", "--db-url", gw.url, "chen", "cashier", "--name", "陈出纳",
                     password="a long enough secret")
        assert made.returncode == 0, made.stderr
        assert sign_in(gw.base_url, "chen", "a long enough secret") == 303
        for _ in range(5):
            assert sign_in(gw.base_url, "chen", "wrong password") in (401, 423)
        assert sign_in(gw.base_url, "chen", "a long enough secret") == 423
        assert users("unlock", "--db-url", gw.url, "chen").returncode == 0
        assert sign_in(gw.base_url, "chen", "a long enough secret") == 303
        assert "chen\tcashier\t陈出纳" in users("list", "--db-url", gw.url).stdout
        assert gw.query("SELECT action FROM supervisor_audit WHERE operator_id = 'cli' "
                        "ORDER BY id") == [("add_user",), ("unlock_user",)]
    finally:
        gw.stop()
