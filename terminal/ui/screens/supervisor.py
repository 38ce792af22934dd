"""Supervisor: the gateway's routes with progress per reader; assign / reassign a route to
a reader and a device with a reason; trigger a device's download; the exception queue;
and approving a void of this device's shift with the supervisor's PIN. A card payment is
voided by reversing it on the card terminal (its own thread, live messages on screen); a
reversal whose result was lost is settled from the terminal's record ("Check with terminal").

Gateway calls use the supervisor endpoints (contracts §4) with a token obtained by
confirming the PIN; every call runs on a worker thread."""
from __future__ import annotations

from pathlib import Path

import requests
from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, DictProperty, ListProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label

from terminal.ui.widgets import AppScreen
from terminal.ui.widgets.field_card import CardJob
from terminal.ui.i18n import gateway_text
from terminal.ui.widgets.field_common import error_text

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

NAME = "supervisor"


class GatewayError(Exception):
    """The gateway refused or could not be reached: an English `msgid` (+ `params`), shown
    in the operator's language through error_text."""

    def __init__(self, code: str, msgid: str, **params):
        self.code, self.msgid, self.params = code, msgid, params
        self.message_en = msgid.format(**params)
        super().__init__(self.message_en)


class SupervisorClient:
    """The gateway's supervisor API (used on worker threads only)."""

    def __init__(self, base_url: str, ca_bundle: str | None = None, timeout=(3.05, 15)):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.verify = ca_bundle or True
        self.timeout = timeout
        self.token: str | None = None

    def _call(self, method: str, path: str, body=None):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            r = self.session.request(method, self.base_url + path, json=body, headers=headers,
                                     timeout=self.timeout)
        except requests.exceptions.SSLError as exc:
            raise GatewayError("certificate",
                               "The gateway's certificate could not be verified.") from exc
        except requests.RequestException as exc:
            raise GatewayError("offline",
                               "Cannot reach the gateway; try again when online.") from exc
        if r.status_code >= 400:
            try:
                doc = r.json()
            except ValueError:
                doc = {}
            code = doc.get("error") or f"http_{r.status_code}"
            message = doc.get("message") or r.text[:200]
            if r.status_code == 401 or code in ("bad_pin", "unauthenticated"):
                raise GatewayError(code, "Wrong PIN or session expired ({message}).",
                                   message=message)
            if code == "locked_out":
                raise GatewayError(code, "Too many wrong PINs on the gateway; try again later.")
            raise GatewayError(code, "The gateway refused: {message}", message=message)
        return r.json() if r.content else None

    def login(self, operator_id: str, pin: str) -> str:
        self.token = self._call("POST", "/v1/supervisor/login",
                                {"operator_id": operator_id, "pin": pin})["token"]
        return self.token

    def overview(self) -> dict:
        return {"routes": self._call("GET", "/v1/supervisor/routes"),
                "devices": self._call("GET", "/v1/supervisor/devices"),
                "exceptions": self._call("GET", "/v1/supervisor/exceptions?status=open&limit=100")}

    def assign(self, route_id: str, operator_id: str, device_id: str | None, reason: str) -> dict:
        return self._call("POST", f"/v1/supervisor/routes/{route_id}/assign",
                          {"operator_id": operator_id, "device_id": device_id, "reason": reason})

    def request_download(self, route_id: str) -> dict:
        return self._call("POST", f"/v1/supervisor/routes/{route_id}/request-download")

    def resolve(self, exception_id: int, note: str) -> dict:
        return self._call("POST", f"/v1/supervisor/exceptions/{exception_id}/resolve", {"note": note})

    def close(self) -> None:
        self.session.close()


def voidable_payments(store) -> list[dict]:
    rows = store.conn.execute(
        "SELECT p.op_id, p.account_no, p.agent_id, p.amount_fen, p.receipt_no, p.operator_id,"
        " p.device_time, p.method FROM payments p JOIN shifts s ON s.shift_id = p.shift_id"
        " WHERE s.closed_at IS NULL AND ((p.method = 'cash' AND p.state = 'done')"
        " OR (p.method = 'card' AND p.state = 'approved'))"
        " ORDER BY p.device_time DESC LIMIT 50").fetchall()
    return [dict(r) for r in rows]


def pending_reversal(store) -> dict | None:
    """Worker: a card reversal whose result is unknown, or None."""
    from terminal import voids
    return voids.pending_reversal(store)


def approve_void(store, payment: dict, reason: str, supervisor_id: str, pin: str, *,
                 terminal=None, on_status=None):
    """Worker (the card terminal's thread for a card payment, with its driver as
    `terminal`): PIN check, then the core's void (a new record + slip queued for printing)."""
    from terminal import print_queue, voids
    result = voids.void_payment(store, payment["op_id"], reason, payment["operator_id"], supervisor_id,
                                supervisor_pin=pin, terminal=terminal, on_status=on_status)
    if getattr(result, "print_job", None) is None and getattr(result, "doc", None):
        print_queue.enqueue(store, result.doc)
    return result


class SupRouteRow(BoxLayout):
    route = DictProperty()


EXCEPTION_KINDS = {"review": "To review", "conflict": "Conflict", "rejected": "Rejected",
                   "suspense": "Payment in suspense", "double_collection": "Collected twice"}


class ExceptionRow(BoxLayout):
    item = DictProperty()

    @staticmethod
    def describe(item: dict, _lang=None) -> str:
        """The exception in the operator's language: kind, what happened, where (account,
        amount, device); the gateway's own English message only for a code not known here."""
        tr = App.get_running_app().tr
        what = gateway_text(item.get("code"), item.get("message"), App.get_running_app().lang)
        where = []
        if item.get("account_no"):
            where.append(tr("Account {a}").format(a=item["account_no"]))
        if item.get("amount_fen") is not None:
            where.append(tr("{amount} yuan").format(amount="%d.%02d" % divmod(item["amount_fen"], 100)))
        if item.get("device_id"):
            where.append(tr("Device {d}").format(d=item["device_id"]))
        kind = tr(EXCEPTION_KINDS.get(item.get("kind"), item.get("kind") or ""))
        return f"#{item.get('id')} {kind}: {what}\n" + " · ".join(where)


class EmptyLine(Label):
    """A list's "nothing here" line, in the operator's language."""
    msgid = StringProperty("")


class VoidRow(BoxLayout):
    payment = DictProperty()


class SupervisorScreen(AppScreen):
    connected = BooleanProperty(False)
    busy = BooleanProperty(False)
    tab = StringProperty("routes")
    pin = StringProperty("")
    message = StringProperty("")
    routes = ListProperty()
    devices = ListProperty()
    exceptions = ListProperty()
    payments = ListProperty()
    form = StringProperty("")          # "" | assign | resolve | void
    form_target = DictProperty()
    form_route = StringProperty("")
    card_busy = BooleanProperty(False)        # a reversal is running on the card terminal
    reversal_pending = BooleanProperty(False)  # a reversal's result is unknown

    client: SupervisorClient | None = None

    def __init__(self, **kw):
        super().__init__(**kw)
        self._card = CardJob(on_status=self._card_status)

    def on_pre_enter(self, *_):
        self.message = ""
        self.form = ""
        if self.connected:
            self.reload()

    def on_leave(self, *_):
        self.pin = ""

    # --- connecting -------------------------------------------------------------------
    def on_pin_enter(self) -> None:
        if self.form == "void":
            self.confirm_void()
        else:
            self.connect()

    def connect(self) -> None:
        if self.busy or not self.pin:
            return
        operator = self.app.services.operator or {}
        services = self.app.services
        base = services.store.get_meta("gateway_url") or self.app.config.get("gateway", "url")
        client = SupervisorClient(base, self.app.config.get("gateway", "ca_bundle") or None)
        self.busy = True
        self.message = self.app.tr("Connecting to the gateway…")

        def work():
            client.login(operator.get("operator_id", ""), self.pin)
            return client.overview()

        def done(overview):
            self.client = client
            self.connected = True
            self.pin = ""
            self._show(overview)
            self._load_payments()

        services.run(work, on_done=done, on_error=self._failed)

    def _failed(self, exc) -> None:
        self.busy = False
        self.card_busy = False
        self.pin = ""
        self.ids.keypad.value = ""
        self.message = error_text(exc)     # core and gateway errors: msgids, catalogs

    def reload(self) -> None:
        if self.client is None:
            return
        self.busy = True
        self.app.services.run(self.client.overview, on_done=self._show, on_error=self._failed)
        self._load_payments()

    def _load_payments(self) -> None:
        self.app.services.run(voidable_payments, self.app.services.store,
                              on_done=self._payments, on_error=lambda exc: None)
        self.app.services.run(pending_reversal, self.app.services.store,
                              on_done=lambda p: setattr(self, "reversal_pending", p is not None),
                              on_error=lambda exc: None)

    def _show(self, overview: dict) -> None:
        self.busy = False
        self.message = ""
        self.routes = overview.get("routes") or []
        self.devices = overview.get("devices") or []
        self.exceptions = overview.get("exceptions") or []
        self._fill()

    def _payments(self, rows) -> None:
        self.payments = rows
        self._fill()

    def _fill(self) -> None:
        box = self.ids.rows
        box.clear_widgets()
        if self.tab == "routes":
            for r in self.routes:
                row = SupRouteRow(route=r)
                box.add_widget(row)
                self.ids[f"assign_{r['route_id']}"] = row.ids.assign_button
                self.ids[f"request_{r['route_id']}"] = row.ids.request_button
        elif self.tab == "exceptions":
            for e in self.exceptions:
                row = ExceptionRow(item=e)
                box.add_widget(row)
                self.ids[f"resolve_{e['id']}"] = row.ids.resolve_button
            if not self.exceptions:   # say so rather than show a blank list
                box.add_widget(EmptyLine(msgid="No open exceptions."))
        else:
            for p in self.payments:
                row = VoidRow(payment=p)
                box.add_widget(row)
                self.ids[f"void_{p['receipt_no']}"] = row.ids.void_button

    def show_tab(self, tab: str) -> None:
        self.tab = tab
        self.form = ""
        self._fill()
        if tab == "voids":
            self._load_payments()

    # --- assign / download ------------------------------------------------------------
    def start_assign(self, route: dict) -> None:
        self.form = "assign"
        self.form_target = route
        self.form_route = route.get("route_id", "")
        self.ids.assign_operator.text = route.get("operator_id") or ""
        names = [d["device_id"] for d in self.devices if not d.get("revoked")]
        self.ids.assign_device.values = names
        self.ids.assign_device.text = route.get("device_id") or (names[0] if names else "")
        self.ids.assign_reason.text = ""

    def device_chosen(self) -> None:
        """The device drop-down closed: the reason is what the supervisor types next, so an
        empty reason field takes the keyboard (after the closing touch is over, which
        would otherwise take the focus away again)."""
        if self.form == "assign" and not self.ids.assign_reason.text:
            Clock.schedule_once(lambda _dt: self._focus_reason(), 0)

    def _focus_reason(self) -> None:
        if self.form == "assign":
            self.ids.assign_reason.focus = True

    def confirm_assign(self) -> None:
        route_id = self.form_target.get("route_id")
        operator_id = self.ids.assign_operator.text.strip()
        device_id = self.ids.assign_device.text.strip() or None
        reason = self.ids.assign_reason.text.strip()
        if not operator_id or not reason:
            self.message = self.app.tr("Enter the reader's number and a reason.")
            return
        self.busy = True
        self.app.services.run(self.client.assign, route_id, operator_id, device_id, reason,
                              on_done=lambda _r: self._after(self.app.tr("Route {r} assigned to {o}.").format(r=route_id, o=operator_id)),
                              on_error=self._failed)

    def request_download(self, route_id: str) -> None:
        self.busy = True
        self.app.services.run(self.client.request_download, route_id,
                              on_done=lambda _r: self._after(self.app.tr("Download of {r} requested; the device fetches it at its next sync.").format(r=route_id)),
                              on_error=self._failed)

    def _after(self, text: str) -> None:
        self.busy = False
        self.form = ""
        self.notify(text, "ok")
        self.reload()

    # --- exceptions -----------------------------------------------------------------------
    def start_resolve(self, item: dict) -> None:
        self.form = "resolve"
        self.form_target = item
        self.ids.resolve_note.text = ""

    def confirm_resolve(self) -> None:
        note = self.ids.resolve_note.text.strip()
        if not note:
            self.message = self.app.tr("Enter a note on how it was resolved.")
            return
        exception_id = self.form_target.get("id")
        self.busy = True
        self.app.services.run(self.client.resolve, exception_id, note,
                              on_done=lambda _r: self._after(self.app.tr("Exception {n} resolved.").format(n=exception_id)),
                              on_error=self._failed)

    # --- voids ------------------------------------------------------------------------
    def start_void(self, payment: dict) -> None:
        self.form = "void"
        self.form_target = payment
        self.ids.void_reason.text = ""
        self.pin = ""
        self.ids.keypad.value = ""

    def confirm_void(self) -> None:
        reason = self.ids.void_reason.text.strip()
        if not reason or not self.pin:
            self.message = self.app.tr("Enter the reason and your PIN.")
            return
        operator = self.app.services.operator or {}
        services = self.app.services
        self.busy = True
        pin, self.pin = self.pin, ""
        self.ids.keypad.value = ""

        payment = dict(self.form_target)
        args = (services.store, payment, reason, operator.get("operator_id", ""), pin)
        if payment.get("method") == "card":
            self.card_busy = True
            self.message = self.app.tr("Reversing the card payment on the card terminal…")
            self._card.start(lambda term, on_status: approve_void(*args, terminal=term,
                                                                  on_status=on_status),
                             on_done=self._voided, on_error=self._void_failed)
        else:
            services.run(approve_void, *args, on_done=self._voided, on_error=self._failed)

    def _voided(self, result) -> None:
        self.card_busy = False
        self.reversal_pending = False
        self._after(self.app.tr("Receipt {n} voided.").format(n=result.voided_receipt_no))
        try:
            from terminal.ui.widgets import field_print
            field_print.pump()
        except Exception:  # printing is retried from the queue later
            pass

    def _void_failed(self, exc) -> None:
        self._failed(exc)
        if getattr(exc, "code", "") == "reversal_unknown":
            self.reversal_pending = True
            self.form = ""
            self._card.link_lost()
        self._load_payments()

    def _card_status(self, text: str) -> None:
        if self.card_busy and text:
            self.message = text

    def cancel_reversal(self) -> None:
        if self.card_busy and self._card.cancel():
            self.message = self.app.tr("Cancelling…")

    def check_reversal(self) -> None:
        """Settle a reversal whose result was lost from the terminal's last transaction."""
        if self.card_busy or not self.reversal_pending:
            return
        from terminal import voids
        store = self.app.services.store
        self.busy = self.card_busy = True
        self.message = self.app.tr("Asking the card terminal for the last transaction…")

        def done(result):
            if result is not None:
                self._voided(result)
                return
            self.busy = self.card_busy = False
            self.reversal_pending = False
            self.message = self.app.tr(
                "The terminal did not reverse the payment: it stands. You may void it again.")
            self._load_payments()

        def failed(exc):
            self._failed(exc)
            self._card.link_lost()
            self._load_payments()
        self._card.check(lambda term: voids.resolve_reversal(store, term),
                         on_done=done, on_error=failed)


SCREEN = SupervisorScreen
