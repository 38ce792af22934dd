"""Readings: the blind re-entry prompt shows nothing derived from the first
entry; a reading 45 % below the expected use is a warning to confirm, not a blind re-entry
(the demo utility's tiers, terminal/validation.py, warn well before they error); a
confirmed outlier is flagged in the walk list; changing the skip reason clears the note;
skip reasons that need a note or a photo are marked in the list.

The real app offscreen, real taps, a real gateway process.
"""
import datetime as dt

from terminal import validation

from test_ui_field_layout import value_for
from test_ui_field_reader import keyin, popup_button, popup_open, touch


def open_reading(ui, account_no):
    reading = ui.go("reading", account_no=account_no, route_id="R001")
    ui.wait_for(lambda: reading.loaded and reading.account_no == account_no, 10, "entry open")
    return reading


def value_off_expected(store, account_no: str, percent: int) -> str:
    """The keyed value whose consumption is `percent` % off the expected use."""
    row = store.conn.execute("SELECT * FROM meters WHERE account_no=?", (account_no,)).fetchone()
    m = validation.MeterSpec.from_row(row)
    days = validation.days_between(m.prev_date, dt.date.today())
    expected_e3 = m.avg_daily_wh * days
    kwh_e3 = expected_e3 * (100 + percent) // 100
    units = kwh_e3 * 10 ** m.decimals // (1000 * m.multiplier)
    return str(m.prev_value + units)


def test_blind_reentry_and_a_45_percent_drop_and_the_outlier_flag(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "1001", "1234", shot=False)
    ui_flows.download_route(ui, "R001", gateway=gateway)
    first, second = [r[0] for r in ui.store.conn.execute(
        "SELECT a.account_no FROM accounts a JOIN meters m ON m.account_no = a.account_no "
        "WHERE a.route_id='R001' AND m.avg_daily_wh * 30 >= 100000 ORDER BY a.seq LIMIT 2")]

    # an error: the second entry is asked for blind
    reading = open_reading(ui, first)
    value = value_for(ui.store, first, "reenter")
    keyin(ui, value)
    ui.tap("save")
    ui.wait_for(lambda: reading.awaiting == "reenter", 10, "blind re-entry asked")
    ui.shot("blind-reentry")
    row = ui.store.conn.execute("SELECT * FROM meters WHERE account_no=?", (first,)).fetchone()
    first_entry = validation.check_reading(value, validation.MeterSpec.from_row(row),
                                           read_date=dt.date.today())
    kwh = f"{first_entry.kwh_e3 // 1000}"
    shown = reading.message + reading.ids.display.text
    assert "kWh" not in shown and "%" not in shown and kwh not in shown and value not in shown
    keyin(ui, value)
    ui.tap("save")
    ui.wait_for(lambda: reading.account_no != first, 10, "saved after the blind match")

    # 45 % below the expected use: a warning to confirm (not an error)
    reading = open_reading(ui, second)
    low = value_off_expected(ui.store, second, -45)
    keyin(ui, low)
    ui.tap("save")
    ui.wait_for(lambda: reading.awaiting in ("confirm", "reenter"), 10, "a check")
    ui.shot("45-percent-below")
    assert reading.awaiting == "confirm"
    ui.tap("confirm")
    ui.wait_for(lambda: reading.account_no != second, 10, "confirmed and saved")

    # both confirmed outliers are flagged in the walk list
    walk = ui.go("walk", route_id="R001")
    ui.wait_for(lambda: not walk.loading and walk.ids.rv.data, 10, "walk rows")
    ui.shot("walk-outliers")
    status = {r["account_no"]: r["status"] for r in walk.ids.rv.data}
    assert status[first] == "outlier" and status[second] == "outlier"
    assert all(s != "outlier" for a, s in status.items() if a not in (first, second))


def test_skip_reasons_marked_and_a_new_reason_clears_the_note(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "1001", "1234", shot=False)
    ui_flows.download_route(ui, "R001", gateway=gateway)
    account = ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 1").fetchone()[0]
    reading = open_reading(ui, account)
    ui.tap("skip_code")
    ui.wait_for(popup_open, 5, "skip codes")
    ui.shot("skip-codes-marked")
    needs = ui.app.tr("needs {what}").split("{")[0]
    for c in reading.skip_codes:
        button = popup_button(c["code"])
        marked = bool(c.get("note_required") or c.get("photo_required") or c.get("reading") == "required")
        assert (needs in button.text) == marked, button.text
    noted = next(c for c in reading.skip_codes if c.get("note_required"))
    other = next(c for c in reading.skip_codes if c["code"] != noted["code"])
    touch(ui, popup_button(noted["code"]))
    ui.wait_for(lambda: reading.skip_code == noted["code"] and not popup_open(), 5, "code set")
    ui.tap("note")
    ui.type("dog in the yard")
    assert reading.ids.note.text == "dog in the yard"
    ui.tap("skip_code")
    ui.wait_for(popup_open, 5, "skip codes")
    touch(ui, popup_button(other["code"]))
    ui.wait_for(lambda: reading.skip_code == other["code"] and not popup_open(), 5, "new code")
    ui.shot("new-reason-note-cleared")
    assert reading.ids.note.text == ""
