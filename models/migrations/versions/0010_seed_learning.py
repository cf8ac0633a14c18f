"""learning: material category and deadline, reflection (心得) on a read

Revision ID: seed_learning
Revises: care_0003
Create Date: 2026-11-30 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = 'seed_learning'
down_revision = 'care_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('material', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=20), server_default='其他', nullable=False))
        batch_op.add_column(sa.Column('deadline', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_material_deadline'), ['deadline'], unique=False)
    with op.batch_alter_table('material_read', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reflection', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('material_read', schema=None) as batch_op:
        batch_op.drop_column('reflection')
    with op.batch_alter_table('material', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_material_deadline'))
        batch_op.drop_column('deadline')
        batch_op.drop_column('category')
