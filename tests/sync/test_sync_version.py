"""The 426 path end to end (README, Reliability): the real sync client announces its version (read
from the package metadata) in `protocol.CLIENT_VERSION_HEADER`; a gateway that needs a newer
client answers 426 and the client reports that an update is required, keeping its data."""
import pytest

from sync import protocol
from sync.client import APP_VERSION, UpdateRequired
from sync.gateway.testing import GatewayProcess
from tests.sync.sync_kit import device


def test_client_below_the_minimum_version_is_told_to_update(tmp_path):
    assert APP_VERSION == protocol.client_version() != "0"
    major = int(APP_VERSION.split(".")[0])
    too_new = f"{major + 1}.0.0"
    gw = GatewayProcess(tmp_path / "gw.db", args=["--min-client-version", too_new])
    gw.start()
    try:
        with pytest.raises(UpdateRequired) as refused:
            device(tmp_path, gw.base_url, "old")
        assert refused.value.status == 426
    finally:
        gw.stop()
    gw = GatewayProcess(tmp_path / "gw2.db", args=["--min-client-version", APP_VERSION])
    gw.start()
    try:
        store, client = device(tmp_path, gw.base_url, "current")
        client.refresh_reference()
        assert store.conn.execute("SELECT COUNT(*) FROM operators").fetchone()[0] > 0
    finally:
        gw.stop()
