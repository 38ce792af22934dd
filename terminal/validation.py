"""Reading validation as pure functions (no database), in this order (units: contracts §0).

1. Normalise the keyed text: ASCII digits and full-width digits (０–９, from a Chinese IME)
   are digits; spaces are ignored; `.`, `．` or `。` is the decimal point. Anything else is
   refused with a bilingual message. The value is the integer of all dial digits
   (contracts §0): with 1 decimal, "1234.5" and "12345" both mean value 12345; "1234.5"
   on a meter without decimals, more decimal digits than the meter has, or more digits than
   dials are refused.
2. Consumption = new − previous, in meter units. If new < previous, previous is in the top
   10 % of the dial range and new in the bottom 10 %, the meter rolled over:
   consumption = new + 10^dials − previous (a warning to confirm). Otherwise the
   consumption is negative: refused, unless a trouble code is given (e.g. meter running
   backwards), then it is an error to confirm by blind re-entry.
3. Zero consumption needs a trouble or skip code (refused without one; a warning with one).
4. High/low: server limits (`limit_low`/`limit_high`, meter units) when the route has them;
   otherwise tiered limits around the expected consumption = avg_daily_wh × days since the
   previous reading (Wh, i.e. kWh × 1000). The band is chosen by the expected kWh:

   | expected kWh | warning high / low | error high / low |
   |--------------|--------------------|------------------|
   | 0 – 99       | +70 % / −40 %      | +200 % / −80 %   |
   | 100 – 999    | +40 % / −25 %      | +100 % / −60 %   |
   | ≥ 1,000      | +30 % / −15 %      | +60 % / −40 %    |

   As in SAP IS-U's plausibility checks (validation classes with a warning and an error
   tolerance per consumption band), a warning comes well before an error: the reader
   confirms a reading 25–60 % off, and only one far off (a likely mis-keyed digit) asks for
   a blind re-entry. The warning bounds narrow as use grows (big users' use is steadier);
   the error bounds stay at least 20 points beyond them. The 0–99 row is SAP's example
   (small users swing widely). A deviation of less than 5 kWh from the expected
   consumption is never flagged (small users). See docs/field-walkthrough.md.
   Errors win over warnings. No expectation (no previous reading, no average) → no check.

Levels: `ok`, `warning` (the reader confirms), `error` (the reader keys the same value again
without seeing the first; `blocking` errors cannot be accepted at all — fix the input).
kWh: kwh_e3 = consumption × multiplier × 1000 / 10^decimals, rounded half up (exact for
decimals ≤ 3).
"""
import dataclasses
import datetime as dt

import fieldrules
from terminal import location

NOTE_FIELD = fieldrules.field("reading", "note")
NOTE_MAX = NOTE_FIELD.max_chars
DEFAULT_DAYS = 30
ROLLOVER_FRACTION = 10  # top/bottom 1/10 of the dial range
MIN_FLAG_DEVIATION_E3 = 5_000  # 5 kWh

# (lower bound of expected kWh, warn_high %, warn_low %, error_high %, error_low %)
BANDS = (
    (1000, 30, 15, 60, 40),
    (100, 40, 25, 100, 60),
    (0, 70, 40, 200, 80),
)

_FULL_WIDTH = {chr(0xFF10 + i): str(i) for i in range(10)}
_POINTS = {".", "．", "。"}
_SPACES = {" ", "\u3000", "\t"}


@dataclasses.dataclass(frozen=True)
class Result:
    """A check's outcome. A moved message has no `message_zh`: its English `msgid` (with
    `params` filled into `message_en`) is translated by the UI through the chaoshou_core
    catalog (terminal.ui.i18n.error_text)."""
    level: str  # ok | warning | error
    code: str
    message_zh: str | None
    message_en: str
    blocking: bool = False
    msgid: str | None = None
    params: dict = dataclasses.field(default_factory=dict, compare=False, hash=False)

    @property
    def message(self) -> str:
        return f"{self.message_zh} {self.message_en}" if self.message_zh else self.message_en


def _result(level, code, zh, en, blocking, params) -> Result:
    return Result(level, code, zh, en.format(**params) if params else en, blocking,
                  None if zh else en, params)


def _err(code, zh, en, blocking=False, **params) -> Result:
    return _result("error", code, zh, en, blocking, params)


def _warn(code, zh, en, **params) -> Result:
    return _result("warning", code, zh, en, False, params)


@dataclasses.dataclass(frozen=True)
class MeterSpec:
    dials: int
    decimals: int = 0
    multiplier: int = 1
    prev_value: int | None = None
    prev_date: str | None = None
    avg_daily_wh: int | None = None
    limit_low: int | None = None
    limit_high: int | None = None

    @classmethod
    def from_row(cls, row) -> "MeterSpec":
        d = dict(row)
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if d.get(f.name) is not None})

    @property
    def top(self) -> int:
        """10^dials: the value after which the meter rolls over to 0."""
        return 10 ** self.dials


@dataclasses.dataclass(frozen=True)
class Assessment:
    value: int | None
    consumption: int | None
    rollover: bool
    kwh_e3: int | None
    results: tuple

    @property
    def blocking(self) -> bool:
        return any(r.blocking for r in self.results)

    @property
    def need(self) -> str | None:
        """'reenter' (an error), 'confirm' (a warning) or None (ok, or blocked)."""
        return need_for(self.results)

    @property
    def warnings(self) -> list[str]:
        return [r.code for r in self.results if r.level != "ok"]


def need_for(results) -> str | None:
    if any(r.blocking for r in results):
        return None
    if any(r.level == "error" for r in results):
        return "reenter"
    if any(r.level == "warning" for r in results):
        return "confirm"
    return None


# --- 1. normalising the keyed text -------------------------------------------------------

def normalise(keyed, dials: int, decimals: int = 0) -> tuple[int | None, list[Result]]:
    """The value of the keyed text, or None and a blocking error saying what is wrong."""
    if not isinstance(keyed, str):
        keyed = "" if keyed is None else str(keyed)
    text = []
    for ch in keyed:
        if ch in _SPACES:
            continue
        ch = _FULL_WIDTH.get(ch, ch)
        if ch in _POINTS:
            ch = "."
        elif not ("0" <= ch <= "9"):
            return None, [_err("not_digits", None,
                               "Digits only: '{ch}' is not a digit", True, ch=ch)]
        text.append(ch)
    s = "".join(text)
    if not s.replace(".", ""):
        return None, [_err("empty", None, "Enter the reading", True)]
    if s.count(".") > 1:
        return None, [_err("not_digits", None, "Only one decimal point", True)]
    if "." in s:
        whole, frac = s.split(".")
        if decimals == 0:
            return None, [_err("no_decimals", None,
                               "This meter has no decimal dials; key whole digits only", True)]
        if len(frac) > decimals:
            return None, [_err("too_many_decimals", None,
                               "At most {decimals} decimal digit(s) on this meter", True,
                               decimals=decimals)]
        if len(whole) > dials - decimals:
            return None, [_err("too_many_digits", None, "More whole digits than the meter's {whole}",
                               True, whole=dials - decimals)]
        digits = (whole or "0") + frac.ljust(decimals, "0")
    else:
        if len(s) > dials:
            return None, [_err("too_many_digits", None,
                               "More digits than the meter's {dials} dials", True, dials=dials)]
        digits = s
    return int(digits), []


# --- 2–4. consumption and plausibility --------------------------------------------------

def consumption(value: int, prev_value: int | None, dials: int) -> tuple[int | None, bool]:
    """(consumption in meter units, rollover); negative when it went backwards without a wrap."""
    if prev_value is None:
        return None, False
    if value >= prev_value:
        return value - prev_value, False
    top = 10 ** dials
    if prev_value * ROLLOVER_FRACTION >= top * (ROLLOVER_FRACTION - 1) and value * ROLLOVER_FRACTION < top:
        return value + top - prev_value, True
    return value - prev_value, False


def to_kwh_e3(units: int, decimals: int = 0, multiplier: int = 1) -> int:
    """Meter units → kWh × 1000, rounded half up (away from zero for negatives)."""
    num = abs(units) * multiplier * 1000
    den = 10 ** decimals
    q = (num + den // 2) // den
    return -q if units < 0 else q


def days_between(prev_date: str | None, read_date: dt.date) -> int:
    """Days since the previous reading (≥ 1); DEFAULT_DAYS when unknown or malformed."""
    if not prev_date:
        return DEFAULT_DAYS
    try:
        prev = dt.date.fromisoformat(prev_date[:10])
    except ValueError:
        return DEFAULT_DAYS
    return max(1, (read_date - prev).days)


def band_for(expected_e3: int) -> tuple:
    for band in BANDS:
        if expected_e3 >= band[0] * 1000:
            return band
    return BANDS[-1]


def tier_check(kwh_e3: int, expected_e3: int, *, reveal: bool = True) -> list[Result]:
    """Tiered high/low for a positive consumption against the expected one (both kWh × 1000)."""
    if expected_e3 <= 0 or kwh_e3 <= 0 or abs(kwh_e3 - expected_e3) < MIN_FLAG_DEVIATION_E3:
        return []
    _, w_hi, w_lo, e_hi, e_lo = band_for(expected_e3)
    pct = (kwh_e3 - expected_e3) * 100 // expected_e3 if kwh_e3 >= expected_e3 else \
        -((expected_e3 - kwh_e3) * 100 // expected_e3)
    kwh = f"{kwh_e3 // 1000}.{kwh_e3 % 1000 // 100}"  # one decimal, truncated, no float
    # revealed: the figures; else the same words without them (the Chinese is the catalog's)
    shown = " ({kwh} kWh, {pct:+d}%)" if reveal else ""
    values = {"kwh": kwh, "pct": pct} if reveal else {}
    if kwh_e3 * 100 > expected_e3 * (100 + e_hi):
        return [_err("high_error", None,
                     f"Consumption far above expected{shown}; key it again to confirm", **values)]
    if kwh_e3 * 100 < expected_e3 * (100 - e_lo):
        return [_err("low_error", None,
                     f"Consumption far below expected{shown}; key it again to confirm", **values)]
    if kwh_e3 * 100 > expected_e3 * (100 + w_hi):
        return [_warn("high_warning", None, f"Consumption above expected{shown}; please confirm",
                      **values)]
    if kwh_e3 * 100 < expected_e3 * (100 - w_lo):
        return [_warn("low_warning", None, f"Consumption below expected{shown}; please confirm",
                      **values)]
    return []


def check_reading(keyed, meter: MeterSpec, *, read_date: dt.date, trouble_code: str | None = None,
                  skip_code: str | None = None, hide_previous: bool = False) -> Assessment:
    """The whole stack for one keyed value; see the module docstring for the rules."""
    value, results = normalise(keyed, meter.dials, meter.decimals)
    if value is None:
        return Assessment(None, None, False, None, tuple(results))
    cons, rollover = consumption(value, meter.prev_value, meter.dials)
    results = []
    reveal = not hide_previous
    if cons is None:
        return Assessment(value, None, False, None, ())
    kwh_e3 = to_kwh_e3(cons, meter.decimals, meter.multiplier)
    if rollover:
        results.append(_warn("rollover", None,
                             "The meter rolled over past zero; please confirm the reading"))
    if cons < 0:
        if trouble_code:
            results.append(_err("negative", None,
                                "Reading below the previous one; key it again to confirm"))
        else:
            results.append(_err("negative", None,
                                "Reading below the previous one: check the dials, or choose a "
                                "trouble code (e.g. meter running backwards)", True))
        return Assessment(value, cons, False, kwh_e3, tuple(results))
    if cons == 0:
        if trouble_code or skip_code:
            results.append(_warn("zero", None, "Zero consumption; please confirm"))
        else:
            results.append(_err("zero_needs_code", None,
                                "Zero consumption: choose a trouble or skip code", True))
        return Assessment(value, cons, rollover, kwh_e3, tuple(results))
    if meter.limit_low is not None or meter.limit_high is not None:
        if meter.limit_high is not None and cons > meter.limit_high:
            results.append(_err("above_limit", None,
                                "Consumption above the office's upper limit; key it again to confirm"))
        elif meter.limit_low is not None and cons < meter.limit_low:
            results.append(_err("below_limit", None,
                                "Consumption below the office's lower limit; key it again to confirm"))
    elif meter.avg_daily_wh:
        expected_e3 = meter.avg_daily_wh * days_between(meter.prev_date, read_date)
        results.extend(tier_check(kwh_e3, expected_e3, reveal=reveal))
    return Assessment(value, cons, rollover, kwh_e3, tuple(results))


# --- codes, note, GPS ---------------------------------------------------------------------

def clean_note(note: str | None) -> str | None:
    """The note as it is kept: NFC, stripped, None when empty (docs/contracts.md §0)."""
    return fieldrules.normalise(note or "") or None


def check_note(note: str | None, required: bool = False) -> list[Result]:
    """The content rules every captured text follows (fieldrules, shared with the gateway)."""
    if note is not None and not isinstance(note, str):
        return [_err("note_invalid", None, "The note must be text", True)]
    text = clean_note(note) or ""
    if required and not text:
        return [_err("note_required", None, "This code needs a note", True)]
    problem = fieldrules.check(NOTE_FIELD, text)
    if problem:
        return [_err(f"note_{problem.code}", problem.message_zh, problem.message_en, True)]
    return []


def check_skip(rule: dict | None, *, has_value: bool, note: str | None, photo) -> list[Result]:
    """A skip code's rule: reading required | forbidden | optional, note/photo required."""
    if rule is None:
        return [_err("unknown_skip_code", None, "Unknown skip code", True)]
    out = []
    reading = rule.get("reading", "optional")
    if reading == "forbidden" and has_value:
        out.append(_err("reading_forbidden", None,
                        "This skip code does not allow a reading", True))
    if reading == "required" and not has_value:
        out.append(_err("reading_required", None, "This skip code needs a reading", True))
    out.extend(check_note(note, bool(rule.get("note_required"))))
    if rule.get("photo_required") and not photo:
        out.append(_err("photo_required", None, "This skip code needs a photo", True))
    return out


def check_gps(gps) -> tuple[dict | None, list[Result]]:
    """Normalise a GPS fix {lat, lon, accuracy_m[, age_s, state]} (None = no fix, which is
    allowed); the fix's age and state (terminal/location.py) are kept when given."""
    if gps is None:
        return None, []
    try:
        lat, lon = float(gps["lat"]), float(gps["lon"])
        acc = float(gps.get("accuracy_m") or 0.0)
        age = None if gps.get("age_s") is None else int(gps["age_s"])
    except (KeyError, TypeError, ValueError):
        return None, [_err("gps_invalid", None, "Invalid GPS position", True)]
    state = gps.get("state")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 <= acc < 1e6) \
            or (age is not None and age < 0) or state not in (None, *location.STATES):
        return None, [_err("gps_invalid", None, "GPS position out of range", True)]
    fix = {"lat": lat, "lon": lon, "accuracy_m": acc}
    if age is not None:
        fix["age_s"] = age
    if state is not None:
        fix["state"] = state
    return fix, []
