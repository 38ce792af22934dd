"""A signed-in office console session for tests that post the console's forms without a
browser (the browser tests drive the same forms in Chromium)."""
from __future__ import annotations

import re

import requests

from sync.gateway.seed import DEMO_OFFICE_USERS

USERS = {role: (username, password) for username, _n, role, password in DEMO_OFFICE_USERS}


class Office:
    """A signed-in console session (cookie + CSRF token), as a browser holds one."""

    def __init__(self, base_url: str, role: str = "cashier"):
        self.base_url, self.s = base_url, requests.Session()
        page = self.s.get(base_url + "/console/login", timeout=10).text
        username, password = USERS[role]
        r = self.s.post(base_url + "/console/login", allow_redirects=False, timeout=10, data={
            "csrf": _csrf(page), "username": username, "password": password})
        assert r.status_code == 303, r.text
        self.csrf = _csrf(self.s.get(base_url + "/console/exceptions", timeout=10).text)

    def resolve(self, exception_id: int, action: str, reason: str = "核对无误",
                target: str = "", lang: str = "zh"):
        return self.s.post(f"{self.base_url}/console/exceptions/{exception_id}/"
                           f"resolve?lang={lang}", allow_redirects=False, timeout=30,
                           data={"csrf": self.csrf, "action": action, "reason": reason,
                                 "target_account": target})

    def post(self, path: str, **data):
        return self.s.post(self.base_url + path, allow_redirects=False, timeout=30,
                           data={"csrf": self.csrf, **data})


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)
