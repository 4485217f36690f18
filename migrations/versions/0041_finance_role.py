"""A ministry role for the finance controller ("finance"), who approves what commits money: accounts and
invitations may hold it.

Downgrading refuses while an account or an invitation holds it, saying how many: the older schema has no
such role, and handing those people another one (legal's approvals, an auditor's reading of the trail)
is an admin's decision, not a migration's.

Revision ID: 0041_finance_role
Revises: 0040_illustrative_facts
Create Date: 2026-12-08 09:00:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0041_finance_role'
down_revision = '0040_illustrative_facts'
branch_labels = None
depends_on = None

BEFORE = "role IN ('admin','officer','manager','legal','partner','auditor')"
AFTER = "role IN ('admin','officer','manager','legal','finance','partner','auditor')"


def _check_roles(check: str) -> None:
    for table in ('users', 'invitations'):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f'ck_{table}_role_known'), type_='check')
            batch.create_check_constraint(op.f(f'ck_{table}_role_known'), check)


def upgrade():
    _check_roles(AFTER)


def downgrade():
    connection = op.get_bind()
    held = {
        table: connection.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE role = 'finance'"))
        for table in ('users', 'invitations')
    }
    if any(held.values()):
        raise RuntimeError(
            f"{held['users']} accounts and {held['invitations']} invitations hold the finance role, which the "
            "older schema does not know: give them another role (or withdraw the invitations) first"
        )
    _check_roles(BEFORE)
