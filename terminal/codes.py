"""Code tables from the office (skip, trouble, hazard, …) as plain dicts for the UI and rules.

A code dict: {"kind", "code", "zh", "en", **rule} — for skip codes the rule holds
`reading` (required|forbidden|optional), `note_required`, `photo_required`; trouble codes
carry `urgent`.
"""
import json


def _code(row) -> dict:
    return {"kind": row["kind"], "code": row["code"], "zh": row["zh"], "en": row["en"],
            **json.loads(row["rule"] or "{}")}


def get_code(conn, kind: str, code: str | None) -> dict | None:
    if not code:
        return None
    row = conn.execute("SELECT * FROM codes WHERE kind=? AND code=?", (kind, code)).fetchone()
    return None if row is None else _code(row)


def list_codes(store, kind: str) -> list[dict]:
    """Every code of `kind` in code order (for pick lists)."""
    return [_code(r) for r in store.conn.execute("SELECT * FROM codes WHERE kind=? ORDER BY code", (kind,))]
