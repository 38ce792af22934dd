"""Message signing between a payment platform and the biller (docs/channels.md §Signing),
shared by the gateway (verifies) and the sandbox platform (signs).

The signed text follows WeChat Pay API v3: one line each for the HTTP method, the path with
its query, the timestamp (unix seconds), the nonce and the body, each ending in "\\n".
Headers: `X-Platform`, `X-Timestamp`, `X-Nonce`, `X-Signature` (base64).

Two schemes, chosen per platform:
- `rsa`:  RSA-SHA256 (PKCS#1 v1.5), as Alipay ("RSA2") and WeChat Pay v3 sign; the biller
  holds only the platform's public key, so a leak of the biller's database forges nothing.
- `hmac`: HMAC-SHA256 with a per-platform shared secret, as banks' host-to-host links and
  smaller aggregators do; both sides hold the secret.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HEADERS = ("X-Platform", "X-Timestamp", "X-Nonce", "X-Signature")
WINDOW_S = 300          # a message older or newer than this is refused


def message(method: str, path: str, ts: int | str, nonce: str, body: bytes) -> bytes:
    return (f"{method.upper()}\n{path}\n{ts}\n{nonce}\n".encode("ascii")
            + body + b"\n")


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def load_private(pem: str) -> rsa.RSAPrivateKey:
    return serialization.load_pem_private_key(pem.encode(), password=None)


def sign(scheme: str, key, msg: bytes) -> str:
    """`key`: an RSA private key (rsa) or the shared secret as hex text (hmac)."""
    if scheme == "rsa":
        raw = key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    else:
        raw = hmac.new(bytes.fromhex(key), msg, hashlib.sha256).digest()
    return base64.b64encode(raw).decode("ascii")


def verify(scheme: str, key: str, msg: bytes, signature: str) -> bool:
    """`key`: the platform's public key PEM (rsa) or the shared secret hex (hmac)."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        return False
    if scheme == "rsa":
        try:
            serialization.load_pem_public_key(key.encode()).verify(
                raw, msg, padding.PKCS1v15(), hashes.SHA256())
            return True
        except (InvalidSignature, ValueError):
            return False
    expected = hmac.new(bytes.fromhex(key), msg, hashlib.sha256).digest()
    return hmac.compare_digest(raw, expected)


def signed_headers(platform: str, scheme: str, key, method: str, path: str, body: bytes,
                   ts: int | None = None, nonce: str | None = None) -> dict:
    """The four headers of one signed request (a fresh nonce unless one is given)."""
    ts = int(time.time()) if ts is None else ts
    nonce = nonce or secrets.token_hex(16)
    return {"X-Platform": platform, "X-Timestamp": str(ts), "X-Nonce": nonce,
            "X-Signature": sign(scheme, key, message(method, path, ts, nonce, body)),
            "Content-Type": "application/json"}


def verify_key_ok(pem: str) -> bool:
    """Is `pem` an RSA public key of at least 2048 bits?"""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except Exception:  # noqa: BLE001 — anything that is not a readable public key
        return False
    return isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048


def response_message(ts: int | str, nonce: str, body: bytes) -> bytes:
    """The text of a signed answer (WeChat Pay v3): timestamp, nonce, body, each + "\\n"."""
    return f"{ts}\n{nonce}\n".encode("ascii") + body + b"\n"


def verify_response(scheme: str, key: str, headers, body: bytes) -> bool:
    """Does the gateway's answer carry a valid signature (`key`: the biller's public key
    PEM for rsa, the shared secret for hmac)?"""
    ts, nonce, signature = (headers.get(h) for h in ("X-Timestamp", "X-Nonce", "X-Signature"))
    return bool(ts and nonce and signature) and verify(
        scheme, key, response_message(ts, nonce, body), signature)
