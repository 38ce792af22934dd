"""Gateway database: SQLAlchemy Core schema and engine setup (SQLite file or PostgreSQL URL).

JSON documents are stored as canonical-JSON text so the same code runs on both engines.
SQLite runs in WAL mode with synchronous=FULL; writers (connections with the execution
option `sqlite_write=True`) take `BEGIN IMMEDIATE` so a transaction never has to upgrade its
lock half-way; readers use a deferred BEGIN and never wait for the writer.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import (BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table,
                        Text, create_engine, event)
from sqlalchemy import exc as exc_mod
from sqlalchemy.engine import Engine

import fieldrules

metadata = MetaData()
Big = BigInteger().with_variant(Integer(), "sqlite")

kv = Table("kv", metadata,  # reference documents and counters: codes, tariffs, settings …
           Column("key", String(300), primary_key=True),
           Column("value", Text, nullable=False))

agents = Table("agents", metadata,
               Column("agent_id", String(200), primary_key=True),
               Column("name", Text, nullable=False),
               Column("kind", String(200), nullable=False),
               Column("contact", Text))

operators = Table("operators", metadata,
                  Column("operator_id", String(200), primary_key=True),
                  Column("name", Text, nullable=False),
                  Column("roles", Text, nullable=False),
                  Column("pin_hash", Text, nullable=False))

routes = Table("routes", metadata,
               Column("route_id", String(200), primary_key=True),
               Column("name", Text, nullable=False),
               Column("cycle", String(200), nullable=False),
               Column("read_date", String(200), nullable=False),
               Column("hide_previous", Boolean, nullable=False, default=False),
               Column("operator_id", String(200)),
               Column("device_id", String(200)),
               Column("download_requested", Boolean, nullable=False, default=False))

route_assignments = Table("route_assignments", metadata,
                          Column("id", Integer, primary_key=True, autoincrement=True),
                          Column("route_id", String(200), nullable=False),
                          Column("operator_id", String(200)),
                          Column("device_id", String(200)),
                          Column("reason", Text, nullable=False),
                          Column("by_operator", String(200)),
                          Column("at", String(200), nullable=False))

# `doc` is the account in the route-document shape (contracts §1), the source of truth;
# `bill_fen` is the arrears at the start of the cycle (for double-collection detection).
accounts = Table("accounts", metadata,
                 Column("account_no", String(200), primary_key=True),
                 Column("route_id", String(200), nullable=False),
                 Column("seq", Big, nullable=False),
                 Column("active", Boolean, nullable=False, default=True),
                 Column("bill_fen", Big, nullable=False, default=0),
                 Column("agent_id", String(200)),
                 Column("doc", Text, nullable=False),
                 Index("ix_accounts_route", "route_id", "seq"),
                 Index("ix_accounts_agent", "agent_id"),
                 Index("ix_accounts_route_active", "route_id", "active"))  # counts per route

route_changes = Table("route_changes", metadata,
                      Column("version", Integer, primary_key=True, autoincrement=True),
                      Column("route_id", String(200), nullable=False),
                      Column("account_no", String(200)),
                      Column("kind", String(200), nullable=False),
                      Column("change", Text, nullable=False),
                      Column("created_at", Big, nullable=False),
                      Index("ix_changes_route", "route_id", "version"),
                      sqlite_autoincrement=True)

snapshots = Table("snapshots", metadata,
                  Column("snapshot_id", String(200), primary_key=True),
                  Column("route_id", String(200), nullable=False),
                  Column("as_of_version", Big, nullable=False),
                  Column("count", Integer, nullable=False),
                  Column("digest", String(200), nullable=False),
                  Column("header", Text, nullable=False),
                  Column("created_at", Big, nullable=False),
                  Column("expires_at", Big, nullable=False),
                  Column("expired", Boolean, nullable=False, default=False))

snapshot_accounts = Table("snapshot_accounts", metadata,
                          Column("snapshot_id", String(200), primary_key=True),
                          Column("pos", Integer, primary_key=True),
                          Column("doc", Text, nullable=False))

devices = Table("devices", metadata,
                Column("device_id", String(200), primary_key=True),
                Column("name", Text, nullable=False),
                Column("token_hash", String(200), nullable=False, unique=True),
                Column("device_key", String(200), nullable=False),
                Column("enrolled_at", String(200), nullable=False),
                Column("revoked_at", String(200)),
                Column("last_seen", String(200)),
                Column("contiguous_seq", Big, nullable=False, default=0),
                Column("max_seq", Big, nullable=False, default=0))

enrol_codes = Table("enrol_codes", metadata,
                    Column("code", String(200), primary_key=True),
                    Column("reusable", Boolean, nullable=False, default=False),
                    Column("created_by", String(200)),
                    Column("created_at", String(200), nullable=False),
                    Column("used_by", String(200)),
                    Column("used_at", String(200)))

supervisor_tokens = Table("supervisor_tokens", metadata,
                          Column("token_hash", String(200), primary_key=True),
                          Column("operator_id", String(200), nullable=False),
                          Column("expires_at", Big, nullable=False))

receipt_blocks = Table("receipt_blocks", metadata,
                       Column("start", Big, primary_key=True),
                       Column("end", Big, nullable=False),
                       Column("device_id", String(200), nullable=False),
                       Column("issued_at", String(200), nullable=False))

sync_ops = Table("sync_ops", metadata,
                 Column("device_id", String(200), primary_key=True),
                 Column("op_id", String(100), primary_key=True),
                 Column("seq", Big, nullable=False),
                 Column("type", String(200), nullable=False),
                 Column("operator_id", String(200)),
                 Column("device_time", String(200)),
                 Column("payload", Text, nullable=False),
                 Column("payload_sha256", String(200), nullable=False),
                 Column("status", String(200), nullable=False),
                 Column("code", String(200)),
                 Column("message", Text),
                 Column("received_at", String(200), nullable=False),
                 Index("ix_sync_ops_device_seq", "device_id", "seq"))

readings = Table("readings", metadata,
                 Column("id", Integer, primary_key=True, autoincrement=True),
                 Column("op_id", String(100), nullable=False, unique=True),
                 Column("device_id", String(200), nullable=False),
                 Column("operator_id", String(200)),
                 Column("account_no", String(200)),
                 Column("meter_no", String(200)),
                 Column("route_id", String(200)),
                 Column("cycle", String(200)),
                 Column("status", String(200), nullable=False),
                 Column("value", Big),
                 Column("consumption", Big),
                 Column("kwh_e3", Big),
                 Column("skip_code", String(200)),
                 Column("trouble_code", String(200)),
                 Column("corrects", String(100)),
                 Column("superseded_by", String(100)),
                 Column("state", String(200), nullable=False),  # current | conflict
                 Column("payload", Text, nullable=False),
                 Column("received_at", String(200), nullable=False),
                 Index("ix_readings_account", "account_no", "cycle"),
                 Index("ix_readings_route", "route_id", "cycle"))  # a route's readings

payments = Table("payments", metadata,
                 Column("id", Integer, primary_key=True, autoincrement=True),
                 Column("op_id", String(100), nullable=False, unique=True),
                 Column("device_id", String(200), nullable=False),
                 Column("operator_id", String(200)),
                 Column("account_no", String(200)),
                 Column("agent_id", String(200)),
                 Column("method", String(200)),
                 Column("amount_fen", Big, nullable=False),
                 Column("shift_id", String(200)),
                 Column("receipt_no", String(200)),
                 Column("suspense", Boolean, nullable=False, default=False),
                 Column("voided_by", String(100)),
                 Column("applied", Text, nullable=False),  # {account_no: [to_arrears, to_credit]}
                 Column("payload", Text, nullable=False),
                 Column("received_at", String(200), nullable=False),
                 Index("ix_payments_account", "account_no"))

voids = Table("voids", metadata,
              Column("id", Integer, primary_key=True, autoincrement=True),
              Column("op_id", String(100), nullable=False, unique=True),
              Column("device_id", String(200), nullable=False),
              Column("payment_op_id", String(100), nullable=False),
              Column("amount_fen", Big, nullable=False),
              Column("reason", Text),
              Column("approved_by", String(200)),
              Column("payload", Text, nullable=False),
              Column("received_at", String(200), nullable=False))

receipts = Table("receipts", metadata,
                 Column("device_id", String(200), primary_key=True),
                 Column("receipt_no", String(200), primary_key=True),
                 Column("op_id", String(100), nullable=False, unique=True),
                 Column("kind", String(200), nullable=False),
                 Column("amount_fen", Big, nullable=False),
                 Column("content", Text, nullable=False),
                 Column("prev_hash", String(200), nullable=False),
                 Column("hash", String(200), nullable=False),
                 Column("verify_code", String(200), nullable=False))

shift_events = Table("shift_events", metadata,
                     Column("op_id", String(100), primary_key=True),
                     Column("device_id", String(200), nullable=False),
                     Column("shift_id", String(200), nullable=False),
                     Column("type", String(200), nullable=False),
                     Column("payload", Text, nullable=False))

thirdparty = Table("thirdparty_payments", metadata,
                   Column("platform", String(200), primary_key=True),
                   Column("txn_id", String(100), primary_key=True),
                   Column("account_no", String(200), nullable=False),
                   Column("amount_fen", Big, nullable=False),
                   Column("paid_at", String(200), nullable=False),
                   Column("body_sha256", String(200), nullable=False),
                   Column("suspense", Boolean, nullable=False, default=False),
                   Column("received_at", String(200), nullable=False))

exceptions = Table("exceptions", metadata,
                   Column("id", Integer, primary_key=True, autoincrement=True),
                   Column("kind", String(200), nullable=False),
                   Column("code", String(200), nullable=False),
                   Column("device_id", String(200)),
                   Column("op_id", String(100)),
                   Column("seq", Big),
                   Column("account_no", String(200)),
                   Column("amount_fen", Big),
                   Column("credit_fen", Big),
                   Column("message", Text, nullable=False),
                   Column("detail", Text),
                   Column("created_at", String(200), nullable=False),
                   Column("resolved_at", String(200)),
                   Column("resolved_by", String(200)),
                   Column("resolution_note", Text))

closeouts = Table("closeouts", metadata,
                  Column("device_id", String(200), primary_key=True),
                  Column("shift_id", String(200), primary_key=True),
                  Column("ok", Boolean, nullable=False),
                  Column("report", Text, nullable=False),
                  Column("at", String(200), nullable=False))

# -- the office console (sync/gateway/console; revision 0002)
office_users = Table("office_users", metadata,
                     Column("username", String(200), primary_key=True),
                     Column("name", Text, nullable=False),
                     Column("role", String(200), nullable=False),  # supervisor|cashier|auditor
                     Column("password_hash", Text, nullable=False),
                     Column("failed", Integer, nullable=False, default=0),
                     Column("locked_until", Big),
                     Column("created_at", String(200), nullable=False))

office_sessions = Table("office_sessions", metadata,
                        Column("token_hash", String(200), primary_key=True),
                        Column("username", String(200), nullable=False),
                        Column("csrf", String(200), nullable=False),
                        Column("expires_at", Big, nullable=False))

supervisor_audit = Table("supervisor_audit", metadata,  # every supervisor write, who/when/what
                         Column("id", Integer, primary_key=True, autoincrement=True),
                         Column("at", String(200), nullable=False),
                         Column("operator_id", String(200), nullable=False),
                         Column("action", String(200), nullable=False),
                         Column("account_no", String(200), index=True),
                         Column("detail", Text, nullable=False))

void_reviews = Table("void_reviews", metadata,  # the office's decision on a handheld's void
                     Column("void_op_id", String(100), primary_key=True),
                     Column("decision", String(200), nullable=False),  # approved | refused
                     Column("reason", Text),
                     Column("by_user", String(200), nullable=False),
                     Column("at", String(200), nullable=False))

shift_reviews = Table("shift_reviews", metadata,  # a shift's variance marked explained
                      Column("device_id", String(200), primary_key=True),
                      Column("shift_id", String(200), primary_key=True),
                      Column("note", Text, nullable=False),
                      Column("by_user", String(200), nullable=False),
                      Column("at", String(200), nullable=False))

# -- a meter's account (sync/gateway/supervisor.py; revision 0005)
meters = Table("meters", metadata,  # a meter belongs to one account (docs/contracts.md §4)
               Column("meter_no", String(200), primary_key=True),
               Column("account_no", String(200), nullable=False, index=True))

# -- the office's settlement of an exception (sync/gateway/settlement.py; revision 0006)
settlements = Table("exception_settlements", metadata,  # credit, refund, reassign, write off
                    Column("id", Integer, primary_key=True, autoincrement=True),
                    Column("exception_id", Integer, nullable=False, unique=True),
                    Column("kind", String(200), nullable=False),      # the exception's kind
                    Column("action", String(20), nullable=False),
                    Column("account_no", String(200), index=True),
                    Column("target_account_no", String(200)),       # reassign
                    Column("amount_fen", Big, nullable=False),
                    Column("balance_fen", Big, nullable=False),     # moved on balances
                    Column("reason", Text, nullable=False),
                    Column("by_user", String(200), nullable=False),
                    Column("at", String(200), nullable=False))

# Counters taken with UPDATE … RETURNING (a row lock until commit; sync/gateway/feed.py):
# `feed_version` (last change-feed version handed out), `feed_floor` (highest purged
# version), `receipt_no` (next receipt number to hand out).
counters = Table("counters", metadata,
                 Column("name", String(64), primary_key=True),
                 Column("value", Big, nullable=False))

login_failures = Table("login_failures", metadata,  # supervisor PIN lockouts
                       Column("operator_id", String(200), primary_key=True),
                       Column("failures", Integer, nullable=False),
                       Column("last_failure_at", Big, nullable=False))

void_retries = Table("void_retries", metadata,  # voids waiting for their payment (seq gap)
                     Column("device_id", String(200), primary_key=True),
                     Column("op_id", String(100), primary_key=True),
                     Column("first_at", Big, nullable=False))


def dumps(obj) -> str:
    """Canonical JSON text for storage; any card number in it is masked (fieldrules.pan)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    masked, found = fieldrules.mask_doc(obj, text)
    return json.dumps(masked, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False) if found else text


def make_engine(db_url: str, pool_size: int = 10) -> Engine:
    """Create the engine (one connection pool per process); SQLite gets WAL,
    synchronous=FULL and a busy timeout. The schema is made by migrations (migrate.py)."""
    is_sqlite = db_url.startswith("sqlite")
    kwargs = {}
    if is_sqlite:
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=2 * pool_size)
    engine = create_engine(db_url, **kwargs)
    if not is_sqlite:
        _ping_when_idle(engine)
    else:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            write = conn.get_execution_options().get("sqlite_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
    return engine


IDLE_PING_S = 1.0   # a pooled PostgreSQL connection idle longer is pinged before use


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has been idle for a while.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: a round trip on every request
    of a busy gateway (two on an ops upload: the token, then the batch). A connection used
    within the last second is used without one; one that sat idle (PostgreSQL restarted
    meanwhile, a firewall dropped it) is pinged, and a dead one makes the pool drop every
    connection made before it and connect afresh. A connection that a restart cuts while
    in use fails its statement, and SQLAlchemy drops the pool's connections the same way
    (the request fails once; the handheld sends its batch again)."""
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy):
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= IDLE_PING_S:
            return                                   # fresh, or in use a moment ago
        try:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
            dbapi_conn.rollback()
        except Exception as exc:  # noqa: BLE001 — any failure: the connection is gone
            raise exc_mod.InvalidatePoolError(str(exc)) from exc


def is_transient(exc: Exception) -> bool:
    """A deadlock or serialization failure between writer processes: redo the transaction."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40P01", "40001")


# ---------------------------------------------------------------- other payment channels
# (sync/gateway/channels, docs/channels.md; Alembic revision c14a)

platforms = Table("platforms", metadata,  # payment platforms and their credentials
                  Column("platform", String(32), primary_key=True),
                  Column("name_zh", Text, nullable=False),
                  Column("name_en", Text, nullable=False),
                  Column("scheme", String(16), nullable=False),   # rsa | hmac
                  Column("secret", Text),        # hmac: shared key (hex)
                  Column("public_key", Text),    # rsa: the platform's public key (PEM)
                  Column("active", Boolean, nullable=False, default=True),
                  Column("created_at", String(200), nullable=False))

platform_nonces = Table("platform_nonces", metadata,  # replay guard across processes
                        Column("platform", String(32), primary_key=True),
                        Column("nonce", String(64), primary_key=True),
                        Column("ts", Big, nullable=False),
                        Index("ix_platform_nonces_ts", "ts"))

channel_payments = Table("channel_payments", metadata,
                         Column("platform", String(32), primary_key=True),
                         Column("trade_no", String(64), primary_key=True),
                         Column("account_no", String(200), nullable=False),
                         Column("bill_id", String(200)),
                         Column("amount_fen", Big, nullable=False),
                         Column("paid_at", String(40), nullable=False),
                         Column("day", String(10), nullable=False),   # paid_at's date (UTC+8)
                         Column("body_sha256", String(64), nullable=False),
                         Column("status", String(20), nullable=False),  # booked|suspense|held
                         Column("source", String(20), nullable=False),  # notify|statement
                         Column("applied", Text),  # [to_arrears, to_credit, due(, {to: booking})]
                         Column("double_fen", Big, nullable=False, default=0),
                         Column("refunded_fen", Big, nullable=False, default=0),
                         Column("reversed_fen", Big, nullable=False, default=0),
                         Column("result", Text, nullable=False),
                         Column("received_at", String(200), nullable=False),
                         Index("ix_channel_payments_day", "platform", "day"),
                         Index("ix_channel_payments_account", "account_no"))

channel_reversals = Table("channel_reversals", metadata,
                          Column("platform", String(32), primary_key=True),
                          Column("refund_no", String(64), primary_key=True),
                          Column("trade_no", String(64), nullable=False),
                          Column("amount_fen", Big, nullable=False),
                          Column("reversed_at", String(40), nullable=False),
                          Column("body_sha256", String(64), nullable=False),
                          Column("result", Text, nullable=False),
                          Column("received_at", String(200), nullable=False))

channel_fees = Table("channel_fees", metadata,  # fee schedule per channel
                     Column("channel", String(32), primary_key=True),
                     Column("rule", Text, nullable=False))

recon_runs = Table("recon_runs", metadata,  # daily statement imports (对账)
                   Column("id", Integer, primary_key=True, autoincrement=True),
                   Column("platform", String(32), nullable=False),
                   Column("day", String(10), nullable=False),
                   Column("file_sha256", String(64), nullable=False),
                   Column("report", Text, nullable=False),
                   Column("created_at", String(200), nullable=False),
                   Index("ix_recon_runs_day", "platform", "day", "file_sha256", unique=True))

agent_agreements = Table("agent_agreements", metadata,  # 区域代管 agreements
                         Column("agent_id", String(200), primary_key=True),
                         Column("deposit_fen", Big, nullable=False, default=0),
                         Column("credit_limit_fen", Big, nullable=False, default=0),
                         Column("remit_days", Integer, nullable=False),
                         Column("blocked", Boolean, nullable=False, default=False),
                         Column("block_reason", String(40)),
                         Column("blocked_at", String(200)),
                         Column("lifted_until", String(200)),
                         Column("updated_at", String(200), nullable=False))

agent_remittances = Table("agent_remittances", metadata,
                          Column("id", Integer, primary_key=True, autoincrement=True),
                          Column("agent_id", String(200), nullable=False),
                          Column("amount_fen", Big, nullable=False),
                          Column("reference", String(200), nullable=False),
                          Column("remitted_at", String(200), nullable=False),
                          Column("recorded_by", String(200)),
                          Index("ix_agent_remittances", "agent_id", "remitted_at"))
