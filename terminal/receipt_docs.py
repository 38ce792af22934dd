"""Receipt documents (docs/contracts.md §5): device-independent dicts the printer renders.

Kinds built here: `collection` (cash/card/agent receipt with a verification QR and a
pay-later QR), `void` (void slip), `bill_notice` (after a reading), `agent_statement`,
`x_report`, `z_report`. A reprint is the same document with `"copy": true` and a
`副本 COPY` banner. Receipts are rebuilt from their stored chain content, so a reprint
says exactly what the original said.
"""
from __future__ import annotations

from terminal import receipts
from terminal.ledger_errors import fen_text, refusal
from terminal.store import Store, audit

DEFAULT_COMPANY = "示范供电公司"
COPY_BANNER = {"t": "text", "text": "副本 COPY", "align": "center", "bold": True, "size": "double"}


def _text(text, align="left", bold=False, size="normal"):
    return {"t": "text", "text": text, "align": align, "bold": bold, "size": size}


def _kv(k, v):
    return {"t": "kv", "k": k, "v": str(v)}


def _time(iso: str | None) -> str:
    """Device time as printed: '2026-11-27 10:32:00' (local, as recorded)."""
    return (iso or "")[:19].replace("T", " ")


def _money(fen: int) -> str:
    """Money as printed, one way for every document: ¥12.30, and -¥10.00 when negative."""
    return ("-" if fen < 0 else "") + "¥" + fen_text(abs(fen))


def _less(fen: int) -> str:
    """An amount taken off a total (credit, paid, voids): -¥12.30, or ¥0.00 for nothing."""
    return _money(-fen)


def reading_text(value, decimals: int = 0) -> str:
    """A meter value (all dial digits, contracts §0) as the dial shows it: 5480 with one
    decimal → "548.0" (the decimals are kept on paper and on screen)."""
    if value is None:
        return "—"
    if not decimals:
        return str(value)
    text = str(int(value)).rjust(decimals + 1, "0")
    return f"{text[:-decimals]}.{text[-decimals:]}"


def _header(store: Store, title: str) -> list[dict]:
    company = store.get_meta("company_name") or DEFAULT_COMPANY
    # a line of paper above the company name: it does not touch the top edge
    return [{"t": "feed", "n": 1}, _text(company, "center", True, "double"),
            _text(title, "center"), {"t": "rule"}]


def _footer() -> list[dict]:
    return [{"t": "feed", "n": 3}, {"t": "cut"}]


def _doc(kind: str, blocks: list[dict], receipt_no: str | None = None, copy: bool = False) -> dict:
    doc = {"kind": kind, "receipt_no": receipt_no, "copy": copy, "blocks": blocks}
    return as_copy(doc) if copy else doc


def as_copy(doc: dict) -> dict:
    """The reprint of `doc`: same content, `copy` true, the 副本 COPY banner first (the
    same convention as the print queue, so a queued COPY is never bannered twice)."""
    blocks = [b for b in doc["blocks"] if b != COPY_BANNER]
    return dict(doc, copy=True, blocks=[dict(COPY_BANNER)] + blocks)


def card_text(card: dict | None) -> str:
    if not card:
        return "银行卡 Card"
    parts = ["银行卡 Card", card.get("card_type") or ""]
    if card.get("last4"):
        parts.append("****" + card["last4"])
    return " ".join(p for p in parts if p)


def balance_after(content: dict) -> int:
    """What the account still owes after this one-account payment (0 when paid in full,
    in advance, or for an agent): the core's due figure once the payment was taken
    (`due_after_fen`, docs/ledger.md "The due figure"); receipts issued before it was
    recorded fall back to the due printed less the amount paid."""
    if content.get("agent_id"):
        return 0
    if content.get("due_after_fen") is not None:
        return content["due_after_fen"]
    due = content.get("due_before_fen")
    return 0 if due is None else max(0, due - content["amount_fen"])


def _collection_blocks(store: Store, row: dict) -> list[dict]:
    c = row["content"]
    blocks = _header(store, "电费收据 Electricity receipt")
    blocks += [_kv("收据号 Receipt no", c["receipt_no"]), _kv("时间 Time", _time(c["issued_at"]))]
    if c.get("agent_id"):
        blocks += [_kv("代管单位 Agent", c.get("name") or c["agent_id"]),
                   _kv("代管编号 Agent id", c["agent_id"]), {"t": "rule"},
                   _text("代缴明细 Accounts paid", bold=True)]
        for a in c.get("allocations", []):
            blocks.append(_kv(f"{a['account_no']} {a.get('name') or ''}".strip(),
                              _money(a["amount_fen"])))
    else:
        blocks += [_kv("户号 Account", c["account_no"]), _kv("户名 Name", c.get("name") or "")]
        if c.get("address"):
            blocks.append(_kv("地址 Address", c["address"]))
        if c.get("due_before_fen") is not None:
            blocks.append(_kv("应缴 Amount due", _money(c["due_before_fen"])))
    blocks.append({"t": "rule"})
    blocks.append(_kv("实收 Paid", _money(c["amount_fen"])))
    if c.get("method") == "card":
        blocks.append(_kv("方式 Method", card_text(c.get("card"))))
        card = c.get("card") or {}
        if card.get("trace") is not None:
            blocks.append(_kv("流水 Trace", card["trace"]))
    else:
        blocks.append(_kv("方式 Method", "现金 Cash"))
        if c.get("tendered_fen") is not None:
            blocks += [_kv("收款 Tendered", _money(c["tendered_fen"])),
                       _kv("找零 Change", _money(c.get("change_fen") or 0))]
    if c.get("advance_fen"):
        blocks.append(_kv("预存 Advance", _money(c["advance_fen"])))
    balance = balance_after(c)
    if balance:
        blocks.append(_kv("尚欠 Still owed", _money(balance)))
    blocks += [_kv("收费员 Collector", c.get("operator_id") or ""),
               _kv("终端 Device", c["device_id"]), {"t": "rule"}]
    blocks.append({"t": "qr", "data": receipts.verify_url(store, c["receipt_no"], c["amount_fen"],
                                                          row["verify_code"], c["device_id"]),
                   "caption": "扫码验真 Scan to verify"})
    blocks.append(_kv("验证码 Code", row["verify_code"]))
    pay_acct = c.get("account_no") or (c.get("allocations") or [{}])[0].get("account_no")
    if pay_acct:
        blocks.append({"t": "qr", "data": receipts.pay_url(store, pay_acct, balance_after(c)),
                       "caption": "扫码缴费 Scan to pay next time"})
    blocks.append(_text("请妥善保管 Please keep this receipt", "center"))
    return blocks + _footer()


def _void_blocks(store: Store, row: dict) -> list[dict]:
    c = row["content"]
    blocks = _header(store, "作废凭证 Void slip")
    blocks += [_kv("凭证号 Slip no", c["receipt_no"]), _kv("时间 Time", _time(c["issued_at"])),
               _kv("作废收据 Voids receipt", c["voids_receipt_no"]),
               _kv("户号 Account", c.get("account_no") or c.get("agent_id") or ""),
               _kv("退还金额 Amount returned", _money(c["amount_fen"])),
               _kv("原因 Reason", c["reason"]), _kv("批准 Approved by", c["approved_by"]),
               _kv("收费员 Collector", c.get("operator_id") or ""), {"t": "rule"},
               {"t": "qr", "data": receipts.verify_url(store, c["receipt_no"], c["amount_fen"],
                                                       row["verify_code"], c["device_id"]),
                "caption": "扫码验真 Scan to verify"},
               _kv("验证码 Code", row["verify_code"])]
    return blocks + _footer()


def receipt_document(store: Store, receipt_no, copy: bool = False) -> dict:
    """The printable document of a stored receipt (collection or void slip)."""
    row = receipts.get(store, receipt_no)
    if row is None:
        raise refusal("unknown_receipt", "Receipt {receipt_no} does not exist on this device",
                      receipt_no=receipt_no)
    build = _void_blocks if row["kind"] == "void" else _collection_blocks
    kind = "void" if row["kind"] == "void" else "collection"
    return _doc(kind, build(store, row), str(row["receipt_no"]), copy)


def reprint(store: Store, receipt_no, operator_id: str) -> dict:
    """A COPY of a receipt (same number), counted and audited; queued for printing."""
    doc = receipt_document(store, receipt_no, copy=True)
    with store.transaction() as conn:
        conn.execute("UPDATE receipts SET print_count = print_count + 1 WHERE receipt_no=?",
                     (int(receipt_no),))
        audit(conn, "receipt_reprint", operator_id, receipt_no=str(receipt_no))
        queue_print(store, doc)
    return doc


def queue_print(store: Store, doc: dict):
    """Hand `doc` to the print queue inside the caller's transaction; returns its job id,
    or None when it could not be queued (the caller then prints `doc` itself).

    The job is written in a savepoint: a print-queue failure never undoes the payment it
    belongs to — it is audited, and the money stays recorded."""
    try:
        from terminal import print_queue
    except ModuleNotFoundError as exc:
        if exc.name != "terminal.print_queue":
            raise
        return None
    try:
        with store.transaction():
            return print_queue.enqueue(store, doc)
    except Exception as exc:  # noqa: BLE001 — printing must never block a capture
        with store.transaction() as conn:
            audit(conn, "print_queue_failed", None, kind=doc.get("kind"),
                  receipt_no=doc.get("receipt_no"), error=type(exc).__name__)
        return None


def bill_notice(store: Store, account_no: str, kwh_e3: int | None = None, today=None) -> dict:
    """The bill notice left after a reading: reading, band lines, arrears, fee, total, pay QR."""
    from terminal import tariffs
    bill = tariffs.bill_for(store, account_no, kwh_e3, today)
    acct = store.conn.execute("SELECT * FROM accounts WHERE account_no=?", (account_no,)).fetchone()
    blocks = _header(store, "电费通知单 Bill notice")
    blocks += [_kv("户号 Account", account_no), _kv("户名 Name", acct["name"]),
               _kv("地址 Address", acct["address"])]
    reading = tariffs.latest_reading(store.conn, account_no)
    if reading is not None:
        meter = store.conn.execute("SELECT decimals FROM meters WHERE account_no=?",
                                   (account_no,)).fetchone()
        decimals = (meter["decimals"] or 0) if meter is not None else 0
        blocks += [_kv("本次读数 Reading", reading_text(reading["value"], decimals)),
                   _kv("抄表时间 Read at", _time(reading["device_time"]))]
    if bill.kwh_e3 is not None:
        blocks.append(_kv("用电量 kWh", _kwh(bill.kwh_e3)))
    blocks.append({"t": "rule"})
    for line in bill.lines:
        price = f"{line.price_e4 // 10000}.{line.price_e4 % 10000:04d}"
        blocks.append(_kv(f"第{line.band}档 Band {line.band} {_kwh(line.kwh_e3)}kWh×{price}",
                          _money(line.amount_fen)))
    blocks.append(_kv("本期电费 Current charge", _money(bill.current_fen)))
    if bill.arrears_fen:
        blocks.append(_kv("欠费 Arrears", _money(bill.arrears_fen)))
    if bill.late_fee_fen:
        blocks.append(_kv(f"违约金 Late fee ({bill.overdue_days}天 days)", _money(bill.late_fee_fen)))
    if bill.credit_fen:
        blocks.append(_kv("预存 Credit", _less(bill.credit_fen)))
    if bill.paid_here_fen:
        blocks.append(_kv("已缴 Paid", _less(bill.paid_here_fen)))
    if bill.voided_here_fen:
        blocks.append(_kv("作废退还 Voided", _money(bill.voided_here_fen)))
    blocks += [_kv("应缴合计 Total due", _money(bill.total_due_fen)), {"t": "rule"},
               {"t": "qr", "data": receipts.pay_url(store, account_no, bill.total_due_fen),
                "caption": "扫码缴费 Scan to pay"}]
    return _doc("bill_notice", blocks + _footer())


def _kwh(kwh_e3: int) -> str:
    text = f"{kwh_e3 // 1000}.{kwh_e3 % 1000:03d}".rstrip("0").rstrip(".")
    return text


def agent_statement_document(store: Store, statement: dict) -> dict:
    """The agent statement (see agents.statement): every member's reading and amount due."""
    blocks = _header(store, "代管对账单 Agent statement")
    blocks += [_kv("代管单位 Agent", statement["name"]), _kv("编号 Id", statement["agent_id"]),
               _kv("日期 Date", statement["date"]), {"t": "rule"}]
    for m in statement["members"]:
        reading = "未抄 unread" if m["reading"] is None else str(m["reading"])
        blocks += [_text(f"{m['account_no']} {m['name']}", bold=True),
                   _kv("读数 Reading", reading), _kv("应缴 Due", _money(m["total_due_fen"]))]
    blocks += [{"t": "rule"}, _kv("户数 Accounts", len(statement["members"])),
               _kv("合计应缴 Total due", _money(statement["total_due_fen"]))]
    return _doc("agent_statement", blocks + _footer())


def shift_report_document(store: Store, report: dict, kind: str) -> dict:
    """X report (`x_report`, any time) or Z report (`z_report`, at close, numbered)."""
    title = "Z 报表 Z report" if kind == "z_report" else "X 报表 X report"
    blocks = _header(store, title)
    if kind == "z_report":
        blocks.append(_kv("Z 号 Z no", report["z_no"]))
    blocks += [_kv("班次 Shift", report["shift_id"][:8]), _kv("收费员 Operator", report["operator_id"]),
               _kv("开班 Opened", _time(report["opened_at"])), _kv("打印 Printed", _time(report["at"])),
               {"t": "rule"},
               _kv("备用金 Float", _money(report["float_fen"])),
               _kv(f"现金 Cash ({report['cash_count']})", _money(report["cash_fen"])),
               _kv(f"银行卡 Card ({report['card_count']})", _money(report["card_fen"])),
               _kv(f"作废 Voids ({report['void_count']})", _less(report["void_fen"])),
               _kv("应有现金 Expected cash", _money(report["expected_fen"]))]
    if report.get("unknown_count"):
        blocks.append(_kv("待查卡交易 Unknown card", report["unknown_count"]))
    if report.get("receipt_from"):
        blocks.append(_kv("收据号 Receipts", f"{report['receipt_from']}–{report['receipt_to']}"))
    if kind == "z_report":
        blocks += [_kv("实点现金 Counted", _money(report["counted_fen"])),
                   _kv("差额 Variance", _money(report["variance_fen"]))]
        for denom, count in sorted((report.get("denominations") or {}).items(),
                                   key=lambda kv: -int(kv[0])):
            blocks.append(_kv(f"{_money(int(denom))} ×{count}", _money(int(denom) * count)))
        blocks.append(_kv("摘要 Digest", report["digest"][:16]))
    return _doc(kind, blocks + _footer())
