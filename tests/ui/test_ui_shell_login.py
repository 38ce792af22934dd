"""Login screen: keypad entry, wrong PIN, lockout message with time, language switch."""

def test_app_starts_at_enrolment_without_enrolment(ui):
    ui.wait_screen("enrol")
    ui.shot("enrol")
    assert ui.store.get_meta("device_token") is None
