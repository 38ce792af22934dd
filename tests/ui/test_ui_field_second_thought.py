"""Steps that need a second thought: a shift closed short asks first and shows
the variance; 稍后 (later) says what it did; Sync now with the gateway unreachable ends,
in a bounded time, with "no connection — n captures are safe on this device"; a route
update ends with "done".

The real app offscreen, real taps, a real gateway process (stopped to make it
unreachable) and the ESC/POS printer simulator on a pty.
"""
import re

from terminal import readings
from terminal.ui.screens.sync import SYNC_NOW_DEADLINE_S

from test_ui_field_collect import open_shift
from test_ui_field_layout import value_for
from test_ui_field_paper import MONEY, fen, kv_value, printed
from test_ui_field_reader import assign, keyin, popup_button, popup_open, tap_tile, touch


def test_closing_a_short_shift_asks_first_and_reports_print_one_money_format(
        make_ui, gateway, printer_sim, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim)
    ui_flows.login(ui, "3001", "1234", shot=False)
    open_shift(ui, "20000")
    shift = tap_tile(ui, "shift")
    ui.wait_for(lambda: shift.stage == "running", 10, "shift running")
    ui.tap("x_report")
    x_lines, _q, _p = printed(ui, printer_sim.sim, "Expected cash")
    assert any("X report" in t for t in x_lines)
    expected = fen(kv_value(x_lines, "Expected cash"))

    ui.tap("start_close")
    ui.wait_for(lambda: shift.stage == "count", 10, "count stage")
    keyin(ui, "1")                                   # one ¥100 note: short
    short = expected - shift.counted_fen
    assert short > 0
    ui.tap("close_shift")
    ui.wait_for(popup_open, 5, "a confirmation")
    ui.shot("close-short-asks")
    shown = f"{short // 100:,}.{short % 100:02d}"
    assert shown in shift.message                   # the variance is shown before closing
    assert ui.store.conn.execute("SELECT COUNT(*) FROM shifts WHERE closed_at IS NULL").fetchone()[0] == 1
    touch(ui, popup_button(ui.app.tr("Count again")))
    ui.wait_for(lambda: not popup_open(), 5, "popup closed")
    assert shift.stage == "count"
    assert ui.store.conn.execute("SELECT COUNT(*) FROM shifts WHERE closed_at IS NULL").fetchone()[0] == 1

    ui.tap("close_shift")
    ui.wait_for(popup_open, 5, "a confirmation")
    touch(ui, popup_button(shown))
    ui.wait_for(lambda: shift.stage == "closed", 10, "shift closed")
    ui.shot("closed-short")
    lines, _q, _p = printed(ui, printer_sim.sim, "Digest")
    z = lines[next(i for i, t in enumerate(lines) if "Z report" in t):]
    assert fen(kv_value(z, "Variance")) == -short
    figures = [f for t in x_lines + z for f in MONEY.findall(t.replace("￥", "¥"))]
    assert figures and all(re.fullmatch(r"-?¥\d+\.\d\d", f) for f in figures)
    assert not any("¥-" in t or "￥-" in t for t in x_lines + z)


def test_later_says_what_it_did_and_a_route_update_ends_with_done(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "1001", "1234", shot=False)
    ui_flows.download_route(ui, "R001", gateway=gateway)
    done = ui.app.tr("Route {route} is ready: {n} accounts, done.").format(
        route="R001", n=ui.store.conn.execute(
            "SELECT COUNT(*) FROM accounts WHERE route_id='R001'").fetchone()[0])
    ui.wait_for(lambda: ("ok", done) in ui.app.banner.history, 10, "route update says done")

    first, second = [r[0] for r in ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 2")]
    reading = ui.go("reading", account_no=first, route_id="R001")
    ui.wait_for(lambda: reading.loaded and reading.account_no == first, 10, "entry open")
    ui.tap("next_unread")
    ui.wait_for(lambda: reading.loaded and reading.account_no == second, 10, "next account")
    ui.shot("later-said")
    assert first in reading.message and second in reading.message


def test_sync_now_without_a_gateway_ends_saying_the_captures_are_safe(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "1001", "1234", shot=False)
    ui_flows.download_route(ui, "R001", gateway=gateway)
    account = ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 1").fetchone()[0]
    gateway.stop()
    entry = readings.ReadingEntry(ui.store, account, "1001")
    assert entry.submit(value_for(ui.store, account, None)).saved
    ui.services.refresh_counts()
    ui.app.go("home")
    sync = tap_tile(ui, "sync")
    ui.wait_for(lambda: ui.services.pending > 0, 10, "the capture counted")
    ui.tap("sync_now")
    ui.shot("sync-now-asked")
    pending = ui.store.conn.execute("SELECT COUNT(*) FROM outbox WHERE state='pending'").fetchone()[0]
    want = ui.app.tr("No connection — {n} captures are safe on this device and will be sent "
                     "when the connection is back.").format(n=pending)
    ui.wait_for(lambda: sync.outcome.startswith(want), SYNC_NOW_DEADLINE_S + 10,
                "a bounded answer to Sync now")
    ui.shot("sync-now-no-connection")
    assert pending >= 1
