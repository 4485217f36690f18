"""Which partner organisation gave a notice of non-renewal: with several partners, "the partner" did not
say which. Notices already recorded by the partner side of an agreement with one partner are filled here.

Revision ID: 0022_non_renewal_organization
Revises: 0021_amendment_conditions
Create Date: 2026-12-05 00:00:00
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0022_non_renewal_organization'
down_revision = '0021_amendment_conditions'
branch_labels = None
depends_on = None

PARTNER_ROLE = "partner"  # app.agreements.models.is_partner_party, as of this revision


def upgrade():
    with op.batch_alter_table('agreements') as batch:
        batch.add_column(sa.Column('non_renewal_organization_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(
            'fk_agreements_non_renewal_organization_id_organizations',
            'organizations',
            ['non_renewal_organization_id'],
            ['id'],
            ondelete='SET NULL',
        )
    connection = op.get_bind()
    agreements = sa.table(
        'agreements',
        sa.column('id', sa.Integer),
        sa.column('non_renewal_by', sa.String),
        sa.column('non_renewal_organization_id', sa.Integer),
    )
    parties = sa.table(
        'agreement_parties',
        sa.column('agreement_id', sa.Integer),
        sa.column('organization_id', sa.Integer),
        sa.column('role', sa.String),
    )
    noticed = connection.execute(
        sa.select(agreements.c.id).where(agreements.c.non_renewal_by == 'partner')
    ).scalars().all()
    for number in noticed:
        partners = connection.execute(
            sa.select(parties.c.organization_id).where(
                parties.c.agreement_id == number, parties.c.role == PARTNER_ROLE
            )
        ).scalars().all()
        if len(partners) == 1:
            connection.execute(
                sa.update(agreements).where(agreements.c.id == number).values(non_renewal_organization_id=partners[0])
            )


def downgrade():
    with op.batch_alter_table('agreements') as batch:
        batch.drop_constraint('fk_agreements_non_renewal_organization_id_organizations', type_='foreignkey')
        batch.drop_column('non_renewal_organization_id')
