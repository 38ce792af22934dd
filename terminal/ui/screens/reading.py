"""Reading entry screen: big numeric keypad, the keyed value, skip and trouble code pickers,
a note; validation results as terminal.readings.ReadingEntry gives them — a warning asks to
confirm, an error asks for a blind re-entry (the first value is cleared and not shown);
saving advances to the next unread account. Previous reading and limits are shown only
when the route does not hide them. The hazard alert is on top, before entry.

The ReadingEntry (validation, both entries, re-entry time, the one-transaction save) lives
in the core; every call to it runs on a worker thread.
"""
from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, DictProperty, ListProperty, NumericProperty, StringProperty

from terminal import codes, readings, route_walk
from terminal.ui.widgets import AppScreen
from terminal.ui.widgets.field_common import (ChoicePopup, error_text, fmt_fen, fmt_reading,
                                              hazard_texts, lang, run, tr)

NOTE_MAX = 140


def open_entry(store, account_no, operator_id):
    """Worker: a ReadingEntry plus what the screen shows around it. When the meter already
    has a reading this cycle, the entry is a correction of it (a new record referencing
    the original; nothing captured is edited)."""
    entry = readings.ReadingEntry(store, account_no, operator_id)
    if entry.existing is not None:
        entry = readings.ReadingEntry(store, account_no, operator_id,
                                      corrects=entry.existing["op_id"])
    return (entry, codes.list_codes(store, "skip"), codes.list_codes(store, "trouble"),
            hazard_texts(store, entry.hazard))


def submit(entry, keyed, skip_code, note, confirm, gps=None):
    """Worker: one press of Save (or Confirm). `gps`: the fix as of this press
    (terminal/location.py), recorded with the reading whatever its state."""
    if gps is not None:
        entry.set_gps(**gps)
    problems = entry.set_note(note)
    if problems:
        return readings.Outcome(None, problems)
    if skip_code:
        return entry.skip(skip_code, note=note, keyed=keyed or None)
    if confirm and entry.awaiting == "confirm":
        return entry.confirm()
    return entry.submit(keyed)


def after_save(store, route_id, account_no, op_id):
    """Worker: the saved reading and the next unread account of the route."""
    saved = readings.reading_of(store, op_id)
    nxt = route_walk.next_unread(store, route_id, account_no) if route_id else None
    return saved, nxt


def result_text(results) -> str:
    return "\n".join(error_text(r, lang()) for r in results if r.level != "ok")


class ReadingScreen(AppScreen):
    account_no = StringProperty("")
    route_id = StringProperty("")
    title_text = StringProperty("")
    hazard = StringProperty("")
    hazard_by_lang = DictProperty()        # the hazard in one language at a time
    meter_text = StringProperty("")
    previous_text = StringProperty("")
    keyed = StringProperty("")
    skip_code = StringProperty("")
    skip_label = StringProperty("")
    trouble_code = StringProperty("")
    trouble_label = StringProperty("")
    message = StringProperty("")
    level = StringProperty("")             # "", warning, error, ok
    awaiting = StringProperty("")          # "", confirm, reenter
    existing_text = StringProperty("")
    decimals = NumericProperty(0)
    busy = BooleanProperty(False)
    loaded = BooleanProperty(False)
    skip_codes = ListProperty()
    trouble_codes = ListProperty()

    def __init__(self, **kw):
        super().__init__(**kw)
        self.entry = None

    # -- lifecycle ---------------------------------------------------------------------
    def on_pre_enter(self, *_):
        p = self.params or {}
        self.account_no = p.get("account_no", self.account_no)
        self.route_id = p.get("route_id", self.route_id) or ""
        self.entry = None
        self.loaded = False
        self.keyed = ""
        self.skip_code = self.trouble_code = ""
        self.skip_label = self.trouble_label = ""
        self.awaiting = ""
        self.existing_text = ""
        self.hazard = ""
        if "note" in self.ids:
            self.ids.note.text = ""
            self.ids.photo.sha = ""
            self.ids.pad.value = ""
        if p.get("message"):
            self.message, self.level = p["message"], "ok"
        else:
            self.message, self.level = "", ""
        app = self.app
        run(open_entry, app.services.store, self.account_no, app.services.operator["operator_id"],
            on_done=self._opened, on_error=self._failed)

    def _opened(self, res):
        entry, skip, trouble, hazard_by_lang = res
        self.hazard_by_lang = hazard_by_lang
        self.entry = entry
        self.skip_codes, self.trouble_codes = skip, trouble
        acct = entry.account
        self.route_id = acct.get("route_id") or self.route_id
        self.title_text = f"{acct['name']}  {self.account_no}"
        self.hazard = entry.hazard or ""
        m = entry.meter
        self.decimals = m.decimals
        self.meter_text = tr("Meter {no} · {dials} dials").format(no=entry.meter_no, dials=m.dials) + (
            "  " + tr("{d} decimals").format(d=m.decimals) if m.decimals else "") + (
            "  ×" + str(m.multiplier) if m.multiplier != 1 else "")
        if entry.hide_previous:
            self.previous_text = ""
        else:
            parts = []
            if m.prev_value is not None:
                parts.append(tr("Previous {v} on {d}").format(v=fmt_reading(m.prev_value, m.decimals),
                                                              d=m.prev_date or "—"))
            if m.limit_low is not None or m.limit_high is not None:
                parts.append(tr("Limits {lo}–{hi}").format(
                    lo=fmt_reading(m.limit_low, m.decimals), hi=fmt_reading(m.limit_high, m.decimals)))
            self.previous_text = "   ".join(parts)
        if entry.existing:
            ex = entry.existing
            self.existing_text = tr("Already read this cycle: {v}. Saving corrects it.").format(
                v=fmt_reading(ex.get("value"), m.decimals) if ex.get("status") == "read" else tr("Skipped") + " " + (ex.get("skip_code") or ""))
        self.loaded = True

    def _failed(self, exc):
        self.busy = False
        self.level = "error"
        if isinstance(exc, readings.ReadingError):
            self.message = result_text(exc.results) or error_text(exc)
        else:
            self.message = error_text(exc)

    # -- keyed value -------------------------------------------------------------------
    def key_changed(self, value):
        self.keyed = value
        if self.awaiting == "confirm":
            # a different value: the warning shown no longer applies
            self.awaiting = ""
            self.message, self.level = "", ""

    def display_text(self, keyed, awaiting, *_bindings) -> str:
        if keyed:
            d = self.decimals
            # the reader keys every dial digit; the point shows where the decimals start
            return f"{keyed[:-d] or '0'}.{keyed[-d:].rjust(d, '0')}" if d else keyed
        if awaiting == "reenter":
            return tr("Key it again")
        return "—"

    # -- codes and note ----------------------------------------------------------------
    def _label(self, c) -> str:
        return f"{c['code']} {c['zh'] if lang() == 'zh' else c['en']}"

    @staticmethod
    def _needs(c) -> str:
        """What a skip code asks for besides itself, marked in the list."""
        needs = [tr("note")] if c.get("note_required") else []
        if c.get("photo_required"):
            needs.append(tr("photo"))
        if c.get("reading") == "required":
            needs.append(tr("reading"))
        return ("  · " + tr("needs {what}").format(what=" + ".join(needs))) if needs else ""

    def pick_skip(self):
        choices = [("", tr("No skip code"))] + [(c["code"], self._label(c) + self._needs(c))
                                                for c in self.skip_codes]
        ChoicePopup(title=tr("Skip code"), choices=choices, choose_callback=self._set_skip).open()

    def _set_skip(self, code):
        if code != self.skip_code and "note" in self.ids:
            self.ids.note.text = ""        # a note belongs to the reason it was typed for
        self.skip_code = code
        c = next((c for c in self.skip_codes if c["code"] == code), None)
        self.skip_label = self._label(c) if c else ""
        self.awaiting = ""
        if self.entry is not None:
            self.entry.reset()
        if c:
            hints = []
            if c.get("reading") == "forbidden":
                hints.append(tr("No reading with this code."))
            elif c.get("reading") == "required":
                hints.append(tr("Key the reading too."))
            if c.get("note_required"):
                hints.append(tr("A note is required."))
            if c.get("photo_required"):
                hints.append(tr("A photo is required."))
            self.message, self.level = " ".join(hints), ("warning" if hints else "")
        else:
            self.message, self.level = "", ""

    def pick_trouble(self):
        choices = [("", tr("No trouble code"))] + [
            (c["code"], self._label(c) + ("  ⚠ " + tr("urgent") if c.get("urgent") else ""))
            for c in self.trouble_codes]
        ChoicePopup(title=tr("Trouble code"), choices=choices, choose_callback=self._set_trouble).open()

    def _set_trouble(self, code):
        if self.entry is None:
            return
        entry = self.entry

        def done(problems):
            if problems:
                self.message, self.level = result_text(problems), "error"
                return
            self.trouble_code = code
            c = next((c for c in self.trouble_codes if c["code"] == code), None)
            self.trouble_label = self._label(c) if c else ""
            self.awaiting = ""
        run(entry.set_trouble, code or None, on_done=done, on_error=self._failed)

    # -- save --------------------------------------------------------------------------
    def save(self, confirm=False):
        if self.entry is None or self.busy:
            return
        note = self.ids.note.text.strip()
        if len(note) > NOTE_MAX:
            self.message, self.level = tr("The note is longer than 140 characters. Shorten it."), "error"
            return
        if not self.keyed and not self.skip_code:
            self.message, self.level = tr("Key the reading, or choose a skip code."), "warning"
            return
        self.busy = True
        run(submit, self.entry, self.keyed, self.skip_code or None, note or None, confirm,
            self.app.services.location.current(),
            on_done=self._outcome, on_error=self._failed)

    def confirm(self):
        self.save(confirm=True)

    def _outcome(self, out):
        self.busy = False
        if out.saved:
            self.awaiting = ""
            app = self.app
            run(after_save, app.services.store, self.route_id, self.account_no, out.saved_op_id,
                on_done=self._advance, on_error=self._failed)
            app.services.refresh_counts()
            return
        text = result_text(out.results)
        if out.need == "confirm":
            self.awaiting = "confirm"
            self.level = "warning"
            self.message = text + "\n" + tr("Check the meter. If the value is right, tap Confirm.")
        elif out.need == "reenter":
            # blind: nothing derived from the first entry (no kWh, no direction) is shown
            # until the second one matches
            self.awaiting = "reenter"
            self.level = "error"
            self.message = tr("This value needs checking.") + "\n" + tr(
                "Read the meter again and key the value once more.")
            self._clear_keyed()
        else:
            reentry_failed = self.awaiting == "reenter"
            self.awaiting = ""
            self.level = "error"
            self.message = text or tr("The reading was not saved.")
            if reentry_failed:
                self._clear_keyed()

    def _clear_keyed(self):
        self.keyed = ""
        self.ids.pad.value = ""

    def _advance(self, res):
        saved, nxt = res
        if saved and saved.get("status") == "read":
            done = tr("Saved {no}: {v}").format(no=self.account_no,
                                                 v=fmt_reading(saved["value"], self.decimals))
            if saved.get("bill_estimate_fen") is not None:
                done += "  " + tr("Bill about {a}").format(a=fmt_fen(saved["bill_estimate_fen"]))
        else:
            done = tr("Saved {no}: skipped").format(no=self.account_no)
        if nxt:
            self._goto(nxt, done)
        else:
            self.app.notify(done + "  " + tr("No unread account left on this route."), "info")
            self.app.go("walk", route_id=self.route_id)

    def skip_next(self):
        """Leave this account unread for now and go to the next unread one."""
        app = self.app

        left = self.account_no

        def nxt(store):
            return route_walk.next_unread(store, self.route_id, left)

        def go(n):
            if n and n != left:   # say what happened: this one is left unread, here is the next
                self._goto(n, tr("{no} left unread for later. Next unread: {next}.").format(
                    no=left, next=n))
            else:
                self.message, self.level = tr("No other unread account on this route."), "warning"
        run(nxt, app.services.store, on_done=go, on_error=self._failed)

    def _goto(self, account_no, message):
        """The reading screen again, for another account (the screen manager does not
        re-enter the current screen, so the entry is reopened here)."""
        self.params = {"account_no": account_no, "route_id": self.route_id, "message": message}
        self.on_pre_enter()


NAME = "reading"
SCREEN = ReadingScreen
Builder.load_file(str(Path(__file__).with_suffix(".kv")))
