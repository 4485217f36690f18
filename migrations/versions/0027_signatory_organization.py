"""Which party a signatory signs for: every partner party must now sign, not "the partner" side once.
Signatories already named are filled where it is certain: the ministry's sign for the ministry, and a
partner signatory of an agreement with one partner party signs for it. With several partner parties
nothing said which one they signed for: they stay without one, sign for no one, and the agreement's
page says so (a signed agreement stays signed; one still in signature needs a signatory for each).

Revision ID: 0027_signatory_organization
Revises: 0026_second_step_key
Create Date: 2026-12-06 09:00:00
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0027_signatory_organization'
down_revision = '0026_second_step_key'
branch_labels = None
depends_on = None

PARTNER_ROLE = "partner"  # app.agreements.models.is_partner_party, as of this revision


def upgrade():
    connection = op.get_bind()
    signatories = sa.table(
        'signatories',
        sa.column('id', sa.Integer),
        sa.column('agreement_id', sa.Integer),
        sa.column('side', sa.String),
        sa.column('organization_id', sa.Integer),
    )
    parties = sa.table(
        'agreement_parties',
        sa.column('agreement_id', sa.Integer),
        sa.column('organization_id', sa.Integer),
        sa.column('role', sa.String),
    )
    organizations = sa.table('organizations', sa.column('id', sa.Integer), sa.column('is_home', sa.Boolean))
    home = connection.execute(
        sa.select(organizations.c.id).where(organizations.c.is_home.is_(True)).limit(1)
    ).scalar()
    if home is not None:
        connection.execute(
            sa.update(signatories)
            .where(signatories.c.side == 'ministry', signatories.c.organization_id.is_(None))
            .values(organization_id=home)
        )
    unsaid = connection.execute(
        sa.select(signatories.c.agreement_id)
        .where(signatories.c.side == 'partner', signatories.c.organization_id.is_(None))
        .distinct()
    ).scalars().all()
    for number in unsaid:
        partners = connection.execute(
            sa.select(parties.c.organization_id).where(
                parties.c.agreement_id == number, parties.c.role == PARTNER_ROLE
            )
        ).scalars().all()
        if len(partners) == 1:
            connection.execute(
                sa.update(signatories)
                .where(
                    signatories.c.agreement_id == number,
                    signatories.c.side == 'partner',
                    signatories.c.organization_id.is_(None),
                )
                .values(organization_id=partners[0])
            )


def downgrade():
    pass  # the organisations filled in were certain: nothing to take back
