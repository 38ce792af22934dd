"""The core's and the sync client's messages live in the catalogs (assets/locale, chaoshou_core).

The core (terminal/, sync/ client) keeps English msgids; the Chinese is in
assets/locale/zh/LC_MESSAGES/chaoshou_core.po and the UI shows it through
`terminal.ui.i18n.error_text` / `status_text`. What an operator reads must not change:
every Chinese/English pair that was written in code before the move (read from the
repository's history at `BEFORE_THE_MOVE`, found by walking the code, not listed by hand)
is either still written in code or shown by the UI, through the catalog, with the very
same Chinese.
"""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from sync import errors as sync_errors
from terminal.ledger_errors import LedgerError
from terminal.ui import i18n

ROOT = Path(__file__).resolve().parents[2]
BEFORE_THE_MOVE = "b9db762"        # main just before the first pairs moved to the catalogs
CORE = ("terminal", "sync")       # the core and the sync client (not the ui, not the gateway)
ERROR_CALLS = {"LedgerError", "CardDataError", "LoginError", "PhotoError", "_err", "_warn"}
HOLE = "\x00"                      # what a value filled into a message becomes here


def _core_files(rev: str | None) -> dict[str, str]:
    """Path → source of the core's modules, at `rev` (None: the working tree)."""
    if rev is None:
        paths = [p for d in CORE for p in (ROOT / d).rglob("*.py")]
        return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in paths
                if _is_core(str(p.relative_to(ROOT)))}
    try:
        listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, *CORE], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs the repository's history (git) to read the code before the move")
    return {p: subprocess.run(["git", "show", f"{rev}:{p}"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout
            for p in listing if p.endswith(".py") and _is_core(p)}


def _is_core(path: str) -> bool:
    return not path.startswith(("terminal/ui/", "sync/gateway/", "sync/sandbox_platform/"))


def _holed(node) -> str | None:
    """A str literal or f-string with every filled-in value replaced by HOLE."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(p.value if isinstance(p, ast.Constant) else HOLE for p in node.values)
    return None


def _has_cjk(text: str | None) -> bool:
    return bool(text) and re.search(r"[\u4e00-\u9fff]", text) is not None


def pairs_in(source: str) -> list[tuple[str, str, str]]:
    """(kind, zh, en) of every Chinese/English pair written in `source`: an error built with
    (code, zh, en), a class's `code, zh, en = …` and a {"zh": …, "en": …} dict."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ERROR_CALLS and len(node.args) >= 3:
                zh, en = _holed(node.args[1]), _holed(node.args[2])
                if _has_cjk(zh) and en:
                    found.append(("call", zh, en))
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple) \
                and isinstance(node.value, ast.Tuple):
            names = [getattr(t, "id", None) for t in node.targets[0].elts]
            if "zh" in names and "en" in names:
                values = dict(zip(names, node.value.elts))
                zh, en = _holed(values["zh"]), _holed(values["en"])
                if _has_cjk(zh) and en:
                    found.append(("class", zh, en))
        elif isinstance(node, ast.Dict):
            keys = [getattr(k, "value", None) for k in node.keys]
            if "zh" in keys and "en" in keys:
                zh, en = (_holed(node.values[keys.index(k)]) for k in ("zh", "en"))
                if _has_cjk(zh) and en:
                    found.append(("dict", zh, en))
    return found


def _core_catalog() -> dict[str, str]:
    from babel.messages.pofile import read_po
    with open(i18n.LOCALE_DIR / "zh" / "LC_MESSAGES" / "chaoshou_core.po", "rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


def _names(msgid: str) -> list[str]:
    return [f[1] for f in __import__("string").Formatter().parse(msgid) if f[1]]


def _pattern(holed: str) -> re.Pattern:
    """`holed` as a pattern: its words exactly, any text where a value was filled in."""
    return re.compile(".*".join(re.escape(part) for part in holed.split(HOLE)), re.S)


def _as_holed(msgid: str) -> str:
    return re.sub(r"\{[^{}]*\}", HOLE, msgid)


class _Hole(str):
    """A value that shows as HOLE whatever its format spec or conversion."""

    def __format__(self, spec):
        return HOLE

    def __repr__(self):
        return HOLE


def _shown_in_chinese(msgid: str) -> str:
    """What the UI shows for a core error carrying `msgid` (its values left as holes)."""
    err = LedgerError("any", None, msgid, **{n: _Hole(HOLE) for n in _names(msgid)})
    return i18n.error_text(err, "zh")


def test_every_pair_written_in_code_before_is_shown_the_same_through_the_catalog():
    before = [(path, *pair) for path, src in _core_files(BEFORE_THE_MOVE).items()
              for pair in pairs_in(src)]
    still_in_code = {(zh, en) for src in _core_files(None).values() for _, zh, en in pairs_in(src)}
    by_holed_msgid = {_as_holed(m): m for m in _core_catalog()}
    assert before, "the code before the move held no pairs: the walk is wrong"
    moved, changed = 0, []
    for path, kind, zh, en in before:
        if (zh, en) in still_in_code:
            continue                     # not moved yet: shown as written (error_text)
        msgids = [by_holed_msgid[en]] if en in by_holed_msgid else \
            [m for h, m in by_holed_msgid.items() if _pattern(en).fullmatch(h)]
        shown = [_shown_in_chinese(m) for m in msgids]   # a hole that held words: each form
        if not shown or not all(_pattern(zh).fullmatch(s) for s in shown):
            changed.append((path, en, zh, shown))
        moved += 1
    assert not changed, f"{len(changed)} messages read differently now: {changed[:5]}"
    assert moved, "no pair has moved to the catalogs"


def _module_before(path: str, name: str, monkeypatch):
    """The module at `path` as it was before the move, imported under `name`."""
    import sys
    import types
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)      # dataclasses look their module up
    exec(compile(_core_files(BEFORE_THE_MOVE)[path], path, "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("reveal", [True, False])
def test_consumption_checks_read_as_before_in_both_languages(reveal, monkeypatch):
    """The high/low checks fill in the figures (or not): each outcome, old code against new."""
    from terminal import validation
    before = _module_before("terminal/validation.py", "validation_before", monkeypatch)
    outcomes = 0
    for expected in (8_000, 120_000, 450_000, 2_000_000):
        for pct in (-95, -60, -45, -30, 0, 30, 45, 60, 150, 400):
            kwh = expected * (100 + pct) // 100
            old = before.tier_check(kwh, expected, reveal=reveal)
            new = validation.tier_check(kwh, expected, reveal=reveal)
            assert [(r.code, r.level) for r in old] == [(r.code, r.level) for r in new]
            for o, n in zip(old, new):
                assert (i18n.error_text(n, "zh"), i18n.error_text(n, "en")) == \
                    (o.message_zh, o.message_en)
                outcomes += 1
    assert outcomes > 10


def test_every_sync_error_and_status_shows_its_former_chinese():
    """The sync client's errors, by class, through error_text and a status's last_error."""
    before = _core_files(BEFORE_THE_MOVE)["sync/errors.py"]
    classes = {}
    for node in ast.walk(ast.parse(before)):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and getattr(stmt.targets[0], "id", None) == "zh":
                    classes[node.name] = stmt.value.value
                elif isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Tuple):
                    names = [t.id for t in stmt.targets[0].elts]
                    if "zh" in names:
                        classes[node.name] = stmt.value.elts[names.index("zh")].value
    assert len(classes) >= 10
    for name, zh in classes.items():
        err = getattr(sync_errors, name)("detail")
        assert i18n.error_text(err, "zh") == zh, name
        assert i18n.status_text(err.as_status(), "zh") == zh, name
        assert i18n.error_text(err, "en") == err.en and not _has_cjk(err.en), name


def test_every_msgid_the_core_uses_has_its_chinese_in_the_catalog():
    """Walks today's code: each refusal(code, msgid, …) or error(code, None, msgid, …) and
    each sync error class's `en`."""
    catalog = _core_catalog()
    used = []
    for src in _core_files(None).values():
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "refusal":
                used.append(node.args[1].value)
            elif isinstance(node, ast.Call) and len(node.args) >= 3 \
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value is None \
                    and isinstance(getattr(node.args[2], "value", None), str):
                used.append(node.args[2].value)
    used += [cls.en for cls in vars(sync_errors).values()
             if isinstance(cls, type) and issubclass(cls, sync_errors.SyncError)]
    assert used
    missing = [m for m in used if not _has_cjk(catalog.get(m))]
    assert not missing, missing
    for msgid in used:                  # the Chinese fills in the same values, no others
        assert set(_names(catalog[msgid])) <= set(_names(msgid)), msgid


def test_committed_core_mo_matches_its_po():
    """A handheld reads the compiled catalog (docs/android.md): it must say what the .po says."""
    import gettext
    po = i18n.LOCALE_DIR / "zh" / "LC_MESSAGES" / "chaoshou_core.po"
    with open(po.with_suffix(".mo"), "rb") as fh:
        committed = gettext.GNUTranslations(fh)
    catalog = _core_catalog()
    assert catalog
    assert {m: committed.gettext(m) for m in catalog} == catalog
