"""python -m sync.sandbox_platform: run the sandbox payment platform (see __init__)."""
from __future__ import annotations

import argparse
import logging
import secrets
import socket
import sys
from datetime import date
from pathlib import Path

import requests
import uvicorn

from sync import platform_sign
from sync.sandbox_platform.app import create_app
from sync.sandbox_platform.notifier import Notifier, Signer

NAMES = {"alipay": ("支付宝", "Alipay"), "wechat": ("微信支付", "WeChat Pay"),
         "sandpay": ("沙箱支付", "Sandpay")}


def register(gateway: str, supervisor: str, platform: str, scheme: str, key,
             checkout_url: str) -> str:
    """Register this platform's credentials with the gateway (office sign-in); returns the
    key its answers are checked with (the biller's public key, or the shared secret)."""
    operator_id, pin = supervisor.split(":", 1)
    token = requests.post(gateway + "/v1/supervisor/login",
                          json={"operator_id": operator_id, "pin": pin}, timeout=30)
    token.raise_for_status()
    zh, en = NAMES.get(platform, (platform, platform))
    body = {"name_zh": f"{zh}（沙箱）", "name_en": f"{en} (sandbox)", "scheme": scheme,
            "checkout_url": checkout_url}
    if scheme == "rsa":
        body["public_key"] = platform_sign.public_pem(key)
    else:
        body["secret"] = key
    r = requests.put(f"{gateway}/v1/supervisor/platforms/{platform}", json=body, timeout=30,
                     headers={"Authorization": f"Bearer {token.json()['token']}"})
    if not r.ok:
        raise SystemExit(f"registering {platform} failed: HTTP {r.status_code} {r.text}")
    if scheme == "hmac":
        return key
    r = requests.get(f"{gateway}/v1/supervisor/biller-key", timeout=30,
                     headers={"Authorization": f"Bearer {token.json()['token']}"})
    r.raise_for_status()
    return r.json()["public_key"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sync.sandbox_platform")
    p.add_argument("--gateway", required=True, help="the gateway's base URL")
    p.add_argument("--platform", default="sandpay", help="platform id (lower case)")
    p.add_argument("--scheme", choices=("rsa", "hmac"), default="rsa")
    p.add_argument("--key-file", type=Path, help="rsa: private key PEM (made if missing); "
                                                  "hmac: file holding the shared secret hex")
    p.add_argument("--supervisor", help="OPERATOR:PIN to register the key with the gateway")
    p.add_argument("--biller-key", type=Path, help="the gateway's public key PEM, to check "
                                                    "its signed answers (--supervisor fetches it)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", type=Path, help="write the bound port here")
    p.add_argument("--retry-base", type=float, default=0.2, help="first retry delay (s)")
    p.add_argument("--fee-bp", type=int, default=60, help="fee in basis points per payment")
    p.add_argument("--trade-day", type=date.fromisoformat, default=None,
                   help="book every trade on this business day (YYYY-MM-DD; drills)")
    opts = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(message)s")
    key = _key(opts.scheme, opts.key_file)
    sock = socket.socket()
    sock.bind((opts.host, opts.port))
    port = sock.getsockname()[1]
    answer_key = opts.biller_key.read_text() if opts.biller_key else None
    if opts.supervisor:
        answer_key = register(opts.gateway, opts.supervisor, opts.platform, opts.scheme, key,
                              f"http://{opts.host}:{port}/checkout")
    if answer_key is None:
        logging.warning("the gateway's answers are not checked (no --biller-key)")
    notifier = Notifier(Signer(opts.gateway.rstrip("/"), opts.platform, opts.scheme, key,
                               answer_key), retry_base_s=opts.retry_base)
    if opts.port_file:
        opts.port_file.write_text(str(port), encoding="ascii")
    print(f"sandbox platform {opts.platform} on http://{opts.host}:{port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(notifier, opts.fee_bp, opts.trade_day),
                                           log_level="warning"))
    server.run(sockets=[sock])
    return 0


def _key(scheme: str, path: Path | None):
    if scheme == "rsa":
        if path is not None and path.exists():
            return platform_sign.load_private(path.read_text())
        key = platform_sign.new_rsa_key()
        if path is not None:
            path.write_text(platform_sign.private_pem(key))
        return key
    if path is not None and path.exists():
        return path.read_text().strip()
    secret = secrets.token_hex(32)
    if path is not None:
        path.write_text(secret)
    return secret


if __name__ == "__main__":
    sys.exit(main())
