"""Wire-level primitives of the sync protocol (contracts §0–§3), gateway-side copy.

Canonical JSON, SHA-256 hex, the route account digest, the closeout digest, the receipt
hash chain, the receipt verification code and the PIN hash format. The terminal keeps its
own copy in `terminal/canonical.py`; this module must never import `terminal`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from typing import Iterable

GENESIS_HASH = "0" * 64
CLIENT_VERSION_HEADER = "X-Client-Version"   # the client's version; the gateway may answer 426
PIN_SCHEME = "pbkdf2_sha256"
DEFAULT_PIN_ITERATIONS = 60_000


def client_version() -> str:
    """This installation's version (package metadata of `chaoshou`), sent in
    CLIENT_VERSION_HEADER with every request."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("chaoshou")
    except PackageNotFoundError:   # running from a source tree that was never installed
        return "0"


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets given as text."""
    return hmac.compare_digest(given.encode("utf-8", "replace"),
                               expected.encode("utf-8", "replace"))


def canonical_json(obj) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8, non-ASCII kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def sha256hex(obj) -> str:
    """Lowercase hex SHA-256 of the canonical JSON of `obj`."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def route_digest(accounts: Iterable[dict]) -> str:
    """Account digest of a route download (§1): accounts sorted by (seq, account_no)."""
    h = hashlib.sha256()
    for account in sorted(accounts, key=lambda a: (a["seq"], a["account_no"])):
        h.update(canonical_json(account))
        h.update(b"\n")
    return h.hexdigest()


def closeout_digest(payload_hashes: Iterable[str]) -> str:
    """Closeout digest (§3): the shift's payload_sha256 values in seq order, each + "\\n"."""
    h = hashlib.sha256()
    for value in payload_hashes:
        h.update(value.encode("ascii") + b"\n")
    return h.hexdigest()


def receipt_hash(prev_hash: str, content: dict) -> str:
    """Receipt chain link (§2): sha256hex(prev_hash.encode() + canonical_json(content))."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(content)).hexdigest()


def verify_code(device_key_hex: str, device_id: str, receipt_no: str, amount_fen: int,
                receipt_hash_hex: str) -> str:
    """Receipt verification code (§2): first 16 hex chars of the HMAC-SHA256."""
    msg = f"{device_id}|{receipt_no}|{amount_fen}|{receipt_hash_hex}".encode("utf-8")
    return hmac.new(bytes.fromhex(device_key_hex), msg, hashlib.sha256).hexdigest()[:16]


def hash_pin(pin: str, iterations: int = DEFAULT_PIN_ITERATIONS,
             salt: bytes | None = None) -> str:
    """PIN hash in the contracts format `pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations)
    return f"{PIN_SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    """True when `pin` matches a stored PIN hash; False for any malformed hash."""
    try:
        scheme, iterations, salt_hex, hash_hex = stored.split("$")
        if scheme != PIN_SCHEME:
            return False
        iterations = int(iterations)
        if not 1 <= iterations <= 10_000_000:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"),
                                     bytes.fromhex(salt_hex), iterations)
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)


def token_nonce() -> str:
    """A fresh nonce for one token request (§4): 128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


def token_proof(device_key_hex: str, device_id: str, ts: int, nonce: str) -> str:
    """Proof for `POST /v1/devices/token` (§4): hex HMAC-SHA256 keyed with the device key's
    bytes over f"{device_id}|{ts}|{nonce}". The nonce makes two requests signed in the same
    second two different proofs; the gateway accepts each proof once."""
    return hmac.new(bytes.fromhex(device_key_hex), f"{device_id}|{ts}|{nonce}".encode("utf-8"),
                    hashlib.sha256).hexdigest()
