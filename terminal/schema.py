"""The terminal store's schema as an ordered list of migrations.

`PRAGMA user_version` holds the number of migrations applied. A migration is only ever
appended, never edited once released, so that a newer app opens an older database and
keeps its rows.

Server-owned tables (replaced wholesale by a route download): routes, accounts, meters,
tariffs, codes, agents, agent_members, operators.
Captured tables (never touched by a download): readings, payments, payment_allocations,
receipts, receipt_blocks, voids, shifts, outbox, audit_log, print_jobs, walk_order, login_failures,
booked_ops.
Staging (paged route downloads, never visible): stage_snapshots, stage_accounts.
Derived from accounts (kept in step by terminal.routes): name_fts, address_fts.
"""

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);

    -- server-owned ---------------------------------------------------------
    CREATE TABLE routes (
        route_id TEXT PRIMARY KEY, name TEXT NOT NULL, cycle TEXT NOT NULL,
        read_date TEXT, hide_previous INTEGER NOT NULL DEFAULT 0,
        server_version INTEGER NOT NULL DEFAULT 0, snapshot_id TEXT,
        imported_at TEXT NOT NULL
    );
    CREATE TABLE tariffs (
        tariff_id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
        bands TEXT NOT NULL, late_fee_ppm_per_day INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE codes (
        kind TEXT NOT NULL, code TEXT NOT NULL, zh TEXT NOT NULL, en TEXT NOT NULL,
        rule TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (kind, code)
    );
    CREATE TABLE agents (
        agent_id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, contact TEXT
    );
    CREATE TABLE agent_members (
        agent_id TEXT NOT NULL, account_no TEXT NOT NULL, PRIMARY KEY (agent_id, account_no)
    );
    CREATE TABLE operators (
        operator_id TEXT PRIMARY KEY, name TEXT NOT NULL, roles TEXT NOT NULL,
        pin_hash TEXT NOT NULL
    );
    CREATE TABLE accounts (
        account_no TEXT PRIMARY KEY, route_id TEXT NOT NULL, seq INTEGER NOT NULL,
        name TEXT NOT NULL, address TEXT NOT NULL, phone TEXT,
        tariff_id TEXT, arrears_fen INTEGER NOT NULL DEFAULT 0, arrears_due_date TEXT,
        credit_fen INTEGER NOT NULL DEFAULT 0, agent_id TEXT, hazard TEXT,
        last_third_party TEXT
    );
    CREATE INDEX accounts_route_seq ON accounts (route_id, seq);
    CREATE TABLE meters (
        meter_no TEXT PRIMARY KEY, account_no TEXT NOT NULL UNIQUE,
        dials INTEGER NOT NULL, decimals INTEGER NOT NULL DEFAULT 0,
        multiplier INTEGER NOT NULL DEFAULT 1, prev_value INTEGER, prev_date TEXT,
        avg_daily_wh INTEGER, limit_low INTEGER, limit_high INTEGER
    );

    -- captured ---------------------------------------------------------------
    CREATE TABLE walk_order (account_no TEXT PRIMARY KEY, position REAL NOT NULL);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY, op_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
        operator_id TEXT, device_time TEXT NOT NULL, payload TEXT NOT NULL,
        payload_sha256 TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending','inflight','accepted','duplicate','rejected','conflict')),
        attempts INTEGER NOT NULL DEFAULT 0, result_code TEXT, result_message TEXT,
        updated_at TEXT
    );
    CREATE INDEX outbox_state ON outbox (state, seq);
    CREATE TABLE readings (
        op_id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE REFERENCES outbox (seq),
        account_no TEXT NOT NULL, meter_no TEXT NOT NULL, route_id TEXT, cycle TEXT,
        status TEXT NOT NULL CHECK (status IN ('read','skipped')),
        value INTEGER, consumption INTEGER, rollover INTEGER NOT NULL DEFAULT 0,
        kwh_e3 INTEGER, entries TEXT NOT NULL DEFAULT '[]', reentry_ms INTEGER,
        warnings TEXT NOT NULL DEFAULT '[]', skip_code TEXT, trouble_code TEXT, note TEXT,
        lat REAL, lon REAL, gps_accuracy_m REAL, bill_estimate_fen INTEGER,
        corrects TEXT REFERENCES readings (op_id), superseded_by TEXT,
        operator_id TEXT NOT NULL, device_time TEXT NOT NULL
    );
    CREATE INDEX readings_account ON readings (account_no, cycle);
    CREATE TABLE shifts (
        shift_id TEXT PRIMARY KEY, operator_id TEXT NOT NULL, opened_at TEXT NOT NULL,
        float_fen INTEGER NOT NULL, closed_at TEXT, counted_fen INTEGER,
        expected_fen INTEGER, variance_fen INTEGER, z_no INTEGER UNIQUE, summary TEXT
    );
    CREATE TABLE payments (
        op_id TEXT PRIMARY KEY, account_no TEXT, agent_id TEXT,
        method TEXT NOT NULL CHECK (method IN ('cash','card')),
        amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
        tendered_fen INTEGER, change_fen INTEGER,
        state TEXT NOT NULL CHECK (state IN ('intent','sent','approved','declined','unknown','done','voided')),
        shift_id TEXT REFERENCES shifts (shift_id), receipt_no INTEGER UNIQUE,
        card TEXT, operator_id TEXT NOT NULL, device_time TEXT NOT NULL, updated_at TEXT
    );
    CREATE TABLE payment_allocations (
        payment_op_id TEXT NOT NULL REFERENCES payments (op_id), account_no TEXT NOT NULL,
        amount_fen INTEGER NOT NULL, PRIMARY KEY (payment_op_id, account_no)
    );
    CREATE TABLE receipt_blocks (
        start_no INTEGER NOT NULL, end_no INTEGER NOT NULL, next_no INTEGER NOT NULL,
        PRIMARY KEY (start_no)
    );
    CREATE TABLE receipts (
        receipt_no INTEGER PRIMARY KEY, op_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
        content TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
        verify_code TEXT NOT NULL, issued_at TEXT NOT NULL,
        print_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE voids (
        op_id TEXT PRIMARY KEY, payment_op_id TEXT NOT NULL UNIQUE REFERENCES payments (op_id),
        reason TEXT NOT NULL, approved_by TEXT NOT NULL, operator_id TEXT NOT NULL,
        device_time TEXT NOT NULL
    );
    CREATE TABLE print_jobs (
        job_id INTEGER PRIMARY KEY, receipt_no INTEGER, doc TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','printing','held','done')),
        copy INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
        reason TEXT, created_at TEXT NOT NULL, updated_at TEXT
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, operator_id TEXT, event TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: route staging (paged downloads), the search index, login lockout
    """
    CREATE TABLE stage_snapshots (
        snapshot_id TEXT PRIMARY KEY, route_id TEXT NOT NULL, header TEXT NOT NULL,
        count INTEGER NOT NULL, cursor TEXT, pages INTEGER NOT NULL DEFAULT 0,
        complete INTEGER NOT NULL DEFAULT 0, started_at TEXT NOT NULL, updated_at TEXT
    );
    CREATE INDEX stage_snapshots_route ON stage_snapshots (route_id);
    CREATE TABLE stage_accounts (
        snapshot_id TEXT NOT NULL REFERENCES stage_snapshots (snapshot_id) ON DELETE CASCADE,
        account_no TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL,
        PRIMARY KEY (snapshot_id, account_no)
    );
    -- name and address split into single characters (rowid = accounts.rowid), so that a
    -- phrase query of 1, 2 or more characters is a substring match, Chinese included
    CREATE VIRTUAL TABLE account_fts USING fts5 (name, address, tokenize = 'unicode61');
    CREATE INDEX readings_meter_cycle ON readings (meter_no, cycle);
    CREATE TABLE login_failures (
        operator_id TEXT PRIMARY KEY, failures INTEGER NOT NULL DEFAULT 0,
        locked_until REAL, last_failure_at TEXT
    );
    """,
    # 3: the search index also holds character bigrams (fast 2+ character substrings);
    # it is rebuilt from accounts by terminal.search on first use (meta search_index_stale)
    """
    DROP TABLE account_fts;
    -- the text is already split, lower-cased and stripped of punctuation by terminal.search,
    -- so the plain 'ascii' tokenizer (spaces separate, every non-ASCII character is part of a
    -- token) gives the same tokens faster; no column sizes are needed (no ranking)
    CREATE VIRTUAL TABLE account_fts USING fts5 (name, address, name2, address2,
                                                 tokenize = 'ascii', columnsize = 0);
    INSERT INTO meta (key, value) VALUES ('search_index_stale', '1')
        ON CONFLICT (key) DO UPDATE SET value = '1';
    """,
    # 4: names and addresses in separate search tables: an FTS5 column filter still walks the
    # token's whole doclist, so a name query must not see the (much larger) address tokens
    """
    DROP TABLE account_fts;
    CREATE VIRTUAL TABLE name_fts USING fts5 (chars, bigrams, tokenize = 'ascii', columnsize = 0);
    CREATE VIRTUAL TABLE address_fts USING fts5 (chars, bigrams, tokenize = 'ascii', columnsize = 0);
    INSERT INTO meta (key, value) VALUES ('search_index_stale', '1')
        ON CONFLICT (key) DO UPDATE SET value = '1';
    """,
    # 5: keep the search index in few segments (FTS5 settings, stored with the tables): a
    # route import flushes as one segment (hashsize 32 MiB) and segments merge two at a time;
    # a fragmented index made substring queries ~10x slower
    """
    INSERT INTO name_fts (name_fts, rank) VALUES ('hashsize', 33554432);
    INSERT INTO name_fts (name_fts, rank) VALUES ('automerge', 2);
    INSERT INTO address_fts (address_fts, rank) VALUES ('hashsize', 33554432);
    INSERT INTO address_fts (address_fts, rank) VALUES ('automerge', 2);
    INSERT INTO name_fts (name_fts) VALUES ('optimize');
    INSERT INTO address_fts (address_fts) VALUES ('optimize');
    """,
    # 6: this device's payments and voids that the office's balances are known to include
    # (named by a route snapshot or the change feed; docs/ledger.md, "The due figure"); kept
    # across route downloads, like every captured table
    """
    CREATE TABLE booked_ops (op_id TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
    """,
    # 7: the search index keeps every CJK ideograph (Extensions H and I were dropped as
    # punctuation by older Unicode tables): rebuilt by terminal.search on first use
    """
    INSERT INTO meta (key, value) VALUES ('search_index_stale', '1')
        ON CONFLICT (key) DO UPDATE SET value = '1';
    """,
    # 8: meter photos (terminal/photos.py): one row per stored file, named by its SHA-256;
    # `op_id` is the capture that uses it, `uploaded_at` when the gateway verified it
    """
    CREATE TABLE photos (
        sha256 TEXT PRIMARY KEY, op_id TEXT, bytes INTEGER NOT NULL,
        taken_at TEXT NOT NULL, uploaded_at TEXT
    );
    CREATE INDEX ix_photos_op ON photos (op_id);
    """,
    # 9: where a payment was taken (terminal/location.py: the fix as of the payment, JSON)
    """
    ALTER TABLE payments ADD COLUMN gps TEXT;
    """,
]

SERVER_OWNED_TABLES = ("routes", "accounts", "meters", "tariffs", "codes", "agents",
                       "agent_members", "operators")
