"""The ministry's day of each occurrence's first hand-in (deliverable_occurrences.first_handed_in_on),
which the dashboard's on-time rate compares with the due date instead of grouping every submission
ever made on each request. The model keeps it (app/deliverables/models.note_first_hand_ins); the
existing rows are filled here from their earliest submission.

The day, not the UTC moment, is stored: "on time" is judged on the ministry's calendar, which SQLite
cannot compute (no time zones) and whose offset changes during the year (Casablanca). So the filling
is one grouped SELECT and batched UPDATEs with the one clock's day_of, rather than one UPDATE ... FROM.
No index: no page filters or sorts on it; the dashboard reads it along the occurrences it scans.

Revision ID: 0015_first_hand_in
Revises: 0014_folded_names
Create Date: 2026-12-03 02:00:00
"""
from datetime import timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_first_hand_in'
down_revision = '0014_folded_names'
branch_labels = None
depends_on = None


BATCH = 1000


def upgrade():
    from app.core.clock import day_of

    with op.batch_alter_table('deliverable_occurrences') as batch:
        batch.add_column(sa.Column('first_handed_in_on', sa.Date(), nullable=True))

    connection = op.get_bind()
    occurrences = sa.table('deliverable_occurrences', sa.column('id'), sa.column('first_handed_in_on', sa.Date()))
    submissions = sa.table('deliverable_submissions', sa.column('occurrence_id'), sa.column('submitted_at', sa.DateTime()))
    earliest = connection.execute(
        sa.select(submissions.c.occurrence_id, sa.func.min(submissions.c.submitted_at)).group_by(
            submissions.c.occurrence_id
        )
    ).all()
    update = (
        occurrences.update()
        .where(occurrences.c.id == sa.bindparam('occurrence_id'))
        .values(first_handed_in_on=sa.bindparam('day'))
    )
    for start in range(0, len(earliest), BATCH):
        connection.execute(
            update,
            [
                # Stored as naive UTC (app/core/models.UTCDateTime).
                {'occurrence_id': occurrence_id, 'day': day_of(moment.replace(tzinfo=timezone.utc))}
                for occurrence_id, moment in earliest[start:start + BATCH]
            ],
        )


def downgrade():
    with op.batch_alter_table('deliverable_occurrences') as batch:
        batch.drop_column('first_handed_in_on')
