"""Sync errors, each with a machine code and a message in Chinese and English.

Classified for the worker (see sync/client.py): `TransientError` (try again later,
honouring `retry_after`), `AuthError` (enrol again), `Forbidden` (stop, keep everything),
`UpdateRequired` (426) and the rest.
"""
from __future__ import annotations


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
