"""Fixtures of the channel tests: a real gateway and the sandbox platform, real processes
on loopback (docs/channels.md)."""
import pytest

from tests.channels.channel_kit import SandboxProcess, sv_session
# the gateway tests' module gateway, on SQLite and on PostgreSQL (tests/engines.py)
from tests.gateway.conftest import engine, gateway  # noqa: F401 — both database engines


@pytest.fixture(scope="module")
def sandbox(gateway):
    sb = SandboxProcess(gateway.base_url).start()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def office(gateway):
    return sv_session(gateway.base_url)
