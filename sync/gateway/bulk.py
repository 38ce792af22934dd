"""Driver-level bulk statements of the ingest hot path: reads by a list of keys, inserts
and updates of many rows, each one round trip to the database.

On PostgreSQL every statement has one text whatever the number of rows or keys — lists
travel as array parameters (`= ANY(%s)`, `unnest(%s::type[], …)`) — so the driver prepares
it once per connection and the server neither parses nor plans it again. Measured with the
gateway-scale load (bench/gateway_scale.py): psycopg's `executemany` sends one pipelined
statement per row, and the 100-odd rows of a 30-op batch cost more client CPU than
everything else in the batch; an `IN (…)` list of varying length is a new statement text
for every length. SQLite runs in-process: `executemany` and `IN (…)` lists cost no round
trips there and stay.
"""
from __future__ import annotations

import functools

from sqlalchemy import Table

import fieldrules

SQLITE_CHUNK = 500   # values per IN list on SQLite (its bound-parameter limit)


def _pg(conn) -> bool:
    return conn.dialect.name == "postgresql"


def in_query(conn, sql: str, fixed: tuple, values) -> list:
    """Rows of `sql`, whose `{p}` placeholders take `fixed` and whose `IN ({in})` takes the
    list `values` (empty: no rows, no query). A text no database can store (a NUL, a lone
    surrogate: fieldrules) names no row and is left out: PostgreSQL refuses it even as a
    parameter, SQLite's driver refuses a lone surrogate, and an op holding one is rejected
    per op once its content is checked (ingest/batch.py)."""
    values = [v for v in values if not (isinstance(v, str) and fieldrules.unstorable(v))]
    if not values:
        return []
    if _pg(conn):
        return conn.exec_driver_sql(_pg_in(sql), (*fixed, values)).fetchall()
    out = []
    for i in range(0, len(values), SQLITE_CHUNK):
        chunk = values[i:i + SQLITE_CHUNK]
        text = sql.replace("{p}", "?").replace("{in}", ",".join("?" * len(chunk)))
        out.extend(conn.exec_driver_sql(text, (*fixed, *chunk)).fetchall())
    return out


def insert_many(conn, table: Table, rows: list[dict]) -> None:
    """Insert same-shaped dict rows."""
    if not rows:
        return
    cols = tuple(rows[0])
    sql = _insert_sql(conn.dialect, table, cols)
    if _pg(conn):
        conn.exec_driver_sql(sql, tuple([r[c] for r in rows] for c in cols))
    else:
        conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in rows])


def update_many(conn, table: Table, key: str, rows: list[dict]) -> None:
    """Set the other columns of same-shaped dict rows on the rows whose `key` matches (the
    last row given for a key wins, as one statement per row would)."""
    if not rows:
        return
    rows = list({r[key]: r for r in rows}.values())
    cols = tuple(c for c in rows[0] if c != key)
    sql = _update_sql(conn.dialect, table, key, cols)
    if _pg(conn):
        conn.exec_driver_sql(sql, tuple([r[c] for r in rows] for c in (key, *cols)))
    else:
        conn.exec_driver_sql(sql, [tuple(r[c] for c in (*cols, key)) for r in rows])


# Statement texts, made once per (dialect, table, columns): the hot path only fills them.

@functools.lru_cache(maxsize=256)
def _pg_in(sql: str) -> str:
    return sql.replace("{p}", "%s").replace("IN ({in})", "= ANY(%b)")


def _array_types(dialect, table: Table, cols) -> list[str]:
    return [table.c[c].type.compile(dialect=dialect) + "[]" for c in cols]


@functools.lru_cache(maxsize=256)
def _insert_sql(dialect, table: Table, cols: tuple) -> str:
    quote = dialect.identifier_preparer.quote
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "
    if dialect.name == "postgresql":
        arrays = ", ".join(f"%b::{t}" for t in _array_types(dialect, table, cols))
        return into + f"SELECT * FROM unnest({arrays})"
    return into + f"VALUES ({', '.join('?' * len(cols))})"


@functools.lru_cache(maxsize=256)
def _update_sql(dialect, table: Table, key: str, cols: tuple) -> str:
    quote = dialect.identifier_preparer.quote
    name = quote(table.name)
    if dialect.name == "postgresql":
        arrays = ", ".join(f"%b::{t}" for t in _array_types(dialect, table, [key, *cols]))
        sets = ", ".join(f"{quote(c)} = v.{quote(c)}" for c in cols)
        return (f"UPDATE {name} SET {sets} FROM unnest({arrays}) AS v({quote(key)}, "
                f"{', '.join(quote(c) for c in cols)}) WHERE {name}.{quote(key)} = v.{quote(key)}")
    sets = ", ".join(f"{quote(c)} = ?" for c in cols)
    return f"UPDATE {name} SET {sets} WHERE {quote(key)} = ?"
