"""The demo's invented facts are marked where people read them: an agreement's invented key facts
(illustrative_facts, the field names the demo loader knows it made up) and invented deliverables
(is_illustrative). Real agreements keep an empty list and false.

Deliverables the demo loader planned carry its fixed description: they are marked here. An agreement's
list is written by the next `flask demo load`.

Revision ID: 0040_illustrative_facts
Revises: 0039_cancelled_drafts_unshown
Create Date: 2026-12-07 14:55:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0040_illustrative_facts'
down_revision = '0039_cancelled_drafts_unshown'
branch_labels = None
depends_on = None

DEMO_PLAN = "Illustrative demo data: this deliverable and its dates are invented."  # stored_texts.DEMO_PLAN


def upgrade():
    with op.batch_alter_table('agreements') as batch_op:
        batch_op.add_column(sa.Column('illustrative_facts', sa.JSON(), nullable=False, server_default='[]'))
    with op.batch_alter_table('deliverables') as batch_op:
        batch_op.add_column(sa.Column('is_illustrative', sa.Boolean(), nullable=False, server_default=sa.false()))
    deliverables = sa.table('deliverables', sa.column('description', sa.Text), sa.column('is_illustrative', sa.Boolean))
    op.execute(deliverables.update().where(deliverables.c.description == DEMO_PLAN).values(is_illustrative=True))


def downgrade():
    with op.batch_alter_table('deliverables') as batch_op:
        batch_op.drop_column('is_illustrative')
    with op.batch_alter_table('agreements') as batch_op:
        batch_op.drop_column('illustrative_facts')
