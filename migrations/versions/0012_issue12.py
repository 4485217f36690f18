"""Renewal terms, notice period, notice of non-renewal and the link to a renewal agreement

Revision ID: 0012_issue12
Revises: 0010_issue16
Create Date: 2026-12-02 04:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_issue12'
down_revision = '0010_issue16'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renewal_terms', sa.String(length=20), server_default='none', nullable=False))
        batch_op.add_column(sa.Column('renewal_months', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('notice_period', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('notice_unit', sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('non_renewal_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('non_renewal_by', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('non_renewal_document_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('renewal_of_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_agreements_renewal_of_id', ['renewal_of_id'], unique=False)
        batch_op.create_foreign_key(op.f('fk_agreements_renewal_of_id_agreements'), 'agreements', ['renewal_of_id'],
                                    ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(op.f('fk_agreements_non_renewal_document_id_agreement_documents'),
                                    'agreement_documents', ['non_renewal_document_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(op.f('ck_agreements_renewal_terms_known'),
                                         "renewal_terms IN ('none','tacit','by_agreement')")


def downgrade():
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_agreements_renewal_terms_known'), type_='check')
        batch_op.drop_constraint(op.f('fk_agreements_non_renewal_document_id_agreement_documents'), type_='foreignkey')
        batch_op.drop_constraint(op.f('fk_agreements_renewal_of_id_agreements'), type_='foreignkey')
        batch_op.drop_index('ix_agreements_renewal_of_id')
        batch_op.drop_column('renewal_of_id')
        batch_op.drop_column('non_renewal_document_id')
        batch_op.drop_column('non_renewal_by')
        batch_op.drop_column('non_renewal_on')
        batch_op.drop_column('notice_unit')
        batch_op.drop_column('notice_period')
        batch_op.drop_column('renewal_months')
        batch_op.drop_column('renewal_terms')
