"""Operations and shared storage: each scheduled job's last run (job_status) and stored
files' bytes in the database (stored_file_chunks, for STORAGE=database)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('job_status',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_started_at', sa.DateTime(), nullable=True),
    sa.Column('last_finished_at', sa.DateTime(), nullable=True),
    sa.Column('last_duration_ms', sa.Integer(), nullable=True),
    sa.Column('last_counts', sa.JSON(), nullable=True),
    sa.Column('last_host', sa.String(length=100), nullable=True),
    sa.Column('last_success_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_status'))
    )
    op.create_table('stored_file_chunks',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('sha256', 'position', name=op.f('pk_stored_file_chunks'))
    )


def downgrade():
    op.drop_table('stored_file_chunks')
    op.drop_table('job_status')
