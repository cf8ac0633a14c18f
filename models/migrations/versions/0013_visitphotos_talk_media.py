"""visitphotos: photos attached to a home visit (platform media ids)

Revision ID: visitphotos_talk_media
Revises: pulse2_pulse_alerts
Create Date: 2026-11-30 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'visitphotos_talk_media'
down_revision = 'pulse2_pulse_alerts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('talk', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_ids', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('talk', schema=None) as batch_op:
        batch_op.drop_column('media_ids')
