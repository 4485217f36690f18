"""An index on when each stay in a stage began: stage analytics finds the first stay on record
(the years it offers) at the index's start instead of reading every stay.

Revision ID: 0020_stage_visits_entered
Revises: 0019_outbox_withdrawn
Create Date: 2026-12-04 14:15:00
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020_stage_visits_entered'
down_revision = '0019_outbox_withdrawn'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stage_visits') as batch:
        batch.create_index('ix_stage_visits_entered', ['entered_at'], unique=False)


def downgrade():
    with op.batch_alter_table('stage_visits') as batch:
        batch.drop_index('ix_stage_visits_entered')
