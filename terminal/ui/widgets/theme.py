"""Colours and sizes shared by every screen: a high-contrast theme for daylight (every text
colour on the background it is drawn on reaches WCAG AA, a contrast ratio of at least
4.5:1; `PAIRS` lists them and tests/ui/test_ui_field_outdoors.py checks each), big
targets, and a minimum text size for field screens (`MIN_TEXT`)."""
from kivy.metrics import dp, sp

BG = (0.07, 0.08, 0.10, 1)
PANEL = (0.13, 0.15, 0.19, 1)
BAR = (0.10, 0.24, 0.42, 1)
TEXT = (1, 1, 1, 1)
DARK_TEXT = (0.05, 0.05, 0.05, 1)   # on the amber warning banner
MUTED = (0.72, 0.75, 0.80, 1)
OK = (0.05, 0.42, 0.18, 1)
WARN = (0.95, 0.65, 0.10, 1)
ERROR = (0.70, 0.12, 0.10, 1)
INFO = (0.10, 0.36, 0.68, 1)
ACCENT = (0.10, 0.38, 0.72, 1)
KEY = (0.22, 0.25, 0.31, 1)
DISABLED = (0.20, 0.20, 0.22, 1)    # a button that cannot be tapped now: still readable
DISABLED_TEXT = (0.72, 0.72, 0.75, 1)
HINT = (0.36, 0.36, 0.40, 1)        # hint text in a (white) text field
FIELD = (1, 1, 1, 1)
ROW = (0.17, 0.17, 0.20, 1)         # a route walk row
ERROR_TEXT = (1, 0.45, 0.40, 1)
OK_TEXT = (0.45, 1, 0.55, 1)

LEVEL_COLOURS = {"error": ERROR, "warning": WARN, "info": INFO, "ok": OK}
LEVEL_TEXT = {"warning": DARK_TEXT}  # banner text colour by level (default TEXT)

# the walk list's status words, drawn on ROW
STATUS = {"read": (0.30, 0.78, 0.42, 1), "skipped": (0.90, 0.60, 0.10, 1),
          "unread": (0.68, 0.68, 0.74, 1), "problem": (1.0, 0.42, 0.38, 1),
          "outlier": (0.72, 0.55, 1.0, 1)}

# (what, text colour, background) for every text drawn on a theme colour
PAIRS = [
    ("text", TEXT, BG), ("text on panel", TEXT, PANEL), ("muted", MUTED, BG),
    ("muted on panel", MUTED, PANEL), ("warning text", WARN, BG), ("error text", ERROR_TEXT, BG),
    ("ok text", OK_TEXT, BG), ("status bar", TEXT, BAR), ("key", TEXT, KEY),
    ("primary button", TEXT, ACCENT), ("ok button", TEXT, OK), ("danger button", TEXT, ERROR),
    ("info banner", TEXT, INFO), ("ok banner", TEXT, OK), ("error banner", TEXT, ERROR),
    ("warning banner", DARK_TEXT, WARN), ("disabled button", DISABLED_TEXT, DISABLED),
    ("field hint", HINT, FIELD), ("hazard", TEXT, (0.75, 0.10, 0.10, 1)),
] + [(f"walk status {k}", c, ROW) for k, c in STATUS.items()]

TOUCH = dp(56)        # minimum height of anything tapped (≥ 48 dp)
KEY_H = dp(64)        # keypad keys
MIN_TEXT = sp(16)     # no text on a field screen is smaller
FONT = sp(18)
FONT_BIG = sp(24)
FONT_HUGE = sp(40)
