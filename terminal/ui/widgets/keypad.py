"""NumericKeypad: big on-screen digit keys (≥ 48 dp) that edit `value`; hardware keys too.

Events: `on_enter(value)` on ✓/Enter, `on_change(value)` after each edit. `max_length`
limits the digits, `allow_point` adds a "." key. The hardware keyboard (digits, Backspace,
Enter, numpad) edits the same value while the keypad's screen is the current one and no
text input has focus.
"""
import unicodedata

from kivy.core.window import Window
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import FocusBehavior
from kivy.uix.gridlayout import GridLayout
from kivy.uix.screenmanager import Screen

ENTER_KEYS = (13, 271)       # Return, keypad Enter
BACKSPACE_KEYS = (8, 127)    # Backspace, Delete
NUMPAD_DIGITS = {256 + i: str(i) for i in range(10)}


class NumericKeypad(GridLayout):
    value = StringProperty("")
    max_length = NumericProperty(12)
    allow_point = BooleanProperty(False)
    enter_text = StringProperty("OK")
    hardware = BooleanProperty(True)

    __events__ = ("on_enter", "on_change")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        Window.bind(on_key_down=self._on_key_down)

    # --- on-screen keys -------------------------------------------------
    def press(self, key: str) -> None:
        """Apply one key: a digit, "." , "back", "clear" or "enter"."""
        if key == "enter":
            self.dispatch("on_enter", self.value)
            return
        if key == "back":
            new = self.value[:-1]
        elif key == "clear":
            new = ""
        elif key == "." and (not self.allow_point or "." in self.value):
            return
        elif key.isdigit() or key == ".":
            if len(self.value) >= self.max_length:
                return
            new = self.value + key
        else:
            return
        if new != self.value:
            self.value = new
            self.dispatch("on_change", self.value)

    def on_enter(self, value):
        pass

    def on_change(self, value):
        pass

    # --- hardware keyboard ----------------------------------------------
    def _active(self) -> bool:
        if not self.hardware or self.get_root_window() is None or self.disabled:
            return False
        if any(w is not None for w in FocusBehavior._keyboards.values()):
            return False  # a text field has the keyboard
        node = self.parent
        while node is not None and node is not Window:
            if isinstance(node, Screen):
                return node.manager is not None and node.manager.current == node.name
            node = node.parent
        return True

    def _on_key_down(self, _window, key, _scancode, codepoint, _modifiers):
        if not self._active():
            return False
        if key in ENTER_KEYS:
            self.press("enter")
        elif key in BACKSPACE_KEYS:
            self.press("back")
        elif key in NUMPAD_DIGITS:
            self.press(NUMPAD_DIGITS[key])
        elif codepoint and (unicodedata.decimal(codepoint, None) is not None or codepoint in ".．"):
            # full-width digits from a Chinese IME count as digits
            digit = unicodedata.decimal(codepoint, None)
            self.press("." if digit is None else str(digit))
        else:
            return False
        return True
