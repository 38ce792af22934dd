"""Fixtures of the core's tests: a real gateway process on loopback (shared per module)."""
import types

import pytest

from sync.gateway.testing import run_gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    path = tmp_path_factory.mktemp("gateway") / "gateway.db"
    with run_gateway(path, seed_demo=True) as url:
        yield types.SimpleNamespace(url=url, db=path)
