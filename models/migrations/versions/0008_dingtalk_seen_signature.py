"""seen_signature: DingTalk callback (timestamp, sign) pairs seen once (replay refusal)

Revision ID: 0003_dingtalk_seen_signature
Revises: 0003_relay_priority
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0003_dingtalk_seen_signature'
down_revision = '0003_relay_priority'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('seen_signature',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('delivery', sa.String(length=200), nullable=False),
    sa.Column('at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_seen_signature'))
    )
    with op.batch_alter_table('seen_signature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seen_signature_at'), ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('seen_signature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_signature_at'))
    op.drop_table('seen_signature')
