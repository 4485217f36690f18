"""How many times each export's writing began (export_jobs.writes): a writer killed mid-sheet (out of memory,
say) put its export back in the queue with no count, to be taken and killed again for ever, taking the
scheduler's mail and reminders down with it at each restart. Past EXPORT_MAX_WRITES the export fails, saying why.

Revision ID: 0034_export_writes
Revises: 0033_merged_organizations
Create Date: 2026-12-06 11:45:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0034_export_writes'
down_revision = '0033_merged_organizations'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('export_jobs') as batch:
        batch.add_column(sa.Column('writes', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('export_jobs') as batch:
        batch.drop_column('writes')
