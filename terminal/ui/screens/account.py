"""Account screen: hazard alert first, then customer, address, meter, balance and arrears,
any third-party payment already received, last readings; actions read, collect, print a
bill notice (through the print queue, on a worker thread).
"""
from pathlib import Path

from kivy.app import App
from kivy.lang import Builder
from kivy.properties import BooleanProperty, DictProperty, StringProperty

from terminal import route_walk, tariffs
from terminal.ui.widgets import AppScreen, field_print
from terminal.ui.widgets.field_common import error_text, fmt_fen, fmt_reading, hazard_texts, run, tr


def load_account(store, account_no):
    """Worker: the account's detail and its bill."""
    detail = route_walk.account_detail(store, account_no)
    try:
        bill = tariffs.bill_for(store, account_no).as_dict()
    except Exception:  # noqa: BLE001 — no tariff yet: show the account without a bill
        bill = None
    if detail is not None:
        detail["hazard_texts"] = hazard_texts(store, detail["account"].get("hazard"))
    return detail, bill


def third_party_text(tp) -> str:
    if not tp:
        return ""
    platform = {"alipay": tr("Alipay"), "wechat": tr("WeChat Pay"),
                "bank": tr("Bank")}.get(tp.get("platform"), tp.get("platform", ""))
    paid_at = (tp.get("paid_at") or "").replace("T", " ")[:16]
    return tr("Already paid {amount} yuan via {platform} at {time}").format(
        amount=fmt_fen(tp.get("amount_fen")), platform=platform, time=paid_at)


class AccountScreen(AppScreen):
    account_no = StringProperty("")
    route_id = StringProperty("")
    hazard = StringProperty("")
    hazard_by_lang = DictProperty()        # the hazard in one language at a time
    name_text = StringProperty("")
    address = StringProperty("")
    phone = StringProperty("")
    meter_text = StringProperty("")
    balance_text = StringProperty("")
    third_party = StringProperty("")
    readings_text = StringProperty("")
    message = StringProperty("")
    loaded = BooleanProperty(False)
    read_done = BooleanProperty(False)

    def on_pre_enter(self, *_):
        self.account_no = (self.params or {}).get("account_no", self.account_no)
        self.route_id = (self.params or {}).get("route_id", self.route_id) or ""
        self.loaded = False
        self.message = ""
        self.hazard = ""
        app = App.get_running_app()
        run(load_account, app.services.store, self.account_no,
            on_done=self._show, on_error=lambda e: setattr(self, "message", error_text(e)))

    def _show(self, res):
        detail, bill = res
        if detail is None:
            self.message = tr("This account is not on this device.")
            return
        acct = detail["account"]
        meter = detail.get("meter") or {}
        route = detail.get("route") or {}
        self.route_id = acct.get("route_id") or self.route_id
        self.hazard_by_lang = detail.get("hazard_texts") or {}
        self.hazard = acct.get("hazard") or ""
        self.name_text = acct.get("name", "")
        self.address = acct.get("address", "")
        self.phone = acct.get("phone") or ""
        hide = bool(route.get("hide_previous"))
        meter_line = tr("Meter {meter}").format(meter=meter.get("meter_no", "—"))
        if meter.get("prev_value") is not None and not hide:
            meter_line += "  " + tr("Previous {value} on {date}").format(
                value=fmt_reading(meter["prev_value"], meter.get("decimals") or 0),
                date=meter.get("prev_date") or "")
        self.meter_text = meter_line
        if bill:
            parts = [tr("Arrears {a}").format(a=fmt_fen(bill["arrears_fen"]))]
            if bill["late_fee_fen"]:
                parts.append(tr("Late fee {a}").format(a=fmt_fen(bill["late_fee_fen"])))
            if bill["credit_fen"]:
                parts.append(tr("Credit {a}").format(a=fmt_fen(bill["credit_fen"])))
            if bill["paid_here_fen"]:
                parts.append(tr("Paid here {a}").format(a=fmt_fen(bill["paid_here_fen"])))
            if bill.get("voided_here_fen"):
                parts.append(tr("Voided here {a}").format(a=fmt_fen(bill["voided_here_fen"])))
            parts.append(tr("Due {a}").format(a=fmt_fen(bill["total_due_fen"])))
            self.balance_text = "   ".join(parts)
        else:
            self.balance_text = tr("Arrears {a}").format(a=fmt_fen(acct.get("arrears_fen", 0)))
        self.third_party = third_party_text(detail.get("last_third_party") or acct.get("last_third_party"))
        lines = []
        for r in detail.get("last_readings", [])[:4]:
            if r.get("status") == "skipped":
                lines.append(f"{(r.get('device_time') or '')[:16].replace('T', ' ')}  {tr('Skipped')} "
                             f"{r.get('skip_code') or ''}")
            else:
                decimals = meter.get("decimals") or 0
                lines.append(f"{(r.get('device_time') or '')[:16].replace('T', ' ')}  "
                             f"{fmt_reading(r.get('value'), decimals)}"
                             + (f"  {r.get('trouble_code')}" if r.get("trouble_code") else ""))
        self.read_done = detail.get("current") is not None
        self.readings_text = "\n".join(lines) if lines else tr("No reading this cycle yet.")
        self.loaded = True

    @staticmethod
    def allowed(role: str, operator) -> bool:
        """Whether the logged-in operator has `role` (Read for readers, Collect for
        collectors): no entry that leads to a dead end."""
        return role in ((operator or {}).get("roles") or ())

    def read(self):
        App.get_running_app().go("reading", account_no=self.account_no, route_id=self.route_id)

    def collect(self):
        App.get_running_app().go("payment", account_no=self.account_no, route_id=self.route_id)

    def print_notice(self):
        self.message = tr("Printing…")
        field_print.print_bill_notice(self.account_no, on_message=self._print_message)

    def _print_message(self, text):
        self.message = text

    def go_back(self):
        App.get_running_app().go("walk", route_id=self.route_id)


NAME = "account"
SCREEN = AccountScreen
Builder.load_file(str(Path(__file__).with_suffix(".kv")))
