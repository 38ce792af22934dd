"""AppScreen: an optional base for screens — `params` from `app.go`, and a shortcut to
the app-level message banner. Screens may subclass plain `Screen` instead; the app only
needs `NAME` and `SCREEN` in the module."""
from kivy.app import App
from kivy.properties import DictProperty
from kivy.uix.screenmanager import Screen


class AppScreen(Screen):
    params = DictProperty()

    def __init__(self, **kwargs):
        self._app = App.get_running_app()   # the app that made this screen (tests make many)
        super().__init__(**kwargs)

    @property
    def app(self):
        return self._app or App.get_running_app()

    def notify(self, text: str, level: str = "info", seconds: float = 6) -> None:
        self.app.notify(text, level, seconds)
