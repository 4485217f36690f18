"""An organisation can be retired (dissolved, merged into another, entered twice): kept with its history,
never chosen again.

Revision ID: 0032_retired_organizations
Revises: 0031_one_spelling_per_mailbox
Create Date: 2026-12-06 05:20:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0032_retired_organizations'
down_revision = '0031_one_spelling_per_mailbox'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organizations') as batch:
        # Naive UTC, as app.core.models.UTCDateTime stores every moment.
        batch.add_column(sa.Column('retired_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('organizations') as batch:
        batch.drop_column('retired_at')
