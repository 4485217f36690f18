"""Drafts cancelled before they were ever shown to their partners are the ministry's again (shared_at back to
null). Moving a draft straight to "cancelled" counted as leaving the internal stages, so its partners read it,
its budget's negotiating floor included, from the moment it was abandoned (and migration 0024 counted every
cancelled agreement as shown). The engine no longer shows an agreement by ending it (engine.note_shared).

Here: agreements now cancelled, never signed, that stayed in the internal stages and in no other before
(their stays in stage_visits). The stage names are the shipped workflows' as of this revision, as 0024's.
An agreement placed in "cancelled" directly (an import of a past one, with no stay in a draft) keeps its
partners. Downgrading shows them again as they were shown before.

Revision ID: 0039_cancelled_drafts_unshown
Revises: 0038_outbox_messages_about
Create Date: 2026-12-07 05:10:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0039_cancelled_drafts_unshown'
down_revision = '0038_outbox_messages_about'
branch_labels = None
depends_on = None

INTERNAL_STATES = ("draft", "internal_review")  # the "internal" tag of mou.yaml and amendment.yaml
CANCELLED = "cancelled"  # the final stage those two reach from them

agreements = sa.table(
    'agreements',
    sa.column('id', sa.Integer),
    sa.column('state', sa.String),
    sa.column('signed_on', sa.Date),
    sa.column('state_entered_at', sa.DateTime()),
    sa.column('shared_at', sa.DateTime()),
)
visits = sa.table('stage_visits', sa.column('agreement_id', sa.Integer), sa.column('state', sa.String))


def _stayed(*condition):
    return sa.exists(sa.select(visits.c.agreement_id).where(visits.c.agreement_id == agreements.c.id, *condition))


def _cancelled_drafts():
    return (
        (agreements.c.state == CANCELLED)
        & agreements.c.signed_on.is_(None)
        & _stayed(visits.c.state.in_(INTERNAL_STATES))
        & ~_stayed(visits.c.state.not_in((*INTERNAL_STATES, CANCELLED)))
    )


def upgrade():
    op.execute(agreements.update().where(_cancelled_drafts() & agreements.c.shared_at.is_not(None)).values(shared_at=None))


def downgrade():
    op.execute(
        agreements.update()
        .where(_cancelled_drafts() & agreements.c.shared_at.is_(None))
        .values(shared_at=agreements.c.state_entered_at)
    )
