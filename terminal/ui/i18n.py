"""Translations: gettext catalogs for Simplified Chinese and English, switchable live.

Msgids are the English texts. Catalogs live in
`assets/locale/<lang>/LC_MESSAGES/<domain>.po` (+ the compiled `.mo`), domains
`chaoshou` (app shell), `chaoshou_field` (field screens) and `chaoshou_core` (the core's and
the sync client's messages), looked up in that order.

How a screen uses it (the rule both screen developers follow):

- In kv: ``text: app.tr("Save", app.lang)``. The second argument is ignored by `tr`; naming
  `app.lang` in the expression makes Kivy re-evaluate it when the language changes, so
  every label re-renders on a switch. With values:
  ``text: app.tr("{n} pending", app.lang).format(n=root.pending)``.
- In Python: ``from terminal.ui.i18n import _`` then ``_("Save")`` (current language).
  Text set from Python is NOT re-rendered on a switch: keep the msgid in a property and
  translate in kv, or re-set it in ``on_pre_enter``.
- Core errors carry an English `msgid` (+ `params` for its placeholders); the Chinese is in
  the `chaoshou_core` catalog: show them with ``error_text(exc)``, a sync status's
  `last_error` with ``status_text(err)``. A value filled in that is itself words (a role,
  a field's name, a wait) is a `terminal.ledger_errors.Term`, translated with the message.
  No Chinese/English pair is written in the handheld's code (tests/ui/test_ui_core_catalog.py).

Building the catalogs: edit the .po, then ``python -m terminal.ui.i18n`` compiles every
.po to its .mo with Babel (pure Python, the dev extra); scripts/build-android.sh runs it
before packaging, so a handheld carries compiled catalogs and never compiles anything
(it has no `msgfmt`, and the APK holds no .po). In a development checkout, where the .po
and Babel are both present, the .po is read directly so an edited catalog shows at once.
"""
from __future__ import annotations

import gettext
import io
import logging
import sys
from pathlib import Path

from terminal.ledger_errors import Term

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parents[2] / "assets" / "locale"
DOMAINS = ("chaoshou", "chaoshou_field", "chaoshou_core")
LANGS = ("zh", "en")
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}

_current = "zh"
_catalogs: dict[str, gettext.NullTranslations] = {}


def _compile(po: Path, out) -> None:
    """Compile `po` into the binary file object `out` (Babel; a build-time tool)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    with open(po, "rb") as fh:
        catalog = read_po(fh, locale=po.parent.parent.name)
    write_mo(out, catalog)


def _open_catalog(po: Path) -> gettext.GNUTranslations | None:
    """The catalog of `po`: read from the .po itself in a development checkout (Babel
    installed), else the .mo compiled at build time beside it."""
    if po.exists():
        try:
            buffer = io.BytesIO()
            _compile(po, buffer)
            buffer.seek(0)
            return gettext.GNUTranslations(buffer)
        except ImportError:
            pass  # no Babel: a packaged app, use the compiled catalog
    mo = po.with_suffix(".mo")
    if not mo.exists():
        if po.exists():
            log.error("%s is not compiled: run python -m terminal.ui.i18n", po)
        return None
    with open(mo, "rb") as fh:
        return gettext.GNUTranslations(fh)


def load(lang: str) -> gettext.NullTranslations:
    """The catalog chain for `lang` (cached)."""
    if lang in _catalogs:
        return _catalogs[lang]
    chain: gettext.NullTranslations | None = None
    for domain in DOMAINS:
        cat = _open_catalog(LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po")
        if cat is None:
            continue
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


# What the gateway's result and exception codes mean, as msgids (its own messages are English)
GATEWAY_CODES = {
    "cash_variance": "Cash counted at shift close differs from expected",
    "receipt_missing": "A payment came without its receipt",
    "receipt_malformed": "A receipt's fields are malformed",
    "receipt_no_reused": "A receipt number was used twice",
    "receipt_invalid": "A receipt does not verify",
    "card_number_masked": "A full card number was masked",
    "seq_conflict": "Two captures carry the same number",
    "unknown_type": "A capture of a type the office does not know",
    "payload_mismatch": "A capture was sent twice with different content",
    "cash_change_mismatch": "Tendered less change is not the amount",
    "double_collection": "The same bill was paid twice",
    "void_unknown_payment": "A void of a payment the office does not hold",
    "already_voided": "A payment voided twice",
    "void_amount_mismatch": "A void's amount differs from the payment",
    "correction_target_unknown": "A correction of a reading the office does not hold",
}


def gateway_text(code: str | None, message: str | None, lang: str | None = None) -> str:
    """A gateway result or exception code in the operator's language; the gateway's own
    (English) message only for a code not known here."""
    if code in GATEWAY_CODES:     # the code stays: support and the office speak of it
        return f"{tr(GATEWAY_CODES[code], lang)} ({code})"
    return f"{message} ({code})" if message and code else (message or code or "")


def error_text(exc: BaseException, lang: str | None = None) -> str:
    """An error for the operator in `lang` (default: the current language): the core's or
    the sync client's English `msgid` (its `params` filled in) through the catalogs; an
    error still carrying its own pair (`message_zh`/`message_en` or `zh`/`en`) as written."""
    lang = lang or _current
    msgid = getattr(exc, "msgid", None)
    if msgid:
        return _filled(msgid, getattr(exc, "params", None) or {}, lang)
    zh = getattr(exc, "message_zh", None) or getattr(exc, "zh", None)
    en = getattr(exc, "message_en", None) or getattr(exc, "en", None)
    if lang == "zh" and zh:
        return str(zh)
    return str(en or zh or exc or exc.__class__.__name__)


def _filled(msgid: str, params: dict, lang: str) -> str:
    """`msgid` in `lang` with `params` filled in, a `Term` among them in `lang` too."""
    return tr(msgid, lang).format(**{k: _term_text(v, lang) for k, v in params.items()})


def _term_text(value, lang: str):
    if not isinstance(value, Term):
        return value
    if value.given is not None:
        return str(value.given.get(lang) or value.given.get("en") or "")
    return _filled(value.msgid, value.params, lang) if value.msgid else ""


def status_text(err: dict | None, lang: str | None = None) -> str:
    """A sync status's `last_error` ({"code", "en", "detail"}) in `lang`."""
    err = err or {}
    return tr(err["en"], lang) if err.get("en") else str(err.get("code") or "")


def compile_all() -> list[Path]:
    """Compile every .po under assets/locale to the .mo beside it (the build step)."""
    done = []
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        with open(po.with_suffix(".mo"), "wb") as out:
            _compile(po, out)
        done.append(po.with_suffix(".mo"))
    return done


if __name__ == "__main__":
    for path in compile_all():
        print(path.relative_to(LOCALE_DIR.parent.parent))
    sys.exit(0)
