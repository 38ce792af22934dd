"""The Kivy application: settings, fonts, i18n, screen discovery and navigation.

`ChaoshouApp(data_dir=…)` builds a root of StatusBar + ScreenManager (a MessageBanner
floating over the screen's top) and
adds one instance of every screen module in terminal/ui/screens/ (a module with `NAME`
and `SCREEN`). Navigation: `app.go(name, **params)` sets `screen.params` and switches;
`app.back()` returns to the previous screen. `app.tr(msgid, app.lang)` translates (see
terminal/ui/i18n.py). `app.services` (terminal/ui/services.py) holds the store, the sync
worker, the devices, the operator and shift, and `run()` for work off the Kivy thread.

No kv is loaded in `build()`: every kv file is loaded once when its module is imported,
so the app can be created many times in one process (the UI tests do).
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
from pathlib import Path

from terminal.ui import fonts, heap, i18n

FONT_PATH = fonts.register()  # before any widget exists

from kivy.app import App  # noqa: E402
from terminal.ui.location import DEFAULTS as LOCATION_DEFAULTS  # noqa: E402
from kivy.clock import Clock  # noqa: E402
from kivy.config import ConfigParser  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.metrics import dp  # noqa: E402
from kivy.properties import ListProperty, ObjectProperty, StringProperty  # noqa: E402
from kivy.uix.behaviors import FocusBehavior  # noqa: E402
from kivy.uix.boxlayout import BoxLayout  # noqa: E402
from kivy.uix.floatlayout import FloatLayout  # noqa: E402
from kivy.uix.screenmanager import NoTransition, ScreenManager  # noqa: E402

import terminal.ui.screens as screens_pkg  # noqa: E402
from terminal.ui import softgl  # noqa: E402
from terminal.ui.widgets import MessageBanner, StatusBar, walk_list  # noqa: E402

log = logging.getLogger(__name__)
VERSION = "0.1.0"
BANNER_LEFT = dp(124)   # the top-left corner (Back, or Log out on home) stays tappable

DEFAULTS = {
    "gateway": {"url": "http://127.0.0.1:8700", "ca_bundle": "", "device_name": "handheld"},
    "devices": {"printer_url": "", "printer_baud": "9600",
                "terminal_url": "", "terminal_baud": "9600",
                # ZVT transport: auto = bare APDUs for socket://, serial framing otherwise
                "terminal_transport": "auto"},
    "app": {"language": "zh"},
    # where the position recorded with a capture comes from (terminal/ui/location.py):
    # "" none, "android", or an NMEA receiver's port URL; fixes older or worse are flagged
    "location": dict(LOCATION_DEFAULTS),
    # meter photos (devices/camera): android | file | sim; "" = the platform's own
    "camera": {"kind": ""},
}

# the gateway URL and CA bundle are left out: they change only on the Settings screen, with a
# supervisor's approval; the card limits come from the office (docs/contracts.md §4)
SETTINGS_PANEL = [
    {"type": "title", "title": "Devices"},
    {"type": "string", "title": "Printer port URL", "section": "devices", "key": "printer_url"},
    {"type": "options", "title": "Printer baud", "section": "devices", "key": "printer_baud",
     "options": ["9600", "19200", "38400", "57600", "115200"]},
    {"type": "string", "title": "Card terminal port URL", "section": "devices", "key": "terminal_url"},
    {"type": "options", "title": "Card terminal baud", "section": "devices", "key": "terminal_baud",
     "options": ["9600", "19200", "38400", "57600", "115200"]},
    {"type": "options", "title": "Card terminal transport (ZVT)", "section": "devices",
     "key": "terminal_transport", "options": ["auto", "serial", "tcp"]},
    {"type": "title", "title": "Location"},
    {"type": "string", "title": "GPS receiver (port URL, android, or empty)", "section": "location", "key": "url"},
    {"type": "numeric", "title": "Fix older than (s) is stale", "section": "location", "key": "max_age_s"},
    {"type": "numeric", "title": "Fix worse than (m) is inaccurate", "section": "location", "key": "max_accuracy_m"},
    {"type": "title", "title": "Language"},
    {"type": "options", "title": "Language", "section": "app", "key": "language", "options": ["zh", "en"]},
]


def _on_android() -> bool:
    return "ANDROID_ARGUMENT" in os.environ or "ANDROID_PRIVATE" in os.environ


def screen_modules() -> list[str]:
    """Names of the screen modules in terminal/ui/screens/ (not imported yet)."""
    return sorted(m.name for m in pkgutil.iter_modules(screens_pkg.__path__)
                  if not m.name.startswith("_"))


def load_screen(name: str):
    """Import screen module `name` (which loads its kv once) and return its SCREEN class,
    or None when it cannot be imported or is not a screen module."""
    try:
        module = importlib.import_module(f"{screens_pkg.__name__}.{name}")
    except (Exception, SystemExit):  # one broken screen must not take the others down
        log.exception("screen module %s cannot be imported; it is left out", name)
        return None
    if getattr(module, "NAME", None) != name or getattr(module, "SCREEN", None) is None:
        log.warning("terminal/ui/screens/%s.py is not a screen module (NAME must be %r and "
                    "SCREEN its Screen class)", name, name)
        return None
    return module.SCREEN


def discover_screens() -> list:
    """(NAME, SCREEN) of every screen module, importing them all (tools and tests)."""
    found = []
    for name in screen_modules():
        cls = load_screen(name)
        if cls is not None:
            found.append((name, cls))
    return found


class ChaoshouApp(App):
    lang = StringProperty("zh")
    services = ObjectProperty(None, allownone=True)
    history = ListProperty()
    title = "抄收 Chaoshou"

    def __init__(self, data_dir: str | os.PathLike | None = None, *, demo=None,
                 config_overrides: dict | None = None, start_worker: bool = True,
                 worker_options: dict | None = None, sync_process: bool | None = None, **kwargs):
        self._data_dir = Path(data_dir) if data_dir else None
        self.demo = demo                      # terminal.ui.demo.Demo when run with --demo
        self.config_overrides = config_overrides or {}
        self.start_worker = start_worker
        self.worker_options = worker_options or {}   # extra SyncWorker arguments (period, …)
        # the sync worker runs in its own process (no GIL contention with frames), except on
        # Android where a thread is used
        self.sync_process = (not _on_android()) if sync_process is None else sync_process
        self.font_path = FONT_PATH
        super().__init__(**kwargs)
        from terminal.ui.services import Services  # imports Kivy; kept out of module import order
        self.services = Services(self)

    # --- configuration ----------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        path = self._data_dir or Path(self.user_data_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def get_application_config(self, defaultpath="%(appdir)s/%(appname)s.ini"):
        return str(self.data_dir / "chaoshou.ini")

    def build_config(self, config):
        for section, values in DEFAULTS.items():
            config.setdefaults(section, dict(values))

    def load_config(self):
        # Kivy reuses one process-wide ConfigParser named "app": an app started after
        # another in the same process (the UI tests) would inherit its settings, e.g. a
        # device port URL the operating system has since given to another device.
        stale = ConfigParser.get_configparser("app")
        if stale is not None:
            for section in stale.sections():
                stale.remove_section(section)
        config = super().load_config()
        for section, values in self.config_overrides.items():
            for key, value in values.items():
                config.set(section, key, str(value))
        if self.config_overrides:
            config.write()
        return config

    def build_settings(self, settings):
        panel = [dict(item, title=self.tr(item["title"])) for item in SETTINGS_PANEL]
        settings.add_json_panel(self.tr("Chaoshou settings"), self.config, data=json.dumps(panel))

    def on_config_change(self, config, section, key, value):
        if (section, key) == ("app", "language"):
            self.set_language(value)
        self.services.on_config_change(section, key, value)

    # --- building -----------------------------------------------------------------------
    def build(self):
        heap.tune()     # the GL driver's large buffers go back when freed
        softgl.finish_frames(Window)     # a software GL driver keeps one scene, not many
        walk_list.TEXTURES.clear()   # no rows of an earlier app in this process hold any
        self.set_language(self.config.get("app", "language"))
        # the banner floats over the screen's title, under the status bar: a message
        # appearing never moves the buttons below it; a tap on it dismisses it.
        # It leaves the title bar's Back button uncovered.
        root = FloatLayout()
        column = BoxLayout(orientation="vertical")
        self.status_bar = StatusBar()
        self.banner = MessageBanner(size_hint=(None, None), pos_hint={"right": 1})
        root.bind(width=lambda _r, w: setattr(self.banner, "width", w - BANNER_LEFT))
        self.sm = ScreenManager(transition=NoTransition())
        column.add_widget(self.status_bar)
        column.add_widget(self.sm)
        root.add_widget(column)
        root.add_widget(self.banner)

        def under_status_bar(*_):
            self.banner.top = self.status_bar.y
        self.status_bar.bind(y=under_status_bar)
        self.banner.bind(height=under_status_bar)
        # a screen's module (and its kv) is imported and the screen built on first use:
        # faster start, less memory
        self.screen_names = screen_modules()
        self.screen_classes: dict = {}
        if FONT_PATH is None:
            Clock.schedule_once(lambda *_: self.notify(fonts.MISSING_MESSAGE, "error", 0))
        Window.bind(on_keyboard=self._on_keyboard)
        return root

    PREBUILD = ("home", "walk")   # built while the operator keys the PIN, one per frame

    def on_start(self):
        self.services.start()
        first = "login" if self.services.enrolled() else "enrol"
        self.go(first)
        pending = [name for name in self.PREBUILD if name in self.screen_names]

        def prebuild(_dt):
            if pending and self.root is not None and self.root.get_root_window() is not None:
                self.screen(pending.pop(0))
                return bool(pending)
            return False
        Clock.schedule_interval(prebuild, 0.3)

    def on_stop(self):
        Window.unbind(on_keyboard=self._on_keyboard)
        if self.services is not None:
            self.services.close()

    def shutdown(self) -> None:
        """Stop this app without ending Kivy's event loop (tests make many apps)."""
        self.dispatch("on_stop")
        # a field left focused would keep the keyboard: the next app's keypads and fields
        # would never see a key
        for widget in list(FocusBehavior._keyboards.values()):
            if widget is not None:
                widget.focus = False
        window = self._app_window or Window
        for child in list(window.children):
            window.remove_widget(child)
        # App._running_app stays this app until the next one is made: Clock events already
        # scheduled by this app's widgets may still run and must find an app.

    # --- navigation ---------------------------------------------------------------------
    def go(self, name: str, **params) -> bool:
        """Show screen `name` with `params` (set on `screen.params` before it enters)."""
        screen = self.screen(name)
        if screen is None:
            self.notify(self.tr("This function is not available yet ({name}).").format(name=name),
                        "warning")
            return False
        screen.params = params
        current = self.sm.current
        if current and current != name and current not in ("enrol",):
            self.history.append(current)
            del self.history[:-20]
        self.sm.current = name
        return True

    def screen(self, name: str):
        """The screen `name`, built now if it was not yet; None when there is no such screen."""
        if self.sm.has_screen(name):
            return self.sm.get_screen(name)
        if name not in self.screen_names:
            return None
        cls = self.screen_classes.get(name) or load_screen(name)
        if cls is None:
            self.screen_names.remove(name)
            return None
        self.screen_classes[name] = cls
        try:
            screen = cls(name=name)
        except Exception:
            log.exception("screen %s failed to build", name)
            self.screen_names.remove(name)
            return None
        self.sm.add_widget(screen)
        return screen

    def back(self) -> bool:
        while self.history:
            name = self.history.pop()
            if name != self.sm.current and name not in ("login", "enrol"):
                screen = self.sm.get_screen(name)
                self.sm.current = screen.name
                return True
        return False

    def _on_keyboard(self, _window, key, *_args):
        if key == 27:  # Escape / Android back
            return self.back()
        return False

    @property
    def current_screen(self):
        return self.sm.current_screen

    # --- language and messages ----------------------------------------------------------
    def tr(self, msgid: str, *_bindings) -> str:
        """Translate `msgid`; extra arguments only make kv re-evaluate (pass `app.lang`)."""
        return i18n.tr(msgid, self.lang)

    def set_language(self, lang: str) -> None:
        if lang not in i18n.LANGS:
            lang = "zh"
        i18n.set_language(lang)
        self.lang = lang
        if self.config and self.config.get("app", "language") != lang:
            self.config.set("app", "language", lang)
            self.config.write()
        services = self.services
        if services is not None and services.store is not None:  # the store remembers it too
            services.run(services.store.set_meta, "ui_language", lang,
                         on_error=lambda exc: log.warning("language not stored: %s", exc))

    def error_text(self, exc: BaseException) -> str:
        return i18n.error_text(exc, self.lang)

    def notify(self, text: str, level: str = "info", seconds: float = 6) -> None:
        log.info("[%s] %s", level, text)
        self.banner.show(text, level, seconds)
