"""Search entries: normalised and stemmed words of agreements, organisations, deliverables and documents

Revision ID: 0010_issue16
Revises: 0010_issue12a
Create Date: 2026-12-02 01:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_issue16'
down_revision = '0010_issue12a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('search_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('title_terms', sa.Text(), nullable=False),
    sa.Column('terms', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_entries')),
    sa.UniqueConstraint('kind', 'object_id', name='uq_search_entries_kind_object')
    )
    with op.batch_alter_table('search_entries', schema=None) as batch_op:
        batch_op.create_index('ix_search_entries_agreement_id', ['agreement_id'], unique=False)
    # Entries for what is already there, built by the same code as the running app.
    from app.search.index import rebuild
    rebuild(op.get_bind())


def downgrade():
    with op.batch_alter_table('search_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_search_entries_agreement_id')
    op.drop_table('search_entries')
