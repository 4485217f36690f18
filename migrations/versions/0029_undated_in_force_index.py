"""The timeline's agreements in force without a signature date are found by a partial index on their
reference: reading them walked every agreement's reference backwards (1.3 ms at 10,000 agreements for
none found), once the timeline reads both kinds in one statement.

Revision ID: 0029_undated_in_force_index
Revises: 0028_api_token_expiry
Create Date: 2026-12-05 23:00:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0029_undated_in_force_index'
down_revision = '0028_api_token_expiry'
branch_labels = None
depends_on = None

# As app.agreements.models.UNDATED_IN_FORCE was when this ran.
UNDATED_IN_FORCE = "signed_on IS NULL AND effective_on IS NOT NULL"


def upgrade():
    op.create_index(
        'ix_agreements_undated_in_force',
        'agreements',
        ['reference'],
        postgresql_where=sa.text(UNDATED_IN_FORCE),
        sqlite_where=sa.text(UNDATED_IN_FORCE),
    )


def downgrade():
    op.drop_index('ix_agreements_undated_in_force', table_name='agreements')
