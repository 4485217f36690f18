"""Jobs keep the items that failed alone in their last run

Revision ID: 0010_issue12a
Revises: 0009
Create Date: 2026-12-02 01:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_issue12a'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_status') as batch_op:
        batch_op.add_column(sa.Column('last_problems', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('job_status') as batch_op:
        batch_op.drop_column('last_problems')
