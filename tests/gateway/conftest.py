"""Fixtures for the gateway tests: a real gateway subprocess on loopback (sync.gateway.testing).
A test that fails with the shared `gateway` running shows what the gateway logged meanwhile
(its errors with their tracebacks, then its last lines): a 500 seen once can be explained."""
import json

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


LOG_TAIL_LINES = 60
LOG_ERRORS = 3   # records above INFO shown in full (a fuzz run's shrinking repeats one)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    gw = item.funcargs.get("gateway")
    mark = gw.log_mark() if isinstance(gw, GatewayProcess) else None
    outcome = yield
    if mark is not None and outcome.excinfo is not None:
        item.add_report_section("call", "gateway log", gateway_log_report(gw.log(None, mark)))


def gateway_log_report(text: str) -> str:
    """The first records above INFO in full (a traceback as its lines), how many there were,
    then the last lines."""
    lines = text.splitlines()
    errors, shown = 0, []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict) or doc.get("level") in (None, "DEBUG", "INFO"):
            continue
        errors += 1
        if errors <= LOG_ERRORS:
            shown.append(json.dumps({k: v for k, v in doc.items() if k != "exc"},
                                    ensure_ascii=False))
            shown.extend(str(doc.get("exc", "")).splitlines())
    return (f"{errors} records above INFO, the first {min(errors, LOG_ERRORS)}:\n"
            + "\n".join(shown) + f"\n--- the last {LOG_TAIL_LINES} of {len(lines)} lines:\n"
            + "\n".join(lines[-LOG_TAIL_LINES:]))
