"""Settings: port URLs typed in, "test print" prints on the printer simulator (a real PNG
page), "test terminal" asks the ZVT simulator over a pty, card limits reach the store, and
the about section names the device and the database."""
import json

from tests.deadline import seconds


def test_settings_devices_limits_and_about(gateway, make_ui, printer_sim, zvt_sim):
    ui = make_ui(gateway=gateway, enrol=True, language="en")
    ui.wait_screen("login")
    ui.tap("settings_button")
    ui.wait_screen("settings")
    screen = ui.screen
    ui.wait_for(lambda: "Device" in screen.about_text, 10, "about text")
    device_id = ui.store.get_meta("device_id")
    assert device_id in screen.about_text and "chaoshou.db" in screen.about_text
    for field, value in (("printer_url", printer_sim.url), ("terminal_url", zvt_sim.url),
                         ("limit_max_fen", "800"), ("limit_max_count", "20")):
        ui.find(field).text = ""
        ui.tap(field)
        ui.type(value)
    ui.shot("settings-filled")
    ui.tap("test_print")
    ui.wait_for(lambda: "printed" in screen.message or "Device error" in screen.message
                or "printer" in screen.message.lower() and "Printing" not in screen.message, 30, "print result")
    ui.shot("test-printed")
    assert screen.message == "Test page printed."
    jobs = printer_sim.sim.wait_for_jobs(1, timeout=seconds(10))
    assert jobs[0].path.exists() and not jobs[0].partial
    assert ui.services.printer_state == "ok"

    ui.tap("test_terminal")
    ui.wait_for(lambda: "Card terminal" in screen.message or "Device error" in screen.message, 30,
                "terminal result")
    ui.shot("test-terminal")
    assert screen.message.startswith("Card terminal ready")

    assert ui.app.config.get("devices", "printer_url") == printer_sim.url
    limits = ui.wait_for(lambda: json.loads(ui.store.get_meta("card_limits") or "{}").get("max_count") == 20
                         and json.loads(ui.store.get_meta("card_limits")), 10, "limits stored")
    assert limits["max_fen"] == 80000 and limits["max_count"] == 20


def test_settings_refuses_bad_limits(gateway, make_ui):
    ui = make_ui(gateway=gateway, enrol=True, language="en")
    ui.wait_screen("login")
    ui.tap("settings_button")
    ui.wait_screen("settings")
    before = ui.store.get_meta("card_limits")
    ui.find("limit_max_fen").text = "12.345"
    ui.tap("save")
    assert "positive numbers" in ui.screen.message
    ui.shot("bad-limit")
    assert ui.store.get_meta("card_limits") == before
