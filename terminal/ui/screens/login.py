"""Login: operator number and PIN on the on-screen keypad, checked offline against the
downloaded PIN hashes (terminal.operators, on a worker thread — the hash is slow on
purpose); lockout message with the time it ends; language switch 中文 / English."""
import time
from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from terminal.ui.widgets import AppScreen

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

NAME = "login"


def check_login(store, operator_id: str, pin: str) -> dict:
    """Verify number + PIN; returns {"operator_id","name","roles","shift_id"} or raises."""
    from terminal import operators
    op = operators.login(store, operator_id, pin)
    result = {"operator_id": _get(op, "operator_id"), "name": _get(op, "name"),
              "roles": list(_get(op, "roles") or ())}
    from terminal import shifts
    shift = shifts.current_shift(store)
    result["shift_id"] = shift["shift_id"] if shift else ""
    return result


def _get(obj, key):
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


class LoginScreen(AppScreen):
    operator_no = StringProperty("")
    pin = StringProperty("")
    field = StringProperty("operator")   # which field the keypad edits
    message = StringProperty("")
    busy = BooleanProperty(False)
    locked_until = NumericProperty(0)

    def on_pre_enter(self, *_):
        self.operator_no = ""
        self.pin = ""
        self.message = ""
        self.busy = False
        self.app.services.set_operator(None)
        self.select("operator")

    def select(self, field: str) -> None:
        self.field = field
        self.ids.keypad.max_length = 8 if field == "operator" else 12
        self.ids.keypad.value = self.operator_no if field == "operator" else self.pin

    def on_keypad_change(self, value: str) -> None:
        if self.field == "operator":
            self.operator_no = value
        else:
            self.pin = value

    def on_keypad_enter(self, _value: str) -> None:
        if self.field == "operator":
            if self.operator_no:
                self.select("pin")
            return
        self.submit()

    def submit(self) -> None:
        if self.busy:
            return
        if not self.operator_no or not self.pin:
            self.message = self.app.tr("Enter your operator number and PIN.")
            return
        self.busy = True
        self.message = self.app.tr("Checking…")
        services = self.app.services
        services.run(check_login, services.store, self.operator_no, self.pin,
                     on_done=self._done, on_error=self._failed)

    def _done(self, operator: dict) -> None:
        self.busy = False
        self.pin = ""
        services = self.app.services
        services.set_operator(operator)
        services.shift_id = operator.get("shift_id") or ""
        self.app.go("home")

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        self.pin = ""
        self.select("pin")
        self.message = self.app.error_text(exc)
        remaining = getattr(exc, "remaining_s", 0) or 0
        if getattr(exc, "code", "") == "locked" and remaining:
            until = time.strftime("%H:%M:%S", time.localtime(time.time() + remaining))
            self.message += "\n" + self.app.tr("Locked after too many wrong PINs. Try again at {t}.").format(t=until)
            self.locked_until = time.time() + remaining


SCREEN = LoginScreen
