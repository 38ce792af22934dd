"""Sync: what is waiting to upload (by type), what needs a person (rejected / conflict,
with the gateway's reason), the last results, routes the supervisor asked to download,
and "sync now". Everything shown comes from the sync worker's status (services)."""
from pathlib import Path

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import ListProperty, StringProperty

from terminal.ui.i18n import gateway_text, status_text
from terminal.ui.widgets import AppScreen

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

NAME = "sync"
SYNC_NOW_DEADLINE_S = 20   # "Sync now" answers within this, whatever the network does

TYPE_NAMES = {"reading": "Readings", "payment": "Payments", "void": "Voids",
              "shift_open": "Shift opened", "shift_close": "Shift closed"}
STATE_NAMES = {"idle": "Up to date", "syncing": "Syncing…", "backoff": "Waiting to retry",
               "starting": "Starting", "needs_enrolment": "Not enrolled",
               "needs_reenrolment": "Enrol again", "forbidden": "Blocked by the gateway",
               "update_required": "App update needed", "stopped": "Stopped", "crashed": "Error"}


DOWNLOAD_STATES = {"running": "Route {route}: downloading {done} of {total} accounts",
                   "done": "Route {route}: all {total} accounts downloaded",
                   "failed": "Route {route}: download failed at {done} of {total}; it will be tried again"}


class SyncScreen(AppScreen):
    pending_lines = ListProperty()
    attention_lines = ListProperty()
    last_result = StringProperty("")
    outcome = StringProperty("")          # how the last "Sync now" ended
    outcome_level = StringProperty("")
    _asked = None                         # "Sync now" waiting: {"before": attempt, "deadline": event}

    def on_kv_post(self, base_widget):
        self.app.services.bind(sync_status=lambda *_: self.render(),
                               pending_by_type=lambda *_: self.render())
        self.app.services.bind(sync_status=lambda _s, status: self._attempt_status(status))
        self.app.bind(lang=lambda *_: self.render())

    def on_pre_enter(self, *_):
        self.render()

    def render(self) -> None:
        services = self.app.services
        tr = self.app.tr
        status = services.sync_status or {}
        by_type = services.pending_by_type or {}
        self.pending_lines = [f"{tr(TYPE_NAMES.get(t, t))}: {n}" for t, n in sorted(by_type.items())] \
            or [tr("Nothing waiting to upload.")]
        items = status.get("attention") or []
        self.attention_lines = [
            f"#{a.get('seq')} {tr(TYPE_NAMES.get(a.get('type'), a.get('type') or ''))} · "
            f"{tr('Rejected') if a.get('state') == 'rejected' else tr('Conflict')}: "
            f"{gateway_text(a.get('result_code'), a.get('result_message'), self.app.lang)}"
            for a in items]
        lines = [tr("State: {s}").format(s=tr(STATE_NAMES.get(status.get("state"), status.get("state") or "—")))]
        if status.get("last_success_at"):
            lines.append(tr("Last success: {t}").format(t=str(status["last_success_at"])[:19].replace("T", " ")))
        upload = status.get("last_upload") or {}
        if upload:
            lines.append(tr("Last upload: {done} done, {attention} need attention").format(
                done=upload.get("done", 0), attention=upload.get("attention", 0)))
        err = status.get("last_error") or {}
        if err:
            lines.append(tr("Last error: {e}").format(e=status_text(err)))
        if status.get("next_attempt_in"):
            lines.append(tr("Next try in {s} s").format(s=int(status["next_attempt_in"])))
        if status.get("missing_seqs"):
            lines.append(tr("Gateway misses seq {r}").format(r=status["missing_seqs"]))
        dl = status.get("download") or {}
        if dl:
            # a download's progress, never to be read as the route's reading progress
            lines.append(tr(DOWNLOAD_STATES.get(dl.get("state"), "Route {route} download: {done}/{total}"))
                         .format(route=dl.get("route_id"), done=dl.get("done") or 0,
                                 total=dl.get("total") or "…"))
        requested = services.download_requested
        if requested:
            lines.append(tr("Download requested by the supervisor: {routes}").format(routes=", ".join(requested)))
        self.last_result = "\n".join(lines)

    def sync_now(self) -> None:
        """One bounded attempt: it ends, within SYNC_NOW_DEADLINE_S, in "synced" or in "no
        connection — n captures are safe on this device"."""
        self._finish_attempt(None)
        before = (self.app.services.sync_status or {}).get("last_attempt_at")
        self._asked = {"before": before,
                       "deadline": Clock.schedule_once(lambda *_: self._finish_attempt(False),
                                                       SYNC_NOW_DEADLINE_S)}
        self.outcome, self.outcome_level = self.app.tr("Syncing…"), "info"
        self.app.services.sync_now()

    def _attempt_status(self, status) -> None:
        asked = self._asked
        if asked is None:
            return
        status = status or {}
        # the status may skip "syncing" (only the latest reaches the screen): an attempt
        # made after the tap and over is one with a new last_attempt_at and another state
        if status.get("last_attempt_at") != asked["before"] and status.get("state") != "syncing":
            self._finish_attempt(status.get("state") == "idle")

    def _finish_attempt(self, ok) -> None:
        """End the waiting "Sync now": ok True (synced), False (no answer), None (quietly)."""
        asked, self._asked = self._asked, None
        if asked is None:
            return
        asked["deadline"].cancel()
        if ok is None:
            return
        tr = self.app.tr
        services = self.app.services
        if ok:
            self.outcome, self.outcome_level = tr("Synced: everything is with the office."), "ok"
            if services.pending:
                self.outcome = tr("Synced; {n} captures still waiting.").format(n=services.pending)
        else:
            err = services.sync_error or {}
            reason = status_text(err) if err.get("en") else ""
            self.outcome = tr(
                "No connection — {n} captures are safe on this device and will be sent when the connection is back."
            ).format(n=services.pending)
            if reason:
                self.outcome += "\n" + reason
            self.outcome_level = "warning"
        self.notify(self.outcome, self.outcome_level, 8)


SCREEN = SyncScreen
