"""Persistent print queue in the terminal's store (table `print_jobs`).

A receipt is committed before it is printed; printing goes through this queue so that a
printer out of paper, with its cover open or switched off holds the job instead of losing
it. `enqueue` writes the job (inside the caller's transaction when there is one, so the
payment and its print job commit together); `pump` prints queued jobs in order and stops at
the first printer that is not ready, leaving that job `held` with the reason. A job that
is retried — after a failure, a partial print, or a crash while printing — is printed as a
COPY: the same document with `copy: true` and a `副本 COPY` banner on top (contracts §5),
with the same receipt number. Printers are duck-typed (contracts §6): `print_document(doc)`
raising an OSError with `.reason` and `.partial` when not ready.

A job whose outcome is not known — the printer did not answer after it (reason `unknown`),
or the app died while it was `printing` (`recover_printing`, run at start-up by
`terminal.recovery.recover`) — is held as `unknown`: the collector looks at the paper and
either confirms it (`confirm_printed`) or reprints it, as a COPY (`pump`). No job is ever
left `printing`.
"""
from __future__ import annotations

import copy as _copy
import json
from dataclasses import dataclass

from terminal.store import Store, audit, now_iso

__all__ = ["COPY_BANNER", "PrintResult", "as_copy", "enqueue", "reprint", "pump", "pending",
           "validate", "recover_printing", "confirm_printed", "UNKNOWN"]

UNKNOWN = "unknown"  # reason of a held job that may or may not be on paper

COPY_BANNER = {"t": "text", "text": "副本 COPY", "align": "center", "bold": True,
               "size": "double"}
KINDS = ("collection", "void", "bill_notice", "agent_statement", "x_report", "z_report", "test")
BLOCK_TYPES = ("text", "kv", "rule", "qr", "feed", "cut")


@dataclass(frozen=True)
class PrintResult:
    job_id: int
    receipt_no: str | None
    state: str            # done | held
    copy: bool            # printed (or tried) as a COPY
    reason: str | None    # paper_out | cover_open | offline | unknown | bad_document: …
    partial: bool = False


def validate(doc) -> None:
    """Raise ValueError unless `doc` is a receipt document shaped as contracts §5 says."""
    if not isinstance(doc, dict):
        raise ValueError("a receipt document must be a dict")
    if doc.get("kind") not in KINDS:
        raise ValueError(f"unknown receipt kind {doc.get('kind')!r}")
    blocks = doc.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        raise ValueError("a receipt document needs a non-empty list of blocks")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("t") not in BLOCK_TYPES:
            raise ValueError(f"block {i}: unknown block {block!r}")
    json.dumps(doc)  # must be JSON-able


def as_copy(doc: dict) -> dict:
    """The reprint of `doc`: `copy: true` and the COPY banner first (idempotent)."""
    if doc.get("copy") and doc.get("blocks", [None])[0] == COPY_BANNER:
        return doc
    out = _copy.deepcopy(doc)
    out["copy"] = True
    out["blocks"] = [dict(COPY_BANNER)] + out["blocks"]
    return out


def _receipt_no(doc: dict) -> int | None:
    value = doc.get("receipt_no")
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None


def enqueue(store: Store, doc: dict, *, copy: bool = False) -> int:
    """Queue `doc` for printing; returns the job id. Inside an open transaction of the
    caller it commits with it; otherwise in its own. `copy=True` queues a reprint."""
    validate(doc)
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO print_jobs (receipt_no, doc, state, copy, created_at) "
            "VALUES (?, ?, 'queued', ?, ?)",
            (_receipt_no(doc), json.dumps(doc, ensure_ascii=False, sort_keys=True),
             int(copy or bool(doc.get("copy"))), now_iso()))
        return cur.lastrowid


def reprint(store: Store, job_id: int) -> int:
    """Queue a COPY of an earlier job (same receipt number); returns the new job id."""
    row = store.conn.execute("SELECT doc FROM print_jobs WHERE job_id=?", (job_id,)).fetchone()
    if row is None:
        raise KeyError(f"no print job {job_id}")
    return enqueue(store, json.loads(row["doc"]), copy=True)


def pending(store: Store) -> list[dict]:
    """Jobs not yet printed, oldest first: job_id, receipt_no, kind, state, reason, copy,
    attempts (a job with attempts > 0 will print as a COPY)."""
    rows = store.conn.execute(
        "SELECT job_id, receipt_no, doc, state, reason, copy, attempts FROM print_jobs "
        "WHERE state != 'done' ORDER BY job_id").fetchall()
    return [{"job_id": r["job_id"], "receipt_no": r["receipt_no"],
             "kind": json.loads(r["doc"]).get("kind"), "state": r["state"],
             "reason": r["reason"], "copy": bool(r["copy"] or r["attempts"]),
             "attempts": r["attempts"]} for r in rows]


def _finish(store: Store, job_id: int, state: str, reason: str | None, copy: bool) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE print_jobs SET state=?, reason=?, copy=?, updated_at=? "
                     "WHERE job_id=?", (state, reason, int(copy), now_iso(), job_id))
        if state == "held":
            audit(conn, "print_held", job_id=job_id, reason=reason)


def pump(store: Store, printer, reprint_unknown: bool = False) -> list[PrintResult]:
    """Print the waiting jobs in order; stops at the first one the printer cannot take.

    A job held as `unknown` may already be on paper: only the collector can tell, so it is
    reported (state `held`, reason `unknown`) and left alone — the later jobs still print —
    unless the collector asked for its reprint (`reprint_unknown=True`)."""
    results: list[PrintResult] = []
    ids = [r[0] for r in store.conn.execute(
        "SELECT job_id FROM print_jobs WHERE state != 'done' ORDER BY job_id")]
    for job_id in ids:
        with store.transaction() as conn:
            row = conn.execute("SELECT * FROM print_jobs WHERE job_id=? AND state != 'done'",
                               (job_id,)).fetchone()
            if row is None:
                continue
            if row["state"] == "held" and row["reason"] == UNKNOWN and not reprint_unknown:
                results.append(PrintResult(job_id, json.loads(row["doc"]).get("receipt_no"),
                                           "held", True, UNKNOWN))
                continue
            # tried before (held, or a crash left it 'printing'): it may be on paper already
            as_copy_now = bool(row["copy"] or row["attempts"] > 0 or row["state"] == "printing")
            conn.execute("UPDATE print_jobs SET state='printing', attempts=attempts+1, copy=?, "
                         "updated_at=? WHERE job_id=?", (int(as_copy_now), now_iso(), job_id))
        doc = json.loads(row["doc"])
        doc = as_copy(doc) if as_copy_now else doc
        receipt_no = doc.get("receipt_no")
        try:
            printer.print_document(doc)
        except OSError as exc:
            reason = getattr(exc, "reason", None) or "offline"
            partial = bool(getattr(exc, "partial", True))
            _finish(store, job_id, "held", reason, True)
            results.append(PrintResult(job_id, receipt_no, "held", as_copy_now, reason, partial))
            break  # the printer needs the collector; later jobs wait behind this one
        except ValueError as exc:
            reason = f"bad_document: {exc}"
            _finish(store, job_id, "held", reason, True)
            results.append(PrintResult(job_id, receipt_no, "held", as_copy_now, reason))
            continue
        except Exception as exc:  # e.g. no CJK font for a raster line: nothing was sent
            reason = f"printer_error: {exc}"
            _finish(store, job_id, "held", reason, True)
            results.append(PrintResult(job_id, receipt_no, "held", as_copy_now, reason))
            break
        _finish(store, job_id, "done", None, as_copy_now)
        results.append(PrintResult(job_id, receipt_no, "done", as_copy_now, None))
    return results


def recover_printing(store: Store, printer=None) -> dict:
    """Start-up: a job found `printing` was cut off by a crash between sending and the
    printer's answer. It is held as `unknown` for the collector to check the paper — or,
    when `printer` is given and reports itself not ready, held with that reason. Returns
    {"print_jobs_resolved": n}."""
    rows = store.conn.execute(
        "SELECT job_id FROM print_jobs WHERE state='printing' ORDER BY job_id").fetchall()
    reason = UNKNOWN
    if rows and printer is not None:
        try:
            st = printer.status()
        except OSError:
            st = None
        if st and st.get("online"):
            reason = ("cover_open" if st.get("cover_open") else
                      "paper_out" if st.get("paper") == "out" else UNKNOWN)
    for row in rows:
        _finish(store, row["job_id"], "held", reason, True)
    return {"print_jobs_resolved": len(rows)}


def confirm_printed(store: Store, job_id: int) -> None:
    """The collector saw a held job whole on paper: it is done, no reprint."""
    with store.transaction() as conn:
        cur = conn.execute("UPDATE print_jobs SET state='done', reason=NULL, updated_at=? "
                           "WHERE job_id=? AND state='held'", (now_iso(), job_id))
        if cur.rowcount != 1:
            raise KeyError(f"no held print job {job_id}")
        audit(conn, "print_confirmed", job_id=job_id)
