"""Whether the ministry deactivated an account (an admin, or the directory on a leaver): a partner
organisation's admin reactivates only the accounts their organisation deactivated. Accounts inactive
before this revision are counted as the ministry's: who deactivated them is known only from the audit
trail, and the safe reading is that the ministry decides.

Revision ID: 0023_deactivated_by_ministry
Revises: 0022_non_renewal_organization
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0023_deactivated_by_ministry'
down_revision = '0022_non_renewal_organization'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(
            sa.Column('deactivated_by_ministry', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    users = sa.table('users', sa.column('is_active', sa.Boolean), sa.column('deactivated_by_ministry', sa.Boolean))
    op.execute(users.update().where(users.c.is_active.is_(False)).values(deactivated_by_ministry=True))


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_column('deactivated_by_ministry')
