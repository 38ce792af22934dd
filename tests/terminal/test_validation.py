"""Reading validation rules (pure): normalising, rollover, negative, zero, tiered limits, codes, GPS."""
import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from terminal import validation as v
from terminal.ui.i18n import error_text

TODAY = dt.date(2026, 11, 27)
FULL = str.maketrans("0123456789", "０１２３４５６７８９")


def meter(**kw):
    base = dict(dials=5, decimals=0, multiplier=1, prev_value=1000, prev_date="2026-10-28",
                avg_daily_wh=5000)  # 30 days → 150 kWh expected
    base.update(kw)
    return v.MeterSpec(**base)


def codes(a):
    return [r.code for r in a.results]


# --- normalising --------------------------------------------------------------------------

@pytest.mark.parametrize("keyed, dials, decimals, value", [
    ("1234", 5, 0, 1234), ("01234", 5, 0, 1234), ("１２３４", 5, 0, 1234), (" 12 34 ", 5, 0, 1234),
    ("12\u300034", 5, 0, 1234), ("1234.5", 5, 1, 12345), ("12345", 5, 1, 12345), ("1234．5", 5, 1, 12345),
    ("1234。5", 5, 1, 12345), ("123.4", 5, 2, 12340), (".5", 3, 1, 5), ("99999", 5, 0, 99999),
])
def test_normalise_accepts(keyed, dials, decimals, value):
    assert v.normalise(keyed, dials, decimals) == (value, [])


@pytest.mark.parametrize("keyed, dials, decimals, code", [
    ("", 5, 0, "empty"), ("   ", 5, 0, "empty"), (None, 5, 0, "empty"), (".", 5, 1, "empty"),
    ("12a4", 5, 0, "not_digits"), ("-123", 5, 0, "not_digits"), ("١٢٣", 5, 0, "not_digits"),
    ("①②", 5, 0, "not_digits"), ("12,345", 5, 0, "not_digits"), ("1.2.3", 5, 2, "not_digits"),
    ("123456", 5, 0, "too_many_digits"), ("000001", 5, 0, "too_many_digits"),
    ("12345.6", 5, 1, "too_many_digits"), ("12.34", 5, 1, "too_many_decimals"),
    ("12.3", 5, 0, "no_decimals"),
])
def test_normalise_refuses_with_bilingual_message(keyed, dials, decimals, code):
    value, results = v.normalise(keyed, dials, decimals)
    assert value is None
    [r] = results
    assert (r.code, r.level, r.blocking) == (code, "error", True)
    assert r.message_en and error_text(r, "zh") != r.message_en     # Chinese from the catalog


def test_not_digit_message_names_the_character():
    _, [r] = v.normalise("12x4", 5)
    assert "x" in error_text(r, "zh") and "'x'" in r.message_en


@given(st.integers(1, 9), st.data())
def test_any_value_in_range_round_trips_ascii_and_full_width(dials, data):
    value = data.draw(st.integers(0, 10 ** dials - 1))
    pad = data.draw(st.integers(len(str(value)), dials))
    text = str(value).zfill(pad)
    assert v.normalise(text, dials) == (value, [])
    assert v.normalise(text.translate(FULL), dials) == (value, [])


@given(st.text(min_size=1, max_size=8))
def test_garbage_is_refused_or_digits(text):
    value, results = v.normalise(text, 8, 2)
    if value is None:
        assert results and results[0].blocking
    else:
        kept = [c for c in text.translate({ord(k): None for k in " \u3000\t.．。"})]
        assert all(c in "0123456789０１２３４５６７８９" for c in kept)


# --- consumption, rollover, negative, zero ------------------------------------------------

def test_rollover_consumption_across_the_wrap():
    a = v.check_reading("00120", meter(prev_value=99900, avg_daily_wh=7000), read_date=TODAY)
    assert a.rollover is True and a.consumption == 220 and a.kwh_e3 == 220_000
    assert "rollover" in codes(a) and a.need == "confirm"


@given(st.integers(1, 8), st.data())
def test_consumption_property(dials, data):
    top = 10 ** dials
    prev = data.draw(st.integers(0, top - 1))
    new = data.draw(st.integers(0, top - 1))
    cons, rollover = v.consumption(new, prev, dials)
    if rollover:
        assert 0 < cons < top and (prev + cons) % top == new
        assert prev * 10 >= top * 9 and new * 10 < top
    else:
        assert cons == new - prev


def test_negative_is_refused_without_trouble_code_and_reentered_with_one():
    a = v.check_reading("900", meter(), read_date=TODAY)
    assert codes(a) == ["negative"] and a.blocking and a.need is None
    b = v.check_reading("900", meter(), read_date=TODAY, trouble_code="T06")
    assert codes(b) == ["negative"] and not b.blocking and b.need == "reenter"
    assert b.consumption == -100 and b.kwh_e3 == -100_000


def test_zero_needs_a_code():
    a = v.check_reading("1000", meter(), read_date=TODAY)
    assert codes(a) == ["zero_needs_code"] and a.blocking
    assert v.check_reading("1000", meter(), read_date=TODAY, trouble_code="T02").need == "confirm"
    assert v.check_reading("1000", meter(), read_date=TODAY, skip_code="S05").need == "confirm"


def test_no_previous_reading_means_no_plausibility_check():
    a = v.check_reading("5", meter(prev_value=None), read_date=TODAY)
    assert a.value == 5 and a.consumption is None and a.results == () and a.need is None


# --- tiered limits ------------------------------------------------------------------------

@pytest.mark.parametrize("cons_kwh, code", [
    (150, None), (200, None), (215, "high_warning"), (299, "high_warning"), (301, "high_error"),
    (115, None), (110, "low_warning"), (82, "low_warning"), (59, "low_error"),
])
def test_band_100_to_999(cons_kwh, code):
    # expected 150 kWh: warn +40 % (210) / −25 % (112.5); error +100 % (300) / −60 % (60);
    # 45 % below (82) is a warning to confirm, not a blind re-entry
    a = v.check_reading(str(1000 + cons_kwh), meter(), read_date=TODAY)
    assert codes(a) == ([] if code is None else [code])
    assert a.kwh_e3 == cons_kwh * 1000


@pytest.mark.parametrize("cons_kwh, code", [
    (80, None), (86, "high_warning"), (151, "high_error"), (29, "low_warning"), (9, "low_error"),
])
def test_band_0_to_99(cons_kwh, code):
    # expected 50 kWh: warn +70 % (85) / −40 % (30); error +200 % (150) / −80 % (10)
    m = meter(avg_daily_wh=2000, prev_date="2026-11-02")  # 25 days × 2 kWh = 50 kWh
    a = v.check_reading(str(1000 + cons_kwh), m, read_date=TODAY)
    assert codes(a) == ([] if code is None else [code])


@pytest.mark.parametrize("cons_kwh, code", [
    (2000, None), (2650, "high_warning"), (3250, "high_error"), (1650, "low_warning"), (1150, "low_error"),
])
def test_band_1000_and_above(cons_kwh, code):
    # expected 2000 kWh: warn +30 % / −15 %; error +60 % / −40 %
    m = meter(dials=6, prev_value=1000, avg_daily_wh=100_000, prev_date="2026-11-07")  # 20 days
    a = v.check_reading(str(1000 + cons_kwh), m, read_date=TODAY)
    assert codes(a) == ([] if code is None else [code])


def test_small_deviation_is_never_flagged():
    m = meter(avg_daily_wh=100, prev_date="2026-10-28")  # expected 3 kWh
    assert codes(v.check_reading("1007", m, read_date=TODAY)) == []  # 7 kWh: +133 % but only 4 kWh off
    assert codes(v.check_reading("1009", m, read_date=TODAY)) == ["high_warning"]  # +200 %: not beyond
    assert codes(v.check_reading("1010", m, read_date=TODAY)) == ["high_error"]


@given(st.integers(1, 5_000_000), st.integers(1, 10_000_000))
def test_tier_levels_follow_the_table(kwh_e3, expected_e3):
    results = v.tier_check(kwh_e3, expected_e3)
    _, w_hi, w_lo, e_hi, e_lo = v.band_for(expected_e3)
    ratio = kwh_e3 / expected_e3
    if abs(kwh_e3 - expected_e3) < v.MIN_FLAG_DEVIATION_E3:
        assert results == []
        return
    assume(all(abs(ratio - (1 + b / 100)) > 1e-9 for b in (w_hi, -w_lo, e_hi, -e_lo)))
    level = results[0].code if results else None
    if ratio > 1 + e_hi / 100:
        assert level == "high_error"
    elif ratio < 1 - e_lo / 100:
        assert level == "low_error"
    elif ratio > 1 + w_hi / 100:
        assert level == "high_warning"
    elif ratio < 1 - w_lo / 100:
        assert level == "low_warning"
    else:
        assert level is None


@given(st.integers(0, 10_000), st.integers(1, 10_000), st.data())
def test_farther_from_expected_is_never_milder(expected_kwh, a_kwh, data):
    expected = max(1, expected_kwh) * 1000
    b_kwh = data.draw(st.integers(a_kwh, 30_000))
    rank = {None: 0, "high_warning": 1, "high_error": 2}
    if a_kwh * 1000 >= expected:
        ra = v.tier_check(a_kwh * 1000, expected)
        rb = v.tier_check(b_kwh * 1000, expected)
        assert rank[rb[0].code if rb else None] >= rank[ra[0].code if ra else None]


def test_server_limits_replace_tiered_limits():
    m = meter(limit_low=50, limit_high=300)
    assert codes(v.check_reading("1400", m, read_date=TODAY)) == ["above_limit"]
    assert codes(v.check_reading("1040", m, read_date=TODAY)) == ["below_limit"]
    assert codes(v.check_reading("1280", m, read_date=TODAY)) == []  # tiered would warn, server allows


def test_hidden_previous_keeps_numbers_out_of_messages():
    a = v.check_reading("1400", meter(), read_date=TODAY, hide_previous=True)
    shown = v.check_reading("1400", meter(), read_date=TODAY)
    assert "kWh" not in a.results[0].message and "400.0 kWh" in shown.results[0].message


@given(st.integers(-10 ** 7, 10 ** 7), st.integers(0, 3), st.sampled_from([1, 20, 40, 80]))
def test_kwh_e3_is_exact_for_up_to_three_decimals(units, decimals, multiplier):
    assert v.to_kwh_e3(units, decimals, multiplier) * 10 ** decimals == units * multiplier * 1000


def test_decimals_and_multiplier_in_kwh():
    m = meter(decimals=1, prev_value=10000, multiplier=40, avg_daily_wh=None)
    a = v.check_reading("1012.5", m, read_date=TODAY)
    assert a.value == 10125 and a.consumption == 125 and a.kwh_e3 == 500_000


def test_days_between():
    assert v.days_between("2026-10-27", TODAY) == 31
    assert v.days_between(None, TODAY) == v.DEFAULT_DAYS
    assert v.days_between("garbage", TODAY) == v.DEFAULT_DAYS
    assert v.days_between("2026-11-27", TODAY) == 1


# --- note, skip rules, GPS ----------------------------------------------------------------

def test_note_length_counts_characters():
    assert v.check_note("表" * 140) == []
    [r] = v.check_note("𠮷" * 141)
    assert r.code == "note_too_long" and "141" in r.message_en
    assert v.check_note("  ", required=True)[0].code == "note_required"
    assert v.check_note(12)[0].code == "note_invalid"


@pytest.mark.parametrize("rule, has_value, note, photo, expected", [
    ({"reading": "forbidden"}, True, None, None, ["reading_forbidden"]),
    ({"reading": "forbidden"}, False, None, None, []),
    ({"reading": "required"}, False, None, None, ["reading_required"]),
    ({"reading": "optional", "note_required": True}, False, "", None, ["note_required"]),
    ({"reading": "optional", "photo_required": True}, False, None, None, ["photo_required"]),
    ({"reading": "optional", "photo_required": True}, False, None, "img-1.jpg", []),
    (None, False, None, None, ["unknown_skip_code"]),
])
def test_skip_rules(rule, has_value, note, photo, expected):
    assert [r.code for r in v.check_skip(rule, has_value=has_value, note=note, photo=photo)] == expected


@pytest.mark.parametrize("gps, ok", [
    (None, True), ({"lat": 30.25, "lon": 120.16, "accuracy_m": 8}, True), ({"lat": 30.25, "lon": 120.16}, True),
    ({"lat": 91, "lon": 0}, False), ({"lat": 0, "lon": 181}, False), ({"lat": "x", "lon": 0}, False),
    ({"lon": 0}, False), ({"lat": float("nan"), "lon": 0}, False), ("30,120", False),
])
def test_gps(gps, ok):
    fix, problems = v.check_gps(gps)
    assert (problems == []) is ok
    if ok and gps:
        assert fix["lat"] == gps["lat"] and "accuracy_m" in fix
