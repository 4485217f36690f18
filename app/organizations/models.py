"""Organisations: the ministry itself and every partner it signs with."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.i18n import localized
from app.core.models import TimestampMixin, UTCDateTime
from app.core.permissions import guarded_model
from app.extensions import db

ORGANIZATION_KINDS = {
    "ministry": _l("Ministry"),
    "company": _l("Company"),
    "university": _l("University"),
    "un_agency": _l("UN agency"),
    "bank": _l("Bank"),
    "local_government": _l("Local government"),
    "intergovernmental": _l("Intergovernmental body"),
    "international_initiative": _l("International initiative"),
}


def name_of(organization, language: str | None = None) -> str:
    """Its name in the reader's language (or `language`), else its slug: of a loaded organisation
    (Organization.name) or of a row of `naming_columns()`."""
    return localized(organization, "name", language) or organization.slug


def names_text(organization) -> str:
    """Every name it goes by (of a row or of `naming_columns()`), for a searchable list: "Mistral" finds it on an
    Arabic page too."""
    return " ".join(
        filter(
            None,
            (organization.name_ar, organization.name_fr, organization.name_en, organization.acronym, organization.slug),
        )
    )


@guarded_model
class Organization(TimestampMixin, db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable short key (e.g. "mistral") so demo data and imports stay idempotent.
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name_ar: Mapped[str | None] = mapped_column(String(300))
    name_fr: Mapped[str | None] = mapped_column(String(300))
    name_en: Mapped[str | None] = mapped_column(String(300))
    acronym: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(2))
    # The organisation that runs this Sharaka (the ministry); never a partner.
    is_home: Mapped[bool] = mapped_column(Boolean, default=False)
    contact: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text)
    # Set when an admin retired it (dissolved, merged into another, entered twice): kept with its history,
    # never chosen again for a new agreement or account (organizations.retirement).
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Retired by a merge (organizations.merging): the organisation everything of it now belongs to.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
    merged_into = relationship("Organization", remote_side="Organization.id", foreign_keys=[merged_into_id])

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    @property
    def name(self) -> str:
        return name_of(self)

    @classmethod
    def naming_columns(cls) -> tuple:
        """Its id and every name it goes by: what a drop-down or the search index reads instead of whole rows."""
        return (cls.id, cls.slug, cls.name_ar, cls.name_fr, cls.name_en, cls.acronym)

    @property
    def search_text(self) -> str:
        return names_text(self)

    @property
    def kind_label(self) -> str:
        return str(ORGANIZATION_KINDS.get(self.kind, self.kind))

    def __repr__(self) -> str:
        return f"<Organization {self.slug}>"
