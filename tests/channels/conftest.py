"""Fixtures of the channel tests: a real gateway and the sandbox platform, real processes
on loopback (docs/channels.md)."""
import pytest

from sync.gateway.testing import GatewayProcess
from tests.channels.channel_kit import SandboxProcess, sv_session


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gw = GatewayProcess(tmp_path_factory.mktemp("gw") / "gateway.db")
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def sandbox(gateway):
    sb = SandboxProcess(gateway.base_url).start()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def office(gateway):
    return sv_session(gateway.base_url)
