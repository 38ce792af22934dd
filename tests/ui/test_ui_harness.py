"""The UI harness itself: typing needs a focused field and must land in it, so that a test
never types into nothing (the supervisor test covers a drop-down that closes slowly)."""
import pytest


def test_typing_with_no_field_focused_fails_instead_of_losing_the_text(make_ui, gateway):
    ui = make_ui(gateway=gateway, enrol=True)
    ui.wait_screen("login")
    assert ui.focused() is None          # the login screen keys digits on its keypad
    with pytest.raises(AssertionError, match="no text field has the focus"):
        ui.type("1001")
