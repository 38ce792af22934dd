"""Login screen against a device enrolled with a real gateway: keypad entry, wrong PIN,
lockout with its end time (persisted in the store), home tiles by role, log out."""


def test_app_starts_at_enrolment_without_enrolment(ui):
    ui.wait_screen("enrol")
    ui.shot("enrol")
    assert ui.store.get_meta("device_token") is None


def test_login_with_keypad_shows_tiles_by_role(gateway, make_ui, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui.wait_screen("login")
    ui.shot("login")
    ui_flows.login(ui, "2001", "1234")          # collector
    tiles = {t.target for t in ui.find("tiles").children}
    assert tiles == {"walk", "agents", "shift", "sync", "settings"}
    assert ui.services.operator["operator_id"] == "2001"
    ui.tap("logout_button")
    ui.wait_screen("login")
    ui_flows.login(ui, "9001", "99999999")          # supervisor
    tiles = {t.target for t in ui.find("tiles").children}
    assert {"supervisor", "routes", "sync", "settings"} <= tiles and "agents" not in tiles
    events = [r[0] for r in ui.store.conn.execute(
        "SELECT event FROM audit_log WHERE event='login' ORDER BY id")]
    assert events == ["login", "login"]


def test_wrong_pin_then_lockout_with_time(gateway, make_ui):
    ui = make_ui(gateway=gateway, enrol=True, language="en")
    ui.wait_screen("login")
    screen = ui.screen
    ui.tap("operator_field")
    ui.keypad("1001")
    for attempt in range(5):
        ui.keypad("0000")                      # wrong PIN, OK
        ui.wait_for(lambda: not screen.busy and screen.message, 20, "the verdict")
        if attempt == 0:
            ui.shot("wrong-pin")
            assert "attempt(s) left" in screen.message
    ui.shot("locked")
    assert "locked" in screen.message.lower() and "Try again at" in screen.message
    # the right PIN is refused while locked
    ui.keypad("1234")
    ui.wait_for(lambda: not screen.busy and "locked" in screen.message.lower(), 20, "refusal")
    assert ui.app.sm.current == "login"
    row = ui.store.conn.execute("SELECT failures, locked_until FROM login_failures "
                                "WHERE operator_id='1001'").fetchone()
    assert row["failures"] >= 5 and row["locked_until"]
    assert ui.store.conn.execute("SELECT COUNT(*) FROM audit_log WHERE event='lockout'").fetchone()[0] == 1
