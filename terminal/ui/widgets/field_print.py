"""Printing from the field screens: queue a document, pump the print queue on the printer's
thread, and when the printer is not ready (paper out, cover open, off) tell the collector
what to fix and offer "Reprint" — the held job then prints as a COPY with the same number
(terminal.print_queue does that; this module only drives it and talks to the person).
"""
from kivy.app import App
from kivy.lang import Builder
from kivy.properties import ObjectProperty, StringProperty
from kivy.uix.popup import Popup

from terminal import print_queue, receipt_docs
from terminal.ui.widgets.field_common import alive, error_text, run, tr

Builder.load_string("""
<PrinterProblemPopup>:
    size_hint: 0.9, None
    height: dp(340)
    auto_dismiss: False
    title: root.title_text
    BoxLayout:
        orientation: "vertical"
        spacing: dp(8)
        Label:
            text: root.message
            font_size: sp(20)
            text_size: self.width, None
            halign: "center"
            valign: "middle"
        BoxLayout:
            id: actions
            size_hint_y: None
            height: dp(64)
            spacing: dp(8)
            FieldButton:
                id: confirm
                text: root.confirm_text
                height: dp(64)
                disabled: not root.confirm_text
                opacity: 1 if root.confirm_text else 0
                size_hint_x: 1 if root.confirm_text else 0.001
                on_release: root.do_confirm()
            FieldButton:
                id: reprint
                text: root.reprint_text
                height: dp(64)
                on_release: root.do_reprint()
            FieldButton:
                id: later
                text: root.later_text
                height: dp(64)
                background_color: 0.6, 0.6, 0.6, 1
                on_release: root.dismiss()
""")

REASONS = {
    "paper_out": "The printer is out of paper. Load a new roll, close the cover, then tap Reprint.",
    "cover_open": "The printer cover is open. Close it, then tap Reprint.",
    "offline": "The printer does not answer. Switch it on and check the cable, then tap Reprint.",
    "unknown": "The printer did not say whether the receipt printed. Look at the paper: if the "
               "receipt came out whole, tap Printed whole; if not, tap Reprint.",
}


def reason_text(reason: str | None) -> str:
    key = (reason or "offline").split(":")[0]
    if key.startswith("bad_document"):
        return tr("This document cannot be printed. Tell the office.")
    return tr(REASONS.get(key, REASONS["offline"]))


class PrinterProblemPopup(Popup):
    message = StringProperty("")
    title_text = StringProperty("")
    reprint_text = StringProperty("")
    later_text = StringProperty("")
    confirm_text = StringProperty("")
    reprint_callback = ObjectProperty(None)
    confirm_callback = ObjectProperty(None)

    def __init__(self, **kw):
        self.title_text = tr("Printer needs attention")
        self.reprint_text = tr("Reprint (COPY)")
        self.later_text = tr("Later")
        if kw.get("confirm_callback"):
            self.confirm_text = tr("Printed whole")
        super().__init__(**kw)

    def do_confirm(self):
        self.dismiss()
        if self.confirm_callback:
            self.confirm_callback()

    def do_reprint(self):
        self.dismiss()
        if self.reprint_callback:
            self.reprint_callback()


_open_popup = None


def pump(on_message=None, on_printed=None, reprint_unknown=False):
    """Print every queued job; report to `on_message(text)`; on a held job, ask the person.
    A job whose outcome is unknown is reprinted only when the person asked for it."""
    app = App.get_running_app()
    store = app.services.store

    def done(results):
        held = [r for r in results if r.state == "held"]
        printed = [r for r in results if r.state == "done"]
        if held:
            _diagnose(held[0].reason, on_message, on_printed)
        else:
            if on_message:
                on_message(tr("Printed.") if printed else tr("Nothing to print."))
            if on_printed:
                on_printed(printed)

    def failed(exc):
        if getattr(exc, "kind", None) == "printer" and getattr(exc, "message_en", None):
            # no printer port configured: nothing to reprint until Settings are fixed
            if on_message:
                on_message(error_text(exc))
            return
        _diagnose(getattr(exc, "reason", None) or "offline", on_message, on_printed)

    app.services.run_printer(
        lambda printer: print_queue.pump(store, printer, reprint_unknown=reprint_unknown),
        on_done=alive(done), on_error=alive(failed))


def _diagnose(reason, on_message, on_printed):
    """Ask the printer what is wrong before telling the person: a printer whose paper ran out
    also reports itself stopped (offline), and "load paper" is the useful instruction."""
    app = App.get_running_app()

    def status(printer):
        return printer.status()

    def got(st):
        if st.get("cover_open"):
            found = "cover_open"
        elif st.get("paper") == "out":
            found = "paper_out"
        elif not st.get("online", True):
            # no answer to this question says nothing new: what the printer itself said
            # about the job (paper out, cover open) still stands; otherwise it is off
            found = reason if reason in ("paper_out", "cover_open") else "offline"
        else:
            found = reason
        # the status bar shows what the person has to fix (the queue caught the error)
        app.services.printer_state = "error" if found == "offline" else "warning"
        app.services.printer_detail = found or ""
        _problem(found, on_message, on_printed)

    app.services.run_printer(status, on_done=alive(got),
                             on_error=alive(lambda _exc: _problem(reason, on_message, on_printed)))


def _problem(reason, on_message, on_printed):
    global _open_popup
    text = reason_text(reason)
    if on_message:
        on_message(text)
    if _open_popup is not None:
        _open_popup.dismiss()
    confirm = None
    if reason == print_queue.UNKNOWN:
        confirm = lambda: confirm_unknown(on_message)  # noqa: E731
    _open_popup = PrinterProblemPopup(
        message=text, confirm_callback=confirm,
        reprint_callback=lambda: pump(on_message, on_printed, reprint_unknown=True))
    _open_popup.open()


def confirm_unknown(on_message=None):
    """The collector saw the receipts whose outcome was unknown whole on paper: no reprint."""
    store = App.get_running_app().services.store

    def confirm(store):
        jobs = [j for j in print_queue.pending(store)
                if j["state"] == "held" and j["reason"] == print_queue.UNKNOWN]
        for job in jobs:
            print_queue.confirm_printed(store, job["job_id"])
        return len(jobs)

    run(confirm, store, on_done=lambda _n: on_message and on_message(tr("Printed.")),
        on_error=lambda exc: on_message and on_message(error_text(exc)))


def queue_and_print(make_doc, *args, on_message=None, on_printed=None):
    """Worker: `doc = make_doc(store, *args)` queued; then pump on the printer's thread."""
    app = App.get_running_app()

    def build(store):
        doc = make_doc(store, *args)
        job = print_queue.enqueue(store, doc)
        return job

    run(build, app.services.store, on_done=lambda _job: pump(on_message, on_printed),
        on_error=lambda exc: on_message and on_message(error_text(exc)))


def print_bill_notice(account_no, on_message=None):
    queue_and_print(receipt_docs.bill_notice, account_no, on_message=on_message)
