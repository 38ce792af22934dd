"""Revision 2: the office console — office users (slow password hash, lockout), sessions
with their CSRF token, the audit log of supervisor writes, void and shift reviews; an
index of accounts by route and active flag (route progress counts without the documents).

Revision ID: 0002
Revises: 0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

Big = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('accounts') as batch_op:
        batch_op.create_index('ix_accounts_route_active', ['route_id', 'active'])
    op.create_table('office_users',
                    sa.Column('username', sa.String(200), primary_key=True),
                    sa.Column('name', sa.Text(), nullable=False),
                    sa.Column('role', sa.String(200), nullable=False),
                    sa.Column('password_hash', sa.Text(), nullable=False),
                    sa.Column('failed', sa.Integer(), nullable=False),
                    sa.Column('locked_until', Big, nullable=True),
                    sa.Column('created_at', sa.String(200), nullable=False))
    op.create_table('office_sessions',
                    sa.Column('token_hash', sa.String(200), primary_key=True),
                    sa.Column('username', sa.String(200), nullable=False),
                    sa.Column('csrf', sa.String(200), nullable=False),
                    sa.Column('expires_at', Big, nullable=False))
    op.create_table('supervisor_audit',
                    sa.Column('id', sa.Integer(), autoincrement=True, primary_key=True),
                    sa.Column('at', sa.String(200), nullable=False),
                    sa.Column('operator_id', sa.String(200), nullable=False),
                    sa.Column('action', sa.String(200), nullable=False),
                    sa.Column('account_no', sa.String(200), nullable=True),
                    sa.Column('detail', sa.Text(), nullable=False))
    with op.batch_alter_table('supervisor_audit') as batch_op:
        batch_op.create_index('ix_supervisor_audit_account_no', ['account_no'])
    op.create_table('void_reviews',
                    sa.Column('void_op_id', sa.String(100), primary_key=True),
                    sa.Column('decision', sa.String(200), nullable=False),
                    sa.Column('reason', sa.Text(), nullable=True),
                    sa.Column('by_user', sa.String(200), nullable=False),
                    sa.Column('at', sa.String(200), nullable=False))
    op.create_table('shift_reviews',
                    sa.Column('device_id', sa.String(200), primary_key=True),
                    sa.Column('shift_id', sa.String(200), primary_key=True),
                    sa.Column('note', sa.Text(), nullable=False),
                    sa.Column('by_user', sa.String(200), nullable=False),
                    sa.Column('at', sa.String(200), nullable=False))


def downgrade() -> None:
    op.drop_table('shift_reviews')
    op.drop_table('void_reviews')
    with op.batch_alter_table('supervisor_audit') as batch_op:
        batch_op.drop_index('ix_supervisor_audit_account_no')
    op.drop_table('supervisor_audit')
    op.drop_table('office_sessions')
    op.drop_table('office_users')
    with op.batch_alter_table('accounts') as batch_op:
        batch_op.drop_index('ix_accounts_route_active')
