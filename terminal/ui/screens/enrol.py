"""Enrolment (first run): the gateway URL and the supervisor's one-time code. On success
the device holds its id, credential and key, its reference data (operators, codes,
tariffs) and a block of receipt numbers, and goes to the login screen. Errors say which
problem it is — gateway unreachable, wrong code, certificate — and what to do."""
from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty

from terminal.ui.widgets import AppScreen

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

NAME = "enrol"


def enrol_device(store, url: str, code: str, device_name: str, ca_bundle: str = "") -> str:
    """Enrol, then fetch reference data and receipt numbers; returns the device id."""
    from sync.client import SyncClient
    client = SyncClient(store, url, ca_bundle=ca_bundle or None)
    try:
        device_id = client.enrol(url, code, device_name)
        client.refresh_reference()
        return device_id
    finally:
        client.close()


def classify(exc: BaseException) -> str:
    """unreachable | wrong_code | certificate | bad_url | other"""
    text = f"{exc!r} {getattr(exc, 'detail', '')} {exc.__cause__!r}"
    if "SSL" in text or "CERTIFICATE" in text.upper():
        return "certificate"
    name = type(exc).__name__
    if name == "EnrolmentRefused":
        return "wrong_code"
    if name in ("TransientError",):
        return "unreachable"
    if name in ("NotEnrolled", "InvalidURL", "MissingSchema", "InvalidSchema") or "URL" in name:
        return "bad_url"
    return "other"


MESSAGES = {
    "unreachable": "Cannot reach the gateway at {url}. Check the address and the network, then try again.",
    "wrong_code": "The gateway refused the enrolment code. Ask your supervisor for a new one-time code.",
    "certificate": "The gateway's certificate could not be verified. Check the address (https) or set the CA bundle in Settings.",
    "bad_url": "The gateway address is not valid. It looks like https://host:port",
    "other": "Enrolment failed: {detail}",
}


class EnrolScreen(AppScreen):
    message = StringProperty("")
    message_kind = StringProperty("")
    busy = BooleanProperty(False)

    def on_pre_enter(self, *_):
        cfg = self.app.config
        if not self.ids.url.text:
            self.ids.url.text = cfg.get("gateway", "url")
        if not self.ids.device_name.text:
            self.ids.device_name.text = cfg.get("gateway", "device_name")
        self.message = ""
        self.message_kind = ""

    def submit(self) -> None:
        if self.busy:
            return
        url = self.ids.url.text.strip()
        code = self.ids.code.text.strip()
        name = self.ids.device_name.text.strip() or "handheld"
        if not url.startswith(("http://", "https://")):
            self._show("bad_url", url=url)
            return
        if not code:
            self.message = self.app.tr("Enter the one-time code from your supervisor.")
            return
        self.busy = True
        self.message = self.app.tr("Enrolling…")
        cfg = self.app.config
        cfg.set("gateway", "url", url)
        cfg.set("gateway", "device_name", name)
        cfg.write()
        services = self.app.services
        services.run(enrol_device, services.store, url, code, name, cfg.get("gateway", "ca_bundle"),
                     on_done=self._done, on_error=lambda exc: self._failed(exc, url))

    def _show(self, kind: str, **values) -> None:
        self.message_kind = kind
        self.message = self.app.tr(MESSAGES[kind]).format(**values)

    def _done(self, device_id: str) -> None:
        self.busy = False
        services = self.app.services
        services.device_id = device_id
        self.app.notify(self.app.tr("Enrolled as device {id}.").format(id=device_id), "ok")
        if self.app.start_worker:
            services.start_worker()
        self.app.go("login")

    def _failed(self, exc: BaseException, url: str) -> None:
        self.busy = False
        kind = classify(exc)
        self._show(kind, url=url, detail=self.app.error_text(exc))


SCREEN = EnrolScreen
