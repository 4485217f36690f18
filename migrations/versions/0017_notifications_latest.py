"""An index on notifications (user_id, id): a dashboard's version names the reader's latest notice,
max(id) of their rows, which every request now reads beside the session (app/auth/sessions.py).
Without it PostgreSQL walks the whole table's primary key backwards until it meets one of the
reader's rows: all of it for someone who has none.

Revision ID: 0017_notifications_latest
Revises: 0016_request_receipts
Create Date: 2026-12-03 17:00:00
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017_notifications_latest'
down_revision = '0016_request_receipts'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications') as batch:
        batch.create_index('ix_notifications_user_latest', ['user_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('notifications') as batch:
        batch.drop_index('ix_notifications_user_latest')
