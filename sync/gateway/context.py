"""Gateway runtime context: engine, settings, transactions, API errors, clock.

Nothing that must hold across gateway processes lives here: tokens, lockouts, void
retries, counters and balances are in the database (feed.py, access.py, ledger.py). The
process-wide `write_lock` only groups this process's ops batches into one transaction
(ingest/commit.py) and spares SQLite's single writer a queue of waiting connections.
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select

from sync.gateway import db, feed


class ApiError(Exception):
    """An error answered as `{"error": code, "message": message}` with a 4xx status."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


@dataclass
class Settings:
    snapshot_ttl_s: int = 3600
    change_retention_s: int = 60 * 24 * 3600
    platform_key: str = "demo-platform-key"
    supervisor_token_ttl_s: int = 12 * 3600
    void_retry_timeout_s: int = 600
    fault_after_commit: int | None = None  # os._exit after the N-th committed ops batch
    max_ops_per_batch: int = 2000
    max_body_bytes: int = 16 * 1024 * 1024
    group_commit: bool = True  # concurrent ops batches share one transaction
    min_client_version: str | None = None  # X-Client-Version below this → 426
    max_in_flight: int = 64  # requests worked on at once per process; past it 503
    pool_size: int = 10  # database connections per process
    access_log: bool = True
    blob_dir: str = ""  # photos from the handhelds (sync/gateway/blobs.py); "" = beside the db


# The gateway's clock. Tests move it forward instead of sleeping until a TTL expires: the
# file named by this variable holds seconds added to the system clock (absent file = 0;
# sync.gateway.testing.GatewayProcess.advance_clock writes it). Unset in production.
CLOCK_FILE_ENV = "CHAOSHOU_GATEWAY_CLOCK_FILE"
_clock_file = os.environ.get(CLOCK_FILE_ENV)


def _offset_s() -> float:
    if not _clock_file:
        return 0.0
    try:
        with open(_clock_file, encoding="ascii") as f:
            return float(f.read().strip() or 0)
    except FileNotFoundError:
        return 0.0


def now() -> float:
    """Unix time on the gateway's clock (the system clock unless a test moved it)."""
    return time.time() + _offset_s()


def now_iso() -> str:
    return datetime.fromtimestamp(now(), timezone.utc).isoformat(timespec="milliseconds")


def now_s() -> int:
    return int(now())


@dataclass
class Context:
    engine: object
    settings: Settings
    is_sqlite: bool
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    group_lock: threading.Lock = field(default_factory=threading.Lock)
    group_queue: list = field(default_factory=list)  # ops batches waiting for the writer
    committed_batches: int = 0  # for the fault hook (fault_after_commit), this process
    purge_checked_at: int = 0   # when this process last looked for expired changes

    @contextmanager
    def write(self, device_id: str | None = None):
        """A write transaction; SQLite: one writer at a time (BEGIN IMMEDIATE)."""
        with self.write_lock:
            with self.transaction() as conn:
                yield conn

    @contextmanager
    def transaction(self):
        """A write transaction (the caller holds `write_lock`); change-feed rows queued in
        it are numbered and written just before COMMIT (feed.py)."""
        with self.engine.connect().execution_options(sqlite_write=True) as conn:
            feed.discard(conn)
            try:
                with conn.begin():
                    yield conn
                    feed.publish(conn)
            finally:
                feed.discard(conn)

    @contextmanager
    def read(self):
        """A read transaction (deferred on SQLite: readers never wait for the writer)."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def peek(self):
        """Reads on the request hot paths (tokens, change feed, snapshot pages). PostgreSQL:
        outside a transaction, each statement seeing what had committed when it started —
        what a READ COMMITTED transaction (the gateway's) gives as well, without the BEGIN
        and COMMIT round trips. SQLite: a read transaction (one snapshot for the block)."""
        if self.is_sqlite:
            with self.read() as conn:
                yield conn
        else:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield conn

    def kv_get(self, conn, key: str, default=None):
        row = conn.execute(select(db.kv.c.value).where(db.kv.c.key == key)).first()
        return default if row is None else row[0]

    def kv_set(self, conn, key: str, value: str) -> None:
        if conn.execute(select(db.kv.c.key).where(db.kv.c.key == key)).first():
            conn.execute(db.kv.update().where(db.kv.c.key == key).values(value=value))
        else:
            conn.execute(db.kv.insert().values(key=key, value=value))
