"""The sync worker in its own process, so that uploading thousands of ops never competes
with the UI thread for Python's GIL (a frame must not wait for JSON encoding of a batch).

`ProcessSyncWorker(store_path, listener=fn, **SyncWorker options)` has the interface of
`sync.worker.SyncWorker` that the app uses: `start()`, `stop()`, `poke()`, `sync_now()`,
`request_download(route_id)`, `enrol(...)` and `closeout(summary)` returning
`concurrent.futures.Future`s, `status()`, `add_listener(fn)`. The child process runs the
real SyncWorker on the same SQLite file (WAL: the app keeps capturing meanwhile); status
snapshots come back through a queue and reach listeners on a reader thread here. The child
exits when told to, or by itself when this process is gone.

The child runs at background priority (`BACKGROUND_NICE`, Android's background level): on
a handheld's few cores the scheduler then gives a frame's CPU time to the UI first and the
upload the rest, so scrolling stays smooth while thousands of ops go up.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
import multiprocessing
import os
import queue
import threading

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10      # Android's THREAD_PRIORITY_BACKGROUND


class RemoteSyncError(Exception):
    """A sync call failed in the worker process; carries its English message, the msgid
    the catalogs translate (error_text)."""

    def __init__(self, kind: str, status: dict):
        self.kind, self.status = kind, status
        self.code = status.get("code")
        self.msgid = status.get("en")
        self.message_en = status.get("en") or status.get("detail") or kind
        super().__init__(f"{kind}: {self.message_en} {status.get('detail') or ''}".strip())


def _child(store_path: str, options: dict, commands, events) -> None:
    try:
        os.nice(BACKGROUND_NICE)
    except (AttributeError, OSError):    # no niceness here: run at the app's priority
        pass
    from sync.worker import SyncWorker
    parent = os.getppid()
    worker = SyncWorker(store_path, listener=lambda snap: events.put(("status", snap)), **options)
    worker.start()

    def report(call_id, fut):
        try:
            events.put(("result", call_id, True, fut.result()))
        except BaseException as exc:  # sent back to the caller, never lost
            status = exc.as_status() if hasattr(exc, "as_status") else {"detail": repr(exc)[:300]}
            events.put(("result", call_id, False, (type(exc).__name__, status)))

    while True:
        try:
            cmd = commands.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:       # the app died: stop cleanly
                break
            continue
        kind = cmd[0]
        if kind == "stop":
            break
        if kind == "call":
            _, call_id, name, args = cmd
            fut = getattr(worker, name)(*args)
            fut.add_done_callback(lambda f, call_id=call_id: report(call_id, f))
        else:
            getattr(worker, kind)(*cmd[1:])
    worker.stop()
    events.put(("stopped",))


class ProcessSyncWorker:
    def __init__(self, store_path, *, listener=None, **options):
        ctx = multiprocessing.get_context("spawn")
        self._commands = ctx.Queue()
        self._events = ctx.Queue()
        self._proc = ctx.Process(target=_child, name="chaoshou-sync",
                                 args=(str(store_path), options, self._commands, self._events),
                                 daemon=True)
        self._listeners = [listener] if listener else []
        self._futures: dict[int, concurrent.futures.Future] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._status: dict = {"state": "starting"}
        self._reader: threading.Thread | None = None

    def start(self) -> "ProcessSyncWorker":
        self._proc.start()
        self._reader = threading.Thread(target=self._read, name="chaoshou-sync-events", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        while True:
            try:
                event = self._events.get(timeout=1.0)
            except queue.Empty:
                if not self._proc.is_alive():
                    break
                continue
            except (EOFError, OSError):
                break
            if event[0] == "stopped":
                break
            if event[0] == "status":
                with self._lock:
                    self._status = event[1]
                for fn in list(self._listeners):
                    try:
                        fn(event[1])
                    except Exception:
                        log.exception("sync status listener failed")
            elif event[0] == "result":
                _, call_id, ok, value = event
                fut = self._futures.pop(call_id, None)
                if fut is not None:
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(RemoteSyncError(*value))
        for fut in self._futures.values():
            fut.set_exception(RemoteSyncError("stopped", {"en": "The sync worker stopped"}))
        self._futures.clear()

    def _send(self, *cmd) -> None:
        if self._proc.is_alive():
            self._commands.put(cmd)

    def _call(self, name: str, *args) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        call_id = next(self._ids)
        self._futures[call_id] = fut
        self._send("call", call_id, name, args)
        return fut

    def stop(self, timeout: float = 30.0) -> None:
        self._send("stop")
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
        if self._reader is not None:
            self._reader.join(5)

    def poke(self) -> None:
        self._send("poke")

    def sync_now(self) -> None:
        self._send("sync_now")

    def request_download(self, route_id: str) -> None:
        self._send("request_download", route_id)

    def enrol(self, base_url: str, code: str, device_name: str) -> concurrent.futures.Future:
        return self._call("enrol", base_url, code, device_name)

    def closeout(self, summary: dict) -> concurrent.futures.Future:
        return self._call("closeout", summary)

    def status(self) -> dict:
        with self._lock:
            return dict(self._status)

    def add_listener(self, fn) -> None:
        self._listeners.append(fn)

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()
