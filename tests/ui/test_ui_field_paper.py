"""Printed paper: what reaches paper is right.

- Taking cash with nothing keyed is not exact money: 金额正好 is an explicit choice.
- A partial payment's receipt shows what is still owed, and its pay-later QR carries it.
- The bill notice prints a reading as the dial shows it (548.0, decimals kept).
- Every money figure is written one way (a negative one as -¥10.00).
- No glyph is cut at the bottom of its cell (descenders of "Change", "Reading") and the
  company name does not touch the paper's top edge.

The real app offscreen, real taps, a real gateway process and the ESC/POS printer
simulator on a pty (its PNG per job lands in the test's tmp folder; screenshots under
artifacts/ui/<test>/).
"""
import re
from urllib.parse import parse_qs, urlparse

from PIL import Image, ImageDraw

from terminal import tariffs

from test_ui_field_collect import open_shift
from test_ui_field_layout import value_for
from test_ui_field_reader import assign, keyin, tap_tile, touch

MONEY = re.compile(r"-?[¥￥]\d+\.\d\d")


def fen(text: str) -> int:
    """A printed money figure (-¥12.30 / ￥12.30) as integer fen."""
    sign = -1 if text.startswith("-") else 1
    whole, cents = text.lstrip("-¥￥").split(".")
    return sign * (int(whole) * 100 + int(cents))


def kv_value(lines, key: str) -> str:
    """The value printed on the line whose key contains `key` (a 32-column kv line)."""
    line = next(t for t in lines if key in t)
    return line.split()[-1]


def printed(ui, sim, last: str):
    """The lines, QR payloads and PNG paths printed so far, once `last` has reached paper
    (the simulator may take a pause in printing for the end of one job)."""
    def done():
        jobs = list(sim.jobs)
        lines = [t for j in jobs for t in j.lines]
        return (lines, [q for j in jobs for q in j.qr], [j.path for j in jobs]) \
            if any(last in t for t in lines) else None
    return ui.wait_for(done, 30, f"{last!r} printed")


def collector_on_shift(ui, gateway, ui_flows):
    """Collector-reader 3001 logged in, route R001 on the device, a shift open; at home."""
    assign(gateway, ui, "R001", "3001")
    ui_flows.login(ui, "3001", "1234", shot=False)
    ui_flows.download_route(ui, "R001")
    ui.app.go("home")
    open_shift(ui)


def first_ink_row(path) -> int:
    img = Image.open(path).convert("L")
    for y in range(img.height):
        if min(img.crop((0, y, img.width, y + 1)).getdata()) < 128:
            return y
    return img.height


def test_partial_cash_needs_explicit_exact_and_receipt_shows_what_is_still_owed(
        make_ui, gateway, printer_sim, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim)
    collector_on_shift(ui, gateway, ui_flows)
    acct = ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' AND arrears_fen > 2000 "
        "ORDER BY seq LIMIT 1").fetchone()[0]
    account = ui.go("account", account_no=acct, route_id="R001")
    ui.wait_for(lambda: account.loaded and account.account_no == acct, 10, "account")
    ui.tap("collect")
    pay = ui.wait_screen("payment")
    ui.wait_for(lambda: pay.loaded and pay.account_no == acct, 10, "bill")
    due = pay.due_fen
    partial = (due // 2) // 100 * 100 or 100
    ui.tap("clear")
    keyin(ui, str(partial))
    ui.tap("cash")
    ui.wait_for(lambda: pay.stage == "cash", 5, "cash stage")

    # nothing keyed: "Take cash" is not taken for exact money
    ui.tap("confirm_cash")
    ui.wait_for(lambda: pay.message, 5, "asked for the cash received")
    ui.shot("take-cash-with-nothing-keyed")
    assert pay.stage == "cash"
    assert ui.store.conn.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == 0

    # 金额正好 (exact money) is the explicit choice
    ui.tap("exact")
    assert pay.tendered_fen == partial
    ui.tap("confirm_cash")
    ui.wait_for(lambda: pay.stage == "done" and pay.receipt_no, 10, "payment saved")
    lines, qrs, paths = printed(ui, printer_sim.sim, "请妥善保管")
    ui.shot("partial-paid")

    # still owed: the core's one figure (docs/ledger.md "The due figure"; the late fee
    # follows the arrears still open), the same as the account screen's
    owed = tariffs.bill_for(ui.store, acct).total_due_fen
    assert 0 < owed <= due - partial
    assert fen(kv_value(lines, "Still owed")) == owed
    pay_later = [q for q in qrs if "acct=" in q]
    assert pay_later, (qrs, lines)
    query = parse_qs(urlparse(pay_later[0]).query)
    assert query["acct"] == [acct]
    assert int(query["amt"][0]) == owed
    for line in lines:
        for figure in MONEY.findall(line):
            assert "¥-" not in figure and "￥-" not in figure, line

    # the paper: nothing touches the top edge, no glyph cut at the bottom of its cell
    assert first_ink_row(paths[0]) >= 12
    from devices.printer.escpos_render import glyph
    from devices.printer.fonts import cjk_font
    for ch in "ChangeReadingyjpq电费":
        cell = glyph(ch)
        free = Image.new("L", (cell.width * 3, 72), 255)
        size = 22 if ord(ch) < 0x80 else 24
        ImageDraw.Draw(free).text((cell.width, 40), ch, fill=0, anchor="ls", font=cjk_font(size))
        inked = lambda img: sum(1 for v in img.getdata() if v < 128)  # noqa: E731
        assert inked(cell) == inked(free), f"{ch!r} is cut by its cell"


def test_bill_notice_prints_the_reading_as_the_dial_shows_it(make_ui, gateway, printer_sim,
                                                              ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim)
    ui_flows.login(ui, "1001", "1234", shot=False)
    ui_flows.download_route(ui, "R001", gateway=gateway)
    acct = ui.store.conn.execute(
        "SELECT a.account_no FROM accounts a JOIN meters m ON m.account_no=a.account_no "
        "WHERE a.route_id='R001' AND m.decimals > 0 ORDER BY a.seq LIMIT 1").fetchone()[0]
    decimals = ui.store.conn.execute("SELECT decimals FROM meters WHERE account_no=?",
                                     (acct,)).fetchone()[0]
    reading = ui.go("reading", account_no=acct, route_id="R001")
    ui.wait_for(lambda: reading.loaded and reading.account_no == acct, 10, "entry open")
    value = value_for(ui.store, acct, None)
    value = str(int(value) // 10 * 10)             # a last dial of 0: "548.0", not "548"
    keyin(ui, value)
    ui.tap("save")
    ui.wait_for(lambda: reading.account_no != acct or reading.awaiting == "confirm", 10, "saved")
    if reading.awaiting == "confirm":
        ui.tap("confirm")
        ui.wait_for(lambda: reading.account_no != acct, 10, "saved")
    account = ui.go("account", account_no=acct, route_id="R001")
    ui.wait_for(lambda: account.loaded and account.account_no == acct, 10, "account")
    ui.tap("notice")
    lines, _qrs, _paths = printed(ui, printer_sim.sim, "Scan to pay")
    ui.shot("bill-notice-printed")
    dial = f"{value[:-decimals]}.{value[-decimals:]}"     # as the dial shows it
    assert "." in dial
    assert kv_value(lines, "Reading") == dial
    total = fen(kv_value(lines, "Total due"))
    assert total == tariffs.bill_for(ui.store, acct).total_due_fen
