"""Personal API tokens get an end date: new ones work for the days their owner chose, at most
API_TOKEN_MAX_DAYS. Tokens made before keep working until revoked (no end date): their owners
did not choose one, and a script that stopped overnight with no warning would be worse.

Revision ID: 0028_api_token_expiry
Revises: 0027_signatory_organization
Create Date: 2026-12-05 20:30:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0028_api_token_expiry'
down_revision = '0027_signatory_organization'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_tokens') as batch_op:
        # Naive UTC, as app.core.models.UTCDateTime stores every moment.
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.drop_column('expires_at')
