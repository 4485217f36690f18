"""request_receipts: the answer each keyed form or API call got (app/core/receipts.py), so the same
request sent again (a double click, a re-post, a client's retry with the same Idempotency-Key) is
answered with it instead of being done twice (the same request: its key and the fingerprint of what
it sends). Unique per user, key and fingerprint: a request claims its key (status still null) before
its work, and the same request sent at once waits on that claim.

Revision ID: 0016_request_receipts
Revises: 0015_first_hand_in
Create Date: 2026-12-03 14:00:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_request_receipts'
down_revision = '0015_first_hand_in'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'request_receipts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('method', sa.String(length=10), nullable=False),
        sa.Column('path', sa.String(length=2000), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('location', sa.String(length=2000), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_request_receipts_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_request_receipts')),
        sa.UniqueConstraint('user_id', 'key', 'fingerprint', name='uq_request_receipts_user_key'),
    )


def downgrade():
    op.drop_table('request_receipts')
