"""Settings: gateway URL and CA bundle, printer and card-terminal port URLs and baud with
"test print" / "test terminal", language, the offline card limits in force (shown, not
editable: they come from the office's reference data, docs/contracts.md §4), and about
(version, device id, database path and size). Saved to the app's config (App.build_config).
On an enrolled device a change of the gateway URL or the CA bundle (where the money goes)
saves only with a supervisor's approval on the device: operator number + PIN, checked
offline against the stored verifier (terminal.operators.approve, audited, same lockout);
ports, bauds and language stay free."""
from pathlib import Path

from kivy.lang import Builder
from kivy.properties import StringProperty

from terminal import operators
from terminal.ui.widgets import AppScreen

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

NAME = "settings"
BAUDS = ["9600", "19200", "38400", "57600", "115200"]
LIMIT_KEYS = ("max_fen", "max_total_fen", "max_count", "max_age_hours")
MONEY_KEYS = ("max_fen", "max_total_fen")
APPROVED = (("gateway", "url"), ("gateway", "ca_bundle"))   # need a supervisor's approval
NEEDS_APPROVAL = "Changing the gateway or TLS needs a supervisor: enter the supervisor's number and PIN below."


def fen_to_yuan(fen) -> str:
    fen = int(fen)
    return f"{fen // 100}" if fen % 100 == 0 else f"{fen // 100}.{fen % 100:02d}"


def test_document() -> dict:
    """A short bilingual test receipt (contracts §5 kind `test`)."""
    from terminal.store import now_iso
    return {"kind": "test", "receipt_no": None, "copy": False, "blocks": [
        {"t": "text", "text": "打印测试 Test print", "align": "center", "bold": True, "size": "double"},
        {"t": "rule"},
        {"t": "kv", "k": "时间 Time", "v": now_iso()[:19].replace("T", " ")},
        {"t": "text", "text": "中文 English 0123456789"},
        {"t": "text", "text": "王𠮷 李𬌗"},
        {"t": "qr", "data": "https://chaoshou.example/test", "caption": "二维码 QR"},
        {"t": "feed", "n": 3}, {"t": "cut"}]}


def about(store, db_size: int) -> dict:
    """Worker: device id, database size and the card limits in force (office + defaults)."""
    from terminal import payments
    return {"device_id": store.get_meta("device_id") or "—", "db_size": db_size,
            "card_limits": payments.card_limits(store)}


def list_port_urls() -> list[str]:
    from devices.serial_port import list_ports
    return [p.url for p in list_ports()]


class SettingsScreen(AppScreen):
    message = StringProperty("")
    about_text = StringProperty("")
    ports_hint = StringProperty("")

    def on_pre_enter(self, *_):
        cfg = self.app.config
        ids = self.ids
        ids.gateway_url.text = cfg.get("gateway", "url")
        ids.ca_bundle.text = cfg.get("gateway", "ca_bundle")
        ids.printer_url.text = cfg.get("devices", "printer_url")
        ids.printer_baud.text = cfg.get("devices", "printer_baud")
        ids.terminal_url.text = cfg.get("devices", "terminal_url")
        ids.terminal_baud.text = cfg.get("devices", "terminal_baud")
        ids.approver_id.text = ids.approver_pin.text = ""
        self.message = ""
        services = self.app.services
        services.run(about, services.store, services.database_size(), on_done=self._about)
        services.run(list_port_urls, on_done=self._ports, on_error=lambda exc: None)

    def _about(self, info: dict) -> None:
        limits = info["card_limits"]
        for key in LIMIT_KEYS:
            value = str(limits[key]) if key in limits else ""
            if key in MONEY_KEYS and value:
                value = fen_to_yuan(value)
            self.ids[f"limit_{key}"].text = value
        self._about_info = info
        self.render_about()

    def on_kv_post(self, base_widget):
        self.app.bind(lang=self.render_about)    # the About block follows a language switch

    def render_about(self, *_):
        from terminal.ui.app import VERSION
        info = getattr(self, "_about_info", None)
        if info is None:
            return
        services = self.app.services
        self.about_text = "\n".join([
            self.app.tr("Version {v}").format(v=VERSION),
            self.app.tr("Device {id}").format(id=info["device_id"]),
            self.app.tr("Database {path}").format(path=services.db_path),
            self.app.tr("Size {kb} KB").format(kb=(info["db_size"] + 1023) // 1024),
            self.app.tr("Font {path}").format(path=self.app.font_path or "—"),
        ])

    def _ports(self, urls: list[str]) -> None:
        self.ports_hint = ", ".join(urls[:6])

    def save(self, then=None) -> None:
        """Save; a change of APPROVED settings first needs the supervisor's approval."""
        cfg = self.app.config
        ids = self.ids
        url = ids.gateway_url.text.strip()
        if url and not url.startswith(("http://", "https://")):
            self.message = self.app.tr("The gateway address is not valid. It looks like https://host:port")
            return
        changes = [("gateway", "url", url), ("gateway", "ca_bundle", ids.ca_bundle.text.strip()),
                   ("devices", "printer_url", ids.printer_url.text.strip()),
                   ("devices", "printer_baud", ids.printer_baud.text),
                   ("devices", "terminal_url", ids.terminal_url.text.strip()),
                   ("devices", "terminal_baud", ids.terminal_baud.text)]
        changes = [c for c in changes if cfg.get(c[0], c[1]) != c[2]]
        guarded = [f"{section}.{key}" for section, key, _v in changes if (section, key) in APPROVED]
        services = self.app.services
        if not guarded or not services.device_id:   # not enrolled: no operator, no money yet
            self._apply(changes, then)
            return
        supervisor, pin = ids.approver_id.text.strip(), ids.approver_pin.text
        ids.approver_pin.text = ""
        if not supervisor or not pin:
            self.message = self.app.tr(NEEDS_APPROVAL)
            return
        services.run(operators.approve, services.store, supervisor, pin, "settings",
                     changed=guarded, on_done=lambda _op: self._apply(changes, then),
                     on_error=self._refused)

    def _refused(self, exc: BaseException) -> None:
        self.message = self.app.error_text(exc)

    def _apply(self, changes: list, then=None) -> None:
        cfg = self.app.config
        for section, key, value in changes:
            cfg.set(section, key, value)
            self.app.on_config_change(cfg, section, key, value)
        cfg.write()
        self.message = self.app.tr("Saved.")
        self.app.services.check_devices()
        if then:
            then()

    def test_print(self) -> None:
        self.save(then=self._test_print)

    def _test_print(self) -> None:
        self.message = self.app.tr("Printing a test page…")
        self.app.services.run_printer(lambda p: p.print_document(test_document()),
                                      on_done=lambda _r: self._said("Test page printed."),
                                      on_error=self._device_error)

    def test_terminal(self) -> None:
        self.save(then=self._test_terminal)

    def _test_terminal(self) -> None:
        self.message = self.app.tr("Asking the card terminal…")
        self.app.services.run_terminal(lambda t: t.status(), on_done=self._terminal_status,
                                       on_error=self._device_error)

    def _terminal_status(self, st: dict) -> None:
        if st.get("ready"):
            self.message = self.app.tr("Card terminal ready ({id}).").format(id=st.get("terminal_id") or "")
        else:
            self.message = self.app.tr("Card terminal answered: {text}").format(text=st.get("text"))

    def _said(self, msgid: str) -> None:
        self.message = self.app.tr(msgid)

    def _device_error(self, exc: BaseException) -> None:
        reason = getattr(exc, "reason", None)
        texts = {"paper_out": "The printer is out of paper.", "cover_open": "The printer cover is open.",
                 "offline": "The printer does not answer. Check the cable and the port URL."}
        if reason in texts:
            self.message = self.app.tr(texts[reason])
        else:
            self.message = self.app.tr("Device error: {e}").format(e=self.app.error_text(exc))


SCREEN = SettingsScreen
