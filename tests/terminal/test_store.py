"""The store: pragmas, migrations from an older version, integrity check, threads, outbox."""
import sqlite3
import threading

import pytest

from terminal import outbox, recovery
from terminal.schema import MIGRATIONS
from terminal.store import Store, StoreCorrupt, StoreTooNew, migrate


def test_pragmas(tmp_path):
    store = Store(tmp_path / "t.db")
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_older_database_is_migrated_and_keeps_rows(tmp_path):
    path = tmp_path / "old.db"
    old = Store(path, migrate_to=len(MIGRATIONS) - 1) if len(MIGRATIONS) > 1 else None
    if old is None:
        # with one migration, "N-1" is an empty file: migrating it must work too
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE keep_me (x)")
        conn.execute("INSERT INTO keep_me VALUES (42)")
        conn.commit()
        conn.close()
    else:
        with old.transaction() as conn:
            conn.execute("INSERT INTO meta VALUES ('k', 'v')")
        old.close()
    store = Store(path)
    assert store.version == len(MIGRATIONS)
    if old is None:
        assert store.conn.execute("SELECT x FROM keep_me").fetchone()[0] == 42
    else:
        assert store.get_meta("k") == "v"


def test_newer_database_is_refused_untouched(tmp_path):
    path = tmp_path / "new.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StoreTooNew, match="Update the app"):
        Store(path)


def test_corrupt_file_gives_clear_error(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(StoreCorrupt, match="office"):
        Store(path)


def test_failed_migration_leaves_nothing_half_done(tmp_path, monkeypatch):
    path = tmp_path / "m.db"
    Store(path).close()
    import terminal.schema as schema
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS + ["CREATE TABLE x (a); CREATE TABLE broken ("])
    import terminal.store as store_mod
    monkeypatch.setattr(store_mod, "MIGRATIONS", schema.MIGRATIONS)
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.Error):
        migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='x'").fetchone()[0] == 0


def test_one_connection_per_thread(tmp_path):
    store = Store(tmp_path / "t.db")
    seen = []
    t = threading.Thread(target=lambda: seen.append(store.conn))
    t.start()
    t.join()
    assert seen[0] is not store.conn


def test_outbox_seq_contiguous_and_rollback_leaves_no_gap(tmp_path):
    store = Store(tmp_path / "t.db")
    with store.transaction() as conn:
        a = outbox.append(conn, "reading", {"n": 1}, operator_id="1001")
    with pytest.raises(ZeroDivisionError):
        with store.transaction() as conn:
            outbox.append(conn, "reading", {"n": 2}, operator_id="1001")
            1 / 0
    with store.transaction() as conn:
        b = outbox.append(conn, "payment", {"n": 3}, operator_id="1001")
    assert (a.seq, b.seq) == (1, 2)
    assert outbox.pending_counts(store) == {"reading": 1, "payment": 1}


def test_outbox_append_outside_transaction_is_refused(tmp_path):
    store = Store(tmp_path / "t.db")
    with pytest.raises(RuntimeError):
        outbox.append(store.conn, "reading", {}, operator_id=None)


def test_outbox_batches_results_and_crash_recovery(tmp_path):
    path = tmp_path / "t.db"
    store = Store(path)
    with store.transaction() as conn:
        ops = [outbox.append(conn, "reading", {"i": i}, operator_id="1") for i in range(5)]
    batch = outbox.take_batch(store, 3)
    assert [o.seq for o in batch] == [1, 2, 3]
    assert outbox.take_batch(store, 10)[0].seq == 4  # inflight ops are not handed out twice
    outbox.mark_results(store, [
        {"op_id": ops[0].op_id, "status": "accepted"},
        {"op_id": ops[1].op_id, "status": "rejected", "code": "bad", "message": "why"},
        {"op_id": ops[2].op_id, "status": "retry"},
    ])
    store.close()
    store = Store(path)  # as after a crash: opening changes nothing …
    assert outbox.get(store, ops[3].op_id)["state"] == "inflight"
    report = recovery.recover(store)
    assert report["ops_released"] == 2 and report["declined"] == report["unknown"] == 0
    assert [o.seq for o in outbox.take_batch(store, 10)] == [3, 4, 5]
    assert [a["op_id"] for a in outbox.attention(store)] == [ops[1].op_id]
    assert outbox.get(store, ops[0].op_id)["state"] == "accepted"
    with pytest.raises(ValueError):
        outbox.mark_results(store, [{"op_id": ops[3].op_id, "status": "maybe"}])
    assert outbox.get(store, ops[3].op_id)["state"] == "inflight"


def test_envelope_hash_matches_payload(tmp_path):
    from terminal.canonical import sha256_hex
    store = Store(tmp_path / "t.db")
    with store.transaction() as conn:
        op = outbox.append(conn, "reading", {"名": "王𠮷", "v": 1}, operator_id="1")
    env = outbox.take_batch(store, 1)[0].envelope()
    assert env["payload_sha256"] == sha256_hex({"v": 1, "名": "王𠮷"}) == op.payload_sha256
