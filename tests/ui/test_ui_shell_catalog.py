"""Every text the app shell shows has a Chinese translation with the same {placeholders},
and the compiled catalog the app loads agrees with the .po source."""
import re
import string
from pathlib import Path

from terminal.ui import app as app_module
from terminal.ui import i18n
from terminal.ui.screens import enrol, home, sync

ROOT = Path(__file__).resolve().parents[2]
SHELL_FILES = ["terminal/ui/app.py", "terminal/ui/widgets/widgets.kv"] + [
    f"terminal/ui/screens/{name}.{ext}" for name in
    ("enrol", "login", "home", "routes", "sync", "supervisor", "settings") for ext in ("py", "kv")]
CALL = re.compile(r'tr\(\s*"((?:[^"\\]|\\.)*)"')


def shell_msgids() -> set[str]:
    ids = set()
    for name in SHELL_FILES:
        ids.update(m.group(1) for m in CALL.finditer((ROOT / name).read_text(encoding="utf-8")))
    for _target, title, hint, _roles in home.TILES:
        ids.update((title, hint))
    ids.update(enrol.MESSAGES.values())
    ids.update(sync.TYPE_NAMES.values())
    ids.update(sync.STATE_NAMES.values())
    ids.update(item["title"] for item in app_module.SETTINGS_PANEL)
    return ids


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_shell_text_has_a_chinese_translation():
    ids = shell_msgids()
    assert len(ids) > 100
    missing = sorted(m for m in ids if i18n.tr(m, "zh") == m)
    assert missing == []
    bad = sorted(m for m in ids if fields(i18n.tr(m, "zh")) != fields(m))
    assert bad == []
    assert all(i18n.tr(m, "en") == m for m in ids)


def test_committed_mo_matches_po():
    import gettext
    po = ROOT / "assets/locale/zh/LC_MESSAGES/chaoshou.po"
    with open(po.with_suffix(".mo"), "rb") as fh:
        committed = gettext.GNUTranslations(fh)
    entries = re.findall(r'^msgid "(.+)"\nmsgstr "(.*)"$', po.read_text(encoding="utf-8"), re.M)
    assert len(entries) > 100
    for msgid, msgstr in entries:
        unescape = lambda s: s.replace('\\"', '"').replace("\\\\", "\\")  # noqa: E731
        assert committed.gettext(unescape(msgid)) == unescape(msgstr)
