"""Fixtures shared by the device tests: a ZVT terminal simulator on a fresh pty."""
import pytest

from devices.sim.zvt import ZvtSimulator


@pytest.fixture
def sim():
    s = ZvtSimulator(ack_timeout=1.0, reply_timeout=2.0, quiet=0.8)
    s.serve_pty()
    yield s
    s.close()
