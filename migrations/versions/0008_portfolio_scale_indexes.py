"""Indexes for the filters and sorts of the pages at a whole government's scale; stage_visits

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:30:00

Every list, board column and dashboard card reads through one of these, so its cost
follows the rows it shows rather than the size of the portfolio (see the EXPLAIN test
in tests/integration/test_indexes.py).

stage_visits holds each agreement's stays in each stage, derived from the audit trail
(app/workflow/stage_history.py keeps it current); stage analytics reads it instead of the
whole trail. It is filled from the trail's creation and transition rows by
0030_stage_visits_type, with the same code that keeps it: that code writes the columns of
that revision (the agreement's type), which this one does not have.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
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
    op.create_table('stage_visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=40), nullable=False),
    sa.Column('entered_at', sa.DateTime(), nullable=False),
    sa.Column('left_at', sa.DateTime(), nullable=True),
    sa.Column('days', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_stage_visits_agreement_id_agreements'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_visits'))
    )
    with op.batch_alter_table('stage_visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stage_visits_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index('ix_stage_visits_state_entered', ['state', 'entered_at'], unique=False)


def downgrade():
    with op.batch_alter_table('stage_visits', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_visits_state_entered')
        batch_op.drop_index(batch_op.f('ix_stage_visits_agreement_id'))
    op.drop_table('stage_visits')
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
