"""email_changes: a person's own new sign-in address waits for them to follow the link sent to it
(app/auth/email_changes.py); only the link's hash is kept.

Revision ID: 0037_email_changes
Revises: 0036_agreements_signed_id
Create Date: 2026-12-06 19:00:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0037_email_changes'
down_revision = '0036_agreements_signed_id'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'email_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('new_email', sa.String(length=254), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('requested_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.Column('cancelled_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_email_changes_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_email_changes')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_email_changes_token_hash')),
    )
    op.create_index(op.f('ix_email_changes_user_id'), 'email_changes', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_email_changes_user_id'), table_name='email_changes')
    op.drop_table('email_changes')
