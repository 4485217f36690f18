"""The text extracted from a stored file, kept so a comparison page does not re-read the file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import UTCDateTime, utcnow
from app.extensions import db

EXTRACTION_STATUSES = ("ok", "truncated", "no_text", "unreadable", "too_large", "unsupported")


class DocumentText(db.Model):
    """Paragraphs of one stored content (files are content-addressed: one row serves every copy)."""

    __tablename__ = "document_texts"
    __table_args__ = (
        CheckConstraint(
            "status IN ('ok','truncated','no_text','unreadable','too_large','unsupported')", name="status_known"
        ),
    )

    stored_file_id: Mapped[int] = mapped_column(
        ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    status: Mapped[str] = mapped_column(String(12))
    # Which extraction rules produced it: a row from older rules is extracted again.
    extractor: Mapped[int] = mapped_column(Integer, default=1)
    # [[heading level (0 = body text), text], ...] in document order.
    paragraphs: Mapped[list] = mapped_column(JSON, default=list)
    extracted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
