"""exports: files made by chat for one person (sign-up lists, statistics), sent as file messages

Revision ID: exports_export_file
Revises: visitphotos_talk_media
Create Date: 2026-11-30 02:00:00
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = 'exports_export_file'
down_revision = 'visitphotos_talk_media'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'export_file',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_export_file_person_id_person'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_export_file')),
        sa.UniqueConstraint('token', name=op.f('uq_export_file_token')),
    )
    with op.batch_alter_table('export_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_export_file_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_export_file_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('export_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_export_file_person_id'))
        batch_op.drop_index(batch_op.f('ix_export_file_expires_at'))
    op.drop_table('export_file')
