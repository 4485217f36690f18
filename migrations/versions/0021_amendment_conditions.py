"""What approval conditions read of an amendment: the MAD total of the budget it leaves its parent and
whether the parties it leaves include a foreign partner, when it changes them (null while it does not:
its parent's then). An amendment raising a budget past the minister's-office threshold was approved as
if its budget were nothing. Amendments already proposing such changes are filled here.

Revision ID: 0021_amendment_conditions
Revises: 0020_stage_visits_entered
Create Date: 2026-12-04 23:40:00
"""
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021_amendment_conditions'
down_revision = '0020_stage_visits_entered'
branch_labels = None
depends_on = None

PARTNER_ROLE = "partner"  # app.agreements.models.is_partner_party, as of this revision
HOME_COUNTRY = "MA"


def upgrade():
    with op.batch_alter_table('agreements') as batch:
        batch.add_column(sa.Column('proposed_mad_budget', sa.Numeric(18, 2), nullable=True))
        batch.add_column(sa.Column('proposed_foreign_partner', sa.Boolean(), nullable=True))
    connection = op.get_bind()
    agreements = sa.table(
        'agreements',
        sa.column('id', sa.Integer),
        sa.column('type', sa.String),
        sa.column('amendment_changes', sa.JSON),
        sa.column('proposed_mad_budget', sa.Numeric(18, 2)),
        sa.column('proposed_foreign_partner', sa.Boolean),
    )
    organizations = sa.table('organizations', sa.column('id', sa.Integer), sa.column('country', sa.String))
    countries = dict(connection.execute(sa.select(organizations.c.id, organizations.c.country)).all())
    rows = connection.execute(
        sa.select(agreements.c.id, agreements.c.amendment_changes).where(
            agreements.c.type == 'amendment', agreements.c.amendment_changes.is_not(None)
        )
    ).all()
    for number, changes in rows:
        if not isinstance(changes, dict):
            continue
        values = {}
        if isinstance(changes.get('budget_lines'), list):
            total = Decimal(0)
            for line in changes['budget_lines']:
                try:
                    if line.get('currency') == 'MAD':
                        total += Decimal(str(line.get('amount')))
                except (AttributeError, InvalidOperation):
                    continue
            values['proposed_mad_budget'] = total
        if isinstance(changes.get('parties'), list):
            values['proposed_foreign_partner'] = any(
                isinstance(pair, list)
                and len(pair) == 2
                and pair[1] == PARTNER_ROLE
                and (countries.get(pair[0]) or HOME_COUNTRY).upper() != HOME_COUNTRY
                for pair in changes['parties']
            )
        if values:
            connection.execute(sa.update(agreements).where(agreements.c.id == number).values(**values))


def downgrade():
    with op.batch_alter_table('agreements') as batch:
        batch.drop_column('proposed_foreign_partner')
        batch.drop_column('proposed_mad_budget')
