"""Reading capture: the entry flow (ok, confirm, blind re-entry, start over), skips, corrections, outbox."""
import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sync.gateway import demo_data as dd
from terminal import outbox, photos, readings, route_walk, routes, validation
from terminal.canonical import sha256_hex
from terminal.readings import ReadingEntry
from terminal.store import Store
from terminal.ui.i18n import error_text

TODAY = dt.date(2026, 11, 27)


def account(no, prev=1000, avg=5000, dials=5, decimals=0, multiplier=1, tariff="RES-TIER", **meter):
    m = {"meter_no": "M" + no, "dials": dials, "decimals": decimals, "multiplier": multiplier,
         "prev_value": prev, "prev_date": "2026-10-28", "avg_daily_wh": avg,
         "limit_low": None, "limit_high": None}
    m.update(meter)
    return {"account_no": no, "seq": int(no) * 10, "name": "王小明", "address": "幸福路1号",
            "phone": None, "tariff_id": tariff, "arrears_fen": 0, "arrears_due_date": None,
            "credit_fen": 0, "agent_id": None, "hazard": None, "last_third_party": None, "meter": m}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    doc = {"format": "chaoshou.route/1",
           "route": {"route_id": "R1", "name": "测试段", "cycle": "2026-11", "read_date": "2026-11-27",
                     "hide_previous": False, "server_version": 1},
           "tariffs": dd.TARIFFS, "codes": {"skip": dd.SKIP_CODES, "trouble": dd.TROUBLE_CODES},
           "agents": [],
           "accounts": [account("1"), account("2"), account("3", prev=99900, avg=7000),
                        account("4", decimals=1, prev=10000, multiplier=40, avg=None),
                        account("5", tariff="NOPE")]}
    routes.import_route(s, doc)
    return s


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def entry(store, no="1", **kw):
    return ReadingEntry(store, no, "1001", today=TODAY, **kw)


def op_payload(store, op_id):
    row = outbox.get(store, op_id)
    payload = json.loads(row["payload"])
    assert row["payload_sha256"] == sha256_hex(payload)
    return row, payload


def test_plain_reading_saves_reading_and_op_in_one_go(store):
    e = entry(store)
    e.set_gps(30.25, 120.16, 8)
    e.set_note("  表箱在楼道 ")
    out = e.submit("１１５０")
    assert out.saved and out.need is None and out.results == []
    row, p = op_payload(store, out.saved_op_id)
    assert row["type"] == "reading" and row["seq"] == 1 and row["operator_id"] == "1001"
    assert p == {"account_no": "1", "meter_no": "M1", "route_id": "R1", "cycle": "2026-11", "status": "read",
                 "value": 1150, "consumption": 150, "rollover": False, "kwh_e3": 150_000, "skip_code": None,
                 "trouble_code": None, "note": "表箱在楼道", "warnings": [], "entries": [1150],
                 "reentry_ms": None, "gps": {"lat": 30.25, "lon": 120.16, "accuracy_m": 8.0},
                 "bill_estimate_fen": p["bill_estimate_fen"], "corrects": None}
    r = readings.reading_of(store, out.saved_op_id)
    assert (r["seq"], r["value"], r["lat"], r["status"]) == (1, 1150, 30.25, "read")
    assert e.existing["op_id"] == out.saved_op_id
    assert route_walk.progress(store, "R1")["read"] == 1


def test_capture_carries_the_bill_estimate(store):
    from terminal import tariffs
    out = entry(store).submit("1150")
    _, p = op_payload(store, out.saved_op_id)
    assert p["bill_estimate_fen"] == tariffs.bill_estimate(store, "1", 150_000)
    assert p["bill_estimate_fen"] == 7325  # 150 kWh × 0.4883 yuan = 73.245 → 73.25 yuan
    out5 = entry(store, "5").submit("1150")  # unknown tariff: estimate missing, capture still saved
    assert out5.saved and op_payload(store, out5.saved_op_id)[1]["bill_estimate_fen"] is None


def test_warning_needs_confirmation(store):
    e = entry(store)
    out = e.submit("1245")  # 245 kWh vs 150 expected: +63 % warning
    assert out.need == "confirm" and not out.saved and [r.code for r in out.results] == ["high_warning"]
    assert outbox.pending_counts(store) == {}
    out = e.submit("1245", confirm=True)   # keyed again and confirmed: a second keyed value
    assert out.saved
    _, p = op_payload(store, out.saved_op_id)
    assert p["warnings"] == ["high_warning"] and p["entries"] == [1245, 1245]


def test_confirm_method_and_changed_value_is_checked_afresh(store):
    e = entry(store)
    assert e.submit("1245").need == "confirm"
    assert e.submit("1150").saved  # the reader re-read the meter: a fine value saves at once
    e2 = entry(store, "2")
    assert e2.submit("1245").need == "confirm"
    saved = e2.confirm()                   # the Confirm button keys nothing new
    assert saved.saved and op_payload(store, saved.saved_op_id)[1]["entries"] == [1245]
    with pytest.raises(RuntimeError):
        e2.confirm()


def test_error_needs_blind_reentry_and_keeps_both_entries_and_time(store):
    clock = Clock()
    e = entry(store, clock=clock)
    out = e.submit("1400")  # 400 kWh vs 150: error
    assert out.need == "reenter" and [r.code for r in out.results] == ["high_error"]
    assert e.awaiting == "reenter"
    assert outbox.pending_counts(store) == {}


def test_reentry_match_saves_with_ms(store):
    clock = Clock()
    e = entry(store, clock=clock)
    assert e.submit("1400").need == "reenter"
    clock.t += 4.321
    out = e.submit("１４００")
    assert out.saved
    _, p = op_payload(store, out.saved_op_id)
    assert p["entries"] == [1400, 1400] and p["reentry_ms"] == 4321 and p["warnings"] == ["high_error"]


def test_reentry_mismatch_starts_over_and_every_entry_is_kept(store):
    clock = Clock()
    e = entry(store, clock=clock)
    assert e.submit("1400").need == "reenter"
    out = e.submit("1410")
    assert not out.saved and out.need is None and out.results[0].code == "reentry_mismatch"
    assert e.awaiting is None
    assert e.submit("1410").need == "reenter"
    clock.t += 2
    out = e.submit("1410")
    assert out.saved
    _, p = op_payload(store, out.saved_op_id)
    assert p["entries"] == [1400, 1410, 1410, 1410] and p["reentry_ms"] == 2000


def test_confirm_true_does_not_skip_reentry(store):
    e = entry(store)
    assert e.submit("1400", confirm=True).need == "reenter"
    assert outbox.pending_counts(store) == {}


def test_bad_input_is_rejected_nothing_written(store):
    e = entry(store)
    for keyed, code in [("12a0", "not_digits"), ("", "empty"), ("123456", "too_many_digits"),
                        ("900", "negative"), ("1000", "zero_needs_code")]:
        out = e.submit(keyed)
        assert out.rejected and out.results[0].code == code and out.results[0].message_en
    assert store.conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 0
    assert e.entries == [900, 1000]  # numbers keyed but refused stay in the record's history
    assert e.submit("1150").saved
    assert readings.reading_of(store, e.existing["op_id"])["entries"] == [900, 1000, 1150]


def test_zero_with_trouble_code_and_negative_with_trouble_code(store):
    e = entry(store)
    assert e.set_trouble("T99")[0].code == "unknown_trouble_code"
    assert e.set_trouble("T02") == []
    out = e.submit("1000")
    assert out.need == "confirm"
    assert e.confirm().saved
    e2 = entry(store, "2")
    e2.set_trouble("T06")
    assert e2.submit("990").need == "reenter"
    out = e2.submit("990")
    _, p = op_payload(store, out.saved_op_id)
    assert (p["consumption"], p["kwh_e3"], p["trouble_code"], p["bill_estimate_fen"]) == (-10, -10_000, "T06", None)
    assert route_walk.walk(store, "R1", "problems")[0]["account_no"] == "1"


def test_rollover_and_decimals_multiplier(store):
    out = entry(store, "3").submit("00120")
    assert out.need == "confirm" and out.results[0].code == "rollover"
    e = entry(store, "3")
    out = e.submit("00120", confirm=True)
    _, p = op_payload(store, out.saved_op_id)
    assert (p["consumption"], p["rollover"], p["kwh_e3"]) == (220, True, 220_000)
    out = entry(store, "4").submit("1012.5")
    _, p = op_payload(store, out.saved_op_id)
    assert (p["value"], p["consumption"], p["kwh_e3"]) == (10125, 125, 500_000)


def test_second_reading_same_cycle_is_refused(store):
    assert entry(store).submit("1150").saved
    e = entry(store)
    assert e.existing is not None
    out = e.submit("1160")
    assert not out.saved and out.results[0].code == "already_read"
    with pytest.raises(readings.AlreadyRead) as err:
        readings.capture_reading(store, account_no="1", operator_id="1001", status="read", value=1160)
    assert err.value.existing_op_id == e.existing["op_id"]
    assert store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1


def test_correction_is_a_new_record_and_supersedes(store):
    first = entry(store).submit("1150").saved_op_id
    new_id = readings.correct_reading(store, first, "9001", "1160", note="看错一位", today=TODAY)
    old, new = readings.reading_of(store, first), readings.reading_of(store, new_id)
    assert old["value"] == 1150 and old["superseded_by"] == new_id
    assert new["corrects"] == first and new["value"] == 1160 and new["superseded_by"] is None
    _, p = op_payload(store, new_id)
    assert p["corrects"] == first and p["note"] == "看错一位"
    assert [r["op_id"] for r in store.conn.execute("SELECT op_id FROM readings WHERE superseded_by IS NULL")] == [new_id]
    with pytest.raises(readings.ReadingError, match="already corrected"):
        readings.correct_reading(store, first, "9001", "1170", today=TODAY)
    with pytest.raises(readings.ReadingError, match="Digits only"):
        readings.correct_reading(store, new_id, "9001", "11x0", today=TODAY)
    with pytest.raises(readings.ReadingError, match="No such reading"):
        readings.correct_reading(store, "nope", "9001", "1170", today=TODAY)
    events = [r[0] for r in store.conn.execute("SELECT event FROM audit_log")]
    assert "reading_corrected" in events
    # the interactive flow can correct as well
    e = entry(store, corrects=new_id)
    assert e.submit("1400").need == "reenter"
    third = e.submit("1400").saved_op_id
    assert readings.reading_of(store, new_id)["superseded_by"] == third


def test_correcting_a_stale_reading_through_capture_is_refused(store):
    first = entry(store).submit("1150").saved_op_id
    readings.correct_reading(store, first, "9001", "1160", today=TODAY)
    with pytest.raises(readings.ReadingError, match="current reading"):
        readings.capture_reading(store, account_no="1", operator_id="1001", status="read", value=1, corrects=first)


def test_skip_rules(store):
    e = entry(store)
    assert e.skip("S01", keyed="1150").results[0].code == "reading_forbidden"
    assert e.skip("S06").results[0].code == "reading_required"
    assert e.skip("S07").results[0].code == "note_required"
    assert e.skip("S04", note="表盘碎了").results[0].code == "photo_required"
    assert e.skip("S99").results[0].code == "unknown_skip_code"
    assert e.skip("S06", keyed="12a", note="x").results[0].code == "not_digits"
    assert store.conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 0
    out = e.skip("S01")
    assert out.saved
    _, p = op_payload(store, out.saved_op_id)
    assert (p["status"], p["skip_code"], p["value"], p["consumption"]) == ("skipped", "S01", None, None)
    with pytest.raises(photos.PhotoError):             # a name is not a photo: none kept
        entry(store, "2").skip("S04", note="表盘碎了", photo="photos/2.jpg")
    assert store.conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 1
    sha = photos.store_photo(store, _jpeg())
    out = entry(store, "2").skip("S04", note="表盘碎了", photo=sha)
    assert out.saved
    detail = json.loads(store.conn.execute("SELECT detail FROM audit_log WHERE event='reading_photo'").fetchone()[0])
    assert detail == {"op_id": out.saved_op_id, "photo": sha}
    assert op_payload(store, out.saved_op_id)[1]["photo"] == sha
    assert store.conn.execute("SELECT op_id FROM photos WHERE sha256=?", (sha,)).fetchone()[0] \
        == out.saved_op_id


def _jpeg() -> bytes:
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 180, 40)).save(out, "JPEG")
    return out.getvalue()
    out = entry(store, "3").skip("S06", keyed="99990", note="估计")
    _, p = op_payload(store, out.saved_op_id)
    assert (p["status"], p["value"], p["consumption"], p["entries"]) == ("skipped", 99990, 90, [99990])
    assert route_walk.progress(store, "R1")["skipped"] == 3


def test_note_gps_and_account_errors(store):
    e = entry(store)
    assert e.set_note("x" * 141)[0].code == "note_too_long"
    assert e.set_gps(100, 0)[0].code == "gps_invalid"
    with pytest.raises(readings.ReadingError, match="not on this device"):
        entry(store, "999")
    with pytest.raises(readings.ReadingError, match="140"):
        readings.capture_reading(store, account_no="1", operator_id="1001", status="read", value=1, note="x" * 141)
    assert store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_capture_failure_leaves_no_half_write(store, monkeypatch):
    # make the readings insert fail after the outbox append: both must roll back
    store.conn.execute("CREATE TRIGGER boom BEFORE INSERT ON readings BEGIN SELECT RAISE(ABORT, 'disk'); END")
    with pytest.raises(Exception, match="disk"):
        entry(store).submit("1150")
    assert store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    store.conn.execute("DROP TRIGGER boom")
    assert entry(store).submit("1150").saved
    assert store.conn.execute("SELECT seq FROM outbox").fetchall()[0][0] == 1


def test_reading_survives_reopen(store, tmp_path):
    op_id = entry(store).submit("1150").saved_op_id
    store.close()
    again = Store(tmp_path / "t.db")
    assert readings.reading_of(again, op_id)["value"] == 1150
    assert outbox.take_batch(again, 10)[0].op_id == op_id


KEYS = st.sampled_from(["1150", "1245", "1300", "1400", "1000", "900", "12a", "", "１３００"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(KEYS, st.booleans()), min_size=1, max_size=6))
# found by hypothesis: a warned value keyed again with confirm is a keyed value too, and
# contracts §2 keeps every keyed value in `entries`, first to last
@example(steps=[("1245", False), ("1245", True)])
def test_entry_flow_property(tmp_path_factory, steps):
    """Whatever is keyed: at most one save; it keeps every valid entry, first to last
    (contracts §2), the same value keyed again to confirm included; errors need a match."""
    store = Store(tmp_path_factory.mktemp("flow") / "t.db")
    routes.import_route(store, {"format": "chaoshou.route/1",
                                "route": {"route_id": "R1", "name": "段", "cycle": "2026-11"},
                                "tariffs": dd.TARIFFS, "codes": {}, "agents": [], "accounts": [account("1")]})
    e = entry(store, clock=Clock())
    keyed_values, saved = [], []
    for keyed, confirm in steps:
        if saved:
            break
        before = e.awaiting
        value, _ = validation.normalise(keyed, 5)
        if value is not None:
            keyed_values.append(value)
        out = e.submit(keyed, confirm=confirm)
        if out.saved:
            saved.append(out.saved_op_id)
            if before == "reenter":
                assert keyed_values[-1] == keyed_values[-2]
        else:
            assert out.need in ("confirm", "reenter", None)
    assert store.conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == len(saved)
    if saved:
        _, p = op_payload(store, saved[0])
        assert p["entries"] == keyed_values
        assert p["value"] == keyed_values[-1]
        assert (p["reentry_ms"] is not None) == ("high_error" in p["warnings"] or "negative" in p["warnings"])


@pytest.mark.parametrize("new_meter", [
    {"meter_no": "M1-NEW", "dials": 3, "prev_value": 10},     # meter exchanged by the office
    {"meter_no": "M1", "dials": 3, "prev_value": 10},          # same number, other dials
    {"meter_no": "M1", "prev_value": 1300},                    # same meter, new previous reading
])
def test_reading_of_a_meter_changed_under_the_entry_is_refused(store, new_meter):
    """A meter changed under the entry: the entry validated against one meter; a route update (the sync worker,
    on its own connection) replaced it before Save. Nothing is kept; key it again."""
    e = ReadingEntry(store, "1", "1001", today=TODAY)
    assert e.meter.dials == 5 and e.meter.prev_value == 1000
    worker = Store(store.path)        # the background route download's own connection
    changed = account("1", **new_meter)
    routes.apply_changes(worker, "R1", [{"kind": "upsert", "account": changed}], 2)
    worker.close()
    before = store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    out = e.submit("1150")          # a plain reading on the meter the entry was opened on
    assert not out.saved and out.need is None
    assert [r.code for r in out.results] == ["meter_changed"]
    assert "key the reading again" in out.results[0].message_en
    assert "重新抄读" in error_text(out.results[0], "zh")
    assert store.conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 0
    assert store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == before
    # the entry now holds the new meter: a value keyed again is checked against it
    assert e.meter.dials == changed["meter"]["dials"]
    assert e.meter.prev_value == changed["meter"]["prev_value"] and e.entries == []
