"""Home: the operator's tiles by role — routes, route walk / collect, agents, shift, sync,
supervisor, settings — and log out. Tiles whose screen is not installed say so."""
from pathlib import Path

from kivy.lang import Builder
from kivy.properties import ListProperty

from terminal.ui.widgets import AppScreen, Tile

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

NAME = "home"

# (target screen, title msgid, hint msgid, roles that see it; None = everyone)
TILES = [
    ("routes", "Routes", "Download and update", ("reader", "supervisor")),
    ("walk", "Route walk", "Read meters, collect", ("reader", "collector")),
    ("agents", "Agents", "Agency collection", ("collector",)),
    ("shift", "Shift", "Open, X/Z report, close", ("collector",)),
    ("sync", "Sync", "Uploads and problems", None),
    ("supervisor", "Supervisor", "Assign routes, approve", ("supervisor",)),
    ("settings", "Settings", "Gateway, devices, language", None),
]


def tiles_for(roles) -> list[tuple]:
    roles = set(roles or ())
    return [t for t in TILES if t[3] is None or roles & set(t[3])]


class HomeScreen(AppScreen):
    tiles = ListProperty()

    def on_pre_enter(self, *_):
        operator = self.app.services.operator or {}
        self.tiles = tiles_for(operator.get("roles"))
        grid = self.ids.tiles
        grid.clear_widgets()
        for target, title, hint, _roles in self.tiles:
            tile = Tile(target=target)
            self.ids[f"tile_{target}"] = tile
            tile.title_msgid, tile.hint_msgid = title, hint
            self._label(tile)
            tile.bind(on_release=lambda t: self.open(t.target))
            grid.add_widget(tile)

    def on_kv_post(self, base_widget):
        self.app.bind(lang=lambda *_: [self._label(t) for t in self.ids.tiles.children])

    def _label(self, tile) -> None:
        tile.text = (f"[b]{self.app.tr(tile.title_msgid)}[/b]\n"
                     f"[size=16sp]{self.app.tr(tile.hint_msgid)}[/size]")

    def open(self, target: str) -> None:
        self.app.go(target)

    def logout(self) -> None:
        self.app.services.set_operator(None)
        self.app.history.clear()
        self.app.go("login")


SCREEN = HomeScreen
