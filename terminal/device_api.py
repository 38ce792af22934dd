"""What the core needs from the devices, as Protocols (docs/contracts.md §6).

Drivers in `devices/` implement these by duck typing and import nothing of ours; the core
imports no driver.
"""
from typing import Callable, Protocol


class CardResult(Protocol):
    approved: bool
    result_code: int
    amount_fen: int
    trace: int | None
    receipt_no: int | None
    masked_pan: str | None
    card_type: str | None
    terminal_id: str | None
    text: str


StatusCallback = Callable[[int, str], None]
ResultCallback = Callable[[CardResult], None]


class PaymentTerminal(Protocol):
    """A semi-integrated card payment terminal. `on_result` runs before the driver
    acknowledges the terminal's result; if it raises, the result is not acknowledged.
    Whatever the terminal sends, the only errors are link errors (OSError)."""

    def authorize(self, amount_fen: int, on_status: StatusCallback, on_result: ResultCallback) -> CardResult: ...
    def refund(self, amount_fen: int, on_status: StatusCallback, on_result: ResultCallback) -> CardResult: ...
    def reverse(self, receipt_no: int, on_status: StatusCallback, on_result: ResultCallback) -> CardResult: ...
    def last_result(self) -> CardResult | None: ...
    def end_of_day(self): ...
    def status(self): ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


class ReceiptPrinter(Protocol):
    """Prints a receipt document (contracts §5). Raises an OSError with `.reason`
    (`paper_out`, `cover_open`, `offline`, or `unknown`: sent, but no answer after the job
    — check the paper) and `.partial` when it cannot finish."""

    def print_document(self, doc: dict) -> None: ...
    def status(self) -> dict: ...
