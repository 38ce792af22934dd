"""Start-up recovery after a crash or a power cut: one explicit call, `recover(store)`.

Opening the store changes nothing; whoever starts work on it says what to put right:

- the outbox: ops left `inflight` by a process that died mid-request go back to `pending`
  (the gateway answers a repeat as `duplicate`, so re-sending is always safe);
- card payments (docs/ledger.md, card crash rule): an `intent` never sent to the terminal
  becomes `declined`, a `sent` one whose result never arrived becomes `unknown`, to be
  settled only from the terminal's own record (`payments.resolve_unknown`);
- print jobs left `printing` are held as `unknown` for the collector to check the paper
  (`print_queue.recover_printing`): never silently left, never silently printed again.

The app calls `recover(store)` once at start, before it starts its sync worker. The sync
worker calls `recover(store, cards=False)` when it starts: it may be (re)started while the
app is in the middle of a card payment, and only the app, which drives the card terminal,
may decide a card payment's state.
"""
from __future__ import annotations

from terminal import outbox, payments, print_queue
from terminal.store import Store


def recover(store: Store, *, cards: bool = True) -> dict:
    """Put right what a crash left half-done; returns what was changed, by kind."""
    report = {"ops_released": outbox.release_inflight(store)}
    if cards:
        report.update(payments.recover_card_payments(store))
        # the app drives the printer too: a job cut off mid-print waits for the collector
        report.update(print_queue.recover_printing(store))
    return report
