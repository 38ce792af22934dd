"""Small helpers and widgets shared by the field screens (walk, account, reading, payment,
agents, shift): money text, translation and core-error text, the worker-call helper whose
callbacks are dropped once the app has stopped, a choice popup, and a keypad that takes
hardware keys only on the visible stage of a screen.
"""
from kivy.app import App
from kivy.lang import Builder
from kivy.properties import ListProperty, ObjectProperty, StringProperty
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import Screen

from terminal.ui.i18n import error_text  # noqa: F401  (the field screens import it from here)
from terminal.receipt_docs import reading_text as fmt_reading  # noqa: F401  (shared with paper)
from terminal.ui.widgets import BigButton, NumericKeypad


Builder.load_string("""
<ChoicePopup>:
    size_hint: 0.92, 0.85
    BoxLayout:
        orientation: "vertical"
        spacing: dp(4)
        ScrollView:
            do_scroll_x: False
            BoxLayout:
                id: box
                orientation: "vertical"
                size_hint_y: None
                height: self.minimum_height
                spacing: dp(4)
        FieldButton:
            id: cancel
            text: root.cancel_text
            background_color: 0.6, 0.6, 0.6, 1
            on_release: root.dismiss()
""")


class FieldButton(BigButton):
    """The shared BigButton (≥ 56 dp, wrapped text), named for the field screens' kv."""


def fmt_fen(fen) -> str:
    """Integer fen as yuan text: 123456 → "1,234.56"; None → "—"."""
    if fen is None:
        return "—"
    fen = int(fen)
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def hazard_texts(store, raw: str | None) -> dict:
    """Worker: an account's hazard in each language ({"zh": …, "en": …}), from the office's
    hazard codes (a hazard written as "zh en", a code, or either text); {} for none. Text
    that matches no code is shown as written."""
    if not raw:
        return {}
    from terminal import codes
    for c in codes.list_codes(store, "hazard"):
        if raw.strip() in (c["code"], c["zh"], c["en"], f"{c['zh']} {c['en']}"):
            return {"zh": c["zh"], "en": c["en"]}
    return {"zh": raw, "en": raw}


def tr(msgid: str) -> str:
    """Translate in the operator's current language (falls back to the msgid)."""
    app = App.get_running_app()
    if app is not None and hasattr(app, "tr"):
        return app.tr(msgid)
    return msgid


def lang() -> str:
    app = App.get_running_app()
    return getattr(app, "lang", "zh") if app is not None else "zh"


def alive(callback):
    """`callback` that does nothing once the app has stopped (a worker finishing during
    shutdown must not touch widgets whose kv rules refer to the app)."""
    def call(*args):
        if callback is not None and App.get_running_app() is not None:
            callback(*args)
    return call


def run(fn, *args, on_done=None, on_error=None, **kwargs):
    """Run fn on a worker thread through app.services.run; callbacks on the Kivy thread."""
    app = App.get_running_app()
    call = (lambda: fn(*args, **kwargs)) if kwargs else fn
    call_args = () if kwargs else args
    app.services.run(call, *call_args, on_done=alive(on_done), on_error=alive(on_error))


class ChoicePopup(Popup):
    """A list of big buttons; tapping one calls choose_callback(key) and closes."""
    choices = ListProperty()          # [(key, label), ...]
    choose_callback = ObjectProperty(None)
    cancel_text = StringProperty("")

    def __init__(self, **kw):
        super().__init__(**kw)
        self.cancel_text = tr("Cancel")
        box = self.ids.box
        for key, label in self.choices:
            b = FieldButton(text=label)
            b.bind(on_release=lambda _b, k=key: self._choose(k))
            box.add_widget(b)

    def _choose(self, key):
        self.dismiss()
        if self.choose_callback:
            self.choose_callback(key)


class FieldKeypad(NumericKeypad):
    """The shared NumericKeypad, taking hardware keys only when every Screen around it is
    the current one (the field screens nest a ScreenManager for their stages)."""

    def _active(self) -> bool:
        if not super()._active():
            return False
        node = self.parent
        while node is not None:
            if isinstance(node, Screen) and (node.manager is None or node.manager.current != node.name):
                return False
            node = node.parent
        return True
