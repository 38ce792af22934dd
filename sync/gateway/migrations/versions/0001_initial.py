"""Revision 1: the gateway schema as it stood before migrations were introduced.

Revision ID: 0001
Revises:
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('accounts',
    sa.Column('account_no', sa.String(length=200), nullable=False),
    sa.Column('route_id', sa.String(length=200), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('bill_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agent_id', sa.String(length=200), nullable=True),
    sa.Column('doc', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('account_no')
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index('ix_accounts_agent', ['agent_id'], unique=False)
        batch_op.create_index('ix_accounts_route', ['route_id', 'seq'], unique=False)

    op.create_table('agents',
    sa.Column('agent_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=200), nullable=False),
    sa.Column('contact', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('agent_id')
    )
    op.create_table('closeouts',
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('shift_id', sa.String(length=200), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.Column('at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'shift_id')
    )
    op.create_table('devices',
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('token_hash', sa.String(length=200), nullable=False),
    sa.Column('device_key', sa.String(length=200), nullable=False),
    sa.Column('enrolled_at', sa.String(length=200), nullable=False),
    sa.Column('revoked_at', sa.String(length=200), nullable=True),
    sa.Column('last_seen', sa.String(length=200), nullable=True),
    sa.Column('contiguous_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('max_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('device_id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('enrol_codes',
    sa.Column('code', sa.String(length=200), nullable=False),
    sa.Column('reusable', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.String(length=200), nullable=False),
    sa.Column('used_by', sa.String(length=200), nullable=True),
    sa.Column('used_at', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('exceptions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=200), nullable=False),
    sa.Column('device_id', sa.String(length=200), nullable=True),
    sa.Column('op_id', sa.String(length=100), nullable=True),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('account_no', sa.String(length=200), nullable=True),
    sa.Column('amount_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('credit_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_at', sa.String(length=200), nullable=False),
    sa.Column('resolved_at', sa.String(length=200), nullable=True),
    sa.Column('resolved_by', sa.String(length=200), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('kv',
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('operators',
    sa.Column('operator_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('roles', sa.Text(), nullable=False),
    sa.Column('pin_hash', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('operator_id')
    )
    op.create_table('payments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('op_id', sa.String(length=100), nullable=False),
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('operator_id', sa.String(length=200), nullable=True),
    sa.Column('account_no', sa.String(length=200), nullable=True),
    sa.Column('agent_id', sa.String(length=200), nullable=True),
    sa.Column('method', sa.String(length=200), nullable=True),
    sa.Column('amount_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shift_id', sa.String(length=200), nullable=True),
    sa.Column('receipt_no', sa.String(length=200), nullable=True),
    sa.Column('suspense', sa.Boolean(), nullable=False),
    sa.Column('voided_by', sa.String(length=100), nullable=True),
    sa.Column('applied', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('received_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('op_id')
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_account', ['account_no'], unique=False)

    op.create_table('readings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('op_id', sa.String(length=100), nullable=False),
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('operator_id', sa.String(length=200), nullable=True),
    sa.Column('account_no', sa.String(length=200), nullable=True),
    sa.Column('meter_no', sa.String(length=200), nullable=True),
    sa.Column('route_id', sa.String(length=200), nullable=True),
    sa.Column('cycle', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=200), nullable=False),
    sa.Column('value', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('consumption', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kwh_e3', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('skip_code', sa.String(length=200), nullable=True),
    sa.Column('trouble_code', sa.String(length=200), nullable=True),
    sa.Column('corrects', sa.String(length=100), nullable=True),
    sa.Column('superseded_by', sa.String(length=100), nullable=True),
    sa.Column('state', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('received_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('op_id')
    )
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.create_index('ix_readings_account', ['account_no', 'cycle'], unique=False)

    op.create_table('receipt_blocks',
    sa.Column('start', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('end', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('issued_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('start')
    )
    op.create_table('receipts',
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('receipt_no', sa.String(length=200), nullable=False),
    sa.Column('op_id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=200), nullable=False),
    sa.Column('amount_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=200), nullable=False),
    sa.Column('hash', sa.String(length=200), nullable=False),
    sa.Column('verify_code', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'receipt_no'),
    sa.UniqueConstraint('op_id')
    )
    op.create_table('route_assignments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('route_id', sa.String(length=200), nullable=False),
    sa.Column('operator_id', sa.String(length=200), nullable=True),
    sa.Column('device_id', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('by_operator', sa.String(length=200), nullable=True),
    sa.Column('at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('route_changes',
    sa.Column('version', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('route_id', sa.String(length=200), nullable=False),
    sa.Column('account_no', sa.String(length=200), nullable=True),
    sa.Column('kind', sa.String(length=200), nullable=False),
    sa.Column('change', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('version'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('route_changes', schema=None) as batch_op:
        batch_op.create_index('ix_changes_route', ['route_id', 'version'], unique=False)

    op.create_table('routes',
    sa.Column('route_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('cycle', sa.String(length=200), nullable=False),
    sa.Column('read_date', sa.String(length=200), nullable=False),
    sa.Column('hide_previous', sa.Boolean(), nullable=False),
    sa.Column('operator_id', sa.String(length=200), nullable=True),
    sa.Column('device_id', sa.String(length=200), nullable=True),
    sa.Column('download_requested', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('route_id')
    )
    op.create_table('shift_events',
    sa.Column('op_id', sa.String(length=100), nullable=False),
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('shift_id', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('op_id')
    )
    op.create_table('snapshot_accounts',
    sa.Column('snapshot_id', sa.String(length=200), nullable=False),
    sa.Column('pos', sa.Integer(), nullable=False),
    sa.Column('doc', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('snapshot_id', 'pos')
    )
    op.create_table('snapshots',
    sa.Column('snapshot_id', sa.String(length=200), nullable=False),
    sa.Column('route_id', sa.String(length=200), nullable=False),
    sa.Column('as_of_version', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=200), nullable=False),
    sa.Column('header', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('expires_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('expired', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('snapshot_id')
    )
    op.create_table('supervisor_tokens',
    sa.Column('token_hash', sa.String(length=200), nullable=False),
    sa.Column('operator_id', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_table('sync_ops',
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('op_id', sa.String(length=100), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=200), nullable=False),
    sa.Column('operator_id', sa.String(length=200), nullable=True),
    sa.Column('device_time', sa.String(length=200), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('payload_sha256', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=200), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('received_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'op_id')
    )
    with op.batch_alter_table('sync_ops', schema=None) as batch_op:
        batch_op.create_index('ix_sync_ops_device_seq', ['device_id', 'seq'], unique=False)

    op.create_table('thirdparty_payments',
    sa.Column('platform', sa.String(length=200), nullable=False),
    sa.Column('txn_id', sa.String(length=100), nullable=False),
    sa.Column('account_no', sa.String(length=200), nullable=False),
    sa.Column('amount_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('paid_at', sa.String(length=200), nullable=False),
    sa.Column('body_sha256', sa.String(length=200), nullable=False),
    sa.Column('suspense', sa.Boolean(), nullable=False),
    sa.Column('received_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('platform', 'txn_id')
    )
    op.create_table('voids',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('op_id', sa.String(length=100), nullable=False),
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('payment_op_id', sa.String(length=100), nullable=False),
    sa.Column('amount_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('received_at', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('op_id')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('voids')
    op.drop_table('thirdparty_payments')
    with op.batch_alter_table('sync_ops', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_ops_device_seq')

    op.drop_table('sync_ops')
    op.drop_table('supervisor_tokens')
    op.drop_table('snapshots')
    op.drop_table('snapshot_accounts')
    op.drop_table('shift_events')
    op.drop_table('routes')
    with op.batch_alter_table('route_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_changes_route')

    op.drop_table('route_changes')
    op.drop_table('route_assignments')
    op.drop_table('receipts')
    op.drop_table('receipt_blocks')
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.drop_index('ix_readings_account')

    op.drop_table('readings')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_account')

    op.drop_table('payments')
    op.drop_table('operators')
    op.drop_table('kv')
    op.drop_table('exceptions')
    op.drop_table('enrol_codes')
    op.drop_table('devices')
    op.drop_table('closeouts')
    op.drop_table('agents')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_accounts_route')
        batch_op.drop_index('ix_accounts_agent')

    op.drop_table('accounts')
