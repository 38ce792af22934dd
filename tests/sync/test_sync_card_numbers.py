"""No card number anywhere, whatever field of a terminal result it hides in (PCI DSS 3.4).

A card terminal that puts a full PAN into any field of its result (or its status texts),
written together, with spaces or with dashes: the payment is booked, and the number is in
none of the device's tables or its database file, the printed receipt lines, the op, nor any
of the gateway's tables (read through SQLAlchemy) or its database file. An op that still
carries a PAN when it reaches the gateway (written past the core) is booked with the number
masked and the device put on the exception queue.
"""
import hashlib
import json
import re
import types

import pytest
from sqlalchemy import MetaData, select

from devices.printer.layout import layout
from sync import protocol
from sync_kit import READER, collector_on_route, gateway_engine
from terminal import outbox, payments

PANS = ["4111111111111111", "5555555555554444", "6228480402564890018", "378282246310005"]
FORMS = {"plain": lambda p: p,
         "spaces": lambda p: " ".join(p[i:i + 4] for i in range(0, len(p), 4)),
         "dashes": lambda p: "-".join(p[i:i + 4] for i in range(0, len(p), 4))}
FIELDS = ["result_code", "trace", "receipt_no", "masked_pan", "card_type", "terminal_id",
          "text", "status"]
CASES = [(f, form) for f in FIELDS for form in FORMS]


class PanLeakingTerminal:
    """A payment terminal (docs/contracts.md §6) that puts a card number in one field."""

    def __init__(self):
        self.last = None
        self.trace = 700

    def authorize(self, amount_fen, on_status, on_result):
        self.trace += 1
        result = types.SimpleNamespace(
            approved=True, result_code=0, amount_fen=amount_fen, trace=self.trace,
            receipt_no=self.trace + 9000, masked_pan="411111******1111", card_type="VISA",
            terminal_id="T0000001", text="APPROVED")
        if self.field == "status":
            on_status(1, f"卡号 Card {self.value}")
        else:
            setattr(result, self.field, f"VISA {self.value}" if self.field != "masked_pan"
                    else self.value)
        on_status(2, "请输入密码 Enter PIN")
        self.last = result
        on_result(result)
        return result

    def last_result(self):
        return self.last


def keep_last4(form: str) -> str:
    """`form` with every digit but the last four starred (what a masked number looks like)."""
    positions = [k for k, ch in enumerate(form) if ch.isdigit()][:-4]
    return "".join("*" if k in positions else ch for k, ch in enumerate(form))


def compact(text: str) -> str:
    return re.sub(r"[\s\-]", "", text)


def gateway_text(gw) -> str:
    """Every value of every gateway table, read through SQLAlchemy."""
    with gateway_engine(gw) as engine:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return "\n".join(str(v) for t in meta.sorted_tables
                             for row in conn.execute(select(t)) for v in row)


def device_text(store) -> str:
    tables = [r[0] for r in store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table'")]
    return "\n".join(str(v) for t in tables
                     for row in store.conn.execute(f"SELECT * FROM {t}") for v in row)


def file_bytes(path) -> bytes:
    out = b""
    for suffix in ("", "-wal"):
        try:
            with open(f"{path}{suffix}", "rb") as fh:
                out += fh.read()
        except FileNotFoundError:
            pass
    return out


@pytest.fixture(scope="module")
def collector(gw, tmp_path_factory):
    return collector_on_route(tmp_path_factory.mktemp("pan"), gw.url, "pan", "R001", 0)


def assert_nowhere(pan: str, form: str, store, gw):
    for where, text in (("device tables", device_text(store)),
                        ("gateway tables", gateway_text(gw))):
        assert pan not in compact(text), where
    for path in (store.path, gw.db):          # the files themselves (SQLite)
        raw = file_bytes(path)
        assert pan.encode() not in raw and form.encode() not in raw, path


@pytest.mark.parametrize("field,form_name", CASES)
def test_card_number_in_any_terminal_field_is_masked_end_to_end(collector, gw, field,
                                                                form_name):
    store, client, accounts = collector
    i = CASES.index((field, form_name))
    pan = PANS[i % len(PANS)]
    form = FORMS[form_name](pan)
    terminal = PanLeakingTerminal()
    terminal.field, terminal.value = field, form
    shown = []
    r = payments.card_payment(store, terminal, accounts[i]["account_no"], 1000 + i, READER,
                              on_status=lambda code, text: shown.append(text), advance=True)
    assert r.state == "approved"                  # the money is taken and booked
    printed = "\n".join(str(vars(line)) for line in layout(r.doc))
    for what, text in (("status shown", "\n".join(shown)), ("receipt", json.dumps(r.doc)),
                       ("printed", printed)):
        assert pan not in compact(text), what
    payload = json.loads(outbox.get(store, r.op_id)["payload"])
    if field == "card_type":                      # masked, not wiped: the last four remain
        assert payload["card"]["card_type"] == "VISA " + keep_last4(form)
    report = client.upload()
    assert report.attention == 0 and not outbox.pending_counts(store)
    engine_rows = gateway_text(gw)
    assert r.op_id in engine_rows
    assert_nowhere(pan, form, store, gw)


def test_gateway_masks_a_card_number_that_reaches_it_and_flags_the_device(collector, gw):
    """An op written past the core (an old app version, a damaged device): the gateway
    books the payment, stores every document masked and queues the device for review."""
    store, client, accounts = collector
    pan, form = "4111111111111111", "4111 1111 1111 1111"
    r = payments.cash_payment(store, accounts[40]["account_no"], 777, READER, advance=True)
    row = outbox.get(store, r.op_id)
    payload = json.loads(row["payload"])
    receipt = payload["receipt"]
    receipt["content"]["card"] = {"card_type": f"VISA {form}"}
    receipt["hash"] = protocol.receipt_hash(receipt["prev_hash"], receipt["content"])
    receipt["verify_code"] = protocol.verify_code(store.get_meta("device_key"),
                                                  store.get_meta("device_id"),
                                                  str(receipt["receipt_no"]), 777,
                                                  receipt["hash"])
    payload["card"] = {"card_type": f"VISA {pan}", "trace": f"{form}"}
    with store.transaction() as conn:
        conn.execute("UPDATE outbox SET payload=?, payload_sha256=? WHERE op_id=?",
                     (json.dumps(payload, ensure_ascii=False), hashlib.sha256(
                         protocol.canonical_json(payload)).hexdigest(), r.op_id))
    report = client.upload()
    assert report.attention == 0                  # money already collected is never refused
    with gateway_engine(gw) as engine:
        meta = MetaData()
        meta.reflect(engine)
        t = meta.tables
        with engine.connect() as conn:
            booked = conn.execute(select(t["payments"].c.amount_fen, t["payments"].c.suspense)
                                  .where(t["payments"].c.op_id == r.op_id)).all()
            codes = [c for (c,) in conn.execute(
                select(t["exceptions"].c.code).where(t["exceptions"].c.op_id == r.op_id))]
            stored = conn.execute(select(t["receipts"].c.content)
                                  .where(t["receipts"].c.op_id == r.op_id)).scalar_one()
    assert booked == [(777, False)]
    assert "card_number_masked" in codes and "receipt_invalid" not in codes
    assert json.loads(stored)["card"]["card_type"] == "VISA " + keep_last4(form)
    assert pan not in compact(gateway_text(gw))
    raw = file_bytes(gw.db)
    assert pan.encode() not in raw and form.encode() not in raw
