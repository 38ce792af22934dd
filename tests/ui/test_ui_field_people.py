"""State that leaks between people, and roles: on logout the operator's search
and filter go; the 欠费 (arrears) filter works together with search text; the status bar
shows the logged-in operator's own shift; home, the account screen and the routes list show
what the operator's roles allow (own routes first, the assignee on others); the routes
list's read count agrees with the walk screen.

The real app offscreen, real taps, a real gateway process.
"""
from terminal import readings

from test_ui_field_collect import open_shift
from test_ui_field_layout import value_for
from test_ui_field_reader import tap_tile


def logout(ui):
    ui.app.go("home")
    ui.wait_screen("home")
    ui.tap("logout_button")
    ui.wait_screen("login")


def test_logout_clears_search_and_filter_and_arrears_works_with_search(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "1001", "1234", shot=False)
    ui_flows.download_route(ui, "R001", gateway=gateway)
    rows = ui.store.conn.execute("SELECT name, arrears_fen FROM accounts WHERE route_id='R001'").fetchall()
    # a one-character fragment matching accounts with and without arrears
    fragment = next(ch for ch in sorted({c for r in rows for c in r["name"]})
                    if {r["arrears_fen"] > 0 for r in rows if ch in r["name"]} == {True, False})
    ui.app.go("home")
    walk = tap_tile(ui, "walk")
    ui.tap("search")
    ui.type(fragment)
    ui.wait_for(lambda: walk.query == fragment and not walk.loading and walk.ids.rv.data, 10, "results")
    assert any(r["arrears_fen"] == 0 for r in walk.ids.rv.data)
    ui.tap("f_arrears")
    ui.wait_for(lambda: walk.filter == "arrears" and not walk.loading, 10, "arrears filter")
    ui.wait_for(lambda: walk.ids.rv.data and all(r["arrears_fen"] > 0 for r in walk.ids.rv.data),
                10, "only accounts in arrears among the results")
    ui.shot("search-and-arrears")
    assert all(fragment in r["name"] or fragment in r["address"] for r in walk.ids.rv.data)

    ui.tap("clear_search")                     # the × clears the search in one tap
    ui.wait_for(lambda: walk.ids.search.text == "" and walk.query == "", 5, "search cleared")
    ui.tap("search")
    ui.type(fragment)
    ui.wait_for(lambda: walk.query == fragment, 5, "typed again")

    logout(ui)
    ui_flows.login(ui, "1002", "1234", shot=False)
    walk = tap_tile(ui, "walk")
    ui.shot("next-reader-walk")
    assert walk.ids.search.text == "" and walk.query == "" and walk.filter == "all"


def test_status_bar_shows_the_logged_in_operators_own_shift(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "2001", "1234", shot=False)
    open_shift(ui, "10000")
    own, none = ui.app.tr("Shift open"), ui.app.tr("No shift")
    ui.wait_for(lambda: ui.find("shift").text == own, 5, "own shift shown")
    logout(ui)
    ui_flows.login(ui, "1001", "1234", shot=False)
    ui.wait_for(lambda: ui.find("shift").text == none, 5, "a reader has no shift")
    ui.shot("reader-status-bar")
    logout(ui)
    ui_flows.login(ui, "2001", "1234", shot=False)
    ui.wait_for(lambda: ui.find("shift").text == own, 5, "the collector's shift again")


def test_roles_fit_home_account_and_routes(make_ui, gateway, ui_flows):
    from test_ui_field_reader import assign
    ui = make_ui(gateway=gateway, enrol=True)
    assign(gateway, ui, "R002", "1002")             # another reader's route on this device
    ui_flows.login(ui, "1001", "1234", shot=False)
    home = ui.screen
    tiles = {t.target for t in home.ids.tiles.children}
    assert tiles & {"agents", "shift", "supervisor"} == set()
    ui_flows.download_route(ui, "R001", gateway=gateway)
    routes = ui.screen
    ui.wait_for(lambda: [r["route_id"] for r in routes.rows][:2] == ["R001", "R002"], 15,
                "own route first, then the other reader's")
    other = routes.ids["open_R002"].parent.parent
    name = ui.store.conn.execute("SELECT name FROM operators WHERE operator_id='1002'").fetchone()[0]
    assert other.assignee == name
    ui.shot("routes-own-first")

    account = ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 1").fetchone()[0]
    entry = readings.ReadingEntry(ui.store, account, "1001")
    assert entry.submit(value_for(ui.store, account, None)).saved
    ui.app.go("home")
    walk = tap_tile(ui, "walk")
    ui.wait_for(lambda: not walk.loading and walk.progress_text, 10, "walk progress")
    read_in_walk = walk._progress.get("read")
    assert read_in_walk == 1
    ui.app.go("home")
    routes = tap_tile(ui, "routes")
    row = ui.wait_for(lambda: routes.ids.get("open_R001") and routes.ids["open_R001"].parent.parent, 10, "row")
    ui.wait_for(lambda: not routes.loading and row.counts.get("read") == read_in_walk, 10,
                "routes list read count agrees with the walk screen")

    acct_screen = ui.go("account", account_no=account, route_id="R001")
    ui.wait_for(lambda: acct_screen.loaded, 10, "account")
    ui.shot("reader-account")
    assert acct_screen.ids.collect.disabled and acct_screen.ids.collect.opacity == 0
    assert not acct_screen.ids.read.disabled

    logout(ui)
    ui_flows.login(ui, "2001", "1234", shot=False)
    tiles = {t.target for t in ui.screen.ids.tiles.children}
    assert "routes" not in tiles and "supervisor" not in tiles
    acct_screen = ui.go("account", account_no=account, route_id="R001")
    ui.wait_for(lambda: acct_screen.loaded, 10, "account")
    ui.shot("collector-account")
    assert acct_screen.ids.read.disabled and acct_screen.ids.read.opacity == 0
    assert not acct_screen.ids.collect.disabled
