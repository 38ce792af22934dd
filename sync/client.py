"""The terminal's sync client: one keep-alive HTTP session to the gateway (contracts §4).

It enrols the device, refreshes reference data and receipt-number blocks, uploads the
outbox in adaptive batches (results committed locally in one transaction), downloads a
route page by page into staging (cursor committed with every page, so an interrupted
download resumes; verified count + digest; atomic swap), pulls the change feed, and sends
the shift closeout. It never drops or edits captured data on any error: a failed request
leaves its ops `pending`, to be sent again (the gateway answers `duplicate` for repeats).

A 401 on a device call re-authenticates once: a new token from `POST /v1/devices/token`
(proof signed with the device key in store meta, timestamp from the gateway's clock), stored
as meta `device_token`, then the call is sent once more.

Errors are classified for the worker: `TransientError` (network, timeout, 5xx, 429/503 —
try again later, honouring `retry_after`), `AuthError` (401 that re-authentication could
not cure — the device must be enrolled again), `Forbidden` (403 — stop, keep everything),
`UpdateRequired` (426). Every error carries a bilingual message (`zh`, `en`).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import email.utils
import gzip
import json
import os
import random
import threading
import time

import requests

from sync.protocol import token_proof
from terminal import outbox
from terminal.store import Store, now_iso

APP_VERSION = "0.1.0"
START_BATCH, MAX_BATCH = 200, 2000
PAGE_LIMIT = 1000
RECEIPT_LOW_WATER, RECEIPT_BLOCK_SIZE = 200, 1000


# --- errors -------------------------------------------------------------------------------

class SyncError(Exception):
    """A sync failure with a machine code and a message in Chinese and English."""

    code = "sync_error"
    zh = "同步失败"
    en = "Sync failed"

    def __init__(self, detail: str = "", *, status: int | None = None, code: str | None = None):
        self.detail = detail
        self.status = status
        if code:
            self.code = code
        super().__init__(f"{self.en} / {self.zh}" + (f": {detail}" if detail else ""))

    def as_status(self) -> dict:
        return {"code": self.code, "zh": self.zh, "en": self.en, "detail": self.detail,
                "http_status": self.status}


class TransientError(SyncError):
    code, zh, en = "offline", "无法连接服务器，稍后自动重试", "Gateway unreachable; will retry"

    def __init__(self, detail: str = "", *, retry_after: float | None = None, **kw):
        self.retry_after = retry_after
        super().__init__(detail, **kw)


class CertificateError(TransientError):
    code, zh, en = "certificate", "服务器证书无法验证（请检查CA证书设置）", \
        "Gateway certificate not trusted (check the CA bundle)"


class AuthError(SyncError):
    code, zh, en = "needs_reenrolment", "设备凭证失效，需重新登记", "Device credential rejected; enrol again"


class Forbidden(SyncError):
    code, zh, en = "forbidden", "设备被停用或无权访问，数据已保留，请联系班长", \
        "Device revoked or not allowed; data kept, tell the supervisor"


class UpdateRequired(SyncError):
    code, zh, en = "update_required", "应用版本过旧，请更新（数据已保留）", \
        "App too old: update required (data kept)"


class NotEnrolled(SyncError):
    code, zh, en = "not_enrolled", "设备尚未登记", "Device not enrolled"


class EnrolmentRefused(SyncError):
    code, zh, en = "enrolment_refused", "登记码无效或已使用", "Enrolment code invalid or used"


class ProtocolError(SyncError):
    code, zh, en = "protocol_error", "服务器应答无效", "Unexpected gateway answer"


class RouteVerifyFailed(SyncError):
    code, zh, en = "route_verify_failed", "抄表段下载校验失败，仍用旧数据", \
        "Route download failed verification; old route kept"


# --- backoff ------------------------------------------------------------------------------

class Backoff:
    """Exponential backoff with full jitter: uniform(0, min(cap, base·2ⁿ)), ≥ Retry-After.

    No attempt limit; `reset()` after any success. `rng` is injectable for tests.
    """

    def __init__(self, base: float = 2.0, cap: float = 300.0, rng: random.Random | None = None):
        self.base, self.cap = base, cap
        self.rng = rng or random.Random()
        self.failures = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(self.failures, 32))
        self.failures += 1
        delay = self.rng.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, 3600.0))
        return delay

    def reset(self) -> None:
        self.failures = 0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _http_date(resp) -> float | None:
    """The answer's Date header as unix time, or None."""
    try:
        return email.utils.parsedate_to_datetime(resp.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


# --- results ------------------------------------------------------------------------------

@dataclasses.dataclass
class UploadReport:
    requests: int = 0
    sent: int = 0            # ops sent (counting resends)
    done: int = 0            # ops that reached accepted/duplicate
    attention: int = 0       # ops that reached rejected/conflict
    missing_seqs: list = dataclasses.field(default_factory=list)


class _TooLarge(Exception):
    pass


class _Unauthorized(AuthError):
    """A 401 answer, before re-authentication was tried; `server_time` from its Date."""

    def __init__(self, detail: str = "", *, server_time: float | None = None, **kw):
        self.server_time = server_time
        super().__init__(detail, **kw)


class _AuthState:
    """Shared by the clients of one store file (worker and UI): they re-authenticate one at
    a time, so one token replaces another's at most once, and never reuse a proof's ts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.last_ts = 0


_auth_states: dict[str, _AuthState] = {}
_auth_states_guard = threading.Lock()


def _auth_state_for(store: Store) -> _AuthState:
    path = os.path.realpath(store.path)
    with _auth_states_guard:
        return _auth_states.setdefault(path, _AuthState())


class _BadBatch(Exception):
    def __init__(self, status, detail):
        self.status, self.detail = status, detail


# --- the client ---------------------------------------------------------------------------

class SyncClient:
    """HTTP client of one device; `store` is a `terminal.store.Store` used from this thread."""

    def __init__(self, store: Store, base_url: str | None = None, *, ca_bundle: str | None = None,
                 timeout=(3.05, 15), page_limit: int = PAGE_LIMIT,
                 start_batch: int = START_BATCH, max_batch: int = MAX_BATCH):
        self.store = store
        self.base_url = (base_url or store.get_meta("gateway_url") or "").rstrip("/")
        self.timeout = timeout
        self.page_limit = page_limit
        self.session = requests.Session()
        self.session.verify = ca_bundle if ca_bundle else True
        self.session.headers.update({"X-App-Version": APP_VERSION, "Accept": "application/json"})
        self.max_batch = max_batch
        self.batch_size = min(start_batch, max_batch)
        self.last_ok: float | None = None       # time.time() of the last authenticated success
        self.last_ok_iso: str | None = None
        self.last_missing_seqs: list = []
        self.requests_made = 0
        self.reauths = 0                        # tokens re-issued by this client
        self._auth = _auth_state_for(store)

    def close(self) -> None:
        self.session.close()

    # --- plumbing ---------------------------------------------------------------------

    def _auth_headers(self) -> dict:
        token = self.store.get_meta("device_token")
        if not token:
            raise NotEnrolled()
        return {"Authorization": f"Bearer {token}",
                "X-Device-Id": self.store.get_meta("device_id") or ""}

    def _request(self, method: str, path: str, *, auth: bool = True,
                 auth_headers: dict | None = None, reauth: bool = True, **kw):
        """One call; returns (status, parsed JSON) for 2xx, raises a classified error otherwise.

        A 401 on an authenticated call re-authenticates once and sends the call again; a
        second 401 is `AuthError`. Only from the thread that owns the store (`reauth=False`
        on other threads: a 401 then raises `_Unauthorized`, an `AuthError`). Raises
        `_TooLarge` for 413 and `_BadBatch` for 400/422 (callers that send batches handle
        them); other callers see them as `ProtocolError`.
        """
        headers = (auth_headers or self._auth_headers()) if auth else None
        try:
            return self._send(method, path, auth=auth, auth_headers=headers, **kw)
        except _Unauthorized as exc:
            if not reauth:
                raise
            if not auth:
                raise AuthError(exc.detail, status=401) from None
            fresh = self.reauthenticate(headers, exc.server_time)
        return self._retry_send(method, path, auth_headers=fresh, **kw)

    def _retry_send(self, method, path, **kw):
        """The one resend after re-authentication: a 401 now means re-enrol."""
        try:
            return self._send(method, path, **kw)
        except _Unauthorized as exc:
            raise AuthError(exc.detail, status=401) from None

    def _settle(self, fut, method, path, headers, **kw):
        """The result of a `_send` run on a helper thread; re-authenticates here (this
        thread owns the store) on a 401 and sends the call once more."""
        try:
            return fut.result()
        except _Unauthorized as exc:
            fresh = self.reauthenticate(headers, exc.server_time)
        return self._retry_send(method, path, auth_headers=fresh, **kw)

    def reauthenticate(self, failed_headers: dict | None = None,
                       server_time: float | None = None) -> dict:
        """Get a new device token (`POST /v1/devices/token`) and store it; returns fresh
        auth headers. If another client on this store already replaced the token that
        failed, that one is used instead. 401 → `AuthError`, 403 → `Forbidden`."""
        with self._auth.lock:
            current = self._auth_headers()
            if failed_headers and current["Authorization"] != failed_headers.get("Authorization"):
                return current
            device_id = self.store.get_meta("device_id")
            key = self.store.get_meta("device_key")
            if not device_id or not key:
                raise AuthError("no device key to re-authenticate with")
            ts = int(server_time if server_time is not None else time.time())
            ts = max(ts, self._auth.last_ts + 1)   # a proof is accepted once
            self._auth.last_ts = ts
            try:
                proof = token_proof(key, device_id, ts)
            except ValueError:
                raise AuthError("device key in store is not hex") from None
            try:
                _, doc = self._send("POST", "/v1/devices/token", auth=False,
                                    body={"device_id": device_id, "ts": ts, "proof": proof})
            except _Unauthorized as exc:
                raise AuthError(exc.detail, status=401) from None
            except (_TooLarge, _BadBatch) as exc:
                raise ProtocolError(f"token refused: {exc}") from exc
            token = doc.get("token") if isinstance(doc, dict) else None
            if not isinstance(token, str) or not token:
                raise ProtocolError("token answer lacks token")
            self.store.set_meta("device_token", token)
            self.reauths += 1
            return self._auth_headers()

    def _send(self, method: str, path: str, *, body=None, params=None, auth: bool = True,
              compress: bool = False, gz_body: bytes | None = None,
              base_url: str | None = None, timeout=None, auth_headers: dict | None = None):
        """Exactly one HTTP exchange; a 401 raises `_Unauthorized` (safe on any thread
        when `auth_headers` are given)."""
        base = (base_url or self.base_url).rstrip("/")
        if not base:
            raise NotEnrolled("no gateway URL")
        headers = dict(auth_headers or self._auth_headers()) if auth else {}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
            if compress:
                data = gzip.compress(data, compresslevel=1, mtime=0)
                headers["Content-Encoding"] = "gzip"
        elif gz_body is not None:
            data = gz_body
            headers["Content-Type"] = "application/json"
            headers["Content-Encoding"] = "gzip"
        self.requests_made += 1
        try:
            resp = self.session.request(method, base + path, data=data, params=params,
                                        headers=headers, timeout=timeout or self.timeout,
                                        allow_redirects=False)
            content = resp.content  # read fully here: a cut-off body is a network error
        except requests.exceptions.SSLError as exc:
            raise CertificateError(f"SSLError: {exc}"[:300]) from exc
        except requests.Timeout as exc:
            raise TransientError(f"timeout: {exc.__class__.__name__}", code="timeout") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            raise TransientError(f"connection: {exc.__class__.__name__}") from exc
        except requests.RequestException as exc:
            raise TransientError(f"request: {exc}") from exc
        status = resp.status_code
        if 200 <= status < 300:
            if status == 204 or not content:
                payload = None
            else:
                try:
                    payload = json.loads(content)
                except ValueError as exc:
                    # a captive portal or a proxy page: not our gateway, so we are offline
                    raise TransientError("non-JSON answer (captive portal?)") from exc
            if auth:
                self.last_ok = time.time()
                self.last_ok_iso = now_iso()
            return status, payload
        detail = self._error_text(content)
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if status == 401:
            raise _Unauthorized(detail, status=status, server_time=_http_date(resp))
        if status == 403:
            raise Forbidden(detail, status=status)
        if status == 426:
            raise UpdateRequired(detail, status=status)
        if status == 413:
            raise _TooLarge(detail)
        if status in (400, 422):
            raise _BadBatch(status, detail)
        if status in (408, 409, 425, 429) or status >= 500 or 300 <= status < 400:
            raise TransientError(f"HTTP {status} {detail}".strip(), retry_after=retry_after,
                                 status=status, code="busy" if status in (429, 503) else "offline")
        raise ProtocolError(f"HTTP {status} {detail}".strip(), status=status)

    @staticmethod
    def _error_text(content: bytes) -> str:
        try:
            doc = json.loads(content)
            if isinstance(doc, dict):
                return str(doc.get("error") or "") + (f": {doc['message']}" if doc.get("message") else "")
        except ValueError:
            pass
        return content[:120].decode("utf-8", "replace")

    def _call(self, method, path, **kw):
        """`_request` for calls that are not op batches (413/400 are protocol errors there)."""
        try:
            return self._request(method, path, **kw)[1]
        except _TooLarge as exc:
            raise ProtocolError(f"HTTP 413 {exc}", status=413) from exc
        except _BadBatch as exc:
            raise ProtocolError(f"HTTP {exc.status} {exc.detail}", status=exc.status) from exc

    # --- enrolment and reference data ---------------------------------------------------

    def enrol(self, base_url: str, code: str, device_name: str) -> str:
        """Enrol with a one-time code; stores device id, token, key and gateway URL."""
        base_url = base_url.rstrip("/")
        try:
            _, doc = self._request("POST", "/v1/devices/enrol", auth=False, base_url=base_url,
                                   body={"code": code, "device_name": device_name})
        except _BadBatch as exc:
            raise EnrolmentRefused(exc.detail, status=exc.status) from exc
        except (AuthError, Forbidden, ProtocolError) as exc:
            raise EnrolmentRefused(exc.detail, status=exc.status) from exc
        try:
            device_id, token, key = doc["device_id"], doc["token"], doc["device_key"]
        except (KeyError, TypeError) as exc:
            raise ProtocolError("enrolment answer lacks device_id/token/device_key") from exc
        with self.store.transaction() as conn:
            for k, v in (("device_id", device_id), ("device_token", token),
                         ("device_key", key), ("gateway_url", base_url)):
                conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                             "DO UPDATE SET value=excluded.value", (k, v))
        self.base_url = base_url
        self.last_ok, self.last_ok_iso = time.time(), now_iso()
        return device_id

    def refresh_reference(self) -> dict:
        """GET /v1/reference → reference.import_reference; top up receipt numbers if low."""
        from terminal import reference
        ref = self._call("GET", "/v1/reference")
        reference.import_reference(self.store, ref)
        self.ensure_receipt_numbers()
        return ref

    def ensure_receipt_numbers(self, low_water: int = RECEIPT_LOW_WATER,
                               size: int = RECEIPT_BLOCK_SIZE) -> int:
        """Fetch a receipt-number block when fewer than `low_water` numbers are left."""
        from terminal import receipts
        left = receipts.numbers_left(self.store)
        if left >= low_water:
            return left
        block = self._call("POST", "/v1/receipt-blocks", body={"size": size})
        receipts.add_block(self.store, int(block["start"]), int(block["end"]))
        return receipts.numbers_left(self.store)

    def assignments(self) -> list[dict]:
        return self._call("GET", "/v1/assignments") or []

    # --- upload -----------------------------------------------------------------------

    def upload(self, *, max_requests: int | None = None, should_continue=None,
               pipeline: bool = True) -> UploadReport:
        """Send pending ops until the outbox has none left (or `max_requests` were made).

        One batch in flight; its results are committed locally in one transaction before
        the next batch is sent. With `pipeline`, the next batch is taken from the outbox and
        encoded while the gateway works on the current one (it stays local until then).
        Raises a `SyncError` (ops stay pending) when the gateway cannot be reached or
        refuses the device.
        """
        report = UploadReport()
        ahead = None      # (ops, body) prepared while the previous batch was in flight
        pool = concurrent.futures.ThreadPoolExecutor(1, "chaoshou-upload") if pipeline else None
        try:
            while max_requests is None or report.requests < max_requests:
                if should_continue is not None and not should_continue():
                    break
                if ahead is not None:
                    (ops, body), ahead = ahead, None
                else:
                    ops = outbox.take_batch(self.store, self.batch_size)
                    if not ops:
                        break
                    body = self._encode(ops)
                report.requests += 1
                report.sent += len(ops)
                last = max_requests is not None and report.requests >= max_requests
                try:
                    if pool is None or last:
                        _, doc = self._request("POST", "/v1/ops", gz_body=body)
                    else:
                        # the store is not touched from the helper thread
                        headers = self._auth_headers()
                        fut = pool.submit(self._send, "POST", "/v1/ops", gz_body=body,
                                          auth_headers=headers)
                        try:
                            ahead = self._prepare(min(self.max_batch, self.batch_size * 2))
                        finally:
                            _, doc = self._settle(fut, "POST", "/v1/ops", headers,
                                                  gz_body=body)
                except _TooLarge:
                    ahead = self._release_all()
                    if self.batch_size == 1:
                        raise TransientError("gateway refuses even a single op as too large",
                                             code="too_large", status=413)
                    self.batch_size = max(1, self.batch_size // 2)
                    continue
                except _BadBatch as exc:
                    ahead = self._release_all()
                    if len(ops) > 1:   # bisect towards the op the gateway cannot parse
                        self.batch_size = max(1, len(ops) // 2)
                        continue
                    # one op the gateway cannot even parse: keep it, visible, out of the way
                    self._commit_results(ops, [{"op_id": ops[0].op_id, "status": "rejected",
                                                "code": f"http_{exc.status}",
                                                "message": exc.detail[:500]}])
                    report.attention += 1
                    continue
                except TransientError as exc:
                    ahead = self._release_all()
                    if exc.code == "timeout":
                        self.batch_size = max(1, self.batch_size // 2)
                    raise
                except BaseException:
                    ahead = self._release_all()
                    raise
                if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
                    ahead = self._release_all()
                    raise ProtocolError("ops answer without results")
                done, attention = self._commit_results(ops, doc["results"])
                report.done += done
                report.attention += attention
                if doc.get("missing_seqs"):
                    self.last_missing_seqs = doc["missing_seqs"]
                    report.missing_seqs = doc["missing_seqs"]
                if done + attention < len(ops) and ahead is not None:
                    # some ops must go again: resend them first, in seq order
                    ahead = self._release_all()
                if done + attention == 0:
                    raise TransientError("gateway asked to retry later", code="server_retry")
                self.batch_size = min(self.max_batch, self.batch_size * 2)
        finally:
            if ahead is not None:
                self._release_range(ahead[0])
            if pool is not None:
                pool.shutdown(wait=True)
        return report

    def _prepare(self, size: int):
        ops = outbox.take_batch(self.store, size)
        return (ops, self._encode(ops)) if ops else None

    @staticmethod
    def _encode(ops) -> bytes:
        data = json.dumps({"ops": [op.envelope() for op in ops]}, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        return gzip.compress(data, compresslevel=1, mtime=0)

    def _release_all(self):
        outbox.release_inflight(self.store)
        return None

    def _release_range(self, ops) -> None:
        """Return this batch's unanswered ops to pending (not a batch prepared after it)."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE outbox SET state='pending' WHERE state='inflight' "
                         "AND seq BETWEEN ? AND ?", (ops[0].seq, ops[-1].seq))

    def _commit_results(self, ops, results) -> tuple[int, int]:
        """Record the answered results and return the rest to `pending`, in one commit."""
        sent = {op.op_id for op in ops}
        usable = [r for r in results if isinstance(r, dict) and r.get("op_id") in sent
                  and r.get("status") in outbox.RESULT_STATES]
        with self.store.transaction():
            outbox.mark_results(self.store, usable)
            self._release_range(ops)
        done = sum(1 for r in usable if r["status"] in outbox.DONE)
        attention = sum(1 for r in usable if r["status"] in outbox.ATTENTION)
        return done, attention

    def ops_status(self, from_seq: int, to_seq: int) -> dict:
        return self._call("GET", "/v1/ops/status", params={"from_seq": from_seq, "to_seq": to_seq})

    # --- route download and changes ---------------------------------------------------

    def download_route(self, route_id: str, progress_cb=None, *, fresh: bool = False) -> dict:
        """Download a route's snapshot page by page into staging, verify, swap; resumes.

        `progress_cb(done, total)` is called after every committed page. Returns
        `{"route_id", "snapshot_id", "count", "resumed"}`.
        """
        from terminal import routes
        attempts = 0
        while True:
            attempts += 1
            try:
                return self._download_once(routes, route_id, progress_cb, fresh or attempts > 1)
            except _SnapshotGone:
                if attempts >= 3:
                    raise TransientError("route snapshot keeps expiring", code="snapshot_expired")
            except routes.RouteVerifyError as exc:
                if attempts >= 2:
                    raise RouteVerifyFailed(str(exc)) from exc

    def _download_once(self, routes, route_id, progress_cb, fresh):
        resume = None if fresh else routes.stage_resume_point(self.store, route_id)
        resumed = bool(resume and resume[1] is not None)
        if resumed:
            snapshot_id, cursor = resume
            total = None
        else:
            snap = self._snapshot_call("POST", f"/v1/routes/{route_id}/snapshots")
            snapshot_id, total = snap["snapshot_id"], int(snap["count"])
            routes.stage_begin(self.store, snap["header"], snapshot_id, total)
            cursor = None
        done = self._staged_count(route_id, snapshot_id)
        path = f"/v1/routes/{route_id}/snapshots/{snapshot_id}"
        headers = self._auth_headers()

        def fetch(after):   # on the helper thread: no re-authentication there
            params = {"limit": self.page_limit}
            if after is not None:
                params["after"] = after
            return self._snapshot_call("GET", path, params=params, auth_headers=headers,
                                       reauth=False)

        def result(fut, after):
            nonlocal headers
            try:
                return fut.result()
            except _Unauthorized as exc:
                headers = self.reauthenticate(headers, exc.server_time)
            try:
                return fetch(after)
            except _Unauthorized as exc:
                raise AuthError(exc.detail, status=401) from None

        # the next page is fetched while this one is staged; each page's rows and the
        # cursor after it still commit together, in order
        with concurrent.futures.ThreadPoolExecutor(1, "chaoshou-pages") as pool:
            pending, pending_after = pool.submit(fetch, cursor), cursor
            while True:
                page = result(pending, pending_after)
                accounts, nxt = page.get("accounts") or [], page.get("next")
                if nxt is not None:
                    pending, pending_after = pool.submit(fetch, nxt), nxt
                total = int(page.get("count", total or 0))
                routes.stage_page(self.store, snapshot_id, accounts, nxt)
                done += len(accounts)
                if progress_cb:
                    progress_cb(done, total)
                if nxt is None:
                    routes.stage_finish(self.store, snapshot_id, total, page.get("digest"))
                    break
        try:
            self._call("POST", f"/v1/routes/{route_id}/downloaded",
                       body={"snapshot_id": snapshot_id})
        except TransientError:
            pass   # the route is live; the flag is cleared on the next sync
        return {"route_id": route_id, "snapshot_id": snapshot_id, "count": total,
                "resumed": resumed}

    def _staged_count(self, route_id, snapshot_id) -> int:
        from terminal import routes
        status = routes.stage_status(self.store, route_id)
        return int(status["staged"]) if status and status["snapshot_id"] == snapshot_id else 0

    def _snapshot_call(self, method, path, **kw):
        try:
            return self._call(method, path, **kw)
        except ProtocolError as exc:
            if exc.status in (400, 404, 410):   # bad cursor, unknown or expired snapshot
                raise _SnapshotGone() from exc
            raise

    def pull_changes(self, route_id: str, progress_cb=None) -> dict:
        """Apply the change feed since the local route version; 410 → fresh snapshot reload."""
        from terminal import routes
        since = routes.current_version(self.store, route_id)
        if since is None:   # not on this device yet
            result = self.download_route(route_id, progress_cb)
            return {"reloaded": True, "changes": 0,
                    "version": routes.current_version(self.store, route_id), **result}
        applied, version = 0, since
        while True:
            try:
                doc = self._call("GET", f"/v1/routes/{route_id}/changes",
                                 params={"since": version})
            except ProtocolError as exc:
                if exc.status != 410:
                    raise
                # cursor expired (device offline too long): reload the snapshot; this
                # replaces server-owned tables only, never captures
                result = self.download_route(route_id, progress_cb, fresh=True)
                return {"reloaded": True, "changes": applied,
                        "version": routes.current_version(self.store, route_id), **result}
            changes = doc.get("changes") or []
            new_version = int(doc.get("version", version))
            if changes or new_version != version:
                routes.apply_changes(self.store, route_id, changes, new_version)
            applied += len(changes)
            version = new_version
            if not doc.get("has_more") or not changes:
                break
        return {"route_id": route_id, "reloaded": False, "changes": applied, "version": version}

    # --- closeout -----------------------------------------------------------------------

    def closeout(self, summary: dict) -> dict:
        """POST the shift's closeout summary (contracts §3); returns the gateway's verdict."""
        return self._call("POST", "/v1/shifts/closeout", body=summary)


class _SnapshotGone(Exception):
    pass
