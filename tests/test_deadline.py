"""The suite's one source of deadlines (tests/deadline.py): the factor scales every wait, a
wait returns the condition's value as soon as it holds, and gives up naming what it waited
for and how to give it more time."""
import time

import pytest

from tests import deadline


def test_factor_scales_every_deadline_and_small_figures_get_the_floor(monkeypatch):
    monkeypatch.delenv(deadline.ENV, raising=False)
    assert deadline.factor() == 1.0
    assert deadline.seconds(1) == deadline.MIN_WAIT
    assert deadline.seconds(120) == 120
    monkeypatch.setenv(deadline.ENV, "2.5")
    assert deadline.seconds(120) == 300
    assert deadline.seconds(1) == deadline.MIN_WAIT * 2.5


@pytest.mark.parametrize("bad", ["fast", "0", "-1"])
def test_a_bad_factor_is_refused_by_name(monkeypatch, bad):
    monkeypatch.setenv(deadline.ENV, bad)
    with pytest.raises(ValueError, match=deadline.ENV):
        deadline.factor()


def test_wait_until_returns_the_value_once_the_condition_holds():
    calls = []

    def third_time():
        calls.append(1)
        return len(calls) >= 3 and "ready"
    assert deadline.wait_until(third_time, 5, "three calls", poll=0.001) == "ready"
    assert len(calls) == 3


def test_wait_until_gives_up_naming_what_and_how_to_give_more_time(monkeypatch):
    monkeypatch.setenv(deadline.ENV, "0.001")          # 30 ms: the floor times the factor
    start = time.monotonic()
    with pytest.raises(deadline.WaitTimeout) as err:
        deadline.wait_until(lambda: None, 1, "the printer", detail=lambda: "still busy")
    assert time.monotonic() - start >= 0.03
    text = str(err.value)
    assert "the printer" in text and "still busy" in text and deadline.ENV in text
