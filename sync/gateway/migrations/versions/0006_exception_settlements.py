"""Revision 0006: the office's settlement of an exception (`exception_settlements`): what
a credit, refund, re-assignment or write-off moved, by whom, why and when (docs/ledger.md,
"Settling an exception").

Revision ID: 0006
Revises: 0005
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

Big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table('exception_settlements'):   # a create_all database
        return
    op.create_table(
        'exception_settlements',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('exception_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=200), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('account_no', sa.String(length=200), nullable=True),
        sa.Column('target_account_no', sa.String(length=200), nullable=True),
        sa.Column('amount_fen', Big, nullable=False),
        sa.Column('balance_fen', Big, nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('by_user', sa.String(length=200), nullable=False),
        sa.Column('at', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('exception_id'))
    with op.batch_alter_table('exception_settlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exception_settlements_account_no'),
                              ['account_no'], unique=False)


def downgrade() -> None:
    op.drop_table('exception_settlements')
