"""Bill and payment screen: the amount due with its lines (tiers, arrears, late fee, credit),
the amount to pay (full, partial, advance), cash (tendered keypad, change in large digits)
or card (live terminal messages, cancel, approved/declined, recovery of an unknown
outcome), then the receipt printed through the print queue (paper out / cover open: fix
and reprint a COPY).

The money rules live in terminal.payments / terminal.tariffs; this screen only collects
the operator's input, calls them on worker threads (the card terminal on its own device
thread) and shows what they answer.
"""
import json
from pathlib import Path

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty

from terminal import payments, receipt_docs, route_walk, shifts, tariffs
from terminal.ui.widgets import AppScreen, field_print
from terminal.ui.widgets.field_card import CardJob, SettlesUnknownCard
from terminal.ui.widgets.field_common import error_text, fmt_fen, run, tr
from terminal.ui.screens.account import third_party_text


def load_bill(store, account_no):
    """Worker: account, bill (as dict), open shift, unresolved card payments."""
    detail = route_walk.account_detail(store, account_no)
    bill = tariffs.bill_for(store, account_no).as_dict()
    return detail, bill, shifts.current_shift(store), payments.unknown_payments(store)


CARD_RESULT_MIN_S = 2.5   # an approval stays on the card stage this long (amount, messages)


def card_summary(store, op_id) -> dict:
    """Worker: what the collector tells the customer of an approved card payment: the
    masked card (last 4 digits only) and the terminal's trace and receipt numbers."""
    row = store.conn.execute("SELECT card FROM payments WHERE op_id=?", (op_id,)).fetchone()
    card = json.loads(row["card"]) if row is not None and row["card"] else {}
    out = {k: card.get(k) for k in ("card_type", "trace", "terminal_receipt_no")}
    masked = card.get("masked_pan") or ""
    out["last4"] = card.get("last4") or (masked[-4:] if masked[-4:].isdigit() else None)
    return out


def card_summary_text(card: dict) -> str:
    parts = [" ".join(p for p in (card.get("card_type") or "", "****" + card["last4"]
                                  if card.get("last4") else "") if p)]
    if card.get("trace") is not None:
        parts.append(tr("trace {n}").format(n=card["trace"]))
    if card.get("terminal_receipt_no") is not None:
        parts.append(tr("terminal receipt {n}").format(n=card["terminal_receipt_no"]))
    return tr("Card approved") + ": " + " · ".join(p for p in parts if p)


def bill_lines(bill: dict) -> str:
    """The bill as text lines: one per tariff band, then arrears, late fee, credit, paid
    here, voided here (docs/ledger.md "The due figure")."""
    out = []
    for line in bill["lines"]:
        price = f"{line['price_e4'] // 10000}.{line['price_e4'] % 10000:04d}"
        kwh = f"{line['kwh_e3'] // 1000}.{line['kwh_e3'] % 1000:03d}".rstrip("0").rstrip(".")
        out.append(tr("Band {n}: {kwh} kWh × {price}").format(n=line["band"], kwh=kwh, price=price)
                   + "   " + fmt_fen(line["amount_fen"]))
    if bill["lines"]:
        out.append(tr("Current charge") + "   " + fmt_fen(bill["current_fen"]))
    if bill["arrears_fen"]:
        out.append(tr("Arrears") + "   " + fmt_fen(bill["arrears_fen"]))
    if bill["late_fee_fen"]:
        out.append(tr("Late fee ({days} days)").format(days=bill["overdue_days"])
                   + "   " + fmt_fen(bill["late_fee_fen"]))
    if bill["credit_fen"]:
        out.append(tr("Credit") + "   -" + fmt_fen(bill["credit_fen"]))
    if bill["paid_here_fen"]:
        out.append(tr("Paid here") + "   -" + fmt_fen(bill["paid_here_fen"]))
    if bill.get("voided_here_fen"):   # given back by a void the office has not booked yet
        out.append(tr("Voided here") + "   +" + fmt_fen(bill["voided_here_fen"]))
    return "\n".join(out)


class PaymentScreen(SettlesUnknownCard, AppScreen):
    account_no = StringProperty("")
    route_id = StringProperty("")
    title_text = StringProperty("")
    lines_text = StringProperty("")
    third_party = StringProperty("")
    due_fen = NumericProperty(0)
    amount_keyed = StringProperty("")      # digits keyed, in fen (cash-register style)
    tendered_keyed = StringProperty("")
    stage = StringProperty("amount")       # amount | cash | card | done
    message = StringProperty("")
    card_text = StringProperty("")
    card_state = StringProperty("")        # "", busy, approved, declined, unknown
    card_log = ListProperty()              # the terminal's messages of this exchange, in order
    card_done = StringProperty("")         # masked card and trace of an approved payment
    unknown_op = StringProperty("")
    receipt_no = StringProperty("")
    change_fen = NumericProperty(-1)
    print_text = StringProperty("")
    busy = BooleanProperty(False)
    loaded = BooleanProperty(False)
    shift_open = BooleanProperty(False)
    _bill = None                           # the core's bill (as_dict) the screen shows

    def __init__(self, **kw):
        super().__init__(**kw)
        self._card = CardJob(on_status=self._show_status)
        self._last_op = None

    def on_stage(self, _inst, value):
        if "stages" in self.ids:
            self.ids.stages.current = value

    # -- amounts -----------------------------------------------------------------------
    @property
    def amount_fen(self) -> int:
        return int(self.amount_keyed or "0")

    @property
    def tendered_fen(self) -> int:
        return int(self.tendered_keyed or "0")

    def amount_kind(self, keyed, due, _lang=None) -> str:
        amount = int(keyed or "0")
        if amount <= 0:
            return tr("Key the amount to pay")
        if amount == due:
            return tr("Full payment")
        if amount < due:   # the core's figure after this payment (docs/ledger.md)
            left = tariffs.due_if_paid(self._bill, amount) if self._bill else due - amount
            return tr("Partial payment, {left} left due").format(left=fmt_fen(left))
        return tr("Advance payment, {extra} credit").format(extra=fmt_fen(amount - due))

    def change_text(self, tendered, amount, _lang=None) -> str:
        t, a = int(tendered or "0"), int(amount or "0")
        if not t:
            return "—"
        return fmt_fen(t - a) if t >= a else tr("Short {a}").format(a=fmt_fen(a - t))

    def money(self, keyed) -> str:
        return fmt_fen(int(keyed or "0"))

    # -- lifecycle ---------------------------------------------------------------------
    def on_pre_enter(self, *_):
        p = self.params or {}
        self.account_no = p.get("account_no", self.account_no)
        self.route_id = p.get("route_id", self.route_id) or ""
        self.stage = "amount"
        self.message = ""
        self.card_text = ""
        self.card_state = ""
        self.card_log = []
        self.card_done = ""
        self.receipt_no = ""
        self.change_fen = -1
        self.print_text = ""
        self.tendered_keyed = ""
        self.loaded = False
        self.reload()

    def reload(self):
        run(load_bill, self.app.services.store, self.account_no,
            on_done=self._show, on_error=lambda e: setattr(self, "message", error_text(e)))

    def _show(self, res):
        detail, bill, shift, unknown = res
        if detail is None:
            self.message = tr("This account is not on this device.")
            return
        acct = detail["account"]
        self.title_text = f"{acct['name']}  {self.account_no}"
        self.route_id = acct.get("route_id") or self.route_id
        self._bill = bill
        self.due_fen = bill["total_due_fen"]
        self.amount_keyed = str(self.due_fen) if self.due_fen else ""
        self.lines_text = bill_lines(bill)
        self.third_party = third_party_text(acct.get("last_third_party"))
        self.shift_open = shift is not None
        self.unknown_op = unknown[0]["op_id"] if unknown else ""
        if unknown:
            self.stage = "card"
            self.card_state = "unknown"
            self.card_text = tr("A card payment of {a} has an unknown result. Check it with the "
                                "terminal before taking another card payment.").format(
                a=fmt_fen(unknown[0]["amount_fen"]))
        elif shift is None:
            self.message = tr("No shift is open: open a shift with a cash float first.")
        self.loaded = True

    # -- amount stage ------------------------------------------------------------------
    def amount_changed(self, value):
        self.amount_keyed = value.lstrip("0")

    def full_amount(self):
        self.amount_keyed = str(self.due_fen) if self.due_fen else ""
        self.ids.amount_pad.value = self.amount_keyed

    def clear_amount(self):
        self.amount_keyed = ""
        self.ids.amount_pad.value = ""

    def _check_amount(self) -> bool:
        if self.amount_fen <= 0:
            self.message = tr("Key the amount to pay first.")
            return False
        if not self.shift_open:
            self.message = tr("No shift is open: open a shift with a cash float first.")
            return False
        self.message = ""
        return True

    def choose_cash(self):
        if self._check_amount():
            self.tendered_keyed = ""
            self.ids.tendered_pad.value = ""
            self.stage = "cash"

    def choose_card(self):
        if self._check_amount():
            self.stage = "card"
            self.start_card()

    def back_to_amount(self):
        if self.card_state == "busy":
            return
        self.stage = "amount"
        self.card_state = ""
        self.message = ""

    # -- cash --------------------------------------------------------------------------
    def tendered_changed(self, value):
        self.tendered_keyed = value.lstrip("0")

    def exact_cash(self):
        self.tendered_keyed = str(self.amount_fen)
        self.ids.tendered_pad.value = self.tendered_keyed

    def confirm_cash(self):
        if self.busy:
            return
        if not self.tendered_fen:
            # exact money is an explicit choice (its own button), never the empty default
            self.message = tr("Key the cash received, or tap Exact money.")
            return
        tendered = self.tendered_fen
        if tendered < self.amount_fen:
            self.message = tr("The cash tendered is less than the amount. Key the tendered amount again.")
            return
        self.busy = True
        self.message = tr("Saving…")
        app = self.app
        # more than the due shown is an advance the screen has labelled as such; if the due
        # has dropped since (booked elsewhere), the core refuses with "over_due"
        run(payments.cash_payment, app.services.store, self.account_no, self.amount_fen,
            app.services.operator["operator_id"], tendered, advance=self.amount_fen > self.due_fen,
            gps=app.services.location.current(), on_done=self._paid, on_error=self._pay_failed)

    def _pay_failed(self, exc):
        self.busy = False
        self.message = error_text(exc)

    def _paid(self, result):
        self.busy = False
        self._last_op = result.op_id
        self.receipt_no = result.receipt_no or ""
        self.change_fen = result.change_fen if result.change_fen is not None else -1
        self.stage = "done"
        self.message = ""
        self.print_text = tr("Printing receipt {no}…").format(no=self.receipt_no)
        self.app.services.refresh_counts()
        field_print.pump(on_message=self._print_message)

    def _print_message(self, text):
        self.print_text = text

    # -- card --------------------------------------------------------------------------
    def start_card(self):
        app = self.app
        store = app.services.store
        amount, account_no = self.amount_fen, self.account_no
        advance = amount > self.due_fen     # labelled as an advance on this screen
        operator_id = app.services.operator["operator_id"]
        gps = app.services.location.current()    # where the card was taken
        self.card_state = "busy"
        self.card_log = []
        self.card_done = ""
        self.card_text = tr("Connecting to the card terminal…")

        def job(term, on_status):
            return payments.card_payment(store, term, account_no, amount, operator_id,
                                         on_status=on_status, advance=advance, gps=gps)
        self._card.start(job, on_done=self._card_result, on_error=self._card_error)

    def _show_status(self, text):
        if self.card_state == "busy":
            self.card_text = text or self.card_text
            if text:
                self.card_log = (self.card_log + [text])[-4:]

    def cancel_card(self):
        if self.card_state == "busy" and self._card.cancel():
            self.card_text = tr("Cancelling…")

    def _card_result(self, result):
        self._last_op = result.op_id
        if result.state != "approved":
            self.show_card_outcome(result)
            return
        # the approval, the amount and the terminal's messages stay in view a moment, with
        # the masked card and trace the collector tells the customer; then the receipt
        self.card_state = "approved"
        self.card_text = tr("Approved {a}").format(a=fmt_fen(result.amount_fen))

        def show(card):
            self.card_done = card_summary_text(card)
            Clock.schedule_once(lambda _dt: self._approval_seen(result), CARD_RESULT_MIN_S)
        run(card_summary, self.app.services.store, result.op_id, on_done=show,
            on_error=lambda _e: show({}))

    def _approval_seen(self, result):
        if self._last_op == result.op_id and self.card_state == "approved" and self.stage == "card":
            self.show_card_outcome(result)      # → the receipt (stage "done")

    def _card_error(self, exc):
        self.card_state = "declined" if self.unknown_op == "" else "unknown"
        self.card_text = error_text(exc)

    # -- after the payment -------------------------------------------------------------
    def reprint(self):
        if not self.receipt_no:
            return
        app = self.app
        self.print_text = tr("Printing a COPY…")
        run(receipt_docs.reprint, app.services.store, self.receipt_no,
            app.services.operator["operator_id"],
            on_done=lambda _doc: field_print.pump(on_message=self._print_message),
            on_error=lambda e: setattr(self, "print_text", error_text(e)))

    def finish(self):
        app = self.app
        app.go("account", account_no=self.account_no, route_id=self.route_id)


NAME = "payment"
SCREEN = PaymentScreen
Builder.load_file(str(Path(__file__).with_suffix(".kv")))
