"""Things move under the finger: keypads, action buttons and list rows stay put
when a message appears. Messages take reserved space or overlay (the app banner floats over
the top of the screen), so a tap meant for Save never lands on another button.

The real app offscreen against a real gateway; every state of the reading screen is
screenshotted under artifacts/ui/<test>/.
"""
import datetime as dt

from terminal import validation

from test_ui_field_reader import keyin, popup_button, popup_open, touch


def value_for(store, account_no: str, need: str | None) -> str | None:
    """A keyed value the core's validation answers with `need` (None, 'confirm' or
    'reenter') for this meter, searched over consumptions around the expected one."""
    row = store.conn.execute("SELECT * FROM meters WHERE account_no=?", (account_no,)).fetchone()
    meter = validation.MeterSpec.from_row(row)
    prev = meter.prev_value or 0
    for units in range(1, 10 ** min(meter.dials, 6), max(1, 10 ** meter.decimals // 2)):
        value = prev + units
        if value >= 10 ** meter.dials:
            break
        a = validation.check_reading(str(value), meter, read_date=dt.date.today())
        if a.value is not None and not a.blocking and a.need == need:
            return str(value)
    return None


def where(widget) -> tuple[int, int, int, int]:
    """A widget's rectangle in window coordinates (rounded to whole pixels)."""
    x, y = widget.to_window(widget.x, widget.y)
    return round(x), round(y), round(widget.width), round(widget.height)


def test_reading_screen_save_and_keypad_never_move(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "1001", "1234", shot=False)
    ui_flows.download_route(ui, "R001", gateway=gateway)
    accounts = [r[0] for r in ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq")]
    hazardous = ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' AND hazard IS NOT NULL "
        "AND hazard != '' LIMIT 1").fetchone()
    reading = ui.go("reading", account_no=accounts[0], route_id="R001")
    ui.wait_for(lambda: reading.loaded and reading.account_no == accounts[0], 10, "entry open")

    def targets():
        pad = reading.ids.pad
        return {"save": where(reading.ids.save), "later": where(reading.ids.next_unread),
                "confirm": where(reading.ids.confirm), "ok_key": where(pad.ids.key_enter),
                "key_1": where(next(k for k in pad.children if k.text == "1")),
                "skip_code": where(reading.ids.skip_code)}

    ui.shot("reading-open")
    base = targets()
    seen = {"open": base}

    # nothing keyed: a hint that asks for the reading
    ui.tap("save")
    ui.wait_for(lambda: reading.message, 5, "hint shown")
    ui.shot("reading-hint")
    seen["hint"] = targets()

    # a warning to confirm, then an error asking for a blind re-entry
    for need, state in (("confirm", "confirm"), ("reenter", "reenter")):
        value = value_for(ui.store, accounts[0], need)
        assert value is not None, f"no {need} value for {accounts[0]}"
        reading.ids.pad.value = ""
        keyin(ui, value)
        ui.tap("save")
        ui.wait_for(lambda: reading.awaiting == state, 10, f"{state} asked")
        ui.shot(f"reading-{state}")
        seen[state] = targets()
        reading.awaiting = ""
        reading.message = ""
        reading.entry.reset()
        ui.pump(3)

    # a skip code with hints (a note or photo needed)
    ui.tap("skip_code")
    ui.wait_for(popup_open, 5, "skip codes")
    code = next(c for c in reading.skip_codes if c.get("note_required") or c.get("photo_required"))
    touch(ui, popup_button(code["code"]))
    ui.wait_for(lambda: reading.skip_code == code["code"] and not popup_open(), 5, "skip code set")
    ui.shot("reading-skip-hints")
    seen["skip hints"] = targets()

    # the app's banner appears over the screen: nothing under it moves
    ui.app.notify("A long message that wraps over more than one line of the window, "
                  "as a sync problem or a printer warning would", "warning", 0)
    ui.wait_for(lambda: ui.app.banner.shown and ui.app.banner.height > 0, 5, "banner shown")
    ui.shot("reading-banner")
    seen["banner"] = targets()
    title = where(reading.children[0].children[-1])      # the title bar, at the top
    ui.app.banner.clear()
    ui.pump(3)
    assert where(reading.children[0].children[-1]) == title

    # a hazard on the next account
    if hazardous:
        reading._goto(hazardous[0], "Saved 000: 1234")
        ui.wait_for(lambda: reading.loaded and reading.hazard, 10, "hazard shown")
        ui.shot("reading-hazard-and-saved-line")
        seen["hazard"] = targets()

    moved = {state: {k: (base[k], v) for k, v in t.items() if v != base[k]}
             for state, t in seen.items()}
    assert not any(moved.values()), f"moved under the finger: {moved}"


def test_a_banner_moves_no_screen_below_it(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "1001", "1234", shot=False)
    home = ui.screen
    tile = home.ids.tiles.children[0]
    ui.wait_for(lambda: tile.get_root_window() is not None and tile.height > 0, 5, "tiles laid out")
    ui.pump(3)
    checks = {"home tile": tile, "logout": home.ids.logout_button}
    before = {k: where(w) for k, w in checks.items()}
    ui.app.notify("Route update: 12 of 40 accounts", "info", 0)
    ui.wait_for(lambda: ui.app.banner.height > 0, 5, "banner shown")
    ui.shot("home-banner")
    after = {k: where(w) for k, w in checks.items()}
    assert after == before
    ui.app.banner.clear()
    ui.pump(2)

    ui_flows.download_route(ui, "R001", gateway=gateway)
    routes = ui.screen
    button = routes.ids["open_R001"]
    before = where(button)
    ui.app.notify("Route R001 updated", "ok", 0)
    ui.wait_for(lambda: ui.app.banner.height > 0, 5, "banner shown")
    ui.shot("routes-banner")
    assert where(button) == before
