"""Translations: gettext catalogs for Simplified Chinese and English, switchable live.

Msgids are the English texts. Catalogs live in
`assets/locale/<lang>/LC_MESSAGES/<domain>.po` (+ the compiled `.mo`), domains
`chaoshou` (app shell) and `chaoshou_field` (field screens), looked up in that order.

How a screen uses it (the rule both screen developers follow):

- In kv: ``text: app.tr("Save", app.lang)``. The second argument is ignored by `tr`; naming
  `app.lang` in the expression makes Kivy re-evaluate it when the language changes, so
  every label re-renders on a switch. With values:
  ``text: app.tr("{n} pending", app.lang).format(n=root.pending)``.
- In Python: ``from terminal.ui.i18n import _`` then ``_("Save")`` (current language).
  Text set from Python is NOT re-rendered on a switch: keep the msgid in a property and
  translate in kv, or re-set it in ``on_pre_enter``.
- Core errors carry `message_zh`/`message_en`: show them with ``error_text(exc)``.

Building the catalogs: edit the .po, then ``python -m terminal.ui.i18n`` compiles every
.po to its .mo with GNU msgfmt (Debian package `gettext`). At run time a .po whose .mo is
missing or out of date is compiled into a cache folder when msgfmt is present; otherwise
the committed .mo is used.
"""
from __future__ import annotations

import gettext
import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parents[2] / "assets" / "locale"
DOMAINS = ("chaoshou", "chaoshou_field")
LANGS = ("zh", "en")
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}

_current = "zh"
_catalogs: dict[str, gettext.NullTranslations] = {}


def _cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "chaoshou-locale"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _mo_for(po: Path) -> Path | None:
    """A compiled catalog for `po`: compiled from the .po when msgfmt is here, else the committed .mo."""
    committed = po.with_suffix(".mo")
    msgfmt = shutil.which("msgfmt")
    if msgfmt:
        digest = hashlib.sha256(po.read_bytes()).hexdigest()[:16]
        cached = _cache_dir() / f"{po.parent.parent.name}-{po.stem}-{digest}.mo"
        if not cached.exists():
            tmp = cached.with_suffix(".tmp")
            result = subprocess.run([msgfmt, "-o", str(tmp), str(po)], capture_output=True, text=True)
            if result.returncode == 0:
                tmp.replace(cached)
            else:
                log.error("msgfmt failed for %s: %s", po, result.stderr.strip())
        if cached.exists():
            return cached
    return committed if committed.exists() else None


def load(lang: str) -> gettext.NullTranslations:
    """The catalog chain for `lang` (cached)."""
    if lang in _catalogs:
        return _catalogs[lang]
    chain: gettext.NullTranslations | None = None
    for domain in DOMAINS:
        po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
        mo = _mo_for(po) if po.exists() else (po.with_suffix(".mo") if po.with_suffix(".mo").exists() else None)
        if mo is None:
            continue
        with open(mo, "rb") as fh:
            cat = gettext.GNUTranslations(fh)
        if chain is None:
            chain = cat
        else:
            chain.add_fallback(cat)
    chain = chain or gettext.NullTranslations()
    _catalogs[lang] = chain
    return chain


def reload() -> None:
    """Forget loaded catalogs (after a .po changed)."""
    _catalogs.clear()


def set_language(lang: str) -> None:
    global _current
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; one of {LANGS}")
    _current = lang


def current() -> str:
    return _current


def tr(msgid: str, lang: str | None = None) -> str:
    """`msgid` in `lang` (default: the current language)."""
    if not msgid:
        return ""
    return load(lang or _current).gettext(msgid)


def _(msgid: str) -> str:
    return tr(msgid)


def error_text(exc: BaseException, lang: str | None = None) -> str:
    """An error for the operator: the core's or the sync client's bilingual message
    (`message_zh`/`message_en`, or `zh`/`en`) in the current language when it has one."""
    lang = lang or _current
    zh = getattr(exc, "message_zh", None) or getattr(exc, "zh", None)
    en = getattr(exc, "message_en", None) or getattr(exc, "en", None)
    if lang == "zh" and zh:
        return str(zh)
    return str(en or zh or exc or exc.__class__.__name__)


def compile_all() -> list[Path]:
    """Compile every .po under assets/locale to the .mo beside it (for committing)."""
    msgfmt = shutil.which("msgfmt")
    if not msgfmt:
        raise SystemExit("msgfmt not found: install the 'gettext' package")
    done = []
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        subprocess.run([msgfmt, "--check-format", "-o", str(po.with_suffix(".mo")), str(po)], check=True)
        done.append(po.with_suffix(".mo"))
    return done


if __name__ == "__main__":
    for path in compile_all():
        print(path.relative_to(LOCALE_DIR.parent.parent))
    sys.exit(0)
