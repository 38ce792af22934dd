"""Loading a utility (the deterministic demo, or benchmark routes) into the gateway DB."""
from __future__ import annotations

from sqlalchemy import select

from sync import protocol
from sync.gateway import db, importer, office
from sync.gateway.console import auth
from sync.gateway.context import Context, now_iso
from sync.gateway.demo_data import (CYCLE, OPERATORS, READ_DATE, demo_utility,
                                    fake_accounts)

DEMO_ENROL_CODE = "DEMO-ENROL"
DEMO_OFFICE_USERS = (  # the console's demo sign-ins (README "Demo operators")
    ("zhuguan", "王主管", "supervisor", "demo-supervisor"),
    ("shoufei", "李收费", "cashier", "demo-cashier"),
    ("jihe", "赵稽核", "auditor", "demo-auditor"))


def seed_demo(ctx: Context, accounts: int = 1200, pin_iterations: int | None = None) -> bool:
    """Seed the demo utility once (no-op when already seeded); returns True if seeded."""
    kwargs = {"accounts": accounts}
    if pin_iterations:
        kwargs["pin_iterations"] = pin_iterations
    with ctx.write() as conn:
        if ctx.kv_get(conn, "seeded"):
            _renew_demo_pins(conn)
            return False
        utility = demo_utility(**kwargs)
        office.validate_utility(utility)    # the office's documents (office.py)
        data = importer.validate([importer.from_document(demo_export(utility),
                                                         "demo utility")])
        importer.write(ctx, conn, data)     # the billing-export path (importer.py)
        conn.execute(db.enrol_codes.insert().values(code=DEMO_ENROL_CODE, reusable=True,
                                                     created_by="seed", created_at=now_iso()))
        for username, name, role, password in DEMO_OFFICE_USERS:
            auth.add_user(conn, username, name, role, password)
        ctx.kv_set(conn, "seeded", "demo")
    return True


def _renew_demo_pins(conn) -> None:
    """A demo database kept between runs takes the documented demo PINs of today (the demo
    supervisor's became 8 digits, docs/contracts.md §4) so the README's PINs keep working."""
    for operator_id, _name, _roles, pin in OPERATORS:
        row = conn.execute(select(db.operators.c.pin_hash).where(
            db.operators.c.operator_id == operator_id)).first()
        if row is not None and not protocol.check_pin(pin, row[0]):
            conn.execute(db.operators.update().where(db.operators.c.operator_id == operator_id)
                         .values(pin_hash=protocol.hash_pin(pin)))


def demo_export(utility: dict) -> dict:
    """The demo utility in the billing system's export shape (docs/deploy.md)."""
    return {
        "operators": [{k: o[k] for k in ("operator_id", "name", "roles", "pin_hash")}
                      for o in utility["operators"]],
        "agents": [{k: a[k] for k in ("agent_id", "name", "kind", "contact")}
                   for a in utility["agents"]],
        "tariffs": utility["tariffs"], "codes": utility["codes"],
        "settings": utility["settings"],
        "routes": [{k: r.get(k) for k in ("route_id", "name", "cycle", "read_date",
                                           "hide_previous", "operator_id")}
                   for r in utility["routes"]],
        "accounts": [dict(a, route_id=route_id)
                     for route_id, accounts in utility["route_accounts"].items()
                     for a in accounts],
    }


def add_route(ctx: Context, route_id: str, name: str, accounts: list[dict],
              operator_id: str | None = None) -> None:
    """Add a route with the given accounts (e.g. `fake_accounts(10_000)` for benchmarks)."""
    with ctx.write() as conn:
        _insert_route(conn, {"route_id": route_id, "name": name, "cycle": CYCLE,
                             "read_date": READ_DATE, "hide_previous": False,
                             "operator_id": operator_id}, accounts)


def _exists(ctx: Context, route_id: str) -> bool:
    with ctx.read() as conn:
        return conn.execute(select(db.routes.c.route_id)
                            .where(db.routes.c.route_id == route_id)).first() is not None


def add_bench_route(ctx: Context, n: int, route_id: str = "R900") -> None:
    if not _exists(ctx, route_id):
        add_route(ctx, route_id, "压测抄表段", fake_accounts(n), operator_id="1001")


def bench_route_id(i: int) -> str:
    """The id of the i-th (0-based) route of `add_bench_routes`: B0001, B0002, …"""
    return f"B{i + 1:04d}"


def add_bench_routes(ctx: Context, routes: int, size: int) -> None:
    """`routes` routes B0001… of `size` generated accounts each (load benchmarks: one route
    per simulated handheld, as each meter reader downloads their own route); once."""
    if routes <= 0 or _exists(ctx, bench_route_id(0)):
        return
    accounts = fake_accounts(routes * size)
    with ctx.write() as conn:
        for i in range(routes):
            _insert_route(conn, {"route_id": bench_route_id(i), "name": f"压测抄表段{i + 1}",
                                 "cycle": CYCLE, "read_date": READ_DATE,
                                 "hide_previous": False, "operator_id": "1001"},
                          accounts[i * size:(i + 1) * size])


def _insert_route(conn, route: dict, accounts: list[dict]) -> None:
    conn.execute(db.routes.insert().values(
        route_id=route["route_id"], name=route["name"], cycle=route["cycle"],
        read_date=route["read_date"], hide_previous=bool(route.get("hide_previous")),
        operator_id=route.get("operator_id"), device_id=None, download_requested=False))
    rows = [{"account_no": a["account_no"], "route_id": route["route_id"], "seq": a["seq"],
             "active": True, "bill_fen": a["arrears_fen"], "agent_id": a.get("agent_id"),
             "doc": db.dumps(a)}
            for a in accounts]
    meters = [{"meter_no": a["meter"]["meter_no"], "account_no": a["account_no"]}
              for a in accounts]
    for i in range(0, len(rows), 5000):
        conn.execute(db.accounts.insert(), rows[i:i + 5000])
        conn.execute(db.meters.insert(), meters[i:i + 5000])
