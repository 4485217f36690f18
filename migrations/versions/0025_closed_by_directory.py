"""Whether the directory closed an account (its entry gone, disabled, or in no Sharaka group), rather than
the ministry's admin: the directory reopens only what it closed. A directory sign-in had reactivated an
account an admin deactivated (pending an inquiry, say). Accounts inactive before this revision count as
closed by the directory when their last word on it was the directory's (`directory_access_lost`, with no
admin's change of the account after it); the others stay the admin's to reopen.

Revision ID: 0025_closed_by_directory
Revises: 0024_agreements_shared_at
Create Date: 2026-12-05 10:00:00
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0025_closed_by_directory'
down_revision = '0024_agreements_shared_at'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('closed_by_directory', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        """
        UPDATE users SET closed_by_directory = TRUE
        WHERE is_active = FALSE AND directory_dn IS NOT NULL AND EXISTS (
            SELECT 1 FROM audit_events lost
            WHERE lost.object_type = 'users' AND lost.object_id = users.id AND lost.action = 'directory_access_lost'
              AND NOT EXISTS (
                SELECT 1 FROM audit_events later
                WHERE later.object_type = 'users' AND later.object_id = users.id
                  AND later.action IN ('updated', 'deactivated', 'reactivated')
                  AND later.id > lost.id
              )
        )
        """
    )


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_column('closed_by_directory')
