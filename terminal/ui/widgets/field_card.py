"""Driving one card-terminal job from a screen: the job runs on the card terminal's own
thread (`services.run_terminal`), the terminal's live messages reach the screen in order
on the Kivy thread, and the operator can cancel it (the driver's `abort`, sent from a
worker thread while the terminal thread waits for the terminal).

Screens keep their own wording and states; this only carries the threads:

    card = CardJob(on_status=lambda text: setattr(self, "card_text", text))
    card.start(lambda term, on_status: payments.card_payment(..., on_status=on_status),
               on_done=self._card_result, on_error=self._card_error)
    card.cancel()                      # True when an abort was sent
    card.check(lambda term: payments.resolve_unknown(store, term, op_id), on_done=…, on_error=…)

Callbacks are dropped once the app has stopped (a job finishing during shutdown).
"""
from __future__ import annotations

from kivy.app import App

from terminal import payments
from terminal.ledger_errors import refusal
from terminal.ui.widgets.field_common import alive, error_text, tr


class CardJob:
    """One card-terminal exchange at a time for one screen (see the module docstring)."""

    def __init__(self, on_status=None):
        self._on_status = on_status
        self._term = None
        self.cancelling = False

    @staticmethod
    def _services():
        return App.get_running_app().services

    def start(self, job, *, on_done, on_error) -> None:
        """`job(terminal, on_status)` on the terminal thread; `on_status(code, text)` is the
        driver's status callback, forwarded to the screen's `on_status(text)`."""
        self.cancelling = False
        self._term = None

        def work(term):
            self._term = term
            if self.cancelling:   # cancelled before the exchange reached the terminal
                raise refusal("card_cancelled", "Cancelled. Nothing was charged.")
            return job(term, self._status)
        self._services().run_terminal(work, on_done=alive(on_done), on_error=alive(on_error))

    def check(self, job, *, on_done, on_error) -> None:
        """`job(terminal)` on the terminal thread, no live status (asking for the last result)."""
        self._services().run_terminal(job, on_done=alive(on_done), on_error=alive(on_error))

    def _status(self, _code, text) -> None:
        # called on the terminal's thread, inside the exchange: a Cancel tapped after the
        # job began but before the exchange did (its abort found the terminal idle and
        # was answered on its own) is sent now, in answer to this status
        if self.cancelling and self._term is not None:
            self._term.abort()
        app = App.get_running_app()
        if app is not None and self._on_status is not None:
            app.services.post(alive(lambda: self._on_status(text)))

    def cancel(self) -> bool:
        """Ask the terminal to abort the running exchange; one not yet started on the
        terminal's thread is not started at all (a tap on Cancel is never lost)."""
        self.cancelling = True
        term = self._term
        if term is None:      # not started on the terminal yet: it will not start
            return True
        self._services().run(term.abort, on_error=lambda exc: None)
        return True

    def link_lost(self) -> None:
        """The line to the terminal failed: open the port afresh for the next exchange."""
        self._services().reset_device("terminal")


class SettlesUnknownCard:
    """What a screen taking card payments shows of an outcome, and `check_unknown()`, which
    asks the terminal for its last transaction to settle a payment whose outcome is unknown.
    The screen has `unknown_op`, `card_state`, `card_text`, `_card` (a CardJob),
    `_paid(result)` and `_card_result(result)` (which ends in `show_card_outcome`)."""

    def show_card_outcome(self, result):
        if result.state == "approved":
            self.card_state = "approved"
            self.card_text = tr("Approved")
            self._paid(result)
        elif result.state == "declined":
            self.card_state = "declined"
            self.card_text = (tr("Cancelled. Nothing was charged.") if self._card.cancelling else
                              tr("Declined by the card terminal. Ask for another card or take cash."))
        else:
            self.card_state = "unknown"
            self.unknown_op = result.op_id
            self.card_text = tr("The line to the card terminal dropped: the result is unknown. "
                                "Reconnect the terminal, then tap Check with terminal. Do not "
                                "charge the card again.")
            self._card.link_lost()

    def check_unknown(self):
        if not self.unknown_op or self.card_state == "busy":
            return
        services = App.get_running_app().services
        store, op_id = services.store, self.unknown_op
        operator_id = services.operator["operator_id"]
        self.card_state = "busy"
        self.card_text = tr("Asking the card terminal for the last transaction…")

        def done(result):
            self.unknown_op = ""
            if result.state == "approved":
                self._card_result(result)
            else:
                self.card_state = "declined"
                self.card_text = tr("The terminal has no approved transaction for this payment: "
                                    "it was not paid. You may take the payment again.")

        def failed(exc):
            self.card_state = "unknown"
            self.card_text = error_text(exc)
            self._card.link_lost()
        self._card.check(lambda term: payments.resolve_unknown(store, term, op_id, operator_id),
                         on_done=done, on_error=failed)
