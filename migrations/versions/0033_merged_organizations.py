"""An organisation retired by a merge names the one everything of it went to (organizations.merged_into_id),
so its page sends whoever lands on it to the one that stays.

Revision ID: 0033_merged_organizations
Revises: 0032_retired_organizations
Create Date: 2026-12-06 05:20:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0033_merged_organizations'
down_revision = '0032_retired_organizations'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organizations') as batch:
        batch.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f('fk_organizations_merged_into_id_organizations'), 'organizations', ['merged_into_id'], ['id'],
            ondelete='SET NULL',
        )


def downgrade():
    with op.batch_alter_table('organizations') as batch:
        batch.drop_constraint(batch.f('fk_organizations_merged_into_id_organizations'), type_='foreignkey')
        batch.drop_column('merged_into_id')
