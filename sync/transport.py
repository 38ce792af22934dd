"""Transport and authentication of the sync client: one keep-alive HTTP session, device
token headers, re-authentication on 401 (contracts §4), error classification, backoff.

A 401 on a device call re-authenticates once: a new token from `POST /v1/devices/token`
(proof signed with the device key in store meta, timestamp from the gateway's clock), stored
as meta `device_token`, then the call is sent once more.
"""
from __future__ import annotations

import email.utils
import gzip
import json
import os
import random
import threading
import time

import requests

from sync.errors import (AuthError, CertificateError, Forbidden, NotEnrolled, ProtocolError,
                         TransientError, UpdateRequired)
from sync import protocol
from sync.protocol import token_nonce, token_proof
from terminal.store import Store, now_iso

APP_VERSION = protocol.client_version()
PAGE_LIMIT = 1000


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


class _TooLarge(Exception):
    pass


class _Unauthorized(AuthError):
    """A 401 answer, before re-authentication was tried; `server_time` from its Date."""

    def __init__(self, detail: str = "", *, server_time: float | None = None, **kw):
        self.server_time = server_time
        super().__init__(detail, **kw)


class _AuthState:
    """Shared by the clients of one store file (worker and UI): they re-authenticate one at
    a time, so one token replaces another's at most once."""

    def __init__(self):
        self.lock = threading.Lock()


_auth_states: dict[str, _AuthState] = {}
_auth_states_guard = threading.Lock()


def _auth_state_for(store: Store) -> _AuthState:
    path = os.path.realpath(store.path)
    with _auth_states_guard:
        return _auth_states.setdefault(path, _AuthState())


class _BadBatch(Exception):
    def __init__(self, status, detail):
        self.status, self.detail = status, detail


class Transport:
    """The HTTP plumbing of one device's client; `store` is a `terminal.store.Store` used
    from the thread that owns this object."""

    def __init__(self, store: Store, base_url: str | None = None, *, ca_bundle: str | None = None,
                 timeout=(3.05, 15), page_limit: int = PAGE_LIMIT):
        self.store = store
        self.base_url = (base_url or store.get_meta("gateway_url") or "").rstrip("/")
        self.timeout = timeout
        self.page_limit = page_limit
        self.session = requests.Session()
        self.session.verify = ca_bundle if ca_bundle else True
        self.session.headers.update({protocol.CLIENT_VERSION_HEADER: APP_VERSION,
                                     "Accept": "application/json"})
        self.last_ok: float | None = None       # time.time() of the last authenticated success
        self.last_ok_iso: str | None = None
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
            nonce = token_nonce()              # each proof is new, even within one second
            try:
                proof = token_proof(key, device_id, ts, nonce)
            except ValueError:
                raise AuthError("device key in store is not hex") from None
            try:
                _, doc = self._send("POST", "/v1/devices/token", auth=False,
                                    body={"device_id": device_id, "ts": ts, "nonce": nonce,
                                          "proof": proof})
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
