"""Shift screen: open a shift with a float; X report any time; close with the cash counted by
denomination on a keypad → expected vs counted → variance → Z report printed; then the
closeout sent to the gateway (now, or with "Send closeout" once online).

The figures, the Z numbering and the closeout summary are terminal.shifts; printing goes
through the print queue; the closeout through the sync worker.
"""
from pathlib import Path

from kivy.lang import Builder
from kivy.properties import (BooleanProperty, DictProperty, NumericProperty, ObjectProperty,
                             StringProperty)

from terminal import shifts
from terminal.ui.widgets import AppScreen, field_print
from terminal.ui.widgets.field_common import ChoicePopup, error_text, fmt_fen, run, tr

CLOSEOUT_TIMEOUT_S = 60


def load_shift(store):
    """Worker: the open shift and its figures, or (None, None)."""
    shift = shifts.current_shift(store)
    return shift, (shifts.figures(store, shift["shift_id"]) if shift else None)


def denom_label(fen: int) -> str:
    return f"¥{fen // 100}" if fen >= 100 else f"¥0.{fen:02d}"


class ShiftScreen(AppScreen):
    stage = StringProperty("loading")      # loading | open | running | count | closed
    float_keyed = StringProperty("")
    figures = DictProperty()
    counts = DictProperty()                # {denomination_fen: count}
    selected = NumericProperty(10000)
    count_keyed = StringProperty("")
    counted_fen = NumericProperty(0)
    message = StringProperty("")
    level = StringProperty("")
    busy = BooleanProperty(False)
    z_no = StringProperty("")
    variance_fen = NumericProperty(0)
    closeout_state = StringProperty("")    # "", sending, sent, failed
    summary = ObjectProperty(None, allownone=True)
    closeout_verdict = DictProperty()      # the gateway's answer (contracts §4 closeout)
    other_operator = StringProperty("")

    def on_stage(self, _inst, value):
        if "stages" in self.ids and self.ids.stages.has_screen(value):
            self.ids.stages.current = value

    def money(self, fen) -> str:
        return fmt_fen(int(fen or 0))

    def fig(self, key, figures):
        """A figure of the shift for kv (passing `figures` makes kv re-evaluate on change)."""
        value = figures.get(key)
        if value is None:
            return 0 if key.endswith(("_fen", "_count")) else ""
        return value

    def denom_text(self, fen, counts, selected, _lang=None) -> str:
        n = counts.get(fen, 0)
        return f"{denom_label(fen)}\n× {n}" + ("  ◀" if fen == selected else "")

    def variance_text(self, counted, expected, _lang=None) -> str:
        v = int(counted) - int(expected or 0)
        if v == 0:
            return tr("Balanced")
        return (tr("Over {a}") if v > 0 else tr("Short {a}")).format(a=fmt_fen(abs(v)))

    # -- lifecycle ---------------------------------------------------------------------
    def on_pre_enter(self, *_):
        if self.stage == "closed":
            self.stage = "loading"
        self.message, self.level = "", ""
        self.reload()

    def reload(self):
        run(load_shift, self.app.services.store, on_done=self._show, on_error=self._failed)

    def _show(self, res):
        shift, fig = res
        me = self.app.services.operator["operator_id"]
        if shift is None:
            self.app.services.shift_id = ""
            self.float_keyed = ""
            if "float_pad" in self.ids:
                self.ids.float_pad.value = ""
            self.stage = "open"
            return
        self.app.services.shift_id = shift["shift_id"]
        self.app.services.shift_operator = shift["operator_id"]
        self.figures = fig
        self.other_operator = shift["operator_id"] if shift["operator_id"] != me else ""
        if self.other_operator:
            self.message = tr("The open shift belongs to operator {op}; they must close it.").format(
                op=self.other_operator)
            self.level = "warning"
        if self.stage != "count":
            self.stage = "running"

    def _failed(self, exc):
        self.busy = False
        self.message, self.level = error_text(exc), "error"

    # -- open --------------------------------------------------------------------------
    def float_changed(self, value):
        self.float_keyed = value.lstrip("0")

    def open_shift(self):
        if self.busy:
            return
        self.busy = True
        app = self.app
        run(shifts.open_shift, app.services.store, app.services.operator["operator_id"],
            int(self.float_keyed or "0"), on_done=self._opened, on_error=self._failed)

    def _opened(self, shift):
        self.busy = False
        self.app.services.shift_id = shift["shift_id"]
        self.app.services.shift_operator = shift["operator_id"]
        self.message = tr("Shift open with a float of {a}.").format(a=fmt_fen(shift["float_fen"]))
        self.level = "ok"
        self.app.services.refresh_counts()
        self.reload()

    # -- X report ----------------------------------------------------------------------
    def print_x(self):
        self.message, self.level = tr("Printing the X report…"), ""
        field_print.queue_and_print(shifts.x_report, on_message=self._print_message)

    def _print_message(self, text):
        self.message = text

    # -- count and close ---------------------------------------------------------------
    def start_count(self):
        if self.other_operator:
            return
        self.counts = {d: 0 for d in shifts.DENOMINATIONS}
        self.selected = shifts.DENOMINATIONS[0]
        self.count_keyed = ""
        self.ids.count_pad.value = ""
        self.counted_fen = 0
        self.message, self.level = tr("Tap a note or coin, then key how many."), ""
        self.reload()
        self.stage = "count"

    def select_denom(self, fen):
        self.selected = fen
        n = self.counts.get(fen, 0)
        self.count_keyed = str(n) if n else ""
        self.ids.count_pad.value = self.count_keyed

    def count_changed(self, value):
        self.count_keyed = value.lstrip("0")
        counts = dict(self.counts)
        counts[self.selected] = int(self.count_keyed or "0")
        self.counts = counts
        self.counted_fen = shifts.counted_from({d: n for d, n in counts.items() if n})

    def next_denom(self):
        order = list(shifts.DENOMINATIONS)
        i = order.index(self.selected)
        self.select_denom(order[(i + 1) % len(order)])

    def cancel_count(self):
        self.stage = "running"
        self.message, self.level = "", ""

    def close_shift(self, confirmed: bool = False):
        if self.busy:
            return
        variance = self.counted_fen - int(self.figures.get("expected_fen") or 0)
        if variance and not confirmed:
            # a shortage or overage is a second thought: the variance shown, closing asked
            what = (tr("Over {a}") if variance > 0 else tr("Short {a}")).format(a=fmt_fen(abs(variance)))
            self.message, self.level = tr("Counted {c}, expected {e}: {v}.").format(
                c=fmt_fen(self.counted_fen), e=fmt_fen(self.figures.get("expected_fen") or 0),
                v=what), "warning"
            ChoicePopup(title=what, choices=[("close", tr("Close the shift {v}").format(v=what)),
                                             ("", tr("Count again"))],
                        choose_callback=lambda key: self.close_shift(True) if key else None).open()
            return
        self.busy = True
        self.message, self.level = tr("Closing the shift…"), ""
        app = self.app
        counts = {d: n for d, n in self.counts.items() if n}
        run(shifts.close_shift, app.services.store, app.services.operator["operator_id"],
            None, counts, on_done=self._closed, on_error=self._failed)

    def _closed(self, doc):
        self.busy = False
        report = doc["report"]
        self.z_no = str(report["z_no"])
        self.variance_fen = report["variance_fen"]
        self.figures = dict(self.figures, expected_fen=report["expected_fen"])
        self.summary = report["summary"]
        self.app.services.shift_id = ""
        self.app.services.refresh_counts()
        self.stage = "closed"
        self.message, self.level = tr("Printing Z report No. {z}…").format(z=self.z_no), ""
        field_print.pump(on_message=self._print_message)
        self.send_closeout()

    # -- closeout with the gateway -----------------------------------------------------
    def send_closeout(self):
        worker = self.app.services.worker
        if self.summary is None:
            return
        if worker is None:
            self.closeout_state = "failed"
            return
        self.closeout_state = "sending"
        summary = self.summary

        def job():
            return worker.closeout(summary).result(timeout=CLOSEOUT_TIMEOUT_S)

        def done(verdict):
            self.closeout_verdict = verdict
            ok = bool(verdict.get("ok"))
            self.closeout_state = "sent" if ok else "mismatch"

        run(job, on_done=done, on_error=lambda exc: setattr(self, "closeout_state", "failed"))

    def closeout_text(self, state, _lang=None) -> str:
        return {"": "", "sending": tr("Sending the closeout to the office…"),
                "sent": tr("Closeout reconciled with the office."),
                "mismatch": tr("The office's figures differ from this device. Tell your supervisor."),
                "failed": tr("Offline: the closeout was not sent. Tap Send closeout when online.")
                }.get(state, state)

    def done(self):
        self.stage = "loading"
        self.app.go("home")


NAME = "shift"
SCREEN = ShiftScreen
Builder.load_file(str(Path(__file__).with_suffix(".kv")))
