"""What the digital signatures of an uploaded signed copy said when they were checked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow
from app.extensions import db

# none: no digital signature (a scan); valid: every signature intact and trusted;
# untrusted: intact but a chain does not reach a configured root; invalid: the document
# was changed after signing or a signature is broken; unreadable: not a PDF we can read.
SIGNATURE_STATUSES = ("none", "valid", "untrusted", "invalid", "unreadable")


class SignatureCheck(db.Model):
    """The latest check of one signed copy (re-checking replaces it; the audit trail keeps each)."""

    __tablename__ = "signature_checks"
    __table_args__ = (
        CheckConstraint("status IN ('none','valid','untrusted','invalid','unreadable')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("agreement_documents.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(12))
    # One entry per signature: signer, signing time, intact, coverage, trusted, revocation, problems.
    signatures: Mapped[list] = mapped_column(JSON, default=list)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    document = relationship("AgreementDocument", backref="signature_checks")
