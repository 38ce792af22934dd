"""Route walk screen: the route's accounts in walk order in a RecycleView, filters (unread,
skipped, problems, in arrears), search as you type, resequencing (move after…), tap → account.

All queries run on a worker thread; a newer query supersedes an older one (token), so a
fast typist never sees stale results land after fresh ones.

Rows draw their texts as cached textures (terminal/ui/widgets/walk_list.py holds the
cache, the equal-height row layout and the scissor-clipped list).
"""
import json
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.graphics import Color, Rectangle
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivy.uix.widget import Widget

from terminal import route_walk, search
from terminal.ui.widgets import AppScreen, theme
# WalkList and WalkLayout are named by walk.kv; the benchmark times TextTextures through here.
from terminal.ui.widgets.walk_list import (TEXTURES, TextTextures, WalkLayout,  # noqa: F401
                                           WalkList)
from terminal.ui.widgets.field_common import error_text, fmt_fen, run, tr

FILTERS = ("all", "unread", "skipped", "problems", "arrears")
STATUS_COLORS = theme.STATUS


def load_walk(store, route_id, filter_, query):
    """Worker: (route header, progress, rows) for the list."""
    route = None
    if route_id:
        try:
            route = route_walk.route_info(store, route_id)
        except KeyError:
            route = None
    if route is None:
        all_routes = route_walk.list_routes(store)
        route = all_routes[0] if all_routes else None
    if route is None:
        return None, None, []
    rid = route["route_id"]
    if query.strip():
        # the filter applies to search results too (欠费 with a name fragment)
        rows = [r for r in _with_status(store, search.search(store, query, limit=300))
                if _keep(r, filter_)]
        progress = route_walk.progress(store, rid)
    else:   # the whole route is read anyway: its progress is counted from it
        everything = route_walk.walk(store, rid)
        progress = route_walk.progress_of(everything)
        rows = [r for r in everything if route_walk.passes(r, filter_)]
    outliers = _confirmed_outliers(store, [r["account_no"] for r in rows])
    return route, progress, [_row(r, r["account_no"] in outliers) for r in rows]


def _confirmed_outliers(store, account_nos) -> set:
    """Accounts whose current reading this cycle was saved past a warning or an error (the
    reader confirmed it, or keyed it twice): flagged in the list."""
    if not account_nos:
        return set()
    return {r[0] for r in store.conn.execute(
        "SELECT r.account_no FROM readings r JOIN accounts a ON a.account_no = r.account_no "
        "LEFT JOIN routes rt ON rt.route_id = a.route_id "
        "WHERE r.status = 'read' AND r.superseded_by IS NULL AND r.warnings NOT IN ('', '[]') "
        "AND (rt.cycle IS NULL OR r.cycle = rt.cycle) "
        "AND r.account_no IN (SELECT value FROM json_each(?))", (json.dumps(account_nos),))}


def _keep(r, filter_) -> bool:
    """Whether a search row passes the walk filter (route_walk.walk's rules)."""
    status = r.get("status") or "unread"
    return (filter_ in (None, "all") or (filter_ in ("unread", "skipped") and status == filter_)
            or (filter_ == "problems" and bool(r.get("trouble_code")))
            or (filter_ == "arrears" and int(r.get("arrears_fen") or 0) > 0))


def _with_status(store, rows):
    """Search rows with what the list shows beside them: walk sequence, hazard flag and this
    cycle's reading status (search itself only matches)."""
    if not rows:
        return rows
    extra = {r["account_no"]: dict(r) for r in store.conn.execute(
        "SELECT a.account_no, a.seq, a.hazard IS NOT NULL AS hazard, r.status, r.trouble_code "
        "FROM accounts a LEFT JOIN routes rt ON rt.route_id = a.route_id "
        "LEFT JOIN readings r ON r.account_no = a.account_no AND r.cycle = rt.cycle "
        "AND r.superseded_by IS NULL "
        "WHERE a.account_no IN (SELECT value FROM json_each(?))",
        (json.dumps([r["account_no"] for r in rows]),))}
    out = []
    for r in rows:
        e = extra.get(r["account_no"], {})
        out.append({**r, "seq": e.get("seq", ""), "hazard": bool(e.get("hazard")),
                    "status": e.get("status") or "unread", "trouble_code": e.get("trouble_code")})
    return out


def _row(r, outlier: bool = False) -> dict:
    status = r.get("status") or "unread"
    if r.get("trouble_code") and status == "read":
        status = "problem"
    elif outlier and status == "read":
        status = "outlier"
    return {"account_no": r["account_no"], "seq_text": str(r.get("seq", "")),
            "name": r.get("name", ""), "address": r.get("address", ""),
            "meter_no": r.get("meter_no") or "",
            "status": status, "arrears_fen": int(r.get("arrears_fen") or 0),
            "hazard": bool(r.get("hazard"))}


class WalkRow(RecycleDataViewBehavior, ButtonBehavior, Widget):
    """One account in the list: walk sequence, name · hazard · account number, address,
    status and arrears, drawn as cached text textures (no child widgets)."""
    account_no = StringProperty("")
    seq_text = StringProperty("")
    name = StringProperty("")
    address = StringProperty("")
    meter_no = StringProperty("")
    status = StringProperty("unread")
    arrears_fen = NumericProperty(0)
    hazard = BooleanProperty(False)
    selected = BooleanProperty(False)

    # (font size, tint); the texts are laid out in _place(). Theme sizes only: the text
    # renderer opens the CJK font once per size (~2.5 MB each) and keeps it.
    STYLES = {"seq": (theme.MIN_TEXT, (0.75, 0.75, 0.8, 1)), "title": (theme.FONT, (1, 1, 1, 1)),
              "address": (theme.MIN_TEXT, (0.8, 0.8, 0.85, 1)), "status": (theme.MIN_TEXT, None),
              "arrears": (theme.MIN_TEXT, (1, 0.55, 0.45, 1))}

    def __init__(self, **kw):
        self._batch = True          # no drawing until the instructions exist
        super().__init__(**kw)
        self._batch = False
        self._colors, self._rects, self._keys = {}, {}, {}
        with self.canvas:
            for part, (_size, tint) in self.STYLES.items():
                self._colors[part] = Color(*(tint or STATUS_COLORS["unread"]))
                self._rects[part] = Rectangle(size=(0, 0))
        self.fbind("pos", self._place)
        self.fbind("size", self._texts)
        app = App.get_running_app()
        if app is not None:
            app.fbind("lang", self._texts)
        self._texts()

    def refresh_view_attrs(self, rv, index, data):
        self._batch = True
        try:
            super().refresh_view_attrs(rv, index, data)
        finally:
            self._batch = False
        self._texts()

    def on_account_no(self, *_):
        self._texts()

    on_seq_text = on_name = on_address = on_status = on_arrears_fen = on_hazard = on_account_no

    def _texts(self, *_):
        if self._batch:
            return
        text_w = self.width - dp(6 + 8 + 52 + 8 + 8 + 120 + 6)
        title = self.name + ("  ⚠" if self.hazard else "") + "   " + self.account_no
        texts = {"seq": (self.seq_text, dp(52), "center"), "title": (title, text_w, "left"),
                 "address": (self.address, text_w, "left"),
                 "status": (self.status_label(self.status), dp(120), "center"),
                 "arrears": (self.arrears_label(self.arrears_fen), dp(120), "center")}
        for part, (text, width, halign) in texts.items():
            size = self.STYLES[part][0]
            key, texture = TEXTURES.acquire(text, size, width, halign) if width > 1 else (None, None)
            TEXTURES.release(self._keys.get(part))
            self._keys[part] = key
            rect = self._rects[part]
            rect.texture = texture
            rect.size = texture.size if texture is not None else (0, 0)
        self._colors["status"].rgba = self.status_color(self.status)
        self._place()

    def _place(self, *_):
        x, y, w, h = self.x, self.y, self.width, self.height
        r = self._rects
        mid = y + h / 2

        def centred(part, cx, cy):
            tw, th = r[part].size
            r[part].pos = (int(cx - tw / 2), int(cy - th / 2))

        centred("seq", x + dp(6 + 8 + 26), mid)
        left = x + dp(6 + 8 + 52 + 8)
        r["title"].pos = (int(left), int(mid + (h / 2 - dp(4) - r["title"].size[1]) / 2))
        r["address"].pos = (int(left), int(y + dp(4) + (h / 2 - dp(4) - r["address"].size[1]) / 2))
        right = x + w - dp(6 + 60)
        centred("status", right, mid + (h / 2 - dp(4)) / 2)
        centred("arrears", right, mid - (h / 2 - dp(4)) / 2)

    def status_color(self, status):
        return STATUS_COLORS.get(status, STATUS_COLORS["unread"])

    def status_label(self, status, _lang=None):
        return {"read": tr("Read"), "skipped": tr("Skipped"), "unread": tr("Unread"),
                "problem": tr("Problem"), "outlier": tr("Read · outlier")}.get(status, status)

    def arrears_label(self, fen, _lang=None):
        return (tr("Arrears") + " " + fmt_fen(fen)) if fen > 0 else ""

    def on_release(self):
        screen = App.get_running_app().sm.get_screen("walk")
        screen.row_tapped(self.account_no)


class WalkScreen(AppScreen):
    route_id = StringProperty("")
    route_name = StringProperty("")
    progress_text = StringProperty("")
    filter = StringProperty("all")
    query = StringProperty("")
    message = StringProperty("")
    move_from = StringProperty("")
    move_mode = BooleanProperty(False)
    loading = BooleanProperty(False)
    count = NumericProperty(0)

    def __init__(self, **kw):
        super().__init__(**kw)
        self._token = 0
        self._progress = {}
        self._search_trigger = Clock.create_trigger(lambda _dt: self.reload(), 0.15)
        app = App.get_running_app()
        if app is not None:
            app.fbind("lang", self._show_progress)   # texts set from Python follow a language switch
            app.services.fbind("operator", self._operator_changed)

    def _operator_changed(self, *_):
        """Log-out or another operator: their search text, filter and move go."""
        self.query = ""
        self.filter = "all"
        if "search" in self.ids:
            self.ids.search.text = ""
        self.cancel_move()

    # -- lifecycle -----------------------------------------------------------
    def on_pre_enter(self, *_):
        rid = self.params.get("route_id") if self.params else None
        if rid and rid != self.route_id:
            self.route_id = rid
            self.query = ""
            self.filter = "all"
            if "search" in self.ids:
                self.ids.search.text = ""
        self.cancel_move()
        self.reload()

    def reload(self):
        app = App.get_running_app()
        if app is None or app.services is None or app.services.store is None:
            return  # the app is shutting down (a late search trigger)
        self._token += 1
        token = self._token
        self.loading = True
        run(load_walk, app.services.store, self.route_id, self.filter, self.query,
            on_done=lambda res: self._show(token, res),
            on_error=lambda exc: self._failed(token, exc))

    def _show(self, token, res):
        if token != self._token:
            return
        route, progress, rows = res
        self.loading = False
        if route is None:
            self.route_name = ""
            self.message = tr("No route on this device. Download one on the Routes screen.")
            self.ids.rv.data = []
            self.count = 0
            return
        self.route_id = route["route_id"]
        self.route_name = route.get("name", "")
        self._progress = progress or {}
        self._show_progress()
        for r in rows:
            r["selected"] = r["account_no"] == self.move_from
        self.count = len(rows)
        self.ids.rv.data = rows
        if not self.move_mode:
            self.message = "" if rows else tr("No accounts match.")

    def _show_progress(self, *_):
        p = self._progress
        self.progress_text = tr("Read {read} · skipped {skipped} · unread {unread} of {total}").format(
            read=p.get("read", 0), skipped=p.get("skipped", 0), unread=p.get("unread", 0),
            total=p.get("total", 0))

    def _failed(self, token, exc):
        if token != self._token:
            return
        self.loading = False
        self.message = error_text(exc)

    # -- filters and search ----------------------------------------------------
    def set_filter(self, name):
        if name in FILTERS:
            self.filter = name
            self.reload()

    def on_search_text(self, text):
        self.query = text
        self._search_trigger()

    # -- taps and resequencing -------------------------------------------------
    def row_tapped(self, account_no):
        if not self.move_mode:
            App.get_running_app().go("account", account_no=account_no, route_id=self.route_id)
            return
        if not self.move_from:
            self.move_from = account_no
            self.message = tr("Now tap the account it should come after.")
            for r in self.ids.rv.data:
                r["selected"] = r["account_no"] == account_no
            self.ids.rv.refresh_from_data()
            return
        if account_no == self.move_from:
            self.cancel_move()
            return
        moving, after = self.move_from, account_no
        app = App.get_running_app()
        run(route_walk.move_after, app.services.store, moving, after,
            on_done=lambda _r: self._moved(moving, after),
            on_error=lambda exc: setattr(self, "message", error_text(exc)))

    def _moved(self, moving, after):
        self.cancel_move()
        self.message = tr("Moved {a} after {b}.").format(a=moving, b=after)
        self.reload()

    def start_move(self):
        self.move_mode = True
        self.move_from = ""
        self.message = tr("Tap the account to move.")

    def cancel_move(self):
        self.move_mode = False
        self.move_from = ""
        self.message = ""

    def go_back(self):
        App.get_running_app().go("home")


NAME = "walk"
SCREEN = WalkScreen
Builder.load_file(str(Path(__file__).with_suffix(".kv")))
