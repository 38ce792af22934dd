"""Settings: port URLs typed in, "test print" prints on the printer simulator (a real PNG
page), "test terminal" asks the ZVT simulator over a pty, the card limits shown are the
office's and cannot be edited, a gateway/TLS change needs a supervisor's approval, and the
about section names the device and the database."""
import json

from terminal.ui.screens.settings import fen_to_yuan
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
    for field, value in (("printer_url", printer_sim.url), ("terminal_url", zvt_sim.url)):
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
    assert ui.app.config.get("devices", "terminal_url") == zvt_sim.url   # ports need no approval


def test_settings_card_limits_are_the_offices_and_cannot_be_edited(gateway, make_ui):
    """docs/contracts.md §4: the offline card limits come from the office's reference data;
    the handheld shows them and offers no way to raise them."""
    ui = make_ui(gateway=gateway, enrol=True, language="en")
    ui.wait_screen("login")
    ui.tap("settings_button")
    ui.wait_screen("settings")
    office = json.loads(ui.store.get_meta("card_limits"))
    field = ui.find("limit_max_fen")
    ui.wait_for(lambda: field.text == fen_to_yuan(office["max_fen"]), 10, "office limit shown")
    assert ui.find("limit_max_count").text == str(office["max_count"])
    for key in ("max_fen", "max_total_fen", "max_count", "max_age_hours"):
        assert ui.find(f"limit_{key}").readonly, key
    ui.tap("save")
    ui.wait_for(lambda: ui.screen.message == "Saved.", 10, "saved")
    assert json.loads(ui.store.get_meta("card_limits")) == office


def test_settings_gateway_change_needs_a_supervisors_approval(gateway, make_ui):
    """A gateway/TLS change is refused without a supervisor's approval (none, a wrong PIN, a
    reader's PIN) and saved with it, audited on the device; docs/contracts.md §4."""
    ui = make_ui(gateway=gateway, enrol=True, language="en")
    ui.wait_screen("login")
    ui.tap("settings_button")
    screen = ui.wait_screen("settings")
    before = ui.app.config.get("gateway", "url")
    rogue = "http://127.0.0.1:9"
    ui.find("gateway_url").text = ""
    ui.type(rogue, into="gateway_url")
    ui.tap("save")
    ui.wait_for(lambda: "needs a supervisor" in screen.message, 10, "approval asked")
    ui.shot("approval-asked")
    assert ui.app.config.get("gateway", "url") == before

    for who, pin, says in (("9001", "1234", "Wrong operator or PIN"),
                           ("1001", "1234", "supervisor role")):
        ui.find("approver_id").text = ""
        ui.type(who, into="approver_id")
        ui.type(pin, into="approver_pin")
        ui.tap("save")
        ui.wait_for(lambda: says in screen.message, 10, f"{who} refused")
        assert ui.app.config.get("gateway", "url") == before

    ui.find("approver_id").text = ""
    ui.type("9001", into="approver_id")
    ui.type("99999999", into="approver_pin")
    ui.tap("save")
    ui.wait_for(lambda: screen.message == "Saved.", 10, "approved change saved")
    ui.shot("approved")
    assert ui.app.config.get("gateway", "url") == rogue
    approvals = [json.loads(d) for e, d in ui.store.conn.execute(
        "SELECT event, detail FROM audit_log WHERE operator_id='9001'") if e == "approval"]
    assert approvals and approvals[-1]["action"] == "settings"
