"""A real headless Chromium for browser tests (the console, the customer pages).

The browser is the distribution's `chromium` (Debian package; scripts/setup.sh installs it)
driven by Playwright with that executable — no browser is downloaded. Set
CHAOSHOU_CHROMIUM to use another binary. Without one the browser tests are skipped with
the reason.

Fixtures:
- `browser` (session): the running Chromium.
- `page`: a fresh context and page (laptop size, zh-CN); `tablet_page` at 1024×768 touch;
  `phone_page` at 390×844 touch.
- `shot(page, name)`: saves a full-page screenshot as artifacts/browser/<name>.png.
- `gateway`: a real gateway process on loopback with the demo data (sync.gateway.testing).
- `sign_in(page, base_url, username, password)`: signs in on /console/login.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sync.gateway.testing import REPO, GatewayProcess

ARTIFACTS = REPO / "artifacts" / "browser"


def chromium_path() -> str | None:
    return os.environ.get("CHAOSHOU_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if not path:
        # scripts/setup.sh installs it: under CI a missing browser is a failure, not a skip
        assert not os.environ.get("CI"), "no chromium on a CI machine (scripts/setup.sh)"
        pytest.skip("no chromium (install Debian's chromium package: scripts/setup.sh)")
    from playwright import sync_api
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(30_000 * float(os.environ.get("CHAOSHOU_TEST_TIMEOUT_FACTOR", "1")))
    yield pg
    context.close()


def _touch_page(browser, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=True,
                                  is_mobile=True, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(30_000 * float(os.environ.get("CHAOSHOU_TEST_TIMEOUT_FACTOR", "1")))
    return context, pg


@pytest.fixture
def tablet_page(browser):
    context, pg = _touch_page(browser, 1024, 768)
    yield pg
    context.close()


@pytest.fixture
def phone_page(browser):
    """A phone-sized touch page (390×844), for the customer pages."""
    context, pg = _touch_page(browser, 390, 844)
    yield pg
    context.close()


@pytest.fixture
def shot():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(pg, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path
    return take


@pytest.fixture
def gateway(tmp_path):
    gw = GatewayProcess(tmp_path / "gw.db")
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def sign_in():
    def run(pg, base_url: str, username: str, password: str):
        pg.goto(base_url + "/console/login")
        pg.fill("input[name=username]", username)
        pg.fill("input[name=password]", password)
        with pg.expect_navigation():
            pg.click("button[type=submit]")
    return run
