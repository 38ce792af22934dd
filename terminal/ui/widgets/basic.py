"""Small building blocks: BigButton, Tile (home screen), TitleBar, MessageBanner."""
from kivy.clock import Clock
from kivy.properties import (BooleanProperty, ColorProperty, ListProperty, NumericProperty,
                             StringProperty)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label

from terminal.ui.widgets import theme


class BigButton(Button):
    """A button at least 56 dp high with large text; `kind` picks the colour."""
    kind = StringProperty("normal")  # normal | primary | danger | ok


class Tile(Button):
    """A large square-ish home-screen tile: a title and a one-line hint."""
    hint = StringProperty("")
    target = StringProperty("")


class TitleBar(BoxLayout):
    """A screen's title with an optional back button (`back` = screen to return to)."""
    title = StringProperty("")
    back = StringProperty("")
    show_back = BooleanProperty(True)


class MessageBanner(Label):
    """A coloured line for an error/warning/info in the operator's language.

    `show(text, level, seconds)`; seconds=0 keeps it until `clear()` or a tap.
    """
    level = StringProperty("info")
    shown = BooleanProperty(False)
    bg = ColorProperty(theme.INFO)
    history = ListProperty()
    natural_height = NumericProperty(0)

    _timer = None

    def show(self, text: str, level: str = "info", seconds: float = 6) -> None:
        self.text = text
        self.level = level
        self.bg = theme.LEVEL_COLOURS.get(level, theme.INFO)
        self.shown = True
        self.history.append((level, text))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if seconds:
            self._timer = Clock.schedule_once(lambda *_: self.clear(), seconds)

    def clear(self) -> None:
        self.shown = False
        self.text = ""

    def on_touch_down(self, touch):
        if self.shown and self.collide_point(*touch.pos):
            self.clear()
            return True
        return super().on_touch_down(touch)
