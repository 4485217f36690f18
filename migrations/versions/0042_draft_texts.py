"""An agreement's draft text ("draft_text"), attached by its editors while the ministry drafts and reviews it,
before the negotiation: the text its reviewers approve. A kind of document the agreement_documents CHECK
now allows.

Downgrading refuses while a draft text is stored, saying how many: the older schema has no such kind, and
turning a draft into a text version would show it to the partners, which is the ministry's decision, not a
migration's.

Revision ID: 0042_draft_texts
Revises: 0041_finance_role
Create Date: 2026-12-15 09:00:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0042_draft_texts'
down_revision = '0041_finance_role'
branch_labels = None
depends_on = None

BEFORE = "kind IN ('text_version','signed_copy','termination_notice','other')"
AFTER = "kind IN ('draft_text','text_version','signed_copy','termination_notice','other')"


def _check_kinds(check: str) -> None:
    with op.batch_alter_table('agreement_documents') as batch:
        batch.drop_constraint(op.f('ck_agreement_documents_kind_known'), type_='check')
        batch.create_check_constraint(op.f('ck_agreement_documents_kind_known'), check)


def upgrade():
    _check_kinds(AFTER)


def downgrade():
    drafts = op.get_bind().scalar(sa.text("SELECT count(*) FROM agreement_documents WHERE kind = 'draft_text'"))
    if drafts:
        raise RuntimeError(
            f"{drafts} draft texts are stored, a kind of document the older schema does not know: "
            "delete them (or keep this version) first"
        )
    _check_kinds(BEFORE)
