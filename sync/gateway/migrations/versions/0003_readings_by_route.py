"""Revision 3: readings indexed by route and cycle (the console's route page lists a
route's readings without scanning them all).

Revision ID: 0003
Revises: c14a
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = 'c14a'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('readings') as batch_op:
        batch_op.create_index('ix_readings_route', ['route_id', 'cycle'])


def downgrade() -> None:
    with op.batch_alter_table('readings') as batch_op:
        batch_op.drop_index('ix_readings_route')
