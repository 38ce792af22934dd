"""The sandbox platform's outbound side: signed requests to the gateway, and notification
delivery with retries and exponential back-off, as platforms do (WeChat Pay retries a
notification over 24 h at 15 s, 15 s, 30 s, 3 min, 10 min, …; the sandbox scales the
schedule down by --retry-base)."""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

import requests

from sync import platform_sign

log = logging.getLogger("sandbox_platform")


@dataclass
class Signer:
    gateway: str
    platform: str
    scheme: str
    key: object          # RSA private key, or the shared secret (hex)
    answer_key: str | None = None   # the biller's public key PEM (rsa) or the shared secret

    def answer_ok(self, r) -> bool:
        """Is the gateway's answer signed by the biller? (True when no key is known.)"""
        return self.answer_key is None or platform_sign.verify_response(
            self.scheme, self.answer_key, r.headers, r.content)

    def request(self, method: str, path: str, body: dict | str | None = None,
                content_type: str = "application/json", timeout: float = 10.0):
        data = b"" if body is None else (body.encode() if isinstance(body, str) else
                                          json.dumps(body, ensure_ascii=False).encode())
        headers = platform_sign.signed_headers(self.platform, self.scheme, self.key, method,
                                               path, data)
        headers["Content-Type"] = content_type
        return requests.request(method, self.gateway + path, data=data, headers=headers,
                                timeout=timeout)


@dataclass
class Delivery:
    """One notification's delivery state (shown at GET /trades)."""
    path: str
    body: dict
    attempts: int = 0
    status: str = "pending"     # pending | delivered | refused | gave_up
    answer: dict | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Notifier:
    def __init__(self, signer: Signer, retry_base_s: float = 0.2, max_attempts: int = 12,
                 max_delay_s: float = 30.0):
        self.signer = signer
        self.retry_base_s, self.max_attempts, self.max_delay_s = (retry_base_s, max_attempts,
                                                                   max_delay_s)

    def send(self, path: str, body: dict) -> Delivery:
        d = Delivery(path, body)
        threading.Thread(target=self._deliver, args=(d,), daemon=True).start()
        return d

    def _deliver(self, d: Delivery) -> None:
        delay = self.retry_base_s
        while d.attempts < self.max_attempts:
            d.attempts += 1
            try:
                r = self.signer.request("POST", d.path, d.body)
            except requests.RequestException as exc:
                log.info("notify %s attempt %d: %s", d.path, d.attempts, exc)
            else:
                if r.ok and self.signer.answer_ok(r):
                    d.status, d.answer = "delivered", r.json()
                    break
                if r.ok:
                    log.warning("notify %s attempt %d: the answer is not signed by the biller",
                                d.path, d.attempts)
                elif r.status_code < 500 and r.status_code not in (401, 408, 429):
                    d.status, d.answer = "refused", r.json()   # permanent: stop retrying
                    break
                log.info("notify %s attempt %d: HTTP %d", d.path, d.attempts, r.status_code)
            time.sleep(delay)    # the back-off between attempts of one delivery thread
            delay = min(delay * 2, self.max_delay_s)
        else:
            d.status = "gave_up"
        d.done.set()
