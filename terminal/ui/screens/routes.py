"""Routes: the routes assigned to this device (from the gateway, via the sync worker's
assignments) and those on the device, each with a progress bar; download / update with
live progress through the sync worker; open a route's walk."""
from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, DictProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from terminal.ui.widgets import AppScreen

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

NAME = "routes"


def local_routes(store) -> tuple[list[dict], dict]:
    """Worker: the routes on the device with their progress counts, and the operators'
    names by id (to say whose a route is)."""
    from terminal import route_walk
    names = {r[0]: r[1] for r in store.conn.execute("SELECT operator_id, name FROM operators")}
    return route_walk.list_routes(store), names


def merge(assigned: list[dict], local: list[dict], me: str = "") -> list[dict]:
    """One row per route: assignment (server) + progress (device); the operator's own
    routes first, then the others, each by route id."""
    rows: dict[str, dict] = {}
    for a in assigned or ():
        rows[a["route_id"]] = {"route_id": a["route_id"], "name": a.get("name") or a["route_id"],
                               "assigned": True, "on_device": False,
                               "operator_id": a.get("operator_id") or "",
                               "download_requested": bool(a.get("download_requested")),
                               "server_version": a.get("server_version"), "progress": {}}
    for r in local or ():
        row = rows.setdefault(r["route_id"], {"route_id": r["route_id"], "assigned": False,
                                              "download_requested": False, "progress": {}})
        row.update(name=r.get("name") or r["route_id"], on_device=True, cycle=r.get("cycle"),
                   local_version=r.get("server_version"), progress=r.get("progress") or {})
    return sorted(rows.values(), key=lambda r: (r.get("operator_id", me) != me, r["route_id"]))


class RouteRow(BoxLayout):
    route_id = StringProperty("")
    name = StringProperty("")
    local = BooleanProperty(False)
    assigned = BooleanProperty(False)
    requested = BooleanProperty(False)
    total = NumericProperty(0)
    done = NumericProperty(0)
    counts = DictProperty()
    downloading = BooleanProperty(False)
    dl_done = NumericProperty(0)
    dl_total = NumericProperty(0)
    assignee = StringProperty("")       # another reader's name when the route is theirs


class RoutesScreen(AppScreen):
    rows = ListProperty()
    loading = BooleanProperty(False)
    _last_download = None

    def on_kv_post(self, base_widget):
        services = self.app.services
        services.bind(download=self._on_download, sync_status=self._on_status)

    def on_pre_enter(self, *_):
        self.refresh()
        if self.app.services.worker is not None:
            self.app.services.sync_now()   # fresh assignments from the gateway

    def refresh(self) -> None:
        services = self.app.services
        self.loading = True
        services.run(local_routes, services.store, on_done=self._show,
                     on_error=self._failed)

    def _failed(self, exc):
        self.loading = False
        self.notify(self.app.error_text(exc), "error")

    def _show(self, res) -> None:
        local, names = res
        self.loading = False
        assigned = (self.app.services.sync_status or {}).get("assignments") or []
        me = (self.app.services.operator or {}).get("operator_id") or ""
        self.rows = merge(assigned, local, me)
        box = self.ids.rows
        existing = list(reversed(box.children))
        same = [w.route_id for w in existing] == [r["route_id"] for r in self.rows]
        if not same:   # rebuild only when the set of routes changed; else update in place
            box.clear_widgets()
        for i, r in enumerate(self.rows):
            p = r.get("progress") or {}
            values = dict(route_id=r["route_id"], name=r.get("name", ""),
                          local=r.get("on_device", False), assigned=r.get("assigned", False),
                          requested=r.get("download_requested", False),
                          total=p.get("total", 0), done=p.get("read", 0) + p.get("skipped", 0),
                          counts=p, assignee="" if r.get("operator_id", me) in ("", me) else
                          names.get(r["operator_id"], r["operator_id"]))
            if same:
                row = existing[i]
                for key, value in values.items():
                    setattr(row, key, value)
            else:
                row = RouteRow(**values)
                box.add_widget(row)
            # per-route ids on the screen, for tests and automation
            self.ids[f"download_{r['route_id']}"] = row.ids.download_button
            self.ids[f"open_{r['route_id']}"] = row.ids.open_button
        self._on_download(None, self.app.services.download)

    def _on_download(self, _services, download) -> None:
        download = download or {}
        for row in self.ids.rows.children:
            mine = download.get("route_id") == row.route_id
            row.downloading = mine and download.get("state") == "running"
            row.dl_done = (download.get("done") or 0) if mine else 0
            row.dl_total = (download.get("total") or 0) if mine else 0
        key = (download.get("route_id"), download.get("state"), download.get("at"))
        if download.get("state") in ("done", "failed") and key != self._last_download \
                and self.manager and self.manager.current == NAME:
            self._last_download = key
            if download.get("state") == "failed":
                self.notify(self.app.tr("Download of {route} failed; it will be tried again. The old route stays usable.")
                            .format(route=download.get("route_id")), "error")
            else:   # the update says it is over
                self.notify(self.app.tr("Route {route} is ready: {n} accounts, done.")
                            .format(route=download.get("route_id"), n=download.get("total") or 0), "ok")
            self.refresh()

    def _on_status(self, _services, status) -> None:
        if self.manager and self.manager.current == NAME and not self.loading:
            known = {r["route_id"] for r in self.rows}
            assigned = {a["route_id"] for a in (status or {}).get("assignments") or ()}
            if assigned - known:
                self.refresh()

    def download(self, route_id: str) -> None:
        services = self.app.services
        if services.worker is None and not services.enrolled():
            self.notify(self.app.tr("This device is not enrolled."), "error")
            return
        services.request_download(route_id)
        services.download = {"route_id": route_id, "done": 0, "total": 0, "state": "running"}
        self.notify(self.app.tr("Downloading {route}…").format(route=route_id), "info", 3)

    def open_route(self, route_id: str) -> None:
        self.app.go("walk", route_id=route_id)


SCREEN = RoutesScreen
