"""A folded copy of people's names and e-mails (users.search_text) and of signing events' names
(signing_events.search_text), which the drop-downs search: "helene" finds "Hélène" and
"ceremonie" finds "Cérémonie", as agreements and organisations already were. The models keep them
(app/core/models.keep_folded); the existing rows are filled here with the same folding.

Revision ID: 0014_folded_names
Revises: 0013_redundant_indexes
Create Date: 2026-12-02 17:00:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_folded_names'
down_revision = '0013_redundant_indexes'
branch_labels = None
depends_on = None


FOLDED = {
    'users': ('full_name', 'email'),
    'signing_events': ('name_ar', 'name_fr', 'name_en'),
}
BATCH = 1000


def upgrade():
    from app.core.text import fold

    connection = op.get_bind()
    for table_name, sources in FOLDED.items():
        with op.batch_alter_table(table_name) as batch:
            batch.add_column(sa.Column('search_text', sa.Text(), nullable=False, server_default=''))
        table = sa.table(table_name, sa.column('id'), sa.column('search_text'), *(sa.column(s) for s in sources))
        rows = connection.execute(sa.select(table.c.id, *(table.c[s] for s in sources))).all()
        update = table.update().where(table.c.id == sa.bindparam('row_id')).values(search_text=sa.bindparam('folded'))
        for start in range(0, len(rows), BATCH):
            connection.execute(
                update,
                [
                    {'row_id': row[0], 'folded': fold(' '.join(filter(None, row[1:])))}
                    for row in rows[start:start + BATCH]
                ],
            )


def downgrade():
    for table_name in FOLDED:
        with op.batch_alter_table(table_name) as batch:
            batch.drop_column('search_text')
