"""Addresses with an internationalised domain are stored in one spelling, the domain's Unicode form
(app.auth.models.normalize_email): "ana@xn--bcher-kva.example" and "ana@bücher.example" were two
accounts for one mailbox. Rows already stored in the ASCII (IDNA) spelling are rewritten; an account
whose other spelling already belongs to another account is left as it is and named in the log (two
people, or one person twice: an administrator decides, the migration cannot).

Revision ID: 0031_one_spelling_per_mailbox
Revises: 0030_stage_visits_type
Create Date: 2026-12-06 02:30:00
"""
import logging
import unicodedata

import idna
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0031_one_spelling_per_mailbox'
down_revision = '0030_stage_visits_type'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# The tables that store an address, and whether it is unique there.
TABLES = {"users": True, "invitations": False, "password_resets": False, "login_attempts": False}


def one_spelling(email: str) -> str:
    """app.auth.models.normalize_email as it was when this ran."""
    address = unicodedata.normalize("NFC", (email or "").strip()).lower()
    local, at, domain = address.rpartition("@")
    if not at or (domain.isascii() and "xn--" not in domain):
        return address
    try:
        domain = idna.decode(idna.encode(domain, uts46=True))
    except (idna.IDNAError, UnicodeError):
        pass
    return f"{local}@{domain}"


def upgrade():
    connection = op.get_bind()
    for table, unique in TABLES.items():
        rows = connection.execute(sa.text(f"SELECT id, email FROM {table}")).all()
        taken = {email for _id, email in rows} if unique else set()
        for row_id, email in rows:
            spelled = one_spelling(email)
            if spelled == email:
                continue
            if spelled in taken:
                log.warning("%s %s keeps %r: %r belongs to another account", table, row_id, email, spelled)
                continue
            connection.execute(
                sa.text(f"UPDATE {table} SET email = :email WHERE id = :id"), {"email": spelled, "id": row_id}
            )
            if unique:
                taken.discard(email)
                taken.add(spelled)


def downgrade():
    pass  # the ASCII spellings are not kept: the Unicode one is the same mailbox
