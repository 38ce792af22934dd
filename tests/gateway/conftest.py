"""Fixtures for the gateway tests: a real gateway subprocess on loopback (sync.gateway.testing)."""
import pytest
import requests

from sync.gateway.testing import GatewayProcess, OpFactory, enrol_device, supervisor_token


@pytest.fixture(scope="module", autouse=True)
def engine(db_engine):
    """Every test here runs on SQLite and on PostgreSQL (tests/engines.py)."""
    return db_engine


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, engine):
    """A seeded demo gateway shared by the tests of one module; yields the process."""
    gw = GatewayProcess(tmp_path_factory.mktemp("gw") / "gateway.db")
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def base_url(gateway):
    return gateway.base_url


@pytest.fixture(scope="module")
def sv_headers(base_url):
    return {"Authorization": f"Bearer {supervisor_token(base_url)}"}


@pytest.fixture
def device(base_url):
    """A freshly enrolled device with an OpFactory and a session carrying its token."""
    dev = enrol_device(base_url)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {dev['token']}"
    dev["session"] = session
    dev["ops"] = OpFactory(dev)
    return dev
