"""Revision 5: a meter belongs to one account (`meters`).

Existing active accounts' meters are copied into `meters`; a meter that two accounts name
(possible before this revision) stays with the first account by account number.

Revision ID: 0005
Revises: 0004
"""
import json
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    conn = op.get_bind()
    if sa.inspect(conn).has_table('meters'):   # adopted from a create_all database
        return
    meters = op.create_table(
        'meters',
        sa.Column('meter_no', sa.String(length=200), nullable=False),
        sa.Column('account_no', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('meter_no'))
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meters_account_no'), ['account_no'], unique=False)
    owner: dict[str, str] = {}
    for account_no, doc in conn.execute(sa.text(
            "SELECT account_no, doc FROM accounts WHERE active = :t ORDER BY account_no"),
            {"t": True}):
        meter_no = (json.loads(doc).get("meter") or {}).get("meter_no")
        if isinstance(meter_no, str):
            owner.setdefault(meter_no, account_no)
    if owner:
        op.bulk_insert(meters, [{"meter_no": m, "account_no": a} for m, a in owner.items()])


def downgrade() -> None:
    op.drop_table('meters')
