"""Headless UI test harness: the real app, rendered offscreen, driven by real taps and keys.

Applies the headless recipe of terminal/ui/headless.py before Kivy is imported, and provides fixtures:

- `ui` — a `UI` driver around a fresh `ChaoshouApp` (own data dir under tmp_path, worker
  thread started when enrolled). Helpers: `ui.tap(widget_or_id_or_text)`,
  `ui.type(text, into=field)`, `ui.key(name)`, `ui.keypad(digits, enter=True)`,
  `ui.wait_for(cond, timeout, what)` (the timeout is a base scaled by tests/deadline.py),
  `ui.shot(name)` (PNG under artifacts/ui/<test>/NN-name.png), `ui.find(id or text)`,
  `ui.screen` / `ui.go(name, **params)`, `ui.pump(frames)`, `ui.store` (a Store on the
  test's thread). Make it with `make_ui(**options)` to enrol first or configure devices.
- `gateway` — a real gateway process on loopback seeded with the demo utility
  (`sync.gateway.testing.run_gateway`), with `.url` and supervisor helpers.
- `printer_sim` — the ESC/POS simulator on a pty (`.url`, `.sim`, `.out_dir`).
- `zvt_sim` — the ZVT card terminal simulator on a pty (`.url`, `.sim`).
- `ui_flows.login(ui, operator, pin)` and `ui_flows.download_route(ui, route_id)` — the
  first part of scenario 1, reusable by every field-screen test.

Input is delivered the way it lands on a device, and the harness waits until it has landed
before the next input: a tap is complete when no widget holds its touch any more (a
ScrollView hands a quick tap to its child 0.2 s later), and no input starts while a
drop-down's dismissal is pending, a popup fades in or out or a screen transition runs (each
of those takes the next touch for itself). Typing needs a focused text field and checks that
the text landed in it.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "ui"
sys.path.insert(0, str(ROOT))

from terminal.ui import headless  # noqa: E402  (no Kivy import)

headless.prepare(tempfile.mkdtemp(prefix="chaoshou-kivy-"), headless=None)

import pytest  # noqa: E402

import gc  # noqa: E402
import shutil  # noqa: E402

from terminal.ui.app import ChaoshouApp  # noqa: E402  (registers the CJK font first)
from kivy.base import EventLoop  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.animation import Animation  # noqa: E402
from kivy.tests import UnitTestTouch  # noqa: E402
from kivy.uix.behaviors import FocusBehavior  # noqa: E402
from kivy.uix.dropdown import DropDown  # noqa: E402
from kivy.uix.modalview import ModalView  # noqa: E402
from kivy.uix.scrollview import ScrollView  # noqa: E402
from kivy.uix.spinner import Spinner  # noqa: E402
from kivy.uix.widget import Widget  # noqa: E402

from terminal.store import Store  # noqa: E402
from tests.deadline import ENV as DEADLINE_ENV, seconds  # noqa: E402
from tests.ui.rigs import (Flows, enrol_store, printer_on_pty,  # noqa: E402,F401
                           start_gateway, zvt_on_pty)

KEYS = {"enter": (13, None), "backspace": (8, None), "escape": (27, None), "tab": (9, "\t"),
        "delete": (127, None)}
FAST_WORKER = {"period": 2.0, "debounce": 0.2, "watchdog": 5.0}


class UITimeout(AssertionError):
    pass


class UI:
    """Drives one running ChaoshouApp in this process (see the module docstring)."""

    def __init__(self, app: ChaoshouApp, artifacts: Path):
        self.app = app
        self.artifacts = artifacts
        self._shots = len(list(artifacts.glob("*.png")))   # several apps in one test share the folder
        self._store: Store | None = None
        self._closed = False

    @classmethod
    def start(cls, *, artifacts: Path, data_dir: Path, gateway=None, enrol: bool = False,
              printer=None, terminal=None, language: str = "zh", start_worker: bool = True,
              worker_options: dict | None = None, config: dict | None = None) -> "UI":
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        overrides = {"app": {"language": language}}
        if gateway is not None:
            overrides["gateway"] = {"url": gateway.url}
        devices = {}
        if printer is not None:
            devices["printer_url"] = printer.url
        if terminal is not None:
            devices["terminal_url"] = terminal.url
        if devices:
            overrides["devices"] = devices
        for section, values in (config or {}).items():
            overrides.setdefault(section, {}).update(values)
        if enrol:
            if gateway is None:
                raise ValueError("enrol=True needs a gateway")
            enrol_store(data_dir / "chaoshou.db", gateway.url)
        app = ChaoshouApp(data_dir, config_overrides=overrides, start_worker=start_worker,
                          worker_options=dict(FAST_WORKER, **(worker_options or {})))
        EventLoop.ensure_window()
        app._run_prepare()
        ui = cls(app, artifacts)
        ui.pump(3)
        return ui

    # --- frames and state -------------------------------------------------------------
    def pump(self, frames: int = 1) -> None:
        for _ in range(frames):
            EventLoop.idle()

    def wait_for(self, cond, timeout: float = 10.0, what: str = ""):
        """Pump frames until `cond()` is truthy; returns its value. `timeout` is a base in
        seconds, scaled by tests/deadline.py. Screenshot on timeout."""
        limit = seconds(timeout)
        deadline = time.monotonic() + limit
        while True:
            value = cond()
            if value:
                return value
            if time.monotonic() > deadline:
                self.shot("timeout")
                raise UITimeout(f"timed out after {limit:g}s waiting for {what or cond} "
                                f"(screen {self.app.sm.current!r}, banner {self.app.banner.text!r};"
                                f" more time: {DEADLINE_ENV})")
            EventLoop.idle()

    def unsettled(self) -> str | None:
        """What would take the next input for itself, or None when nothing would."""
        if self.app.sm.transition.is_active:
            return "a screen transition"
        for w in Window.children:
            if isinstance(w, DropDown):
                owner = w.attach_to
                if owner is None or (isinstance(owner, Spinner) and not owner.is_open):
                    return "a drop-down being dismissed"
            if isinstance(w, ModalView) and (w._anim_alpha < 1 or any(
                    w.uid in getattr(a, "_widgets", {}) for a in list(Animation._instances))):
                return f"a {type(w).__name__} fading in or out"
        return None

    def settle(self, timeout: float = 10.0) -> None:
        """Pump frames until no drop-down, popup or transition would swallow the next input."""
        self.wait_for(lambda: self.unsettled() is None, timeout,
                      "the window to settle (drop-downs, popups, transitions)")

    def wait_screen(self, name: str, timeout: float = 10.0):
        self.wait_for(lambda: self.app.sm.current == name, timeout, f"screen {name}")
        self.pump(2)
        return self.screen

    @property
    def screen(self):
        return self.app.sm.current_screen

    @property
    def services(self):
        return self.app.services

    @property
    def store(self) -> Store:
        """A Store on the test's own thread (the app's file)."""
        if self._store is None:
            self._store = Store(self.app.services.db_path, check=False)
        return self._store

    def go(self, name: str, **params):
        self.app.go(name, **params)
        return self.wait_screen(name)

    # --- finding widgets ----------------------------------------------------------------
    def _roots(self):
        for overlay in Window.children:      # popups and drop-downs sit above the app
            if overlay is not self.app.root:
                yield overlay
        yield self.screen
        root = self.app.root
        for child in root.children:
            if child is not self.app.sm:
                yield child

    def find(self, query, *, where=None, required: bool = True):
        """A widget by id (any `ids` in the current screen, status bar or banner) or by
        its shown text (exact, or the msgid translated). None when not required."""
        if isinstance(query, Widget):
            return query
        roots = [where] if where is not None else list(self._roots())
        for top in roots:
            if query in getattr(top, "ids", {}):
                return top.ids[query]
            for w in top.walk(restrict=True):
                ids = getattr(w, "ids", None)
                if ids and query in ids:
                    return ids[query]
        texts = {query, self.app.tr(query)}
        for top in roots:
            for w in top.walk(restrict=True):
                if getattr(w, "text", None) in texts and w.opacity > 0:
                    return w
        if required:
            raise LookupError(f"no widget {query!r} on screen {self.app.sm.current!r}")
        return None

    def exists(self, query) -> bool:
        return self.find(query, required=False) is not None

    # --- input ------------------------------------------------------------------------
    def tap(self, target, *, pump: int = 3):
        """A real touch (down + up) at the centre of the widget (scrolled into view), once
        the window has settled; returns when the touch has been delivered completely."""
        self.settle()
        widget, x, y = self.wait_for(lambda: self._in_view(target), 5,
                                     f"{target!r} scrolled onto the screen")
        self.touch_at(x, y, pump=pump)
        return widget

    def _in_view(self, target):
        """(widget, x, y) of the target's centre once scrolled into view, else None (the
        screen may rebuild its widgets meanwhile, e.g. when counts refresh: asked again)."""
        widget = self.find(target)
        node = widget.parent
        while node is not None and node is not Window:
            if isinstance(node, ScrollView):
                node.scroll_to(widget, padding=10, animate=False)
                self.pump(2)
                if isinstance(target, str):   # the screen may have rebuilt it meanwhile
                    widget = self.find(target)
                break
            node = node.parent
        x, y = widget.to_window(*widget.center)
        return (widget, x, y) if 0 <= x < Window.width and 0 <= y < Window.height else None

    def touch_at(self, x: float, y: float, *, pump: int = 3) -> None:
        """A touch down and up at window coordinates, with no frame in between (a frame
        could move the widget away from under the finger); waits until every widget that
        took the touch has let it go, then until the window has settled again."""
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()
        self.wait_for(lambda: not any(ref() is not None for ref in touch.grab_list), 10,
                      f"the tap at {(round(x), round(y))} delivered")
        self.pump(pump)
        self.settle()

    @staticmethod
    def focused():
        """The widget that has the keyboard (a focused text field), or None."""
        return next((w for w in FocusBehavior._keyboards.values() if w is not None), None)

    def has_focus(self, target) -> bool:
        """Whether `target` (widget, id or text) has the keyboard (`ids` hold weak proxies,
        so widgets are compared by uid)."""
        focused = self.focused()
        return focused is not None and focused.uid == self.find(target).uid

    def type(self, text: str, *, into=None) -> None:
        """Type text as a hardware keyboard would, into the focused text field (`into`, a
        widget, id or text, is tapped first unless it has the focus already). Fails unless
        a field has the focus (keys would be lost) and unless the text landed in it."""
        self.settle()
        if into is not None:
            field = self.find(into)
            if not self.has_focus(field):
                self.tap(field)
            self.wait_for(lambda: self.has_focus(field), 5, f"{into!r} focused")
        field = self.focused()
        if field is None:
            raise AssertionError(f"no text field has the focus: {text!r} would be lost")
        before = field.text
        for ch in text:
            code = ord(ch) if ord(ch) < 256 else 0
            Window.dispatch("on_key_down", code, 0, ch, [])
            Window.dispatch("on_textinput", ch)
            Window.dispatch("on_key_up", code, 0)
        self.pump(2)
        kept = "".join(ch for ch in text if ch.isdigit()) if field.input_filter == "int" else text
        if (not self.has_focus(field) or kept not in field.text
                or len(field.text) != len(before) + len(kept)):
            raise AssertionError(f"typed {text!r} into {getattr(field, 'hint_text', field)!r}, "
                                 f"which now holds {field.text!r} (before {before!r})")

    def key(self, name: str) -> None:
        code, text = KEYS[name]
        Window.dispatch("on_key_down", code, 0, text, [])
        Window.dispatch("on_key_up", code, 0)
        self.pump(2)

    def keypad(self, digits: str, *, enter: bool = True, where=None) -> None:
        """Tap digits (and OK) on the visible NumericKeypad of the current screen."""
        from terminal.ui.widgets import NumericKeypad
        pads = [w for w in (where or self.screen).walk(restrict=True)
                if isinstance(w, NumericKeypad) and w.opacity > 0 and not w.disabled]
        if not pads:
            raise LookupError(f"no keypad on screen {self.app.sm.current!r}")
        pad = pads[0]
        keys = {getattr(k, "key", None) or k.text: k for k in pad.children}
        for d in digits:
            self.tap(keys[d], pump=1)
        if enter:
            self.tap(keys["enter"])

    # --- screenshots --------------------------------------------------------------------
    def shot(self, name: str) -> Path:
        """Save the window as artifacts/ui/<test>/NN-<name>.png; returns the path."""
        self.pump(2)
        self._shots += 1
        target = self.artifacts / f"{self._shots:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        tmp = Path(tempfile.mkdtemp(prefix="shot-"))
        made = Window.screenshot(name=str(tmp / "s.png"))
        shutil.move(made, target)
        shutil.rmtree(tmp, ignore_errors=True)
        return target

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._store is not None:
            self._store.close()
        self.app.shutdown()
        gc.collect()          # drop the old widget tree so its Clock events die with it
        self.pump(2)


@pytest.fixture
def artifacts_dir(request) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    path = ARTIFACTS / name
    if path.exists():
        for old in path.glob("*.png"):
            old.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def gateway(tmp_path):
    with start_gateway(tmp_path / "gateway") as gw:
        yield gw


@pytest.fixture
def printer_sim(tmp_path):
    with printer_on_pty(tmp_path / "receipts") as sim:
        yield sim


@pytest.fixture
def zvt_sim():
    with zvt_on_pty() as sim:
        yield sim


@pytest.fixture
def make_ui(tmp_path, artifacts_dir):
    """`make_ui(gateway=gw, enrol=True, printer=sim, terminal=sim, data_dir=…, **app_kwargs)`."""
    made: list[UI] = []

    def make(**options) -> UI:
        options.setdefault("data_dir", tmp_path / f"app{len(made)}")
        ui = UI.start(artifacts=artifacts_dir, **options)
        made.append(ui)
        return ui

    yield make
    for ui in reversed(made):
        ui.close()


@pytest.fixture
def ui(make_ui):
    return make_ui()


@pytest.fixture
def ui_flows():
    return Flows
