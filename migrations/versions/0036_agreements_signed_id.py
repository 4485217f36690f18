"""The agreements list's order, newest first, by signature date then by creation (id): by reference it put
MTNRA-2026-999 before MTNRA-2026-6638, references being compared as text once a year passes 999 agreements.
An index on (signed_on, id) keeps the list's first page read from an index at a government's scale.

Revision ID: 0036_agreements_signed_id
Revises: 0035_audit_browsing
Create Date: 2026-12-06 17:15:00
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0036_agreements_signed_id'
down_revision = '0035_audit_browsing'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_agreements_signed_id', 'agreements', ['signed_on', 'id'])


def downgrade():
    op.drop_index('ix_agreements_signed_id', table_name='agreements')
