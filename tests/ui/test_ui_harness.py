"""The UI harness itself: typing needs a focused field and must land in it, so that a test
never types into nothing (the supervisor test covers a drop-down that closes slowly)."""
import pytest


def test_typing_with_no_field_focused_fails_instead_of_losing_the_text(make_ui, gateway):
    ui = make_ui(gateway=gateway, enrol=True)
    ui.wait_screen("login")
    assert ui.focused() is None          # the login screen keys digits on its keypad
    with pytest.raises(AssertionError, match="no text field has the focus"):
        ui.type("1001")


def test_a_closed_app_leaves_no_field_holding_the_keyboard(make_ui):
    first = make_ui()
    first.wait_screen("enrol")
    first.tap("url")
    assert first.has_focus("url")
    first.close()
    assert first.focused() is None       # the next app's keys reach the next app
    second = make_ui()
    second.wait_screen("enrol")
    second.type("http://gw.example", into="url")
    assert second.find("url").text.endswith("http://gw.example")
