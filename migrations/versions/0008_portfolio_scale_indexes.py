"""Indexes for the filters and sorts of the pages at a whole government's scale

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-01 22:30:00

Every list, board column and dashboard card reads through one of these, so its cost
follows the rows it shows rather than the size of the portfolio (see the EXPLAIN test
in tests/integration/test_indexes.py).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0005'
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_agreements_state_entered", "agreements", ["state", "state_entered_at", "reference"]),
    ("ix_agreements_owner_state", "agreements", ["owner_id", "state"]),
    ("ix_agreements_signed_reference", "agreements", ["signed_on", "reference"]),
    ("ix_deliverable_occurrences_due", "deliverable_occurrences", ["due_on", "id"]),
    ("ix_approval_rounds_status_requested", "approval_rounds", ["status", "requested_at"]),
    ("ix_notifications_user_created", "notifications", ["user_id", "created_at"]),
    ("ix_reminders_sent_key", "reminders_sent", ["object_type", "occurrence_key"]),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
