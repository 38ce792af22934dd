"""The account's latest payment through another channel (a platform: the change feed's
`last_third_party`, docs/channels.md) in words, to lead a refusal to collect again."""
from __future__ import annotations

import json

from terminal.ledger_errors import Term, fen_text

PLATFORMS = {"alipay": "Alipay", "wechat": "WeChat Pay", "bank": "a bank"}   # msgids


def paid_elsewhere(acct) -> Term:
    """'Paid via <platform> at HH:MM' of the account's latest platform payment (the change
    feed's `last_third_party`, docs/channels.md), to lead a refusal; else empty. Its
    Chinese is in the chaoshou_core catalog (a platform not named here: its code as is)."""
    tp = json.loads(acct["last_third_party"]) if acct["last_third_party"] else None
    if not isinstance(tp, dict) or not tp.get("platform"):
        return Term("")
    platform = tp["platform"]
    name = Term(PLATFORMS[platform]) if platform in PLATFORMS else str(platform)
    at = str(tp.get("paid_at") or "").replace("T", " ")[:16]
    amount = fen_text(tp["amount_fen"]) if isinstance(tp.get("amount_fen"), int) else "?"
    return Term("Paid {amount} yuan via {platform} at {at}. ", amount=amount, platform=name,
                at=at)
