"""Drop three one-column indexes of agreements that a wider index already begins with:
ix_agreements_state (ix_agreements_state_entered: state, state_entered_at, reference),
ix_agreements_signed_on (ix_agreements_signed_reference: signed_on, reference) and
ix_agreements_owner_id (ix_agreements_owner_state: owner_id, state). The wide ones answer every
lookup the narrow ones did and also give the pages their order; with both, PostgreSQL sometimes
picked the narrow one and sorted. One index fewer to write on each change, three times.

Revision ID: 0013_redundant_indexes
Revises: 0012_issue12
Create Date: 2026-12-02 10:00:00
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013_redundant_indexes'
down_revision = '0012_issue12'
branch_labels = None
depends_on = None


REDUNDANT = [
    ('ix_agreements_state', ['state']),
    ('ix_agreements_signed_on', ['signed_on']),
    ('ix_agreements_owner_id', ['owner_id']),
]


def upgrade():
    for name, _columns in REDUNDANT:
        op.drop_index(name, table_name='agreements')


def downgrade():
    for name, columns in REDUNDANT:
        op.create_index(name, 'agreements', columns, unique=False)
