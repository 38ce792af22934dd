"""Reference data from the billing system's export: `python -m sync.gateway import FILE…`
(formats in docs/deploy.md, "Reference data"). The demo seed goes through it too.

A JSON file holds one object with any of `operators`, `agents`, `tariffs`, `codes`,
`settings`, `routes` and `accounts` (each account names its `route_id`). A CSV file holds
one kind, named by the file: `operators.csv`, `agents.csv`, `routes.csv`, `accounts.csv`
(columns in docs/deploy.md; an account's meter is the `meter_*` columns).

Every row is checked with its typed model first; the first bad row is reported with its
file, line (CSV) or index (JSON) and field, and then nothing is written. Otherwise all
files go in one transaction. Importing the same files again changes nothing (rows are
upserted by their key); an account whose document changed reaches the handhelds through
the change feed (`upsert`, and `remove` from the route it left).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from sync.gateway import db
from sync.gateway.context import Context
from sync.gateway.ledger import AccountCache

Id = Annotated[str, Field(min_length=1, max_length=64)]
Fen = Annotated[int, Field(ge=0, le=10 ** 12)]


class Operator(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator_id: Id
    name: Annotated[str, Field(min_length=1, max_length=100)]
    roles: list[Annotated[str, Field(pattern="^(reader|collector|supervisor)$")]]
    pin_hash: Annotated[str, Field(min_length=1, max_length=300)]


class Agent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    agent_id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Annotated[str, Field(min_length=1, max_length=40)]
    contact: str | None = None


class Route(BaseModel):
    model_config = ConfigDict(extra="ignore")
    route_id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    cycle: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")]
    read_date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    hide_previous: bool = False
    operator_id: Id | None = None


class MeterIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    meter_no: Id
    dials: Annotated[int, Field(ge=1, le=12)]
    decimals: Annotated[int, Field(ge=0, le=4)]
    multiplier: Annotated[int, Field(ge=1, le=100_000)]
    prev_value: Annotated[int, Field(ge=0, le=10 ** 12)]


class AccountIn(BaseModel):
    """An account in the route-document shape (contracts §1; also the supervisor's
    account upsert body)."""
    model_config = ConfigDict(extra="allow")
    account_no: Id
    seq: Annotated[int, Field(ge=0, le=2 ** 31)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    address: Annotated[str, Field(max_length=500)] = ""
    tariff_id: Id
    arrears_fen: Fen = 0
    arrears_due_date: str | None = None
    credit_fen: Fen = 0
    agent_id: Id | None = None
    hazard: str | None = None
    meter: MeterIn


class Account(AccountIn):
    """An exported account: the route document's account plus its `route_id`."""
    route_id: Id


MODELS = {"operators": Operator, "agents": Agent, "routes": Route, "accounts": Account}
DOCUMENTS = ("tariffs", "codes", "settings")   # stored whole, as the handhelds get them


class ImportError_(ValueError):
    """A bad file or row: `str()` names where and what."""


def _csv_row(kind: str, row: dict) -> dict:
    row = {k: (v if v != "" else None) for k, v in row.items() if k}
    if kind == "operators" and row.get("roles") is not None:
        row["roles"] = row["roles"].split()
    if kind == "accounts":
        row["meter"] = {k[len("meter_"):]: row.pop(k) for k in list(row)
                        if k.startswith("meter_")}
        for key in ("arrears_fen", "credit_fen"):
            row.setdefault(key, 0)
    return row


def read_file(path: Path) -> dict[str, list]:
    """{kind: [(where, raw row), …], document: value} from one export file."""
    if path.suffix.lower() == ".csv":
        kind = path.stem.lower()
        if kind not in MODELS:
            raise ImportError_(f"{path.name}: a CSV file is named for its kind: "
                               f"{', '.join(f'{k}.csv' for k in MODELS)}")
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            return {kind: [(f"{path.name} line {reader.line_num}", _csv_row(kind, r))
                           for r in reader]}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImportError_(f"{path.name}: not a readable JSON file ({exc})") from None
    return from_document(doc, path.name)


def from_document(doc, name: str) -> dict[str, list]:
    """The JSON export shape (one object), as `read_file` gives it."""
    if not isinstance(doc, dict) or not set(doc) <= set(MODELS) | set(DOCUMENTS):
        raise ImportError_(f"{name}: expected an object with keys among "
                           f"{', '.join(sorted(set(MODELS) | set(DOCUMENTS)))}")
    out: dict = {k: doc[k] for k in DOCUMENTS if k in doc}
    for kind in MODELS:
        rows = doc.get(kind, [])
        if not isinstance(rows, list):
            raise ImportError_(f"{name}: {kind} must be a list")
        out[kind] = [(f"{name} {kind}[{i}]", r) for i, r in enumerate(rows)]
    return out


def validate(files: list[dict]) -> dict:
    """Checked rows of every kind, in file order; raises ImportError_ at the first bad one."""
    data: dict = {kind: {} for kind in MODELS}
    for content in files:
        for key in DOCUMENTS:
            if key in content:
                data[key] = content[key]
        for kind, model in MODELS.items():
            for where, raw in content.get(kind, []):
                try:
                    item = model.model_validate(raw).model_dump(mode="json")
                except ValidationError as exc:
                    err = exc.errors()[0]
                    field = ".".join(str(p) for p in err["loc"]) or "row"
                    raise ImportError_(f"{where}: {field}: {err['msg']}") from None
                key = item[f"{kind[:-1]}_id"] if kind != "accounts" else item["account_no"]
                data[kind][key] = item
    known_routes = set(data["routes"])
    for no, acc in data["accounts"].items():
        if acc["route_id"] not in known_routes:
            data.setdefault("_route_check", []).append((no, acc["route_id"]))
    return data


def apply(ctx: Context, data: dict) -> dict:
    """Write validated data in one transaction; returns counts per kind."""
    with ctx.write() as conn:
        return write(ctx, conn, data)


def write(ctx: Context, conn, data: dict) -> dict:
    """Write validated data in the caller's transaction; returns counts per kind."""
    for no, route_id in data.pop("_route_check", []):
        if conn.execute(select(db.routes.c.route_id).where(
                db.routes.c.route_id == route_id)).first() is None:
            raise ImportError_(f"account {no}: unknown route {route_id!r}")
    for key in DOCUMENTS:
        if key in data:
            ctx.kv_set(conn, key, db.dumps(data[key]))
    for kind, table, key in (("operators", db.operators, "operator_id"),
                             ("agents", db.agents, "agent_id"),
                             ("routes", db.routes, "route_id")):
        for item in data[kind].values():
            if kind == "operators":
                item = dict(item, roles=db.dumps(item["roles"]))
            exists = conn.execute(select(table.c[key]).where(
                table.c[key] == item[key])).first()
            if exists:
                conn.execute(table.update().where(table.c[key] == item[key]).values(**item))
            else:
                conn.execute(table.insert().values(**item))
    _accounts(conn, data["accounts"])
    return {kind: len(data[kind]) for kind in MODELS}


def _accounts(conn, accounts: dict) -> None:
    cache = AccountCache(conn)
    cache.load(accounts)
    new = []
    for no, item in accounts.items():
        route_id = item.pop("route_id")
        row = {"account_no": no, "route_id": route_id, "seq": item["seq"], "active": True,
               "agent_id": item.get("agent_id"), "doc": db.dumps(item)}
        old = cache.rows.get(no)
        if old is None:
            new.append(dict(row, bill_fen=item["arrears_fen"]))
        elif db.dumps(old["doc"]) != row["doc"] or old["route_id"] != route_id:
            conn.execute(db.accounts.update().where(db.accounts.c.account_no == no)
                         .values(**{k: v for k, v in row.items() if k != "account_no"}))
            if old["route_id"] != route_id:
                cache.emit(old["route_id"], no, {"kind": "remove", "account_no": no})
            cache.emit(route_id, no, {"kind": "upsert", "account": item})
    for i in range(0, len(new), 5000):
        conn.execute(db.accounts.insert(), new[i:i + 5000])
    _own_meters(conn, {no: item["meter"]["meter_no"] for no, item in accounts.items()})
    cache.flush()


def _own_meters(conn, meter_of: dict) -> None:
    """The export is the office's master data: each imported account owns its meter
    (`meters`, one account per meter: docs/contracts.md §4)."""
    nos, meters = list(meter_of), list(meter_of.values())
    for i in range(0, len(nos), 5000):
        conn.execute(db.meters.delete().where(db.meters.c.account_no.in_(nos[i:i + 5000])))
        conn.execute(db.meters.delete().where(db.meters.c.meter_no.in_(meters[i:i + 5000])))
    rows = [{"meter_no": m, "account_no": a} for a, m in meter_of.items()]
    for i in range(0, len(rows), 5000):
        conn.execute(db.meters.insert(), rows[i:i + 5000])


def import_files(ctx: Context, paths: list[Path]) -> dict:
    return apply(ctx, validate([read_file(Path(p)) for p in paths]))


def main(opts: dict) -> int:
    """`python -m sync.gateway import --db-url URL FILE…`"""
    import sys

    from sync.gateway import migrate
    from sync.gateway.context import Settings
    engine = db.make_engine(opts["url"], pool_size=1)
    try:
        migrate.check(engine)
        ctx = Context(engine=engine, settings=Settings(), is_sqlite=engine.dialect.name == "sqlite")
        counts = import_files(ctx, opts["files"])
    except (ImportError_, migrate.SchemaNotCurrent) as exc:
        print(f"nothing imported: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print("imported " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0
