"""`python -m sync.gateway import FILE…` (sync/gateway/importer.py): the billing system's
export in CSV and JSON goes in whole, again without change, a changed account reaches the
change feed, and a bad row is named with its line while nothing at all is written."""
import json
import subprocess
import sys

from sync import protocol
from sync.gateway.testing import REPO, database_url

ROUTES = "route_id,name,cycle,read_date,hide_previous,operator_id\n" \
         "R7,东风路抄表段,2026-11,2026-11-27,false,1001\n"
ACCOUNTS = ("route_id,account_no,seq,name,address,tariff_id,arrears_fen,credit_fen,"
            "meter_meter_no,meter_dials,meter_decimals,meter_multiplier,meter_prev_value\n"
            "R7,7000000001,10,王𠮷,东风路1号,RES,1200,0,M7001,5,1,1,12345\n"
            "R7,7000000002,20,李娜,东风路2号,RES,0,300,M7002,5,1,1,500\n")


def run(*args):
    return subprocess.run([sys.executable, "-m", "sync.gateway", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def export(tmp_path, accounts=ACCOUNTS):
    (tmp_path / "routes.csv").write_text(ROUTES, encoding="utf-8")
    (tmp_path / "accounts.csv").write_text(accounts, encoding="utf-8")
    (tmp_path / "office.json").write_text(json.dumps({
        "operators": [{"operator_id": "1001", "name": "张伟", "roles": ["reader"],
                       "pin_hash": protocol.hash_pin("1234", iterations=1000)}],
        "agents": [{"agent_id": "A9", "name": "东风物业", "kind": "property",
                    "contact": None}],
        "tariffs": [{"tariff_id": "RES", "name": "居民", "kind": "flat", "price_e4": 5380}],
        "codes": {"skip": [], "trouble": [], "hazard": []}}, ensure_ascii=False),
        encoding="utf-8")
    return [str(tmp_path / n) for n in ("office.json", "routes.csv", "accounts.csv")]


def rows(url, sql):
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_export_imports_whole_and_again_without_change(tmp_path):
    url = database_url(tmp_path / "gw.db")
    assert run("migrate", "--db-url", url).returncode == 0
    files = export(tmp_path)
    first = run("import", "--db-url", url, *files)
    assert first.returncode == 0, first.stderr
    assert "2 accounts" in first.stdout and "1 routes" in first.stdout
    docs = {no: json.loads(doc) for no, doc in rows(url, "SELECT account_no, doc FROM accounts")}
    assert docs["7000000001"]["name"] == "王𠮷" and docs["7000000001"]["meter"]["dials"] == 5
    assert rows(url, "SELECT operator_id, roles FROM operators") == [("1001", '["reader"]')]
    assert json.loads(rows(url, "SELECT value FROM kv WHERE key = 'tariffs'")[0][0])[0][
        "tariff_id"] == "RES"
    again = run("import", "--db-url", url, *files)
    assert again.returncode == 0
    assert rows(url, "SELECT count(*) FROM accounts") == [(2,)]
    assert rows(url, "SELECT count(*) FROM route_changes") == [(0,)]    # nothing changed
    changed = export(tmp_path, ACCOUNTS.replace("东风路2号", "东风路2号后院"))
    assert run("import", "--db-url", url, *changed).returncode == 0
    feed = rows(url, "SELECT account_no, kind FROM route_changes")
    assert feed == [("7000000002", "upsert")]


def test_bad_row_is_named_and_nothing_is_imported(tmp_path):
    url = database_url(tmp_path / "gw.db")
    assert run("migrate", "--db-url", url).returncode == 0
    bad = ACCOUNTS.replace("M7002,5,1,1,500", "M7002,five,1,1,500")
    result = run("import", "--db-url", url, *export(tmp_path, bad))
    assert result.returncode == 2
    assert "accounts.csv line 3: meter.dials" in result.stderr
    assert "nothing imported" in result.stderr
    for table in ("accounts", "routes", "operators", "agents"):
        assert rows(url, f"SELECT count(*) FROM {table}") == [(0,)]
