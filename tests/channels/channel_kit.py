"""Channel test kit: the sandbox platform as a real process beside a real gateway
(sync/sandbox_platform/process.py) and the office's session (docs/channels.md)."""
from __future__ import annotations

import requests

from sync.gateway.testing import supervisor_token
from sync.sandbox_platform.process import SandboxProcess

__all__ = ["SandboxProcess", "sv_session"]


def sv_session(base_url: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {supervisor_token(base_url)}"
    s.headers["Connection"] = "close"   # no idle keep-alive the server may close mid-send
    return s
