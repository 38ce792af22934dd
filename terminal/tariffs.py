"""Tariffs and bills: flat and tiered (阶梯电价) charges, arrears, late fee, credit — in fen.

Units (docs/contracts.md §0): consumption in `kwh_e3` (1/1000 kWh), prices in `price_e4`
(1/10000 yuan per kWh), money in fen. A band line's exact amount is
`kwh_e3 × price_e4` in units of 1e-7 yuan = 1e-5 fen.

Rounding rule (one rule, everywhere): **each bill line is rounded once, half up, to the
fen**; the current charge is the sum of the rounded lines. So the printed lines always add
up to the printed charge, and the charge differs from the exact value by at most half a
fen per line. The late fee (违约金) is `overdue_fen × late_fee_ppm_per_day × days / 10^6`,
rounded once, half up, to the fen. No float is used anywhere.

Tiered bands are monthly and cumulative: `{"upto_kwh": 230}` covers 0–230 kWh, the next
`{"upto_kwh": 400}` covers 230–400 kWh, `{"upto_kwh": null}` everything above.

The total due: `current + arrears + late fee − credit − paid here + voided here`, never
below 0 (any credit left over is reported as `credit_left_fen`). `arrears` and `credit` are
the office's balance as this device last received it; "paid here" is what this device
collected for the account (payments and agent allocations) that this balance does not
include yet; "voided here" the voids of payments it does include that it does not reflect
yet (docs/ledger.md, "The due figure"). A payment counts against the bill until the device holds an office balance that
names it as booked (`booked_ops`, filled by terminal.routes from the snapshot and the
change feed) — never both, never neither. The late fee is charged on the arrears still
open once those payments are applied by the office's own rule (arrears first, the rest
becomes credit; a void takes back credit first), so the figure does not move when the
office books a payment.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3

from terminal.ledger_errors import refusal, require_int

E5_PER_FEN = 100_000  # kwh_e3 × price_e4 units per fen
PPM = 1_000_000


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (numerator ≥ 0, denominator > 0)."""
    if numerator < 0:
        raise ValueError("round_half_up expects a non-negative numerator")
    return (2 * numerator + denominator) // (2 * denominator)


@dataclasses.dataclass(frozen=True)
class Tariff:
    tariff_id: str
    name: str
    kind: str  # "flat" | "tiered"
    bands: tuple  # ((upto_kwh | None, price_e4), ...) ascending, last open-ended
    late_fee_ppm_per_day: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "Tariff":
        bands = d["bands"]
        if isinstance(bands, str):
            bands = json.loads(bands)
        parsed = tuple((b.get("upto_kwh"), b["price_e4"]) for b in bands)
        tariff = cls(d["tariff_id"], d.get("name", d["tariff_id"]), d["kind"], parsed,
                     int(d.get("late_fee_ppm_per_day") or 0))
        tariff.check()
        return tariff

    def check(self) -> None:
        bad = refusal("bad_tariff",
                      "Tariff {tariff_id} has invalid bands", tariff_id=self.tariff_id)
        if self.kind not in ("flat", "tiered") or not self.bands:
            raise bad
        if self.kind == "flat" and len(self.bands) != 1:
            raise bad
        last = 0
        for i, (upto, price) in enumerate(self.bands):
            if isinstance(price, bool) or not isinstance(price, int) or price < 0:
                raise bad
            if upto is None:
                if i != len(self.bands) - 1:
                    raise bad
            elif isinstance(upto, bool) or not isinstance(upto, int) or upto <= last:
                raise bad
            else:
                last = upto
        if self.bands[-1][0] is not None:
            raise bad


@dataclasses.dataclass(frozen=True)
class Line:
    """One band of the current charge."""
    band: int           # 1-based band number
    from_kwh: int
    upto_kwh: int | None
    kwh_e3: int
    price_e4: int
    amount_fen: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def charge_lines(tariff: Tariff, kwh_e3: int) -> list[Line]:
    """The current charge of `kwh_e3` as band lines (bands with no consumption left out)."""
    require_int(kwh_e3, "Consumption")
    if kwh_e3 < 0:
        raise refusal("negative_kwh", "Consumption cannot be negative")
    lines: list[Line] = []
    low = 0
    for i, (upto, price) in enumerate(tariff.bands, start=1):
        high = None if upto is None else upto * 1000
        part = kwh_e3 - low if high is None else min(kwh_e3, high) - low
        if part > 0:
            lines.append(Line(i, low // 1000, upto, part, price,
                              round_half_up(part * price, E5_PER_FEN)))
        if high is None or kwh_e3 <= high:
            break
        low = high
    return lines


def charge_fen(tariff: Tariff, kwh_e3: int) -> int:
    return sum(line.amount_fen for line in charge_lines(tariff, kwh_e3))


def late_fee_fen(overdue_fen: int, ppm_per_day: int, due_date: str | None, today: dt.date) -> int:
    """违约金 on `overdue_fen` for the whole days after `due_date` (0 when not yet overdue)."""
    if not due_date or overdue_fen <= 0 or ppm_per_day <= 0:
        return 0
    days = (today - dt.date.fromisoformat(due_date)).days
    if days <= 0:
        return 0
    return round_half_up(overdue_fen * ppm_per_day * days, PPM)


@dataclasses.dataclass(frozen=True)
class Bill:
    account_no: str
    tariff_id: str | None
    kwh_e3: int | None
    lines: tuple
    current_fen: int
    arrears_fen: int
    arrears_due_date: str | None
    overdue_days: int
    late_fee_fen: int
    credit_fen: int
    paid_here_fen: int             # taken here, not yet booked by the office (≥ 0)
    total_due_fen: int
    credit_left_fen: int
    voided_here_fen: int = 0       # given back here by voids the office has not booked (≥ 0)
    # what the rule needs to figure the due after a further payment (`due_if_paid`)
    open_arrears_fen: int = 0      # arrears once the payments not yet booked are applied
    open_credit_fen: int = 0
    late_fee_ppm_per_day: int = 0
    as_of: str | None = None       # the day the late fee was figured for (ISO date)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["lines"] = [line.as_dict() for line in self.lines]
        return d


def due_if_paid(bill: "Bill | dict", amount_fen: int) -> int:
    """The due this bill leaves once `amount_fen` more is paid — exactly what `bill_for`
    figures after the payment is taken (a pure function: a screen previews "left due" with
    it, no second rule). Takes a Bill or its `as_dict()`."""
    b = bill.as_dict() if isinstance(bill, Bill) else bill
    arrears, credit = open_balance(b["open_arrears_fen"], b["open_credit_fen"], [amount_fen])
    today = dt.date.fromisoformat(b["as_of"]) if b.get("as_of") else dt.date.today()
    fee = late_fee_fen(arrears, b["late_fee_ppm_per_day"], b["arrears_due_date"], today)
    return max(0, b["current_fen"] + arrears + fee - credit)


def _account(conn: sqlite3.Connection, account_no: str):
    row = conn.execute("SELECT * FROM accounts WHERE account_no=?", (account_no,)).fetchone()
    if row is None:
        raise refusal("unknown_account",
                      "Account {account_no} is not on this device", account_no=account_no)
    return row


def get_tariff(conn: sqlite3.Connection, tariff_id: str | None) -> Tariff:
    row = None if tariff_id is None else conn.execute(
        "SELECT * FROM tariffs WHERE tariff_id=?", (tariff_id,)).fetchone()
    if row is None:
        raise refusal("unknown_tariff",
                      "Tariff {tariff_id} is not on this device; cannot bill", tariff_id=tariff_id)
    return Tariff.from_dict(dict(row))


def bill_estimate(store, account_no: str, kwh_e3: int) -> int:
    """The current charge in fen of `kwh_e3` on the account's tariff (for a reading).

    Raises LedgerError (`unknown_account`, `unknown_tariff`, `negative_kwh`, `not_integer`).
    """
    conn = store.conn
    return charge_fen(get_tariff(conn, _account(conn, account_no)["tariff_id"]), kwh_e3)


def latest_reading(conn: sqlite3.Connection, account_no: str) -> dict | None:
    """The account's current (not superseded) read reading of its route's cycle, or None."""
    row = conn.execute(
        "SELECT r.value, r.kwh_e3, r.device_time, r.op_id FROM readings r "
        "JOIN accounts a ON a.account_no=r.account_no LEFT JOIN routes rt ON rt.route_id=a.route_id "
        "WHERE r.account_no=? AND r.status='read' AND r.superseded_by IS NULL "
        "AND (rt.cycle IS NULL OR r.cycle IS NULL OR r.cycle=rt.cycle) "
        "ORDER BY r.seq DESC LIMIT 1", (account_no,)).fetchone()
    return None if row is None else dict(row)


def latest_kwh_e3(conn: sqlite3.Connection, account_no: str) -> int | None:
    """kWh of the account's current reading this cycle (None if unread)."""
    reading = latest_reading(conn, account_no)
    return None if reading is None else reading["kwh_e3"]


def mark_booked(conn: sqlite3.Connection, op_ids) -> None:
    """Remember which of this device's payments and voids an office balance names as booked
    (inside the caller's transaction; other devices' op ids are ignored)."""
    ids = [i for i in op_ids or () if isinstance(i, str)]
    if ids:
        conn.execute("INSERT OR IGNORE INTO booked_ops (op_id, seen_at) SELECT value, ? "
                     "FROM json_each(?) WHERE value IN (SELECT op_id FROM payments "
                     "UNION ALL SELECT op_id FROM voids)",
                     (dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                      json.dumps(ids)))


_UNBOOKED_SQL = """
SELECT COALESCE(o.seq, 1e18), pa.amount_fen FROM payment_allocations pa
  JOIN payments p ON p.op_id = pa.payment_op_id LEFT JOIN outbox o ON o.op_id = p.op_id
 WHERE pa.account_no = ? AND p.state IN ('done', 'approved')
   AND p.op_id NOT IN (SELECT op_id FROM booked_ops)
UNION ALL
SELECT COALESCE(o.seq, 1e18), -pa.amount_fen FROM voids v LEFT JOIN outbox o ON o.op_id = v.op_id
  JOIN payment_allocations pa ON pa.payment_op_id = v.payment_op_id
 WHERE pa.account_no = ? AND v.op_id NOT IN (SELECT op_id FROM booked_ops)
   AND v.payment_op_id IN (SELECT op_id FROM booked_ops)
ORDER BY 1
"""


def unbooked_moves(conn: sqlite3.Connection, account_no: str) -> list[int]:
    """What this device took (+) or gave back by a void (−) for the account that the office
    balance it holds does not include yet, in capture order (docs/ledger.md, "The due figure").

    A payment counts until the office has booked it; a payment voided before the office
    booked it does not count (the office books the void only after the payment); the void
    of a payment the office has booked gives the amount back until the office has booked
    the void too.
    """
    return [r[1] for r in conn.execute(_UNBOOKED_SQL, (account_no, account_no))]


def paid_here_fen(conn: sqlite3.Connection, account_no: str) -> int:
    """Net of `unbooked_moves`: what the office balance held here does not reflect yet
    (payments less voids; `Bill` shows the two apart)."""
    return sum(unbooked_moves(conn, account_no))


def open_balance(arrears_fen: int, credit_fen: int, moves) -> tuple[int, int]:
    """(arrears, credit) once `moves` are applied by the office's rule: a payment pays
    arrears first and the rest becomes credit; a void takes back credit first, the rest
    becomes arrears again (sync/gateway/ledger.py does the same when it books them)."""
    for amount in moves:
        if amount >= 0:
            to_arrears = min(amount, arrears_fen)
            arrears_fen, credit_fen = arrears_fen - to_arrears, credit_fen + amount - to_arrears
        else:
            taken = min(credit_fen, -amount)
            arrears_fen, credit_fen = arrears_fen - amount - taken, credit_fen - taken
    return arrears_fen, credit_fen


def bill_for(store, account_no: str, kwh_e3: int | None = None,
             today: dt.date | None = None) -> Bill:
    """The account's bill: current charge (from `kwh_e3`, else its latest reading this
    cycle, else none), arrears, late fee, credit, what was paid here, total due."""
    conn = store.conn
    today = today or dt.date.today()
    acct = _account(conn, account_no)
    if kwh_e3 is None:
        kwh_e3 = latest_kwh_e3(conn, account_no)
    lines: list[Line] = []
    if kwh_e3 is not None:
        lines = charge_lines(get_tariff(conn, acct["tariff_id"]), kwh_e3)
    ppm = 0
    if acct["tariff_id"] is not None:
        row = conn.execute("SELECT late_fee_ppm_per_day FROM tariffs WHERE tariff_id=?",
                           (acct["tariff_id"],)).fetchone()
        ppm = row[0] if row else 0
    arrears = max(0, acct["arrears_fen"])
    credit = max(0, acct["credit_fen"])
    moves = unbooked_moves(conn, account_no)
    paid = sum(m for m in moves if m > 0)
    voided = -sum(m for m in moves if m < 0)
    open_arrears, open_credit = open_balance(arrears, credit, moves)
    due = acct["arrears_due_date"]
    days = max(0, (today - dt.date.fromisoformat(due)).days) if due and open_arrears else 0
    fee = late_fee_fen(open_arrears, ppm, due, today)
    current = sum(line.amount_fen for line in lines)
    gross = current + arrears + fee
    net = gross - credit - paid + voided
    return Bill(account_no, acct["tariff_id"], kwh_e3, tuple(lines), current, arrears, due,
                days, fee, credit, paid, max(0, net), max(0, -net), voided, open_arrears,
                open_credit, ppm, today.isoformat())
