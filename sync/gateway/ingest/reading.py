"""The `reading` op: one current reading per meter and cycle; corrections supersede."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from sync.gateway import db

if TYPE_CHECKING:
    from sync.gateway.ingest.batch import Batch


def handle_reading(b: Batch, op):
    p = op["payload"]   # checked by ReadingPayload
    account_no, status = p["account_no"], p["status"]
    value, consumption, kwh_e3 = p.get("value"), p.get("consumption"), p.get("kwh_e3")
    row = {"op_id": op["op_id"], "device_id": b.device_id, "operator_id": op.get("operator_id"),
           "account_no": account_no, "meter_no": p.get("meter_no"), "route_id": p.get("route_id"),
           "cycle": p.get("cycle"), "status": status, "value": value,
           "consumption": consumption, "kwh_e3": kwh_e3, "skip_code": p.get("skip_code"),
           "trouble_code": p.get("trouble_code"), "corrects": p.get("corrects"),
           "superseded_by": None, "state": "current",
           "payload": op["_stored"], "received_at": b.now}
    acc = b.accounts.get(account_no)
    result = ("accepted", None, None)
    if acc is None or not acc["active"]:
        row["state"] = "conflict"
        code = "unknown_account" if acc is None else "account_closed"
        result = ("conflict", code, f"account {account_no} is not an active account")
    elif p.get("route_id") and p["route_id"] != acc["route_id"]:
        row["state"] = "conflict"
        result = ("conflict", "account_moved", f"account {account_no} is now on route "
                                               f"{acc['route_id']}")
    if row["cycle"] is None and acc is not None:
        row["cycle"] = _route_cycle(b, acc["route_id"])
    key = (account_no, row["cycle"])
    if row["state"] == "current":
        current = b.current.get(key)
        corrects = p.get("corrects")
        if corrects:
            if current is not None and current["op_id"] == corrects:
                _supersede(b, current, op["op_id"])
            elif corrects in b.db_readings or any(r["op_id"] == corrects for r in b.readings):
                if current is not None:
                    _supersede(b, current, op["op_id"])
            else:
                b.exception("review", "correction_target_unknown",
                            f"correction of an unknown reading {corrects}", op, account_no)
                if current is not None:
                    _supersede(b, current, op["op_id"])
            b.current[key] = row
        elif current is not None:
            row["state"] = "conflict"
            result = ("conflict", "duplicate_reading",
                      f"meter of {account_no} already read in cycle {row['cycle']}")
        else:
            b.current[key] = row
    if row["state"] == "conflict":
        b.exception("conflict", result[1], result[2], op, account_no,
                    detail={"value": value, "status": status})
    if p.get("trouble_code"):
        b.exception("trouble", str(p["trouble_code"]), "trouble reported at the meter", op,
                    account_no, detail={"note": p.get("note")})
    b.readings.append(row)
    return result


def _supersede(b: Batch, current: dict, new_op_id: str):
    if current.get("db"):
        b.supersede.append({"old": current["op_id"], "new": new_op_id})
    else:
        current["superseded_by"] = new_op_id


def _route_cycle(b: Batch, route_id: str):
    cycle = b.__dict__.setdefault("_cycles", {})
    if route_id not in cycle:
        cycle[route_id] = b.conn.execute(select(db.routes.c.cycle)
                                         .where(db.routes.c.route_id == route_id)).scalar()
    return cycle[route_id]
