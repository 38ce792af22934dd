"""Texts the walk screen sets from Python (its progress line) follow a language switch
made while the screen is open, like the texts in its .kv rules."""


def test_walk_progress_line_follows_the_language(gateway, make_ui, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "1001", "1234")
    ui_flows.download_route(ui, "R001", gateway=gateway)
    ui.tap("open_R001")
    ui.wait_for(lambda: ui.app.sm.current == "walk", 10, "walk screen")
    walk = ui.app.screen("walk")
    total = ui.store.conn.execute("SELECT COUNT(*) FROM accounts WHERE route_id='R001'").fetchone()[0]
    ui.wait_for(lambda: walk.progress_text.startswith("已抄"), 10, "Chinese progress line")
    assert f"共 {total}" in walk.progress_text
    ui.app.set_language("en")
    ui.pump(2)
    ui.shot("walk-en")
    assert walk.progress_text == f"Read 0 · skipped 0 · unread {total} of {total}"
    ui.app.set_language("zh")
    ui.pump(2)
    assert walk.progress_text.startswith("已抄 0") and f"共 {total}" in walk.progress_text
