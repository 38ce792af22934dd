"""What the screens share: the store, the operator and shift, the sync worker, the devices.

`Services` is a Kivy EventDispatcher; its properties (online, pending, last_sync,
printer_state, terminal_state, shift_id, operator, …) change only on the Kivy thread, so
the StatusBar and screens simply bind to them. Everything slow runs elsewhere:

- `run(fn, *args, on_done=cb, on_error=cb, **kw)` runs `fn(*args, **kw)` on a worker
  thread (which uses its own Store connection — `Store.conn` is per thread) and calls
  `on_done(result)` / `on_error(exc)` on the Kivy thread.
- `run_printer(fn, …)` / `run_terminal(fn, …)` run `fn(driver)` on that device's own
  single thread (a driver is created from the settings there and used nowhere else).
- The sync worker (sync/worker.py) runs on its own thread; its status reaches the
  properties through a queue drained by a Clock trigger, in order.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import threading
import time
from pathlib import Path

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import (BooleanProperty, DictProperty, ListProperty, NumericProperty,
                             ObjectProperty, StringProperty)

from terminal import outbox, payments, recovery
from terminal.store import Store
from terminal.ui.i18n import error_text, tr
from terminal.ui.location import Location

log = logging.getLogger(__name__)

DB_NAME = "chaoshou.db"
STATE_MARKS = {"ok": "[color=55dd77]●[/color]", "busy": "[color=66aaff]●[/color]",
               "warning": "[color=ffbb33]●[/color]", "error": "[color=ff6655]●[/color]",
               "none": "[color=888888]–[/color]"}


class Services(EventDispatcher):
    online = BooleanProperty(False)
    pending = NumericProperty(0)
    pending_by_type = DictProperty()
    attention = NumericProperty(0)
    last_sync = StringProperty("")           # "HH:MM" of the last successful exchange
    sync_state = StringProperty("idle")      # idle | syncing | offline | error | stopped
    sync_error = DictProperty()              # {"code","zh","en","detail"} of the last failure
    download = DictProperty()                # {"route_id","done","total","state"}
    download_requested = ListProperty()      # route ids the supervisor asked us to fetch
    printer_state = StringProperty("none")   # none | ok | busy | warning | error
    printer_detail = StringProperty("")
    terminal_state = StringProperty("none")
    terminal_detail = StringProperty("")
    operator = ObjectProperty(None, allownone=True)   # {"operator_id","name","roles"}
    shift_id = StringProperty("")            # the device's open shift (any operator's)
    shift_operator = StringProperty("")      # whose it is: the status bar shows one's own
    device_id = StringProperty("")
    sync_status = DictProperty()             # the worker's last full status snapshot

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self.app = app
        self.store: Store | None = None
        self.worker = None
        self.location = Location(app)        # the GPS source and its fix state
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="ui-work")
        self._devices = {kind: concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"dev-{kind}")
                         for kind in ("printer", "terminal")}
        self._drivers: dict = {}
        self._events: queue.Queue = queue.Queue()
        self._drain = Clock.create_trigger(self._drain_events, 0)
        self._poll_ev = None
        self._closed = False
        self._counts_trigger = Clock.create_trigger(lambda *_: self.refresh_counts(), 0.3)
        self._status_lock = threading.Lock()
        self._latest_status = None

    # --- life cycle -------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.app.data_dir / DB_NAME

    def open_store(self) -> Store:
        if self.store is None:
            self.store = Store(self.db_path)
            self.device_id = self.store.get_meta("device_id") or ""
        return self.store

    def start(self) -> None:
        self.location.start()
        self.open_store()
        report = recovery.recover(self.store)   # before the sync worker (terminal/recovery.py)
        if self.app.start_worker and self.enrolled():
            self.start_worker()
        self._poll_ev = Clock.schedule_interval(lambda *_: self.refresh_counts(), 2.0)
        self.refresh_counts()
        self.check_devices()
        self.recover_card_payments()
        if report.get("print_jobs_resolved"):
            self.ask_about_unknown_prints()

    def recover_card_payments(self) -> None:
        """After a crash (`recovery.recover` has run): a card payment whose result never
        arrived is settled from the terminal's own record — never charged again."""
        store = self.store

        def unknown_ids():
            return [p["op_id"] for p in payments.unknown_payments(store)]

        def settle(op_ids):
            for op_id in op_ids:
                self.run_terminal(lambda term, op_id=op_id: payments.resolve_unknown(store, term, op_id),
                                  on_done=self._card_settled, on_error=self._card_unsettled)

        self.run(unknown_ids, on_done=settle)

    def ask_about_unknown_prints(self) -> None:
        """A receipt was being printed when the app stopped: the collector looks at the paper
        and says whether it came out whole (no reprint) or asks for a COPY."""
        from terminal.ui.widgets import field_print
        self.app.notify(tr("A receipt was printing when the app stopped: check the paper."),
                        "warning", 15)
        field_print.pump()

    def _card_settled(self, result) -> None:
        amount = f"{result.amount_fen // 100}.{result.amount_fen % 100:02d}"
        if result.state == "approved":
            text = tr("An interrupted card payment of {amount} was approved by the terminal; "
                      "receipt {receipt} is printing.").format(amount=amount, receipt=result.receipt_no)
            from terminal.ui.widgets import field_print
            field_print.pump()
        else:
            text = tr("An interrupted card payment of {amount} was not charged by the terminal.").format(amount=amount)
        self.app.notify(text, "info", 15)
        self.refresh_counts()

    def _card_unsettled(self, exc) -> None:
        self.app.notify(tr("A card payment's outcome is still unknown: connect the card terminal "
                           "and check it on the payment screen.") + " " + error_text(exc), "warning", 15)

    def enrolled(self) -> bool:
        return bool(self.open_store().get_meta("device_token"))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._poll_ev is not None:
            self._poll_ev.cancel()
        self.stop_worker()
        self.location.stop()
        for kind, pool in self._devices.items():
            driver = self._drivers.pop(kind, None)
            if driver is not None:
                pool.submit(_close_quietly, driver)
            pool.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.store is not None:
            self.store.close()

    # --- background work --------------------------------------------------------------
    def run(self, fn, *args, on_done=None, on_error=None, **kwargs) -> concurrent.futures.Future:
        """Run `fn` off the Kivy thread; callbacks come back on the Kivy thread."""
        return self._submit(self._pool, fn, args, kwargs, on_done, on_error)

    def _submit(self, pool, fn, args, kwargs, on_done, on_error):
        future = pool.submit(fn, *args, **kwargs)

        def finished(fut):
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                if on_error is None:
                    log.error("background task %s failed", getattr(fn, "__name__", fn),
                              exc_info=(type(exc), exc, exc.__traceback__))
                    self.post(lambda: self.app.notify(self.app.error_text(exc), "error"))
                else:
                    self.post(lambda: on_error(exc))
            elif on_done is not None:
                result = fut.result()
                self.post(lambda: on_done(result))
        future.add_done_callback(finished)
        return future

    def post(self, callback) -> None:
        """Call `callback()` on the Kivy thread, in the order posted."""
        self._events.put(callback)
        self._drain()

    def _drain_events(self, *_):
        while not self._closed:
            try:
                callback = self._events.get_nowait()
            except queue.Empty:
                return
            try:
                callback()
            except Exception:
                log.exception("UI callback failed")

    # --- counts for the status bar ------------------------------------------------------
    def refresh_counts(self) -> None:
        if self.store is None or self._closed:
            return

        def counts():
            store = self.store
            shift = store.conn.execute("SELECT shift_id, operator_id FROM shifts WHERE closed_at IS NULL "
                                       "ORDER BY opened_at DESC LIMIT 1").fetchone()
            return (outbox.pending_counts(store), len(outbox.attention(store)),
                    tuple(shift) if shift else ("", ""))

        def apply(result):
            by_type, attention, (shift_id, shift_operator) = result
            self.shift_id = shift_id
            self.shift_operator = shift_operator
            self.pending_by_type = by_type
            self.pending = sum(by_type.values())
            self.attention = attention
        try:
            self.run(counts, on_done=apply, on_error=lambda exc: log.warning("counts: %s", exc))
        except RuntimeError:
            pass  # pool shut down

    # --- operator and shift ---------------------------------------------------------------
    def set_operator(self, operator: dict | None) -> None:
        """Log an operator in or out (None): everything tied to the previous one goes."""
        self.operator = operator
        self.refresh_counts()
        if operator is None:
            self.shift_id = ""

    def has_role(self, role: str) -> bool:
        return bool(self.operator) and role in (self.operator.get("roles") or ())

    # --- sync worker ------------------------------------------------------------------
    def start_worker(self) -> None:
        """Start the background sync worker on this device's store."""
        if self.worker is not None or self._closed:
            return
        cfg = self.app.config
        options = dict(self.app.worker_options, ca_bundle=cfg.get("gateway", "ca_bundle") or None)
        if self.app.sync_process:
            from terminal.ui.sync_process import ProcessSyncWorker
            try:
                self.worker = ProcessSyncWorker(self.store.path, listener=self._worker_status,
                                                **options).start()
                return
            except OSError as exc:  # no processes here (some Android builds): use a thread
                log.warning("sync in a separate process unavailable (%s); using a thread", exc)
        from sync.worker import SyncWorker
        self.worker = SyncWorker(self.store.path, listener=self._worker_status, **options)
        self.worker.start()

    def stop_worker(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop()

    def poke(self) -> None:
        """A capture was committed: the worker uploads soon (call after every capture)."""
        if self.worker is not None:
            self.worker.poke()
        self.refresh_counts()

    def sync_now(self) -> None:
        if self.worker is None:
            self.start_worker()
        if self.worker is not None:
            self.worker.sync_now()

    def request_download(self, route_id: str) -> None:
        if self.worker is None:
            self.start_worker()
        if self.worker is not None:
            self.worker.request_download(route_id)

    def _worker_status(self, status: dict) -> None:
        """Called on the worker's thread for every change: only the latest is applied."""
        with self._status_lock:
            first = self._latest_status is None
            self._latest_status = status
        if first:
            self.post(self._apply_latest)

    def _apply_latest(self) -> None:
        with self._status_lock:
            status, self._latest_status = self._latest_status, None
        if status is not None:
            self.apply_sync_status(status)

    def apply_sync_status(self, status: dict) -> None:
        self.sync_status = status
        if status.get("online") is not None:
            self.online = bool(status["online"])
        if status.get("last_success_at"):
            self.last_sync = _hhmm(status["last_success_at"])
        # counts come from the store itself (the worker's snapshot may predate a capture)
        self._counts_trigger()
        self.sync_state = status.get("state") or self.sync_state
        self.sync_error = status.get("last_error") or {}
        if status.get("download"):
            self.download = status["download"]
        self.download_requested = [a["route_id"] for a in status.get("assignments") or ()
                                   if a.get("download_requested")]
        if status.get("device_id"):
            self.device_id = status["device_id"]

    # --- devices ----------------------------------------------------------------------
    @staticmethod
    def state_mark(state: str) -> str:
        return STATE_MARKS.get(state, STATE_MARKS["none"])

    def _device_settings(self, kind: str) -> tuple[str, int]:
        cfg = self.app.config
        url = cfg.get("devices", f"{kind}_url").strip()
        baud = int(cfg.get("devices", f"{kind}_baud") or 9600)
        return url, baud

    def _driver(self, kind: str):
        """The driver for `kind`, created on first use — only ever called on its device thread."""
        driver = self._drivers.get(kind)
        if driver is None:
            url, baud = self._device_settings(kind)
            if not url:
                raise DeviceNotConfigured(kind)
            if kind == "printer":
                from devices.printer.driver import EscPosPrinter
                driver = EscPosPrinter(url, baudrate=baud)
            else:
                from devices.zvt.driver import ZvtTerminal
                transport = self.app.config.get("devices", "terminal_transport",
                                                fallback="auto")
                if baud == 9600:    # ZVT's line speed; the driver opens 9600 8N2 itself
                    driver = ZvtTerminal(url, transport=transport)
                else:
                    from devices.serial_port import open_port
                    driver = ZvtTerminal(open_port(url, baudrate=baud, bytesize=8, parity="N",
                                                   stopbits=2, timeout=0.05, write_timeout=5.0),
                                         transport=transport)
            self._drivers[kind] = driver
        return driver

    def run_printer(self, fn, *args, on_done=None, on_error=None, **kwargs):
        """`fn(printer, *args, **kwargs)` on the printer's thread."""
        return self._submit(self._devices["printer"], self._with_driver,
                            ("printer", fn, args, kwargs), {}, on_done, on_error)

    def run_terminal(self, fn, *args, on_done=None, on_error=None, **kwargs):
        """`fn(terminal, *args, **kwargs)` on the card terminal's thread."""
        return self._submit(self._devices["terminal"], self._with_driver,
                            ("terminal", fn, args, kwargs), {}, on_done, on_error)

    def _with_driver(self, kind, fn, args, kwargs):
        try:
            driver = self._driver(kind)
        except DeviceNotConfigured:
            self.post(lambda: self._set_device(kind, "none", ""))
            raise
        except OSError as exc:
            detail = str(exc)    # `exc` is unbound after the except block; the lambda runs later
            self.post(lambda: self._set_device(kind, "error", detail))
            raise
        self.post(lambda: self._set_device(kind, "busy", ""))
        try:
            result = fn(driver, *args, **kwargs)
        except OSError as exc:
            state = "warning" if getattr(exc, "reason", None) in ("paper_out", "cover_open") else "error"
            detail = getattr(exc, "reason", "") or str(exc)
            self.post(lambda: self._set_device(kind, state, detail))
            if state == "error":  # a broken link: open the port afresh next time
                self._drivers.pop(kind, None)
                _close_quietly(driver)
            raise
        self.post(lambda: self._set_device(kind, "ok", ""))
        return result

    def _set_device(self, kind: str, state: str, detail: str) -> None:
        setattr(self, f"{kind}_state", state)
        setattr(self, f"{kind}_detail", detail)

    def reset_device(self, kind: str) -> None:
        """Forget the driver (after the port settings changed); reopened on next use."""
        pool = self._devices[kind]

        def drop():
            driver = self._drivers.pop(kind, None)
            if driver is not None:
                _close_quietly(driver)
        pool.submit(drop)
        self._set_device(kind, "none", "")

    def check_devices(self) -> None:
        """Ask each configured device for its status (on its own thread)."""
        for kind in ("printer", "terminal"):
            url, _ = self._device_settings(kind)
            if not url:
                self._set_device(kind, "none", "")
                continue
            if kind == "printer":
                self.run_printer(_printer_status, on_done=self._printer_status_done,
                                 on_error=lambda exc: None)
            else:
                self._set_device(kind, "ok", "")

    def _printer_status_done(self, st: dict) -> None:
        if not st.get("online", True):
            self._set_device("printer", "error", "offline")
        elif st.get("paper") == "out" or st.get("cover_open"):
            self._set_device("printer", "warning", "paper_out" if st.get("paper") == "out" else "cover_open")
        elif st.get("paper") == "near_end":
            self._set_device("printer", "warning", "near_end")
        else:
            self._set_device("printer", "ok", "")

    def on_config_change(self, section: str, key: str, value) -> None:
        if section == "location":
            self.location.start()
        elif section == "devices":
            self.reset_device("printer" if key.startswith("printer") else "terminal")
        elif (section, key) == ("gateway", "url") and self.store is not None:
            self.run(self.store.set_meta, "gateway_url", value)

    def database_size(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            path = Path(str(self.db_path) + suffix)
            if path.exists():
                total += path.stat().st_size
        return total


class DeviceNotConfigured(OSError):
    def __init__(self, kind: str):
        self.kind = kind
        self.msgid = self.message_en = ("No port is set for the printer: open Settings."
                                        if kind == "printer" else
                                        "No port is set for the card terminal: open Settings.")
        super().__init__(self.message_en)


def _printer_status(printer) -> dict:
    return printer.status()


def _close_quietly(driver) -> None:
    try:
        driver.close()
    except Exception:  # closing a broken port must not hide the first error
        pass


def _hhmm(value) -> str:
    if isinstance(value, (int, float)):
        return time.strftime("%H:%M", time.localtime(value))
    text = str(value)
    return text[11:16] if len(text) >= 16 else text
