"""The Reports page's daily collection by channel, and its CSV, show what went back (docs/
ledger.md, "The daily collection"): handheld cash and card, an old-style platform payment
and a signed platform's payment are collected; the office refunds a double collection of
the handheld's cash, the platform reverses part of its payment, and a suspense payment is
re-assigned (no money moves). Every figure equals what the test's own SQL reads from the
gateway's database, and each day's net is collected − refunded; the Today page shows the same
figures as the report's rows for today (table and chart). Real gateway and sandbox
platform on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

from sync.gateway.testing import OpFactory, enrol_device, post_ops, thirdparty_payment
from tests.gateway.office_kit import Office

COLLECTED = """
SELECT substr(received_at, 1, 10), CASE WHEN agent_id IS NOT NULL THEN 'agent'
       ELSE method END, count(*), sum(amount_fen)
  FROM payments WHERE voided_by IS NULL AND received_at >= :since GROUP BY 1, 2
UNION ALL
SELECT substr(received_at, 1, 10), 'platform:' || platform, count(*), sum(amount_fen)
  FROM thirdparty_payments WHERE received_at >= :since GROUP BY 1, 2
UNION ALL
SELECT substr(received_at, 1, 10), 'platform:' || platform, count(*), sum(amount_fen)
  FROM channel_payments WHERE received_at >= :since GROUP BY 1, 2
"""
REFUNDED = """
SELECT substr(s.at, 1, 10), p.method, sum(s.amount_fen)
  FROM exception_settlements s JOIN exceptions e ON e.id = s.exception_id
  JOIN payments p ON p.op_id = e.op_id
 WHERE s.action = 'refund' AND s.at >= :since GROUP BY 1, 2
UNION ALL
SELECT substr(received_at, 1, 10), 'platform:' || platform, sum(amount_fen)
  FROM channel_reversals WHERE received_at >= :since GROUP BY 1, 2
"""


def test_daily_collection_subtracts_refunds_and_matches_the_database(gateway, sandbox):
    rows = [a for (a,) in gateway.query(
        "SELECT account_no FROM accounts WHERE route_id = 'R001' AND active = :t "
        "AND bill_fen > 0 ORDER BY account_no LIMIT 4 OFFSET 3", t=True)]
    twice, cash_at, card_at, online_at = rows
    [(doc, bill)] = gateway.query("SELECT doc, bill_fen FROM accounts WHERE account_no = :a",
                                  a=twice)
    thirdparty_payment(gateway.base_url, twice, json.loads(doc)["arrears_fen"] or bill,
                       "TXN-DAILY-1")   # paid online: the handheld's payment lands as credit
    dev = enrol_device(gateway.base_url)
    f = OpFactory(dev)
    double = f.payment(twice, bill)
    ops = [f.shift_open(), f.payment(cash_at, 1234), f.payment(card_at, 5678, "card"),
           double, f.payment("0000000888", 700)]   # the last: unknown account, suspense
    assert post_ops(gateway.base_url, dev["token"], ops).ok
    signer = sandbox.signer()
    paid = signer.request("POST", "/v1/channels/payments", {
        "platform": "sandpay", "trade_no": "DAILY-1", "account_no": online_at,
        "amount_fen": 5000, "paid_at": "2026-12-04T09:00:00+08:00"})
    assert paid.status_code == 200, paid.text
    back = signer.request("POST", "/v1/channels/reversals", {
        "platform": "sandpay", "refund_no": "DAILY-R1", "trade_no": "DAILY-1",
        "amount_fen": 1200, "reversed_at": "2026-12-04T09:30:00+08:00"})
    assert back.status_code == 200, back.text

    office = Office(gateway.base_url)
    [(double_exc, credited)] = gateway.query(
        "SELECT id, credit_fen FROM exceptions WHERE kind = 'double_collection' "
        "AND op_id = :o", o=double["op_id"])
    assert credited > 0
    assert office.resolve(double_exc, "refund", "多收退回").status_code == 303
    [(suspense_exc,)] = gateway.query("SELECT id FROM exceptions WHERE kind = 'suspense' "
                                      "AND account_no = '0000000888'")
    assert office.resolve(suspense_exc, "reassign", "缴错户号",
                          target=cash_at).status_code == 303

    since = (datetime.now(timezone.utc).date() - timedelta(days=30)).isoformat()
    want: dict[tuple, dict] = {}
    for day, channel, n, fen in gateway.query(COLLECTED, since=since):
        row = want.setdefault((day, channel), {"count": 0, "amount_fen": 0, "refunded_fen": 0})
        row["count"] += int(n)
        row["amount_fen"] += int(fen)
    for day, channel, fen in gateway.query(REFUNDED, since=since):
        row = want.setdefault((day, channel), {"count": 0, "amount_fen": 0, "refunded_fen": 0})
        row["refunded_fen"] += int(fen)
    for row in want.values():
        row["net_fen"] = row["amount_fen"] - row["refunded_fen"]

    text = office.s.get(gateway.base_url + "/console/reports/daily.csv",
                        timeout=30).content.decode("utf-8-sig")
    got = {(r["day"], r["channel"]): {k: int(r[k]) for k in ("count", "amount_fen",
                                                                  "refunded_fen", "net_fen")}
           for r in csv.DictReader(io.StringIO(text))}
    assert got == want
    # what went back is in the report: the refunded cash and the platform's reversal
    assert sum(r["refunded_fen"] for (_d, ch), r in got.items() if ch == "cash") == credited
    assert sum(r["refunded_fen"] for (_d, ch), r in got.items()
               if ch == "platform:sandpay") == 1200
    assert sum(r["net_fen"] for r in got.values()) == sum(
        r["amount_fen"] for r in want.values()) - credited - 1200

    page = office.s.get(gateway.base_url + "/console/reports?report=daily&lang=zh",
                        timeout=30).text
    assert "实收净额" in page and 'data-channel="platform:sandpay"' in page
    assert "Net kept" in office.s.get(gateway.base_url + "/console/reports?report=daily"
                                      "&lang=en", timeout=30).text

    # the Today page shows the report's rows for today (one query for both), both languages
    for lang, heading in (("zh", "实收净额"), ("en", "Net kept")):
        html = office.s.get(gateway.base_url + f"/console/?lang={lang}", timeout=30).text
        assert heading in html
        today = TodayChannels()
        today.feed(html)
        [day] = {attrs["data-day"] for attrs, _cells in today.rows}
        shown = {}
        for attrs, cells in today.rows:
            figures = {k: int(attrs["data-" + k.replace("_", "-")])
                       for k in ("count", "amount_fen", "refunded_fen", "net_fen")}
            # what is read is what the page writes: count and yuan in the cells
            assert cells[1:] == [str(figures["count"])] + [
                f"{figures[k] / 100:,.2f}" for k in ("amount_fen", "refunded_fen", "net_fen")]
            shown[attrs["data-channel"]] = figures
        report_today = {ch: r for (d, ch), r in got.items() if d == day}
        assert report_today and {ch: shown[ch] for ch in report_today} == report_today
        assert all(not any(f.values()) for ch, f in shown.items() if ch not in report_today)
        assert {"cash", "platform:sandpay"} <= set(report_today)
        assert shown["platform:sandpay"]["refunded_fen"] > 0   # the reversal is on Today too
        # the chart draws each channel's collected amount, in the table's order
        assert today.labels == [f"{f['amount_fen'] / 100:,.2f}" for f in shown.values()]


class TodayChannels(HTMLParser):
    """The Today page's collections by channel: each table row's data attributes and cell
    texts, and the chart's amount labels."""

    def __init__(self):
        super().__init__()
        self.rows: list[tuple[dict, list[str]]] = []
        self.labels: list[str] = []
        self._in_section = self._in_svg = False
        self._text: list[str] | None = None
        self._svg_texts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._in_section = attrs.get("id") == "channels"
        elif not self._in_section:
            return
        elif tag == "svg":
            self._in_svg = True
        elif tag == "tr" and attrs.get("class") == "today-channel":
            self.rows.append((attrs, []))
        elif tag == "td" and self.rows:
            self._text = []
        elif tag == "text" and self._in_svg:
            self._svg_texts += 1
            self._text = []

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "section":
            self._in_section = False
        elif tag == "svg":
            self._in_svg = False
        elif tag == "td" and self._text is not None:
            self.rows[-1][1].append("".join(self._text).strip())
            self._text = None
        elif tag == "text" and self._text is not None:
            if self._svg_texts % 2 == 0:   # name, then amount, per channel
                self.labels.append("".join(self._text).strip())
            self._text = None
