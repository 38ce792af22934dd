"""The account's latest payment through another channel (a platform: the change feed's
`last_third_party`, docs/channels.md) in words, to lead a refusal to collect again."""
from __future__ import annotations

import json

from terminal.ledger_errors import fen_text


def paid_elsewhere(acct) -> tuple[str, str]:
    """'Paid via <platform> at HH:MM' of the account's latest platform payment (the change
    feed's `last_third_party`, docs/channels.md), to lead a refusal; else empty."""
    tp = json.loads(acct["last_third_party"]) if acct["last_third_party"] else None
    if not isinstance(tp, dict) or not tp.get("platform"):
        return "", ""
    names = {"alipay": ("支付宝", "Alipay"), "wechat": ("微信支付", "WeChat Pay"),
             "bank": ("银行", "a bank")}
    zh, en = names.get(tp["platform"], (tp["platform"], tp["platform"]))
    at = str(tp.get("paid_at") or "").replace("T", " ")[:16]
    amount = fen_text(tp["amount_fen"]) if isinstance(tp.get("amount_fen"), int) else "?"
    return (f"已于 {at} 通过{zh}缴费 {amount} 元。",
            f"Paid {amount} yuan via {en} at {at}. ")
