"""Sync errors, each with a machine code and an English message (`en`, the msgid whose
Chinese is in the `chaoshou_core` catalog, assets/locale; the UI translates it).

Classified for the worker (see sync/client.py): `TransientError` (try again later,
honouring `retry_after`), `AuthError` (enrol again), `Forbidden` (stop, keep everything),
`UpdateRequired` (426) and the rest.
"""
from __future__ import annotations


class SyncError(Exception):
    """A sync failure with a machine code and an English message (a catalog msgid)."""

    code = "sync_error"
    en = "Sync failed"

    def __init__(self, detail: str = "", *, status: int | None = None, code: str | None = None):
        self.detail = detail
        self.status = status
        if code:
            self.code = code
        super().__init__(self.en + (f": {detail}" if detail else ""))

    @property
    def msgid(self) -> str:
        return self.en

    def as_status(self) -> dict:
        return {"code": self.code, "en": self.en, "detail": self.detail,
                "http_status": self.status}


class TransientError(SyncError):
    code, en = "offline", "Gateway unreachable; will retry"

    def __init__(self, detail: str = "", *, retry_after: float | None = None, **kw):
        self.retry_after = retry_after
        super().__init__(detail, **kw)


class CertificateError(TransientError):
    code, en = "certificate", \
        "Gateway certificate not trusted (check the CA bundle)"


class AuthError(SyncError):
    code, en = "needs_reenrolment", "Device credential rejected; enrol again"


class Forbidden(SyncError):
    code, en = "forbidden", \
        "Device revoked or not allowed; data kept, tell the supervisor"


class UpdateRequired(SyncError):
    code, en = "update_required", \
        "App too old: update required (data kept)"


class NotEnrolled(SyncError):
    code, en = "not_enrolled", "Device not enrolled"


class EnrolmentRefused(SyncError):
    code, en = "enrolment_refused", "Enrolment code invalid or used"


class ProtocolError(SyncError):
    code, en = "protocol_error", "Unexpected gateway answer"


class RouteVerifyFailed(SyncError):
    code, en = "route_verify_failed", \
        "Route download failed verification; old route kept"
