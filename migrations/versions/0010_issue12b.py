"""Budget lines of agreements (exact amounts per currency, party, kind and year)

Revision ID: 0010_issue12b
Revises: 0011_deferred_bodies
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_issue12b'
down_revision = '0011_deferred_bodies'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'budget_lines',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agreement_id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=300), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('year', sa.Integer(), nullable=True),
        sa.Column('period', sa.String(length=60), nullable=True),
        sa.Column('is_illustrative', sa.Boolean(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('amount > 0', name=op.f('ck_budget_lines_amount_positive')),
        sa.CheckConstraint("kind IN ('cash','in_kind')", name=op.f('ck_budget_lines_kind_known')),
        sa.CheckConstraint('length(currency) = 3', name=op.f('ck_budget_lines_currency_code')),
        sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_budget_lines_agreement_id_agreements'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name=op.f('fk_budget_lines_organization_id_organizations'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_budget_lines_created_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_lines')),
    )
    with op.batch_alter_table('budget_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_budget_lines_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index('ix_budget_lines_org_year_currency', ['organization_id', 'year', 'currency'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('budget_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_budget_lines_org_year_currency')
        batch_op.drop_index(batch_op.f('ix_budget_lines_agreement_id'))
    op.drop_table('budget_lines')
