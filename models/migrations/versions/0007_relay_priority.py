"""outbox priority (urgent rows are claimed first)

Revision ID: 0003_relay_priority
Revises: access_dashboard_sessions
"""
import sqlalchemy as sa
from alembic import op

revision = '0003_relay_priority'
down_revision = 'access_dashboard_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='1', nullable=False))
        batch_op.create_index('ix_outbox_message_claim', ['status', 'priority', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_claim')
        batch_op.drop_column('priority')
