"""The core's and the sync client's messages live in the catalogs (assets/locale, chaoshou_core).

The core (terminal/, sync/ client) keeps English msgids; the Chinese is in
assets/locale/zh/LC_MESSAGES/chaoshou_core.po and the UI shows it through
`terminal.ui.i18n.error_text` / `status_text`. What an operator reads must not change:
every Chinese/English pair that was written in code before the move (read from the
repository's history at `BEFORE_THE_MOVE`, found by walking the code, not listed by hand)
is shown by the UI, through the catalog, with the very same Chinese (or, for a wording
changed on purpose, `REWORDED`). And no pair is written in the handheld's code any more
(terminal/ with its UI, the sync client, main.py): `written_pairs_in` finds any.
"""
from __future__ import annotations

import ast
import re
import subprocess
import textwrap
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
HANDHELD = ("terminal", "sync", "main.py")   # the handheld's code: the core, its UI, sync client
# One English message had two Chinese wordings (payments/tariffs: 户号 … 不存在, readings:
# 户号 … 不在本机); one msgid has one translation: the literal "not on this device" is kept.
REWORDED = {("户号 \x00 不存在", "Account \x00 is not on this device"): "户号 \x00 不在本机"}
# The language switch names each language in itself, whatever the current language.
ENDONYMS = {("中文", "English")}
MSGID_ARG = {"refusal": 1, "LoginError": 1, "Term": 0, "require_int": 1}   # the msgid's place


def _core_files(rev: str | None, ui: bool = False) -> dict[str, str]:
    """Path → source of the core's modules (`ui`: the handheld's whole code), at `rev`
    (None: the working tree)."""
    dirs = HANDHELD if ui else CORE
    if rev is None:
        paths = [p for d in dirs for p in ((ROOT / d).rglob("*.py") if (ROOT / d).is_dir()
                                          else [ROOT / d])]
        return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in paths
                if _is_core(str(p.relative_to(ROOT)), ui)}
    try:
        listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, *dirs], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs the repository's history (git) to read the code before the move")
    return {p: subprocess.run(["git", "show", f"{rev}:{p}"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout
            for p in listing if p.endswith(".py") and _is_core(p, ui)}


def _is_core(path: str, ui: bool = False) -> bool:
    return not path.startswith(("sync/gateway/", "sync/sandbox_platform/")
                               + (() if ui else ("terminal/ui/",)))


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


def _is_english(text: str | None) -> bool:
    """Words in English (not a code such as "already_read" or "center")."""
    return bool(text) and not _has_cjk(text) and re.search(r"[A-Za-z]{2}", text) is not None \
        and re.fullmatch(r"[a-z0-9_.]+", text) is None


def written_pairs_in(source: str) -> list[tuple[int, str, str]]:
    """(line, zh, en) of every Chinese/English pair written in `source`, whatever its form:
    a Chinese text and an English one side by side among a call's arguments or in a tuple
    or list, a {"zh": …, "en": …} dict, or a Chinese text given to a name or attribute
    ending in `zh`. (A single text holding both languages, as a receipt's "实收 Paid"
    label, is bilingual paper, not a pair.)"""
    found = []
    for node in ast.walk(ast.parse(source)):
        runs = []
        if isinstance(node, ast.Call):
            runs.append(node.args)
        elif isinstance(node, (ast.Tuple, ast.List)):
            runs.append(node.elts)
        elif isinstance(node, ast.Dict):
            keys = [getattr(k, "value", None) for k in node.keys]
            if "zh" in keys and "en" in keys:
                runs.append([node.values[keys.index("zh")], node.values[keys.index("en")]])
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [getattr(t, "id", None) or getattr(t, "attr", None) for t in targets]
            for value in ast.walk(node.value) if node.value else ():
                text = _holed(value)
                if any(n and n.endswith("zh") for n in names) and _has_cjk(text):
                    found.append((node.lineno, text, ""))
        for run in runs:
            texts = [_holed(x) for x in run]
            for a, b in zip(texts, texts[1:]):
                for zh, en in ((a, b), (b, a)):
                    if _has_cjk(zh) and _is_english(en) and (zh, en) not in ENDONYMS:
                        found.append((node.lineno, zh, en))
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
    by_holed_msgid = {_as_holed(m): m for m in _core_catalog()}
    assert before, "the code before the move held no pairs: the walk is wrong"
    moved, changed = 0, []
    for path, kind, zh, en in before:
        zh = REWORDED.get((zh, en), zh)
        msgids = [by_holed_msgid[en]] if en in by_holed_msgid else \
            [m for h, m in by_holed_msgid.items() if _pattern(en).fullmatch(h)]
        shown = [_shown_in_chinese(m) for m in msgids]   # a hole that held words: each form
        if not shown or not all(_pattern(zh).fullmatch(s) for s in shown):
            changed.append((path, en, zh, shown))
        moved += 1
    assert not changed, f"{len(changed)} messages read differently now: {changed[:5]}"
    assert moved == len(before)


def test_no_pair_is_written_in_the_handhelds_code():
    left = [(path, *pair) for path, src in _core_files(None, ui=True).items()
            for pair in written_pairs_in(src)]
    assert not left, f"{len(left)} Chinese/English pairs still written in code: {left[:8]}"


def test_the_walk_finds_every_form_of_pair_the_code_held():
    """What the walk must catch: every pair of the code before the move (all of which are
    gone now), each field name given to require_int, and each form on a small sample."""
    before = _core_files(BEFORE_THE_MOVE, ui=True)
    found = {(zh, en) for src in before.values() for _, zh, en in written_pairs_in(src)}
    old = {(zh, en) for src in _core_files(BEFORE_THE_MOVE).values() for _, zh, en in pairs_in(src)}
    assert old and old <= found, old - found
    assert {("金额", "Amount"), ("用电量", "Consumption")} <= found   # require_int(x, zh, en)
    sample = textwrap.dedent('''
        raise LedgerError("x", f"户号 {n} 不在本机", f"Account {n} is not here")
        NAMES = {"alipay": ("支付宝", "Alipay")}
        MSG = {"zh": "请稍候", "en": "Please wait"}
        self.message_zh = "未设置端口"
        show("Saved", "已保存")
    ''')
    assert sorted(line for line, _, _ in written_pairs_in(sample)) == [2, 3, 4, 5, 6]
    assert written_pairs_in('label = "实收 Paid"\nkv("实收 Paid", "center")\nLANG = {"zh": "中文", "en": "English"}\n') == []


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
    """Walks today's code: each refusal(code, msgid, …), LoginError(code, msgid, …),
    Term(msgid, …), require_int(value, name) or error(code, None, msgid, …) and each sync
    error class's `en`."""
    catalog = _core_catalog()
    used = []
    for src in _core_files(None).values():
        for node in ast.walk(ast.parse(src)):
            if not isinstance(node, ast.Call):
                continue
            at = MSGID_ARG.get(getattr(node.func, "id", None))
            if at is None and len(node.args) >= 3 and isinstance(node.args[1], ast.Constant) \
                    and node.args[1].value is None:
                at = 2                                  # error(code, None, msgid, …)
            if at is not None and len(node.args) > at \
                    and isinstance(getattr(node.args[at], "value", None), str) \
                    and node.args[at].value:            # Term(""): no words
                used.append(node.args[at].value)
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
