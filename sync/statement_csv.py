"""A payment platform's daily statement file (对账单), the CSV layout of docs/channels.md
§Daily statement: written by the sandbox platform, read by the gateway's reconciliation.

Modelled on the platforms' own files (Alipay 业务明细, WeChat Pay 交易账单): UTF-8, `#`
comment lines before and after the table (platform, day, period; a totals block at the end),
one header row, one row per payment or refund, amounts in yuan with two decimals. WeChat
prefixes every field with a backtick so spreadsheets keep trade numbers as text; a leading
backtick is accepted and dropped.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime

COLUMNS = ("交易时间", "平台交易号", "商户订单号", "缴费户号", "交易类型", "金额(元)",
           "手续费(元)", "退款单号", "备注")
KINDS = {"支付": "payment", "退款": "refund"}
YUAN = re.compile(r"^(\d{1,10})\.(\d{2})$")


class StatementError(ValueError):
    """A statement file that cannot be read; names the line."""


@dataclass(frozen=True)
class Row:
    line: int
    time: str            # "YYYY-MM-DD HH:MM:SS", UTC+8
    trade_no: str
    bill_id: str
    account_no: str
    kind: str            # payment | refund
    amount_fen: int
    fee_fen: int
    refund_no: str


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def fen(text: str, line: int, column: str) -> int:
    m = YUAN.match(text)
    if not m:
        raise StatementError(f"line {line}: {column} {text!r} is not yuan with two decimals")
    return int(m.group(1)) * 100 + int(m.group(2))


def write(platform: str, day: str, rows: list[dict]) -> str:
    """rows: {time, trade_no, bill_id, account_no, kind, amount_fen, fee_fen, refund_no}."""
    out = io.StringIO()
    out.write(f"#平台对账单 platform statement\n#平台 platform: {platform}\n"
              f"#账单日期 day: {day}\n#起止时间 period: [{day} 00:00:00] 至 [{day} 24:00:00] "
              f"(UTC+8)\n")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    kind_zh = {v: k for k, v in KINDS.items()}
    for r in rows:
        w.writerow([r["time"], r["trade_no"], r.get("bill_id") or "", r["account_no"],
                    kind_zh[r["kind"]], yuan(r["amount_fen"]), yuan(r.get("fee_fen", 0)),
                    r.get("refund_no") or "", ""])
    paid = sum(r["amount_fen"] for r in rows if r["kind"] == "payment")
    refunded = sum(r["amount_fen"] for r in rows if r["kind"] == "refund")
    fees = sum(r.get("fee_fen", 0) for r in rows)
    out.write(f"#汇总 totals\n#交易笔数,支付金额(元),退款金额(元),手续费(元)\n"
              f"#{len(rows)},{yuan(paid)},{yuan(refunded)},{yuan(fees)}\n")
    return out.getvalue()


def parse(text: str) -> tuple[dict, list[Row]]:
    """(header {platform, day}, rows); StatementError names the first bad line. The totals
    block is checked against the rows (count and sums)."""
    head: dict[str, str] = {}
    rows: list[Row] = []
    totals = None
    table: list[tuple[int, str]] = []
    lines = text.lstrip("\ufeff").splitlines()
    for no, line in enumerate(lines, 1):
        if line.startswith("#"):
            for key in ("platform", "day"):
                m = re.search(rf"\b{key}: *([\w\-]+)", line)
                if m and key not in head:
                    head[key] = m.group(1)
            m = re.match(r"^#(\d+),([\d.]+),([\d.]+),([\d.]+)$", line)
            if m:
                totals = (no, m.groups())
        elif line.strip():
            table.append((no, line))
    if "platform" not in head or "day" not in head:
        raise StatementError("line 1: the '#平台 platform:' and '#账单日期 day:' lines are missing")
    try:
        if not 2000 <= date.fromisoformat(head["day"]).year <= 2999:
            raise ValueError(head["day"])
    except ValueError:
        raise StatementError(f"line 1: day {head['day']!r} is not a date") from None
    if not table or tuple(c.lstrip("`") for c in next(csv.reader([table[0][1]]))) != COLUMNS:
        raise StatementError(f"line {table[0][0] if table else 1}: the header row must be "
                             + ",".join(COLUMNS))
    for no, line in table[1:]:
        cells = [c.lstrip("`").strip() for c in next(csv.reader([line]))]
        if len(cells) != len(COLUMNS):
            raise StatementError(f"line {no}: {len(cells)} fields, expected {len(COLUMNS)}")
        if cells[4] not in KINDS:
            raise StatementError(f"line {no}: 交易类型 must be 支付 or 退款, not {cells[4]!r}")
        try:
            if not 2000 <= datetime.strptime(cells[0], "%Y-%m-%d %H:%M:%S").year <= 2999:
                raise ValueError(cells[0])
        except ValueError:
            raise StatementError(f"line {no}: 交易时间 {cells[0]!r} is not a time") from None
        if not re.match(r"^[A-Za-z0-9_\-]{1,64}$", cells[1]) or \
                (cells[7] and not re.match(r"^[A-Za-z0-9_\-]{1,64}$", cells[7])):
            raise StatementError(f"line {no}: 平台交易号 or 退款单号 malformed")
        if len(cells[3]) > 32 or len(cells[2]) > 100:
            raise StatementError(f"line {no}: 缴费户号 or 商户订单号 too long")
        rows.append(Row(no, cells[0], cells[1], cells[2], cells[3], KINDS[cells[4]],
                        fen(cells[5], no, COLUMNS[5]), fen(cells[6], no, COLUMNS[6]), cells[7]))
    if totals is None:
        raise StatementError(f"line {len(lines)}: the totals line (#count,paid,refunded,fees) "
                             "is missing")
    no, (count, paid, refunded, fees) = totals
    want = (len(rows), sum(r.amount_fen for r in rows if r.kind == "payment"),
            sum(r.amount_fen for r in rows if r.kind == "refund"), sum(r.fee_fen for r in rows))
    got = (int(count), fen(paid, no, "totals"), fen(refunded, no, "totals"),
           fen(fees, no, "totals"))
    if got != want:
        raise StatementError(f"line {no}: totals {got} do not add up to the rows {want}")
    return head, rows
