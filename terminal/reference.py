"""Reference data from the gateway (contracts §4 GET /v1/reference) into the store, atomically.

Operators are replaced wholesale; codes are replaced per kind present; tariffs and agents
are upserted and each agent's member list replaced; `settings` go to the `meta` table (text
as is, anything else as JSON: pay_url_template, verify_url_template, card_limits, …).
A malformed document raises ReferenceDataError and changes nothing.
"""
import json

from terminal import operators as _operators
from terminal import routes as _routes
from terminal.store import Store, audit


class ReferenceDataError(ValueError):
    pass


def _check(ref) -> None:
    if not isinstance(ref, dict):
        raise ReferenceDataError("reference data must be an object")
    for o in ref.get("operators") or []:
        if not isinstance(o, dict) or not o.get("operator_id") or not isinstance(o.get("name"), str):
            raise ReferenceDataError(f"operator malformed: {o!r:.60}")
        if not isinstance(o.get("roles"), list) or not all(isinstance(r, str) for r in o["roles"]):
            raise ReferenceDataError(f"operator {o['operator_id']}: roles must be a list of texts")
        if not isinstance(o.get("pin_hash"), str) or not o["pin_hash"].startswith(_operators.SCHEME + "$"):
            raise ReferenceDataError(f"operator {o['operator_id']}: pin_hash must be {_operators.SCHEME}$…")
    try:
        _routes._check_header({"route": {"route_id": "-", "name": "-", "cycle": "-"},
                               "tariffs": ref.get("tariffs"), "codes": ref.get("codes"),
                               "agents": ref.get("agents")})
    except _routes.RouteImportError as exc:
        raise ReferenceDataError(str(exc)) from exc
    for a in ref.get("agents") or []:
        if not isinstance(a.get("members", []), list):
            raise ReferenceDataError(f"agent {a['agent_id']}: members must be a list")
    if not isinstance(ref.get("settings") or {}, dict):
        raise ReferenceDataError("settings must be an object")
    _check_card_limits((ref.get("settings") or {}).get("card_limits"))


def _check_card_limits(limits) -> None:
    """The office's offline card limits, the only source of the device's (settings cannot
    change them): whole non-negative numbers, min_fen <= max_fen <= max_total_fen."""
    if limits is None:
        return
    if not isinstance(limits, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in limits.values()):
        raise ReferenceDataError("card_limits must hold whole numbers >= 0")
    lo, hi, total = limits.get("min_fen", 0), limits.get("max_fen"), limits.get("max_total_fen")
    if hi is not None and lo > hi:
        raise ReferenceDataError("card_limits: min_fen is above max_fen")
    if hi is not None and total is not None and hi > total:
        raise ReferenceDataError("card_limits: max_fen (per payment) is above max_total_fen")


def import_reference(store: Store, ref: dict) -> dict:
    """Apply a reference document in one transaction; returns counts."""
    _check(ref)
    settings = ref.get("settings") or {}
    with store.transaction() as conn:
        if "operators" in ref:
            _operators.write_operators(conn, ref["operators"])
        _routes.write_codes(conn, ref.get("codes") or {})
        _routes.write_tariffs(conn, ref.get("tariffs") or [])
        agents = ref.get("agents") or []
        _routes.write_agents(conn, agents)
        for a in agents:
            if "members" in a:
                conn.execute("DELETE FROM agent_members WHERE agent_id=?", (a["agent_id"],))
                conn.executemany("INSERT OR IGNORE INTO agent_members (agent_id, account_no) VALUES (?, ?)",
                                 [(a["agent_id"], no) for no in a["members"]])
        for key, value in settings.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
                         " value=excluded.value", (key, text))
        counts = {"operators": len(ref.get("operators") or []), "tariffs": len(ref.get("tariffs") or []),
                  "agents": len(agents), "codes": sum(len(v or []) for v in (ref.get("codes") or {}).values()),
                  "settings": len(settings)}
        audit(conn, "reference_imported", None, **counts)
    return counts
