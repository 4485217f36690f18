from __future__ import annotations

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db

KINDS = ("agreement", "organization", "deliverable", "document", "submission_file")


class SearchEntry(db.Model):
    """The searchable words of one object, normalised and stemmed (app/search/terms.py).

    Derived data, kept by a flush listener (app/search/index.py) in the writer's transaction;
    `flask search reindex` rebuilds it. `agreement_id` / `organization_id` scope what a reader may see.
    """

    __tablename__ = "search_entries"
    __table_args__ = (
        UniqueConstraint("kind", "object_id", name="uq_search_entries_kind_object"),
        Index("ix_search_entries_agreement_id", "agreement_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[int] = mapped_column()
    agreement_id: Mapped[int | None] = mapped_column()
    organization_id: Mapped[int | None] = mapped_column()
    # Reference, title, name or file name: a match here ranks first.
    title_terms: Mapped[str] = mapped_column(Text, default="")
    terms: Mapped[str] = mapped_column(Text, default="")
