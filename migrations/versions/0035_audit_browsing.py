"""Indexes for browsing the audit trail (/audit/events): by action and by actor, newest first. The page reads
50 rows at a time from the newest down; without them, asking for a rare action or a quiet person walked the
whole trail (a million rows at a government's scale) backwards until it found 50.

Revision ID: 0035_audit_browsing
Revises: 0034_export_writes
Create Date: 2026-12-06 17:00:00
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0035_audit_browsing'
down_revision = '0034_export_writes'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_events_action', 'audit_events', ['action', 'id'])
    op.create_index('ix_audit_events_actor', 'audit_events', ['actor_id', 'id'])


def downgrade():
    op.drop_index('ix_audit_events_actor', table_name='audit_events')
    op.drop_index('ix_audit_events_action', table_name='audit_events')
