"""Outbox messages name what they are about (its id; their kind says what it is), and may be
withdrawn: a reminder whose deliverable was handed in (or whose approval round closed) while it
waited — mail paused, the SMTP server down — is not sent late.

Revision ID: 0019_outbox_withdrawn
Revises: 0018_job_running
Create Date: 2026-12-04 10:40:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_outbox_withdrawn'
down_revision = '0018_job_running'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages') as batch:
        batch.add_column(sa.Column('object_id', sa.Integer(), nullable=True))
        batch.drop_constraint(op.f('ck_outbox_messages_status_known'), type_='check')
        batch.create_check_constraint(
            op.f('ck_outbox_messages_status_known'), "status IN ('pending','sending','sent','failed','withdrawn')"
        )


def downgrade():
    op.execute("UPDATE outbox_messages SET status = 'failed' WHERE status = 'withdrawn'")
    with op.batch_alter_table('outbox_messages') as batch:
        batch.drop_constraint(op.f('ck_outbox_messages_status_known'), type_='check')
        batch.create_check_constraint(
            op.f('ck_outbox_messages_status_known'), "status IN ('pending','sending','sent','failed')"
        )
        batch.drop_column('object_id')
