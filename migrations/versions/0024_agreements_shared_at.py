"""When an agreement was first shown to its partners (agreements.shared_at): as it first left the ministry's
internal stages (drafting, internal review: the "internal" tag). Partners see an agreement only from then
on; before, they read the ministry's drafts the moment they were created, a budget's negotiating floor
included.

Existing agreements count as shown from their creation when they are past those stages now or stayed in
another stage before (their stays in stage_visits); those still in a first draft or review stay the
ministry's. The stage names are the shipped workflows' as of this revision.

Revision ID: 0024_agreements_shared_at
Revises: 0023_deactivated_by_ministry
Create Date: 2026-12-05 08:00:00
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0024_agreements_shared_at'
down_revision = '0023_deactivated_by_ministry'
branch_labels = None
depends_on = None

INTERNAL_STATES = ("draft", "internal_review")  # the "internal" tag of mou.yaml and amendment.yaml


def upgrade():
    with op.batch_alter_table('agreements') as batch:
        batch.add_column(sa.Column('shared_at', sa.DateTime(), nullable=True))
    agreements = sa.table(
        'agreements',
        sa.column('id', sa.Integer),
        sa.column('state', sa.String),
        sa.column('created_at', sa.DateTime()),
        sa.column('shared_at', sa.DateTime()),
    )
    visits = sa.table('stage_visits', sa.column('agreement_id', sa.Integer), sa.column('state', sa.String))
    stayed_elsewhere = sa.exists(
        sa.select(visits.c.agreement_id).where(
            visits.c.agreement_id == agreements.c.id, visits.c.state.not_in(INTERNAL_STATES)
        )
    )
    op.execute(
        agreements.update()
        .where(sa.or_(agreements.c.state.not_in(INTERNAL_STATES), stayed_elsewhere))
        .values(shared_at=agreements.c.created_at)
    )


def downgrade():
    with op.batch_alter_table('agreements') as batch:
        batch.drop_column('shared_at')
