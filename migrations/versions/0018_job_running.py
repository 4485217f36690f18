"""A job's run in progress: when it started and which process runs it, written as it starts.

The rest of the row is written when a run ends, so a scheduler killed mid-run left no trace on the
jobs page; the next run (or the next scheduler start) now counts such a run as a failure.

Revision ID: 0018_job_running
Revises: 0017_notifications_latest
Create Date: 2026-12-04 10:10:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_job_running'
down_revision = '0017_notifications_latest'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_status') as batch:
        batch.add_column(sa.Column('running_since', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('running_host', sa.String(length=100), nullable=True))


def downgrade():
    with op.batch_alter_table('job_status') as batch:
        batch.drop_column('running_host')
        batch.drop_column('running_since')
