"""The pending second steps of sign-ins, kept on the server: the hashes of the keys the browsers hold between
the password and the code (the last few). The signed cookie alone had been taken as proof of the password, so whoever held
SECRET_KEY could enrol their own code on any account without one, admin included.

Revision ID: 0026_second_step_key
Revises: 0025_closed_by_directory
Create Date: 2026-12-05 10:30:00
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0026_second_step_key'
down_revision = '0025_closed_by_directory'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('second_step_key', sa.String(length=400), nullable=True))


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_column('second_step_key')
