"""Colours and sizes shared by every screen (high contrast for daylight, big targets)."""
from kivy.metrics import dp, sp

BG = (0.07, 0.08, 0.10, 1)
PANEL = (0.13, 0.15, 0.19, 1)
BAR = (0.10, 0.24, 0.42, 1)
TEXT = (1, 1, 1, 1)
MUTED = (0.72, 0.75, 0.80, 1)
OK = (0.20, 0.70, 0.35, 1)
WARN = (0.95, 0.65, 0.10, 1)
ERROR = (0.85, 0.22, 0.20, 1)
INFO = (0.20, 0.50, 0.85, 1)
ACCENT = (0.16, 0.45, 0.80, 1)
KEY = (0.22, 0.25, 0.31, 1)

LEVEL_COLOURS = {"error": ERROR, "warning": WARN, "info": INFO, "ok": OK}

TOUCH = dp(56)        # minimum height of anything tapped (≥ 48 dp)
KEY_H = dp(64)        # keypad keys
FONT = sp(18)
FONT_BIG = sp(24)
FONT_HUGE = sp(40)
