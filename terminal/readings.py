"""Reading capture: the interactive entry flow for the UI and the one-transaction write.

`ReadingEntry` is the reading screen's state: `submit(keyed)` validates (terminal.validation)
and either saves, refuses (bad digits, or a value a rule forbids: fix and key again), or asks the reader to confirm a warning (`need='confirm'`), or to key the
same value again blind after an error (`need='reenter'`; the UI must clear the field). A
re-entry that differs starts over. Every keyed value is kept in `entries` and the time
between the first entry and its matching re-entry in `reentry_ms`.

`capture_reading` writes the reading row and its outbox op (type `reading`, payload per
contracts §2) in ONE transaction. A second current reading of the same meter in the same
cycle is refused (`AlreadyRead`) unless it corrects the current one: a correction is a new
record with `corrects` = the original op_id, and the original gets `superseded_by`;
nothing captured is edited otherwise.

A photo reference (for codes that need one) is recorded in the audit log with the op_id;
the op payload stays exactly as contracts §2 lists it.
"""
import dataclasses
import datetime as dt
import json
import time

from terminal import codes as _codes
from terminal import outbox, photos
from terminal import validation as v
from terminal.store import Store, audit


class ReadingError(ValueError):
    """A reading cannot be saved; `results` say why (bilingual)."""

    def __init__(self, results, code: str | None = None):
        self.results = list(results)
        self.code = code or (self.results[0].code if self.results else "invalid")
        super().__init__("; ".join(r.message for r in self.results) or self.code)


class MeterChanged(ReadingError):
    """The office changed the meter (or its dials, previous reading, limits) while the reading
    was being keyed: nothing is saved; the reader keys the reading again on the new meter."""

    def __init__(self):
        super().__init__([v._err("meter_changed", None,
                                 "This meter was changed by the office — key the reading again", True)])


class AlreadyRead(ReadingError):
    def __init__(self, existing_op_id: str):
        self.existing_op_id = existing_op_id
        super().__init__([v._err("already_read", None, "This meter already has a reading this "
                                 "cycle; use correct instead", True)])


@dataclasses.dataclass
class Outcome:
    need: str | None  # 'confirm' | 'reenter' | None
    results: list
    saved_op_id: str | None = None

    @property
    def saved(self) -> bool:
        return self.saved_op_id is not None

    @property
    def rejected(self) -> bool:
        """Nothing saved and nothing to confirm: show `results` and let the reader fix the input."""
        return self.saved_op_id is None and self.need is None


def _bill_estimate(store: Store, account_no: str, kwh_e3: int | None) -> int | None:
    if kwh_e3 is None or kwh_e3 < 0:
        return None
    try:
        from terminal.tariffs import bill_estimate
    except ImportError:
        return None
    try:
        return bill_estimate(store, account_no, kwh_e3)
    except (ValueError, LookupError):  # LedgerError (unknown tariff, …) must never block a capture
        return None


def current_reading(conn, meter_no: str, cycle: str | None) -> dict | None:
    row = conn.execute("SELECT * FROM readings WHERE meter_no=? AND cycle IS ? AND superseded_by IS NULL",
                       (meter_no, cycle)).fetchone()
    return None if row is None else dict(row)


def _meter_now(conn, account_no: str) -> tuple | None:
    """(meter_no, MeterSpec) of the account's meter as the store holds it now."""
    row = conn.execute("SELECT * FROM meters WHERE account_no=?", (account_no,)).fetchone()
    return None if row is None else (row["meter_no"], v.MeterSpec.from_row(row))


def capture_reading(store: Store, *, account_no: str, operator_id: str, status: str,
                    value: int | None = None, consumption: int | None = None, rollover: bool = False,
                    kwh_e3: int | None = None, skip_code: str | None = None,
                    trouble_code: str | None = None, note: str | None = None, warnings=(),
                    entries=(), reentry_ms: int | None = None, gps: dict | None = None,
                    corrects: str | None = None, photo: str | None = None,
                    bill_estimate_fen: int | None = None, estimate: bool = True,
                    validated_meter: tuple | None = None) -> outbox.Op:
    """Write one reading and its `reading` op in one transaction; returns the op.

    Values must already be validated (ReadingEntry does it); this checks structure, the
    one-current-reading-per-meter-and-cycle rule and the correction chain. With
    `validated_meter` = (meter_no, MeterSpec) the values were validated against, it checks
    inside the transaction that the account's meter is still that one (a route download may
    have replaced it meanwhile): otherwise MeterChanged, nothing written.
    """
    if status not in ("read", "skipped"):
        raise ReadingError([v._err("bad_status", None,
                                   "Unknown status {status!r}", True, status=status)])
    if status == "read" and value is None:
        raise ReadingError([v._err("empty", None, "A read needs a value", True)])
    problems = v.check_note(note)
    gps, gps_problems = v.check_gps(gps)
    if problems or gps_problems:
        raise ReadingError(problems + gps_problems)
    note = v.clean_note(note)
    if estimate and bill_estimate_fen is None and status == "read":
        bill_estimate_fen = _bill_estimate(store, account_no, kwh_e3)
    with store.transaction() as conn:
        acc = conn.execute(
            "SELECT a.route_id, r.cycle, m.meter_no FROM accounts a JOIN meters m ON m.account_no=a.account_no"
            " LEFT JOIN routes r ON r.route_id=a.route_id WHERE a.account_no=?", (account_no,)).fetchone()
        if acc is None:
            raise ReadingError([v._err("unknown_account", None,
                                       "Account {account_no} is not on this device", True,
                                       account_no=account_no)])
        if validated_meter is not None and validated_meter != _meter_now(conn, account_no):
            raise MeterChanged()
        existing = current_reading(conn, acc["meter_no"], acc["cycle"])
        if corrects is None and existing is not None:
            raise AlreadyRead(existing["op_id"])
        if corrects is not None and (existing is None or existing["op_id"] != corrects):
            raise ReadingError([v._err("not_current", None,
                                       "Only the current reading of this cycle can be corrected", True)])
        payload = {"account_no": account_no, "meter_no": acc["meter_no"], "route_id": acc["route_id"],
                   "cycle": acc["cycle"], "status": status, "value": value, "consumption": consumption,
                   "rollover": bool(rollover), "kwh_e3": kwh_e3, "skip_code": skip_code,
                   "trouble_code": trouble_code, "note": note, "warnings": list(warnings),
                   "entries": list(entries), "reentry_ms": reentry_ms, "gps": gps,
                   "bill_estimate_fen": bill_estimate_fen, "corrects": corrects}
        if photo:
            payload["photo"] = photo     # the photo's SHA-256 (terminal/photos.py)
        op = outbox.append(conn, "reading", payload, operator_id=operator_id)
        conn.execute(
            "INSERT INTO readings (op_id, seq, account_no, meter_no, route_id, cycle, status, value,"
            " consumption, rollover, kwh_e3, entries, reentry_ms, warnings, skip_code, trouble_code, note,"
            " lat, lon, gps_accuracy_m, bill_estimate_fen, corrects, operator_id, device_time)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (op.op_id, op.seq, account_no, acc["meter_no"], acc["route_id"], acc["cycle"], status, value,
             consumption, int(bool(rollover)), kwh_e3, json.dumps(list(entries)), reentry_ms,
             json.dumps(list(warnings)), skip_code, trouble_code, note,
             gps and gps["lat"], gps and gps["lon"], gps and gps["accuracy_m"], bill_estimate_fen,
             corrects, operator_id, op.device_time))
        if corrects is not None:
            conn.execute("UPDATE readings SET superseded_by=? WHERE op_id=?", (op.op_id, corrects))
            audit(conn, "reading_corrected", operator_id, account_no=account_no, op_id=op.op_id,
                  corrects=corrects)
        if photo:
            photos.claim(conn, photo, op.op_id)
            audit(conn, "reading_photo", operator_id, op_id=op.op_id, photo=str(photo))
    return op


class ReadingEntry:
    """The reading screen for one account: validation, confirm, blind re-entry, skip, save.

    Attributes for the UI: `account`, `meter` (MeterSpec; do not show prev/limits when
    `hide_previous`), `hazard` (show before entry), `existing` (this cycle's current reading
    or None), `awaiting` ('confirm' | 'reenter' | None).
    """

    def __init__(self, store: Store, account_no: str, operator_id: str, *, corrects: str | None = None,
                 today: dt.date | None = None, clock=time.monotonic):
        self.store, self.operator_id, self.corrects, self._clock = store, operator_id, corrects, clock
        conn = store.conn
        row = conn.execute(
            "SELECT a.*, r.cycle, r.hide_previous, m.meter_no, m.dials, m.decimals, m.multiplier,"
            " m.prev_value, m.prev_date, m.avg_daily_wh, m.limit_low, m.limit_high"
            " FROM accounts a JOIN meters m ON m.account_no = a.account_no"
            " LEFT JOIN routes r ON r.route_id = a.route_id WHERE a.account_no=?", (account_no,)).fetchone()
        if row is None:
            raise ReadingError([v._err("unknown_account", None,
                                       "Account {account_no} is not on this device", True,
                                       account_no=account_no)])
        self.account_no = account_no
        self.account = dict(row)
        self.meter_no, self.meter = row["meter_no"], v.MeterSpec.from_row(row)
        self.hazard = row["hazard"]
        self.hide_previous = bool(row["hide_previous"])
        self.today = today or dt.date.today()
        self.existing = current_reading(conn, self.meter_no, row["cycle"])
        self.trouble_code: str | None = None
        self.note: str | None = None
        self.gps: dict | None = None
        self.photo: str | None = None
        self.entries: list[int] = []
        self.awaiting: str | None = None
        self._pending: v.Assessment | None = None
        self._t_first: float | None = None

    def _load_meter(self) -> None:
        """Take the account's meter as the store holds it now (after the office changed it)."""
        now = _meter_now(self.store.conn, self.account_no)
        if now is not None:
            self.meter_no, self.meter = now
            self.existing = current_reading(self.store.conn, self.meter_no, self.account["cycle"])

    # --- optional fields ---------------------------------------------------------------
    def set_trouble(self, code: str | None) -> list:
        """Choose (or clear with None) the one trouble code; an unknown code is refused."""
        if code and _codes.get_code(self.store.conn, "trouble", code) is None:
            return [v._err("unknown_trouble_code", None, "Unknown trouble code", True)]
        self.trouble_code = code or None
        self.reset()  # the checks depend on the code
        return []

    def set_note(self, note: str | None) -> list:
        problems = v.check_note(note)
        if not problems:
            self.note = v.clean_note(note)
        return problems

    def set_gps(self, lat: float, lon: float, accuracy_m: float = 0.0, *,
                age_s: int | None = None, state: str | None = None) -> list:
        """The fix to record with the reading (terminal/location.py: its age and state)."""
        gps, problems = v.check_gps({"lat": lat, "lon": lon, "accuracy_m": accuracy_m,
                                     "age_s": age_s, "state": state})
        if not problems:
            self.gps = gps
        return problems

    def set_photo(self, ref: str | None) -> None:
        self.photo = ref

    def reset(self) -> None:
        """Drop a pending confirm/re-entry (entries already keyed stay in the record)."""
        self.awaiting, self._pending, self._t_first = None, None, None

    # --- the flow ------------------------------------------------------------------------
    def assess(self, keyed: str, skip_code: str | None = None) -> v.Assessment:
        return v.check_reading(keyed, self.meter, read_date=self.today, trouble_code=self.trouble_code,
                               skip_code=skip_code, hide_previous=self.hide_previous)

    def submit(self, keyed: str, *, confirm: bool = False) -> Outcome:
        """Key a value. `confirm=True` accepts the pending warning for the same value."""
        if self.awaiting == "reenter":
            return self._reenter(keyed)
        a = self.assess(keyed)
        if a.value is None:
            return Outcome(None, list(a.results))
        # every value keyed is kept, first to last (contracts §2): refused ones, and the
        # same value keyed again to confirm its warning, included
        self.entries.append(a.value)
        if (self.awaiting == "confirm" and confirm and self._pending is not None
                and a.value == self._pending.value):
            return self._save(self._pending)
        if a.blocking:
            self.reset()
            return Outcome(None, list(a.results))
        need = a.need
        if need is None:
            return self._save(a)
        if need == "confirm" and confirm:
            return self._save(a)
        self.awaiting, self._pending = need, a
        self._t_first = self._clock()
        return Outcome(need, list(a.results))

    def confirm(self) -> Outcome:
        """Accept the warning shown for the pending value."""
        if self.awaiting != "confirm" or self._pending is None:
            raise RuntimeError("nothing to confirm")
        return self._save(self._pending)

    def _reenter(self, keyed: str) -> Outcome:
        first = self._pending
        value, _ = v.normalise(keyed, self.meter.dials, self.meter.decimals)
        if value is not None:
            self.entries.append(value)
        if value is None or value != first.value:
            self.reset()
            return Outcome(None, [v._err("reentry_mismatch", None,
                                         "The two entries differ; read the meter again and start over")])
        ms = int(round((self._clock() - self._t_first) * 1000))
        return self._save(first, reentry_ms=ms)

    def _save(self, a: v.Assessment, reentry_ms: int | None = None, status: str = "read",
              skip_code: str | None = None) -> Outcome:
        try:
            op = capture_reading(
                self.store, account_no=self.account_no, operator_id=self.operator_id, status=status,
                value=a.value if a else None, consumption=a.consumption if a else None,
                rollover=a.rollover if a else False, kwh_e3=a.kwh_e3 if a else None,
                skip_code=skip_code, trouble_code=self.trouble_code, note=self.note,
                warnings=a.warnings if a else [], entries=self.entries, reentry_ms=reentry_ms,
                gps=self.gps, corrects=self.corrects, photo=self.photo,
                validated_meter=(self.meter_no, self.meter))
        except MeterChanged as exc:     # validated against a meter that is gone: start over
            self._load_meter()
            self.entries = []
            self.reset()
            return Outcome(None, exc.results)
        except ReadingError as exc:
            self.reset()
            return Outcome(None, exc.results)
        self.reset()
        self.existing = current_reading(self.store.conn, self.meter_no, self.account["cycle"])
        return Outcome(None, list(a.results) if a else [], op.op_id)

    def skip(self, code: str, note: str | None = None, keyed: str | None = None,
             photo: str | None = None) -> Outcome:
        """Record the account as skipped with `code` (its rule decides value/note/photo)."""
        self.reset()
        rule = _codes.get_code(self.store.conn, "skip", code)
        has_value = keyed is not None and str(keyed).strip() != ""
        problems = v.check_skip(rule, has_value=has_value, note=note, photo=photo or self.photo)
        if problems:
            return Outcome(None, problems)
        a = None
        if has_value:
            a = self.assess(keyed, skip_code=code)
            if a.value is None or a.blocking:
                return Outcome(None, list(a.results))
            self.entries.append(a.value)
        self.note = v.clean_note(note) or self.note
        if photo:
            self.photo = photo
        return self._save(a, status="skipped", skip_code=code)


def correct_reading(store: Store, original_op_id: str, operator_id: str, keyed: str | None = None, *,
                    skip_code: str | None = None, trouble_code: str | None = None, note: str | None = None,
                    gps: dict | None = None, photo: str | None = None,
                    today: dt.date | None = None) -> str:
    """Replace the current reading `original_op_id` with a new record; returns its op_id.

    A correction is deliberate: warnings and re-entry errors are recorded in `warnings`
    rather than asked for; blocking problems (bad digits, rules of the skip code) raise
    ReadingError. For the interactive flow use `ReadingEntry(..., corrects=op_id)`.
    """
    row = store.conn.execute("SELECT account_no, superseded_by FROM readings WHERE op_id=?",
                             (original_op_id,)).fetchone()
    if row is None:
        raise ReadingError([v._err("unknown_reading", None, "No such reading to correct", True)])
    if row["superseded_by"]:
        raise ReadingError([v._err("not_current", None,
                                   "This reading was already corrected; correct the latest one", True)])
    entry = ReadingEntry(store, row["account_no"], operator_id, corrects=original_op_id, today=today)
    gps_fix, gps_problems = v.check_gps(gps)
    problems = entry.set_trouble(trouble_code) + entry.set_note(note) + gps_problems
    if problems:
        raise ReadingError(problems)
    entry.gps, entry.photo = gps_fix, photo
    if skip_code:
        out = entry.skip(skip_code, note=note, keyed=keyed, photo=photo)
    else:
        a = entry.assess(keyed)
        if a.value is None or a.blocking:
            raise ReadingError(a.results)
        entry.entries.append(a.value)
        out = entry._save(a)
    if not out.saved:
        raise ReadingError(out.results)
    return out.saved_op_id


def reading_of(store: Store, op_id: str) -> dict | None:
    row = store.conn.execute("SELECT * FROM readings WHERE op_id=?", (op_id,)).fetchone()
    if row is None:
        return None
    return {**dict(row), "entries": json.loads(row["entries"]), "warnings": json.loads(row["warnings"])}
