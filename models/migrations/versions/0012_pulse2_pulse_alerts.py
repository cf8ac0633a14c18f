"""pulse2 pulse alerts: 共性问题 fired once per team, category and window

Revision ID: pulse2_pulse_alerts
Revises: pulse2_talk_dates
Create Date: 2026-11-29 23:30:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = 'pulse2_pulse_alerts'
down_revision = 'pulse2_talk_dates'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pulse_alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('window', sa.String(length=20), nullable=False),
    sa.Column('flags', sa.Integer(), nullable=False),
    sa.Column('fired_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['care_case.id'], name=op.f('fk_pulse_alert_case_id_care_case')),
    sa.ForeignKeyConstraint(['team_id'], ['unit.id'], name=op.f('fk_pulse_alert_team_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pulse_alert')),
    sa.UniqueConstraint('team_id', 'category', 'window', name=op.f('uq_pulse_alert_team_id_category_window'))
    )
    with op.batch_alter_table('pulse_alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pulse_alert_team_id'), ['team_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pulse_alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pulse_alert_team_id'))
    op.drop_table('pulse_alert')
