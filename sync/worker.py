"""The sync worker: one background thread that runs the sync client on triggers.

Triggers: `poke()` shortly after a capture (throttled to one run per `debounce` seconds),
a periodic full sync, `sync_now()`, a supervisor's download request (seen in the
assignments), and a watchdog that forces an upload whenever the outbox holds ops and no
attempt started for `watchdog` seconds. Transient failures back off with full jitter and
no attempt limit; 401 (when the client's re-authentication with the device key fails
too), 403 and 426 stop automatic attempts (data kept) until `sync_now()` or a new
enrolment. The thread has its own store connection and never blocks a capture.

`status()` returns a thread-safe snapshot for the UI (see `SyncWorker.status`); listeners
are called from the worker thread with that snapshot (the UI must hop to its own thread).
"""
from __future__ import annotations

import concurrent.futures
import copy
import logging
import threading
import time

from sync import blobs
from sync.client import (AuthError, Backoff, Forbidden, NotEnrolled, SyncClient, SyncError,
                         TransientError, UpdateRequired)
from terminal import outbox, photos, recovery
from terminal.store import Store, now_iso

log = logging.getLogger(__name__)

BLOCKED = {"needs_reenrolment", "forbidden", "update_required"}
INTERNAL = {"code": "internal", "en": "Internal sync error; will retry"}


class SyncWorker:
    """Background sync of the store at `store_path`; call `start()`, then `stop()`."""

    def __init__(self, store_path, *, base_url: str | None = None, ca_bundle: str | None = None,
                 timeout=(3.05, 15), period: float = 60.0, debounce: float = 1.0,
                 watchdog: float = 900.0, reference_every: float = 600.0,
                 backoff: Backoff | None = None, clock=time.monotonic, listener=None,
                 client_options: dict | None = None):
        self.store_path = str(store_path)
        self.base_url, self.ca_bundle, self.timeout = base_url, ca_bundle, timeout
        self.period, self.debounce, self.watchdog = period, debounce, watchdog
        self.reference_every = reference_every
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.client_options = client_options or {}
        self._listeners = [listener] if listener else []
        self._cond = threading.Condition()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._jobs: list = []
        self._poke_at: float | None = None
        self._manual = False
        self._next_full = 0.0
        self._retry_at: float | None = None
        self._last_attempt: float | None = None
        self._last_reference: float | None = None
        self._download_wanted: set[str] = set()
        self._pending_total = 0
        self.poll_every = min(5.0, watchdog / 3)
        self._next_poll = 0.0
        self.store: Store | None = None
        self.client: SyncClient | None = None
        self._status = {
            "state": "starting", "online": None, "enrolled": None,
            "last_success_at": None, "last_attempt_at": None, "last_error": None,
            "pending": {}, "pending_total": 0, "attention": [], "attention_count": 0,
            "download": None, "next_attempt_in": None, "auth_required": False,
            "forbidden": False, "update_required": False, "assignments": [],
            "missing_seqs": [], "last_upload": None, "last_photos": None, "device_id": None,
        }

    # --- public API (any thread) -------------------------------------------------------

    def start(self) -> "SyncWorker":
        self._thread = threading.Thread(target=self._run, name="chaoshou-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to finish its current request and exit; waits for it."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def poke(self) -> None:
        """A capture was committed: upload soon (at most one run per `debounce` seconds)."""
        with self._cond:
            if self._poke_at is None:
                self._poke_at = self.clock() + self.debounce
            self._cond.notify_all()

    def sync_now(self) -> None:
        """Manual "sync now": a full sync at once, ignoring backoff and blocked states."""
        with self._cond:
            self._manual = True
            self._cond.notify_all()

    def request_download(self, route_id: str) -> None:
        with self._cond:
            self._download_wanted.add(route_id)
            self._manual = True
            self._cond.notify_all()

    def enrol(self, base_url: str, code: str, device_name: str) -> concurrent.futures.Future:
        """Enrol on the worker thread; the future gives the device id or raises a SyncError."""
        return self._submit(lambda: self._do_enrol(base_url, code, device_name))

    def closeout(self, summary: dict) -> concurrent.futures.Future:
        """Upload what is pending, then send the shift closeout; the future gives the verdict."""
        def job():
            self._ensure_client().upload(should_continue=lambda: not self._stopping)
            return self.client.closeout(summary)
        return self._submit(job)

    def status(self) -> dict:
        """A snapshot (deep copy) of the observable status; safe from any thread."""
        with self._lock:
            snap = copy.deepcopy(self._status)
        if self._retry_at is not None:
            snap["next_attempt_in"] = max(0.0, self._retry_at - self.clock())
        return snap

    def add_listener(self, fn) -> None:
        self._listeners.append(fn)

    # --- worker thread -------------------------------------------------------------------

    def _submit(self, fn) -> concurrent.futures.Future:
        fut = concurrent.futures.Future()
        with self._cond:
            self._jobs.append((fn, fut))
            self._cond.notify_all()
        return fut

    def _run(self) -> None:
        try:
            self.store = Store(self.store_path, check=False)
            recovery.recover(self.store, cards=False)   # ops a dead worker left in flight
            self._prune_photos()       # the disk budget holds offline too, from the start
            self._refresh_local()
            self._set(state="idle")
            while True:
                kind, jobs = self._wait_for_work()
                if kind == "stop":
                    break
                for fn, fut in jobs:
                    if fut.set_running_or_notify_cancel():
                        try:
                            fut.set_result(fn())
                        except BaseException as exc:  # handed to the caller
                            fut.set_exception(exc)
                        self._refresh_local()
                if kind in ("full", "upload"):
                    self._cycle(kind)
        except Exception:
            log.exception("sync worker crashed")
            self._set(state="crashed", last_error=dict(INTERNAL, at=now_iso()))
        finally:
            with self._cond:
                jobs, self._jobs = self._jobs, []
            for _, fut in jobs:
                fut.cancel()
            if self.client is not None:
                self.client.close()
            if self.store is not None:
                self.store.close()
            self._set(state="stopped")

    def _wait_for_work(self):
        while True:
            if self.clock() >= self._next_poll:   # see captures made without a poke
                self._next_poll = self.clock() + self.poll_every
                self._refresh_local()
            with self._cond:
                if self._stopping:
                    return "stop", []
                now = self.clock()
                kind = None
                blocked = self._status["state"] in BLOCKED
                backing_off = self._retry_at is not None and now < self._retry_at
                if self._manual:
                    kind, self._manual, self._retry_at = "full", False, None
                elif not blocked and not backing_off and now >= self._next_full:
                    kind = "full"
                elif not blocked and not backing_off and self._poke_at is not None \
                        and now >= self._poke_at:
                    kind = "upload"
                elif not blocked and self._pending_total and self._last_attempt is not None \
                        and now - self._last_attempt >= self.watchdog:
                    kind = "upload"   # watchdog: pending ops and nothing tried for too long
                if kind or self._jobs:
                    jobs, self._jobs = self._jobs, []
                    if kind:
                        self._poke_at = None
                    return kind or "jobs", jobs
                wake = [self._next_full]
                if self._poke_at is not None:
                    wake.append(self._poke_at)
                if self._retry_at is not None:
                    wake = [max(w, self._retry_at) for w in wake]
                if blocked:
                    wake = []
                if self._pending_total and self._last_attempt is not None:
                    wake.append(self._last_attempt + self.watchdog)
                delay = max(0.01, min(wake) - now) if wake else 60.0
                delay = min(delay, max(0.01, self._next_poll - now))
                self._cond.wait(delay)

    def _ensure_client(self) -> SyncClient:
        if self.client is None:
            self.client = SyncClient(self.store, self.base_url, ca_bundle=self.ca_bundle,
                                     timeout=self.timeout, **self.client_options)
        return self.client

    def _do_enrol(self, base_url, code, device_name):
        client = self._ensure_client()
        device_id = client.enrol(base_url, code, device_name)
        self._last_reference = None
        self._set(state="idle", auth_required=False, forbidden=False, update_required=False,
                  last_error=None)
        with self._cond:
            self._manual = True
        return device_id

    def _uploaded(self, report) -> None:
        """Show an upload that sent ops as the last upload; one with nothing to send leaves
        the last one shown (the Sync screen's "Last upload: N done")."""
        if report.requests:
            self._set(last_upload=dict(requests=report.requests, done=report.done,
                                       attention=report.attention, at=now_iso()))

    def _cycle(self, kind: str) -> None:
        now = self.clock()
        self._last_attempt = now
        self._set(state="syncing", last_attempt_at=now_iso())
        client = self._ensure_client()
        if not client.base_url:
            client.base_url = (self.store.get_meta("gateway_url") or "").rstrip("/")
        go_on = lambda: not self._stopping  # noqa: E731
        try:
            if not self.store.get_meta("device_token"):
                raise NotEnrolled()
            self._uploaded(client.upload(should_continue=go_on))
            self._photos(client, go_on)
            if kind == "full" and not self._stopping:
                self._full_extras(client)
                self._uploaded(client.upload(should_continue=go_on))   # captures made meanwhile
        except NotEnrolled as exc:
            self._next_full = self.clock() + self.period
            self._set(state="needs_enrolment", enrolled=False, last_error=self._err(exc))
        except TransientError as exc:
            delay = self.backoff.next_delay(exc.retry_after)
            self._retry_at = self.clock() + delay
            self._set(state="backoff", online=False, last_error=self._err(exc))
        except AuthError as exc:
            self._set(state="needs_reenrolment", auth_required=True, online=True,
                      last_error=self._err(exc))
        except Forbidden as exc:
            self._set(state="forbidden", forbidden=True, online=True, last_error=self._err(exc))
        except UpdateRequired as exc:
            self._set(state="update_required", update_required=True, online=True,
                      last_error=self._err(exc))
        except SyncError as exc:   # protocol trouble, route verification…: retry later
            delay = self.backoff.next_delay()
            self._retry_at = self.clock() + delay
            self._set(state="backoff", last_error=self._err(exc))
        except Exception as exc:  # a bug must not kill the worker: back off and retry
            log.exception("sync cycle failed")
            self._retry_at = self.clock() + self.backoff.next_delay()
            self._set(state="backoff", last_error=dict(INTERNAL, detail=repr(exc)[:300],
                                                       at=now_iso()))
        else:
            self.backoff.reset()
            self._retry_at = None
            if kind == "full":
                self._next_full = self.clock() + self.period
            stamp = client.last_ok_iso or now_iso()
            try:
                self.store.set_meta("sync_last_success_at", stamp)
            except Exception:  # status only; never fail a sync for it
                log.exception("cannot record last success")
            self._set(state="idle", online=True, last_success_at=stamp, last_error=None,
                      auth_required=False, forbidden=False, update_required=False,
                      missing_seqs=client.last_missing_seqs)
        finally:
            self._refresh_local()

    def _photos(self, client: SyncClient, go_on) -> None:
        """Photos after their ops (sync/blobs.py), then the photo folder's disk budget;
        never in the way of the ops: any failure waits for the next cycle."""
        try:
            sent = blobs.upload_photos(client, should_continue=go_on)
            self._prune_photos()
            self._set(last_photos=dict(uploaded=sent.uploaded, failed=sent.failed,
                                       at=now_iso()))
        except Exception:  # noqa: BLE001 — logged; the ops cycle goes on
            log.exception("photo upload failed")

    def _prune_photos(self) -> None:
        """The photo folder's disk budget (terminal/photos.py: photos uploaded more than 30
        days ago go; one not uploaded never does): at start-up and after each upload pass."""
        try:
            gone = photos.prune(self.store)
            if gone:
                log.info("removed %d uploaded photo(s) from the device", gone)
        except Exception:  # noqa: BLE001 — a full disk's cure must not stop the sync
            log.exception("photo pruning failed")

    def _full_extras(self, client: SyncClient) -> None:
        """Reference data, receipt numbers, assignments, downloads and change feeds.

        A step that fails for a non-network reason does not starve the others; the first
        such error is raised at the end. A network error stops the cycle at once.
        """
        errors = []

        def step(fn, *args):
            if self._stopping:
                return None
            try:
                return fn(*args)
            except (TransientError, AuthError, Forbidden, UpdateRequired):
                raise
            except Exception as exc:  # noqa: BLE001 — recorded and re-raised below
                log.warning("sync step %s failed: %r", getattr(fn, "__name__", fn), exc)
                errors.append(exc)
                return None

        now = self.clock()
        if self._last_reference is None or now - self._last_reference >= self.reference_every:
            if step(client.refresh_reference) is not None:
                self._last_reference = now
        else:
            step(client.ensure_receipt_numbers)
        assigned = step(client.assignments)
        if assigned is not None:
            self._set(assignments=assigned)
            local = {r[0] for r in self.store.conn.execute("SELECT route_id FROM routes")}
            for a in assigned:
                route_id = a["route_id"]
                if a.get("download_requested") or route_id not in local \
                        or route_id in self._download_wanted:
                    step(self._download, client, route_id)
                else:
                    step(client.pull_changes, route_id)
        if errors:
            raise errors[0]

    def _download(self, client: SyncClient, route_id: str) -> None:
        def progress(done, total):
            self._set(download={"route_id": route_id, "done": done, "total": total,
                                "state": "running"})
        self._set(download={"route_id": route_id, "done": 0, "total": None, "state": "running"})
        try:
            result = client.download_route(route_id, progress)
        except BaseException:
            self._set(download=dict(self.status()["download"] or {}, state="failed"))
            raise
        self._download_wanted.discard(route_id)
        self._set(download={"route_id": route_id, "done": result["count"],
                            "total": result["count"], "state": "done", "at": now_iso()})

    # --- status ------------------------------------------------------------------------

    @staticmethod
    def _err(exc: SyncError) -> dict:
        return dict(exc.as_status(), at=now_iso())

    def _refresh_local(self) -> None:
        try:
            pending = outbox.pending_counts(self.store)
            attention = outbox.attention(self.store)
            enrolled = bool(self.store.get_meta("device_token"))
            device_id = self.store.get_meta("device_id")
            last_success = self.store.get_meta("sync_last_success_at")
        except Exception:
            log.exception("cannot read the outbox state")
            return
        with self._cond:
            self._pending_total = sum(pending.values())
        with self._lock:
            if self._status["last_success_at"] is None:
                self._status["last_success_at"] = last_success
        self._set(pending=pending, pending_total=sum(pending.values()), attention=attention,
                  attention_count=len(attention), enrolled=enrolled, device_id=device_id)

    def _set(self, **changes) -> None:
        with self._lock:
            self._status.update(changes)
        if self._listeners:
            snap = self.status()
            for fn in list(self._listeners):
                try:
                    fn(snap)
                except Exception:
                    log.exception("sync status listener failed")
