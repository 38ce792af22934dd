"""Money and meter-value text of the field screens (pure functions, no window needed)."""
from hypothesis import given, strategies as st

from terminal.ui.widgets.field_common import fmt_fen, fmt_reading


def test_fen_as_yuan_text():
    assert fmt_fen(0) == "0.00"
    assert fmt_fen(5) == "0.05"
    assert fmt_fen(123456) == "1,234.56"
    assert fmt_fen(-150) == "-1.50"
    assert fmt_fen(None) == "—"


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_fen_text_round_trips_exactly(fen):
    text = fmt_fen(fen).replace(",", "")
    sign = -1 if text.startswith("-") else 1
    whole, cents = text.lstrip("-").split(".")
    assert sign * (int(whole) * 100 + int(cents)) == fen


def test_meter_values_as_the_dial_shows_them():
    assert fmt_reading(71421, 1) == "7142.1"
    assert fmt_reading(5, 2) == "0.05"
    assert fmt_reading(1234, 0) == "1234"
    assert fmt_reading(None, 1) == "—"


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=3))
def test_meter_text_keeps_every_digit(value, decimals):
    text = fmt_reading(value, decimals)
    assert int(text.replace(".", "")) == value
    assert (len(text.split(".")[1]) if "." in text else 0) == decimals
