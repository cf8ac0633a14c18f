"""care requests: type, amount, photos, discretion, approval chain, reporter, last nudge

Revision ID: care_0003
Revises: 0003_dingtalk_seen_signature
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = 'care_0003'
down_revision = '0003_dingtalk_seen_signature'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('care_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('care_type', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('care_reason', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('amount', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('youth', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('discreet', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('media_ids', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('approval_chain', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('approval_step', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('reporter_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('nudged_at', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_care_case_reporter_id_person'), 'person', ['reporter_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('care_case', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_care_case_reporter_id_person'), type_='foreignkey')
        for col in ('nudged_at', 'reporter_id', 'approval_step', 'approval_chain', 'media_ids', 'discreet', 'youth',
                    'amount', 'care_reason', 'care_type'):
            batch_op.drop_column(col)
