"""Jobs keep the items that failed alone in their last run; each party's acceptance of a text version

Revision ID: 0010_issue12a
Revises: 0010_issue17a
Create Date: 2026-12-02 01:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_issue12a'
down_revision = '0010_issue17a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_status') as batch_op:
        batch_op.add_column(sa.Column('last_problems', sa.JSON(), nullable=True))
    op.create_table('negotiation_acceptances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('side', sa.String(length=10), nullable=False),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('accepted_at', sa.DateTime(), nullable=False),
    sa.Column('is_on_behalf', sa.Boolean(), nullable=False),
    sa.Column('proof_document_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['users.id'], name=op.f('fk_negotiation_acceptances_accepted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_negotiation_acceptances_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['proof_document_id'], ['agreement_documents.id'], name=op.f('fk_negotiation_acceptances_proof_document_id_agreement_documents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['round_id'], ['negotiation_rounds.id'], name=op.f('fk_negotiation_acceptances_round_id_negotiation_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_negotiation_acceptances')),
    sa.UniqueConstraint('round_id', 'organization_id', name=op.f('uq_negotiation_acceptances_round_id_organization_id'))
    )
    with op.batch_alter_table('negotiation_acceptances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_negotiation_acceptances_round_id'), ['round_id'], unique=False)
    # Versions accepted before: the ministry's acceptance, and the partner side's for every partner
    # party (one partner's answer used to stand for all), so negotiations in flight keep their turn.
    op.execute("""
        INSERT INTO negotiation_acceptances (round_id, organization_id, side, accepted_by_id, accepted_at, is_on_behalf)
        SELECT r.id, o.id, 'ministry', r.ministry_accepted_by_id, r.ministry_accepted_at, FALSE
        FROM negotiation_rounds r JOIN organizations o ON o.is_home = TRUE
        WHERE r.ministry_accepted_at IS NOT NULL""")
    op.execute("""
        INSERT INTO negotiation_acceptances (round_id, organization_id, side, accepted_by_id, accepted_at, is_on_behalf)
        SELECT r.id, p.organization_id, 'partner', r.partner_accepted_by_id, r.partner_accepted_at, FALSE
        FROM negotiation_rounds r JOIN agreement_parties p ON p.agreement_id = r.agreement_id AND p.role = 'partner'
        WHERE r.partner_accepted_at IS NOT NULL""")


def downgrade():
    op.drop_table('negotiation_acceptances')
    with op.batch_alter_table('job_status') as batch_op:
        batch_op.drop_column('last_problems')
