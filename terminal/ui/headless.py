"""Kivy environment set-up that must happen before Kivy is first imported.

`prepare(kivy_home, headless=...)` sets the KIVY_* variables of the headless recipe
(README, "Tests"): no argument parsing, default config, a private KIVY_HOME, no file log,
density 1, a handheld-sized portrait window (540×960), no MSAA, and SDL's offscreen video driver when there is no display (real rendering
through Mesa, no X server). main.py, the UI tests and the UI benchmark all call it.
"""
import os
import sys


def prepare(kivy_home: str | None = None, *, headless: bool | None = None,
            log_level: str = "warning", density: str | None = "1",
            size: tuple[int, int] | None = (540, 960)) -> None:
    if "kivy" in sys.modules:
        return  # too late to change anything; Kivy keeps what it started with
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "0")
    os.environ.setdefault("KCFG_KIVY_LOG_LEVEL", log_level)
    if kivy_home:
        os.environ["KIVY_HOME"] = str(kivy_home)
        os.environ.setdefault("KIVY_USE_DEFAULTCONFIG", "1")
    if density:
        os.environ.setdefault("KIVY_METRICS_DENSITY", density)
    if size:  # the window is created at this size (resizing an offscreen window later
        # leaves its GL viewport at the old size)
        os.environ.setdefault("KCFG_GRAPHICS_WIDTH", str(size[0]))
        os.environ.setdefault("KCFG_GRAPHICS_HEIGHT", str(size[1]))
    # no multisample anti-aliasing: the UI is text and rectangles, and MSAA doubles the fill
    # work of software GL (Mesa llvmpipe) and of a handheld's small GPU
    os.environ.setdefault("KCFG_GRAPHICS_MULTISAMPLES", "0")
    if headless is None:
        headless = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
            and sys.platform.startswith("linux")
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
