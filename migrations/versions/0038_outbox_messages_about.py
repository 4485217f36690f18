"""An index on the outbox by what a message is about (kind, object_id): the team page reads whether each
listed invitation's latest mail was refused, and the outbox, never emptied, grows with every message sent.

Revision ID: 0038_outbox_messages_about
Revises: 0037_email_changes
Create Date: 2026-12-06 19:50:00
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0038_outbox_messages_about'
down_revision = '0037_email_changes'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_outbox_messages_about', 'outbox_messages', ['kind', 'object_id'])


def downgrade():
    op.drop_index('ix_outbox_messages_about', table_name='outbox_messages')
