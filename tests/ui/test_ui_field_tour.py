"""Readable outdoors, and one language at a time: a tour of every screen, in Chinese and in
English, with a reader-collector and a supervisor, fails on

- any string of the other language or any untranslated catalog key (data — names,
  addresses, route names — is what the utility wrote and is left out of the check);
- any visible text using a codepoint the bundled font cannot draw (a box on screen);
- any text on a field screen smaller than the theme's minimum size;

and the theme's text colours reach WCAG AA (4.5:1) on what they are drawn on. Every screen
of the tour is screenshotted under artifacts/ui/<test>/.
"""
import re

import pytest
from fontTools.ttLib import TTCollection, TTFont
from kivy.core.window import Window
from kivy.uix.label import Label
from kivy.uix.textinput import TextInput

from terminal import outbox
from terminal.ui import fonts
from terminal.ui.widgets import theme

from test_ui_field_collect import open_shift
from test_ui_field_reader import keyin, popup_button, popup_open, tap_tile, touch

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
WORD = re.compile(r"(?<![\w/.:-])[A-Za-z]{2,}(?![\w/.:-])")   # a word, not part of an id or path
# technical names kept as they are in the Chinese screens
LATIN_TERMS = {"kWh", "PIN", "ZVT", "COPY", "QR", "URL", "KB", "CA", "PEM", "GPS", "ID", "OK",
               "Chaoshou", "tcp", "serial", "auto"}
MARKUP = re.compile(r"\[/?[a-z]+(=[^\]]*)?\]")


def luminance(rgba) -> float:
    def channel(v):
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg, bg) -> float:
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_theme_text_colours_reach_wcag_aa():
    low = {what: round(contrast(fg, bg), 2) for what, fg, bg in theme.PAIRS if contrast(fg, bg) < 4.5}
    assert low == {}
    assert len(theme.PAIRS) >= 15


def font_codepoints() -> set[int]:
    path = fonts.find("regular")
    font = TTCollection(path).fonts[0] if path.endswith(".ttc") else TTFont(path)
    return set(font.getBestCmap())


def shown(widget) -> bool:
    node = widget
    while node is not None and node is not Window:
        if getattr(node, "opacity", 1) <= 0 or node.width <= 1 or node.height <= 1:
            return False
        node = node.parent
    x, y = widget.to_window(widget.x, widget.y)
    return x < Window.width and y < Window.height and x + widget.width > 0 and y + widget.height > 0


def visible_texts(ui):
    """(text, font size, widget) of every text on screen now (popups included)."""
    from terminal.ui.screens.walk import WalkRow
    out = []
    for top in list(Window.children):
        for w in top.walk(restrict=True):
            if isinstance(w, WalkRow) and shown(w):
                for text in (w.status_label(w.status), w.arrears_label(w.arrears_fen)):
                    if text:
                        out.append((text, w.STYLES["status"][0], w))
            elif isinstance(w, (Label, TextInput)) and shown(w):
                text = MARKUP.sub("", w.text or "") if isinstance(w, Label) else \
                    (w.text or w.hint_text or "")
                if text.strip():
                    out.append((text, w.font_size, w))
    return out


def data_strings(ui) -> list[str]:
    """What the utility wrote (names, addresses, route and agent names…), longest first."""
    conn = ui.store.conn
    found = set()
    for sql in ("SELECT name, address FROM accounts", "SELECT name FROM routes",
                "SELECT name FROM operators", "SELECT name FROM agents", "SELECT name FROM tariffs"):
        try:
            for row in conn.execute(sql):
                found.update(v for v in row if v)
        except Exception:  # noqa: BLE001 — a table this version does not have
            pass
    found.add(ui.store.get_meta("company_name") or "")
    found.update(("中文", "English"))           # the language names, each in its own language
    return sorted((s for s in found if s), key=len, reverse=True)


class Tour:
    def __init__(self, ui, lang):
        self.ui, self.lang = ui, lang
        self.cmap = font_codepoints()
        self.problems = []
        self.data = None
        self.office_data = set()     # names the office sends (routes not on this device)

    def check(self, where: str, field: bool = True):
        ui = self.ui
        ui.pump(3)
        ui.shot(f"{self.lang}-{where}")
        if self.data is None or ui.store.conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]:
            self.data = sorted(set(data_strings(ui)) | self.office_data, key=len, reverse=True)
        for text, size, widget in visible_texts(ui):
            missing = sorted({c for c in text if not c.isspace() and ord(c) not in self.cmap})
            if missing:
                self.problems.append((where, "no glyph", "".join(missing), text[:60]))
            if field and size < theme.MIN_TEXT - 0.5:
                self.problems.append((where, "small text", round(size), text[:60]))
            rest = text
            for d in self.data:
                if d in rest:
                    rest = rest.replace(d, " ")
            if self.lang == "en" and CJK.search(rest):
                self.problems.append((where, "Chinese in English", text[:80]))
            if self.lang == "zh":
                words = [w for w in WORD.findall(rest) if w not in LATIN_TERMS]
                if words:
                    self.problems.append((where, "English in Chinese", words[:4], text[:80]))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_screen_in_one_language_drawable_and_large_enough(make_ui, gateway, ui_flows, lang):
    ui = make_ui(gateway=gateway, enrol=True, language=lang)
    tour = Tour(ui, lang)
    ui.wait_screen("login")
    tour.check("login", field=False)
    ui_flows.login(ui, "3001", "1234", shot=False)
    tour.check("home")
    ui_flows.download_route(ui, "R001", gateway=gateway)
    tour.check("routes")
    hazard = ui.store.conn.execute("SELECT account_no FROM accounts WHERE route_id='R001' AND "
                                   "hazard IS NOT NULL ORDER BY seq LIMIT 1").fetchone()[0]
    walk = ui.go("walk", route_id="R001")
    ui.wait_for(lambda: not walk.loading and walk.ids.rv.data, 10, "walk rows")
    tour.check("walk")
    account = ui.go("account", account_no=hazard, route_id="R001")
    ui.wait_for(lambda: account.loaded and account.account_no == hazard, 10, "account")
    tour.check("account-hazard")
    ui.tap("read")
    reading = ui.wait_screen("reading")
    ui.wait_for(lambda: reading.loaded and reading.account_no == hazard, 10, "entry")
    tour.check("reading-hazard")
    for picker in ("skip_code", "trouble_code"):
        ui.tap(picker)
        ui.wait_for(popup_open, 5, picker)
        tour.check(f"reading-{picker}")
        touch(ui, popup_button(ui.app.tr("Cancel")))
        ui.wait_for(lambda: not popup_open(), 5, "popup closed")
    ui.app.go("home")
    open_shift(ui, "20000")
    shift = tap_tile(ui, "shift")
    ui.wait_for(lambda: shift.stage == "running", 10, "shift")
    tour.check("shift")
    pay = ui.go("payment", account_no=hazard, route_id="R001")
    ui.wait_for(lambda: pay.loaded, 10, "bill")
    tour.check("payment")
    ui.tap("clear")
    keyin(ui, "1000")
    ui.tap("cash")
    ui.wait_for(lambda: pay.stage == "cash", 5, "cash")
    tour.check("payment-cash")
    agents = ui.go("agents")
    ui.wait_for(lambda: agents.ids.agent_rv.data, 10, "agents")
    tour.check("agents")
    with ui.store.transaction() as conn:     # an op the gateway rejects: an exception
        outbox.append(conn, "meter_photo", {"account_no": hazard}, operator_id="3001")
    ui.services.sync_now()
    ui.wait_for(lambda: gateway.query("SELECT COUNT(*) AS n FROM exceptions")[0]["n"], 30,
                "an exception on the gateway")
    ui.go("sync")
    tour.check("sync")
    ui.app.go("home")
    ui.wait_screen("home")
    ui.tap("logout_button")
    ui_flows.login(ui, "9001", "99999999", shot=False)
    tour.check("home-supervisor")
    sup = tap_tile(ui, "supervisor")
    ui.keypad("99999999")
    ui.wait_for(lambda: sup.connected and sup.routes, 20, "connected")
    tour.office_data.update(r["name"] for r in sup.routes if r.get("name"))
    tour.check("supervisor-routes")
    ui.tap("tab_exceptions")
    ui.wait_for(lambda: sup.exceptions, 10, "the exception listed")
    tour.check("supervisor-exceptions")
    ui.app.go("settings")
    ui.wait_screen("settings")
    ui.wait_for(lambda: ui.screen.about_text, 10, "about")
    tour.check("settings", field=False)
    assert tour.problems == [], "\n".join(map(str, tour.problems))
