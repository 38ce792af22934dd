"""Revision c14a: other payment channels (docs/channels.md) — payment platforms and their
credentials, nonces against replay, platform payments and reversals, channel fees, daily
statement reconciliation runs, regional agent agreements and remittances.

Revision ID: c14a
Revises: 0002
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = 'c14a'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('agent_agreements',
    sa.Column('agent_id', sa.String(length=200), nullable=False),
    sa.Column('deposit_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('credit_limit_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('remit_days', sa.Integer(), nullable=False),
    sa.Column('blocked', sa.Boolean(), nullable=False),
    sa.Column('block_reason', sa.String(length=40), nullable=True),
    sa.Column('blocked_at', sa.String(length=200), nullable=True),
    sa.Column('lifted_until', sa.String(length=200), nullable=True),
    sa.Column('updated_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('agent_id')
    )
    op.create_table('agent_remittances',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('agent_id', sa.String(length=200), nullable=False),
    sa.Column('amount_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('remitted_at', sa.String(length=200), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('agent_remittances', schema=None) as batch_op:
        batch_op.create_index('ix_agent_remittances', ['agent_id', 'remitted_at'], unique=False)

    op.create_table('channel_fees',
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('channel')
    )
    op.create_table('channel_payments',
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('trade_no', sa.String(length=64), nullable=False),
    sa.Column('account_no', sa.String(length=200), nullable=False),
    sa.Column('bill_id', sa.String(length=200), nullable=True),
    sa.Column('amount_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('paid_at', sa.String(length=40), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('applied', sa.Text(), nullable=True),
    sa.Column('double_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reversed_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('received_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('platform', 'trade_no')
    )
    with op.batch_alter_table('channel_payments', schema=None) as batch_op:
        batch_op.create_index('ix_channel_payments_account', ['account_no'], unique=False)
        batch_op.create_index('ix_channel_payments_day', ['platform', 'day'], unique=False)

    op.create_table('channel_reversals',
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('refund_no', sa.String(length=64), nullable=False),
    sa.Column('trade_no', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reversed_at', sa.String(length=40), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('received_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('platform', 'refund_no')
    )
    op.create_table('platform_nonces',
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('ts', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('platform', 'nonce')
    )
    with op.batch_alter_table('platform_nonces', schema=None) as batch_op:
        batch_op.create_index('ix_platform_nonces_ts', ['ts'], unique=False)

    op.create_table('platforms',
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('scheme', sa.String(length=16), nullable=False),
    sa.Column('secret', sa.Text(), nullable=True),
    sa.Column('public_key', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('platform')
    )
    op.create_table('recon_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.Column('created_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('recon_runs', schema=None) as batch_op:
        batch_op.create_index('ix_recon_runs_day', ['platform', 'day', 'file_sha256'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('recon_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_recon_runs_day')

    op.drop_table('recon_runs')
    op.drop_table('platforms')
    with op.batch_alter_table('platform_nonces', schema=None) as batch_op:
        batch_op.drop_index('ix_platform_nonces_ts')

    op.drop_table('platform_nonces')
    op.drop_table('channel_reversals')
    with op.batch_alter_table('channel_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_payments_day')
        batch_op.drop_index('ix_channel_payments_account')

    op.drop_table('channel_payments')
    op.drop_table('channel_fees')
    with op.batch_alter_table('agent_remittances', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_remittances')

    op.drop_table('agent_remittances')
    op.drop_table('agent_agreements')
