"""Widgets shared by every screen: StatusBar, NumericKeypad, BigButton, MessageBanner, Tile.

Importing this package registers the widget classes with Kivy's Factory and loads their
kv rules once (never inside App.build, so a second App in the same process does not get
every rule twice).
"""
from pathlib import Path

from kivy.lang import Builder

from terminal.ui.widgets.basic import BigButton, MessageBanner, Tile, TitleBar  # noqa: F401
from terminal.ui.widgets.keypad import NumericKeypad  # noqa: F401
from terminal.ui.widgets.screen import AppScreen  # noqa: F401
from terminal.ui.widgets.statusbar import StatusBar  # noqa: F401

_KV = Path(__file__).with_name("widgets.kv")
if str(_KV) not in Builder.files:
    Builder.load_file(str(_KV))
