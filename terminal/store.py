"""The terminal's local store: one SQLite file, opened safely, migrated, one connection per thread.

Every capture is confirmed to the user only after `transaction()` has committed. The file
runs in WAL mode with `synchronous=FULL`, so a committed transaction survives a power cut.
"""
import contextlib
import datetime as dt
import sqlite3
import threading
from pathlib import Path

from terminal.schema import MIGRATIONS

BUSY_TIMEOUT_MS = 5000


class StoreError(Exception):
    """The store cannot be used; the message says why and what to do."""


class StoreCorrupt(StoreError):
    pass


class StoreTooNew(StoreError):
    pass


def now_iso() -> str:
    """Device time, local with offset, to the second."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate(conn: sqlite3.Connection, upto: int | None = None) -> int:
    """Apply the migrations not yet applied (up to `upto`); returns the schema version."""
    target = len(MIGRATIONS) if upto is None else upto
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreTooNew(f"The database has schema version {version}, newer than this app "
                          f"knows ({len(MIGRATIONS)}). Update the app; no data was changed.")
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            version += 1
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version


def _statements(script: str):
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                yield buf.strip()
            buf = ""
    if buf.strip():
        yield buf.strip()


class Store:
    """The store file; `conn` is this thread's own connection to it."""

    def __init__(self, path, *, check: bool = True, migrate_to: int | None = None):
        self.path = str(Path(path))
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self.conn
        if check:
            self.check_integrity(conn)
        self.version = migrate(conn, migrate_to)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = _connect(self.path)
            except sqlite3.DatabaseError as exc:
                raise StoreCorrupt(f"Cannot open the data file {self.path}: {exc}. "
                                   "Do not delete it; call the office (IT) to recover it.") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @staticmethod
    def check_integrity(conn: sqlite3.Connection) -> None:
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            rows = [str(exc)]
        if rows != ["ok"]:
            raise StoreCorrupt("The data file failed its integrity check ("
                               + "; ".join(rows[:3]) + "). Do not delete it; "
                               "call the office (IT) to recover it.")

    @contextlib.contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE … COMMIT on this thread's connection; nested use makes a savepoint."""
        conn = self.conn
        if conn.in_transaction:
            name = f"sp{id(conn)}_{getattr(self._local, 'depth', 0)}"
            self._local.depth = getattr(self._local, "depth", 0) + 1
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield conn
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # small key/value settings of this device (device id, gateway URL, credentials, …)
    def get_meta(self, key: str, default=None):
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET value=excluded.value", (key, value))

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(Exception):
                    conn.close()
            self._all.clear()
        self._local = threading.local()


def audit(conn: sqlite3.Connection, event: str, operator_id: str | None = None, **detail) -> None:
    """Append to the audit log inside the caller's transaction."""
    import json
    conn.execute("INSERT INTO audit_log (at, operator_id, event, detail) VALUES (?, ?, ?, ?)",
                 (now_iso(), operator_id, event, json.dumps(detail, ensure_ascii=False, sort_keys=True)))
