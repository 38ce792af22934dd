"""Canonical JSON and SHA-256 digests, exactly as docs/contracts.md §0 defines them.

The gateway keeps its own copy in sync/protocol.py (it never imports the terminal); a test
checks that both give the same bytes.
"""
import hashlib
import json

GENESIS_HASH = "0" * 64


def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(obj) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()
