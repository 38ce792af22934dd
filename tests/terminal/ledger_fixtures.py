"""Test data for the money tests: a small route (imported through terminal.routes), operators,
a receipt block, device identity and a payment-terminal double that behaves like the ZVT
driver's contract (on_result before acknowledgement, TerminalLinkError on a line drop)."""
import dataclasses
import json

from terminal import receipts, routes
from terminal.store import Store

DEVICE_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
TODAY = "2026-11-27"


def account(no, seq, *, tariff="RES-TIER", arrears=0, due=None, credit=0, agent=None, name=None):
    return {"account_no": no, "seq": seq, "name": name or f"户主{seq}",
            "address": f"杭州市西湖区幸福路{seq}号", "phone": None, "tariff_id": tariff,
            "arrears_fen": arrears, "arrears_due_date": due, "credit_fen": credit,
            "agent_id": agent, "hazard": None, "last_third_party": None,
            "meter": {"meter_no": f"M{no}", "dials": 5, "decimals": 0, "multiplier": 1,
                      "prev_value": 1000, "prev_date": "2026-10-27", "avg_daily_wh": 5200,
                      "limit_low": None, "limit_high": None}}


def route_doc(accounts=None):
    return {
        "format": "chaoshou.route/1",
        "route": {"route_id": "R001", "name": "幸福路抄表段", "cycle": "2026-11",
                  "read_date": TODAY, "hide_previous": False, "server_version": 1},
        "tariffs": [
            {"tariff_id": "RES-TIER", "name": "居民阶梯电价", "kind": "tiered",
             "bands": [{"upto_kwh": 230, "price_e4": 4883}, {"upto_kwh": 400, "price_e4": 5383},
                       {"upto_kwh": None, "price_e4": 7883}], "late_fee_ppm_per_day": 1000},
            {"tariff_id": "COM-FLAT", "name": "一般工商业", "kind": "flat",
             "bands": [{"upto_kwh": None, "price_e4": 6500}], "late_fee_ppm_per_day": 2000}],
        "codes": {"skip": [], "trouble": []},
        "agents": [{"agent_id": "A01", "name": "阳光物业", "kind": "property", "contact": None}],
        "accounts": accounts if accounts is not None else default_accounts(),
    }


def default_accounts():
    return [
        account("3100000001", 10, arrears=12345, due="2026-10-25", name="王𠮷"),
        account("3100000002", 20, tariff="COM-FLAT"),
        account("3100000003", 30, arrears=5000, due="2026-09-25", agent="A01"),
        account("3100000004", 40, arrears=3000, due="2026-10-25", agent="A01"),
        account("3100000005", 50, credit=2000, agent="A01"),
    ]


OPERATORS = [("2001", "王芳", ["collector"]), ("2002", "赵敏", ["collector"]),
             ("9001", "陈静", ["supervisor"]), ("1001", "张伟", ["reader"])]


def make_store(path, *, block=(100000, 100999), enrolled=True) -> Store:
    store = Store(path)
    routes.import_route(store, route_doc())
    with store.transaction() as conn:
        for op_id, name, roles in OPERATORS:
            conn.execute("INSERT OR REPLACE INTO operators (operator_id, name, roles, pin_hash) "
                         "VALUES (?, ?, ?, 'x')", (op_id, name, json.dumps(roles)))
    if enrolled:
        store.set_meta("device_id", "DEV-7")
        store.set_meta("device_key", DEVICE_KEY)
    if block:
        receipts.add_block(store, *block)
    return store


def outbox_seqs(store):
    return [r[0] for r in store.conn.execute("SELECT seq FROM outbox ORDER BY seq")]


class TerminalLinkError(OSError):
    """What a driver raises when the line to the terminal drops."""


@dataclasses.dataclass
class CardResult:
    approved: bool
    result_code: int
    amount_fen: int
    trace: int | None = None
    receipt_no: int | None = None
    masked_pan: str | None = "622848******1234"
    card_type: str | None = "UnionPay"
    terminal_id: str | None = "T0000001"
    text: str = ""


class FakeTerminal:
    """A payment-terminal double following contracts §6.

    mode: approve | decline | drop_before (line drops before any result) |
    drop_after (terminal approved, line drops before the result reaches us) |
    return_only (result only as the return value) | pan (approves with the given PAN).
    """

    def __init__(self, mode="approve", pan="622848******1234"):
        self.mode = mode
        self.pan = pan
        self.trace = 500
        self.last = None
        self.acked = []
        self.calls = 0
        self.reachable = True
        self.sales = {}                 # terminal receipt no → approved sale
        self.reverse_mode = "approve"   # approve | decline | drop_before | drop_after
        self.reversals = []

    def authorize(self, amount_fen, on_status, on_result):
        self.calls += 1
        on_status(1, "请插卡 Insert card")
        self.trace += 1
        if self.mode == "drop_before":
            raise TerminalLinkError("line dropped")
        result = CardResult(self.mode != "decline", 0 if self.mode != "decline" else 5,
                            amount_fen, self.trace, 9000 + self.trace, self.pan)
        self.last = result
        if self.mode == "drop_after":
            raise TerminalLinkError("line dropped after authorisation")
        if self.mode == "return_only":
            return result
        if result.approved:
            self.sales[result.receipt_no] = result
        on_result(result)      # raises → not acknowledged
        self.acked.append(result.trace)
        return result

    def reverse(self, receipt_no, on_status, on_result):
        on_status(1, "撤销 Reversal")
        self.reversals.append(receipt_no)
        if self.reverse_mode == "drop_before":
            raise TerminalLinkError("line dropped")
        sale = self.sales.get(receipt_no)
        self.trace += 1
        ok = sale is not None and self.reverse_mode != "decline"
        result = CardResult(ok, 0 if ok else 0xB5, sale.amount_fen if ok else 0, self.trace,
                            9000 + self.trace if ok else None, sale.masked_pan if sale else None)
        self.last = result
        if ok:
            del self.sales[receipt_no]
        if self.reverse_mode == "drop_after":
            raise TerminalLinkError("line dropped after the reversal")
        on_result(result)
        self.acked.append(result.trace)
        return result

    def last_result(self):
        if not self.reachable:
            raise TerminalLinkError("no answer")
        return self.last
