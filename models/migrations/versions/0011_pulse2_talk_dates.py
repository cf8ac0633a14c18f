"""pulse2 talk dates: 补录原因 of a talk entered late

Revision ID: pulse2_talk_dates
Revises: seed_learning
Create Date: 2026-11-29 23:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'pulse2_talk_dates'
down_revision = 'seed_learning'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('talk', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late_reason', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('talk', schema=None) as batch_op:
        batch_op.drop_column('late_reason')
