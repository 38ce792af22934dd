"""Revision 0004: state shared by every gateway process lives in the database.

Counters taken with UPDATE … RETURNING (change-feed versions, purge floor, receipt
numbers; they were kv rows and max(version)), supervisor PIN lockouts and void retries
(they were in process memory).

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

Big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", Big, nullable=False),
        sa.PrimaryKeyConstraint("name"))
    op.create_table(
        "login_failures",
        sa.Column("operator_id", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", Big, nullable=False),
        sa.PrimaryKeyConstraint("operator_id"))
    op.create_table(
        "void_retries",
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("op_id", sa.String(length=100), nullable=False),
        sa.Column("first_at", Big, nullable=False),
        sa.PrimaryKeyConstraint("device_id", "op_id"))
    conn = op.get_bind()
    kv = dict(conn.execute(sa.text(
        "SELECT key, value FROM kv WHERE key IN ('next_receipt_no', 'changes_floor')")).all())
    top = conn.execute(sa.text("SELECT max(version) FROM route_changes")).scalar() or 0
    floor = int(kv.get("changes_floor") or 0)
    op.bulk_insert(counters, [
        {"name": "feed_version", "value": max(top, floor)},
        {"name": "feed_floor", "value": floor},
        {"name": "receipt_no", "value": int(kv.get("next_receipt_no") or 100000)}])
    conn.execute(sa.text("DELETE FROM kv WHERE key IN ('next_receipt_no', 'changes_floor')"))


def downgrade() -> None:
    conn = op.get_bind()
    values = dict(conn.execute(sa.text("SELECT name, value FROM counters")).all())
    conn.execute(sa.text("INSERT INTO kv (key, value) VALUES ('next_receipt_no', :r), "
                         "('changes_floor', :f)"),
                 {"r": str(values["receipt_no"]), "f": str(values["feed_floor"])})
    op.drop_table("void_retries")
    op.drop_table("login_failures")
    op.drop_table("counters")
