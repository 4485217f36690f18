"""Agreements, the organisations party to them, and signing ceremonies."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    case,
    func,
    null,
    or_,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core.i18n import localized
from app.core.models import TimestampMixin, UTCDateTime, keep_folded
from app.core.permissions import guarded_model
from app.core.sql_dates import days_before, months_before
from app.extensions import db
from app.organizations.models import Organization

AGREEMENT_TYPES = {
    "mou": _l("Memorandum of understanding"),
    "convention": _l("Convention"),
    "protocol": _l("Protocol agreement"),
    "amendment": _l("Amendment"),
}

# An organisation's place in an agreement (not a person's role: those live in app/core/permissions.py).
PARTNER_PARTY = "partner"
WITNESS_PARTY = "witness"

# How an agreement goes on past its end date: not at all, tacitly (it extends itself by
# renewal_months unless a side gives notice before the notice deadline), or by a renewal agreement.
RENEWAL_TERMS = {
    "none": _l("No renewal"),
    "tacit": _l("Tacit renewal unless notice is given"),
    "by_agreement": _l("Renewal by a renewal agreement"),
}
NOTICE_UNITS = {"months": _l("months"), "days": _l("days")}
NOTICE_SIDES = {"ministry": _l("The ministry"), "partner": _l("The partner")}

PARTY_ROLES = {
    PARTNER_PARTY: _l("Partner"),
    "co_signatory": _l("Co-signatory"),
    WITNESS_PARTY: _l("Witness"),
}
# The agreement and amendment forms: one list of organisations per party role.
PARTY_FIELDS = {"partners": PARTNER_PARTY, "co_signatories": "co_signatory", "witnesses": WITNESS_PARTY}


def type_label_of(agreement_type: str) -> str:
    """An agreement type's name in the reader's language (its code when the type is unknown)."""
    return str(AGREEMENT_TYPES.get(agreement_type, agreement_type))


def title_of(agreement, language: str | None = None) -> str:
    """An agreement's title in the reader's language (or `language`), else its reference: of a loaded
    agreement (Agreement.title) or of a row of Agreement.naming_columns()."""
    return localized(agreement, "title", language) or agreement.reference


def is_partner_party(party_role):
    """Whether a party role is the partner's: a value, or a SQL condition when given the column."""
    return party_role == PARTNER_PARTY


def takes_part_in_work(party_role):
    """Whether a party role's organisation has a part in the agreement's work, its deliverables: the partners
    and co-signatories do; a witness attested the signing and no more. A value, or SQL given the column."""
    return party_role != WITNESS_PARTY


def parties_of_form(form) -> list[tuple[int, str]]:
    """(organisation id, party role) pairs from a form's party lists."""
    return [(org, party_role) for field, party_role in PARTY_FIELDS.items() for org in getattr(form, field).data or []]


def fill_party_fields(form, pairs) -> None:
    """A form's party lists from (organisation id, party role) pairs."""
    for field, party_role in PARTY_FIELDS.items():
        getattr(form, field).data = [org for org, role in pairs if role == party_role]


@guarded_model
class SigningEvent(TimestampMixin, db.Model):
    """A ceremony at which one or more agreements were signed."""

    __tablename__ = "signing_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str | None] = mapped_column(String(64), unique=True)
    name_ar: Mapped[str | None] = mapped_column(String(300))
    name_fr: Mapped[str | None] = mapped_column(String(300))
    name_en: Mapped[str | None] = mapped_column(String(300))
    held_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    place: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    # Folded copy of its names for the events drop-down's search (keep_folded below); read by SQL only.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="", deferred=True)

    agreements: Mapped[list["Agreement"]] = relationship(back_populates="signing_event")

    @property
    def name(self) -> str:
        return localized(self, "name") or ""


@guarded_model
class AgreementParty(db.Model):
    __tablename__ = "agreement_parties"
    __table_args__ = (
        UniqueConstraint("agreement_id", "organization_id"),
        CheckConstraint("role IN ('partner','co_signatory','witness')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="partner")

    agreement: Mapped["Agreement"] = relationship(back_populates="parties")
    organization: Mapped[Organization] = relationship(lazy="joined")

    @property
    def role_label(self) -> str:
        return str(PARTY_ROLES.get(self.role, self.role))

    @property
    def is_partner(self) -> bool:
        return is_partner_party(self.role)

    # For the permissions module, which reads the models it guards by name and imports no feature package.
    takes_part_in_work = staticmethod(takes_part_in_work)


# An agreement in force without a signature date (its index below, and the migration that made it).
UNDATED_IN_FORCE = "signed_on IS NULL AND effective_on IS NOT NULL"


def notice_deadline_for(renewal_terms, expires_on, notice_period, notice_unit) -> date | None:
    """The last day a side may give notice of non-renewal under these terms: the end date less the notice
    period, or None without renewal terms, notice or end date (Agreement.notice_deadline; an amendment's
    terms before they are the agreement's)."""
    if renewal_terms in (None, "none") or not expires_on or not notice_period:
        return None
    unit = notice_unit or "months"
    return expires_on - (relativedelta(months=notice_period) if unit == "months" else relativedelta(days=notice_period))


@guarded_model
class Agreement(TimestampMixin, db.Model):
    __tablename__ = "agreements"
    __table_args__ = (
        CheckConstraint("type IN ('mou','convention','protocol','amendment')", name="type_known"),
        CheckConstraint(
            "effective_on IS NULL OR signed_on IS NULL OR effective_on >= signed_on", name="effective_after_signature"
        ),
        CheckConstraint(
            "expires_on IS NULL OR effective_on IS NULL OR expires_on > effective_on", name="expiry_after_effective"
        ),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("renewal_terms IN ('none','tacit','by_agreement')", name="renewal_terms_known"),
        # The board's columns (first cards of a stage), the officer's own agreements by stage,
        # and the list's order (newest signature first).
        Index("ix_agreements_state_entered", "state", "state_entered_at", "reference"),
        Index("ix_agreements_owner_state", "owner_id", "state"),
        Index("ix_agreements_signed_reference", "signed_on", "reference"),
        # The list's order, newest first: by signature date, then by creation (a reference compares as text,
        # and MTNRA-2026-999 came before MTNRA-2026-6638).
        Index("ix_agreements_signed_id", "signed_on", "id"),
        # The timeline's agreements in force with no signature date, by reference: a few, found without
        # walking every agreement's reference.
        Index(
            "ix_agreements_undated_in_force",
            "reference",
            postgresql_where=text(UNDATED_IN_FORCE),
            sqlite_where=text(UNDATED_IN_FORCE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(40))  # its definition's initial state at creation
    title_ar: Mapped[str | None] = mapped_column(String(500))
    title_fr: Mapped[str | None] = mapped_column(String(500))
    title_en: Mapped[str | None] = mapped_column(String(500))
    summary_ar: Mapped[str | None] = mapped_column(Text)
    summary_fr: Mapped[str | None] = mapped_column(Text)
    summary_en: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    # Folded, accent- and diacritic-free copy of reference and titles for search (keep_folded below).
    search_text: Mapped[str] = mapped_column(Text, default="")

    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id", ondelete="RESTRICT"), index=True)
    signing_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("signing_events.id", ondelete="SET NULL"), index=True
    )

    signed_on: Mapped[date | None] = mapped_column(Date)
    effective_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, index=True)

    # The frozen workflow definition this agreement runs on, and when it entered its state.
    workflow_version_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_versions.id", ondelete="RESTRICT"))
    state_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When its partners were first shown it: as it first left the ministry's internal stages (the "internal"
    # tag: drafting, internal review). Until then it is the ministry's alone (permissions: partners).
    shared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The negotiation round both sides accepted: the text is locked while it is set.
    agreed_round_id: Mapped[int | None] = mapped_column(
        ForeignKey("negotiation_rounds.id", ondelete="SET NULL", use_alter=True)
    )
    # For amendments: what the amendment changes in its parent, e.g. {"expires_on": "2030-01-12"}.
    amendment_changes: Mapped[dict | None] = mapped_column(JSON)
    # What approval conditions read of an amendment that changes its parent's budget or parties (set with
    # amendment_changes; null while it changes neither): the MAD total of the budget it leaves, and whether
    # the parties it leaves include a foreign partner (app/workflow/conditions.py, in Python and in SQL).
    proposed_mad_budget: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    proposed_foreign_partner: Mapped[bool | None] = mapped_column(Boolean)

    # Renewal terms (app/agreements/renewals.py): the notice deadline is the end date less the notice
    # period; a notice of non-renewal given by either side stops a tacit renewal.
    renewal_terms: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    renewal_months: Mapped[int | None] = mapped_column(Integer)
    notice_period: Mapped[int | None] = mapped_column(Integer)
    notice_unit: Mapped[str | None] = mapped_column(String(6))
    non_renewal_on: Mapped[date | None] = mapped_column(Date)
    non_renewal_by: Mapped[str | None] = mapped_column(String(10))
    # Which partner organisation gave it, when a partner did (with several partners, one says it).
    non_renewal_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
    non_renewal_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("agreement_documents.id", ondelete="SET NULL", use_alter=True)
    )
    # The agreement this one renews (made by "Renew"): linked both ways.
    renewal_of_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id", ondelete="SET NULL"), index=True)

    # Demo data only (app/demo/loader.py): the key facts it invented, e.g. ["expires_on", "owner"], each shown
    # with an "illustrative" mark; a real agreement's list stays empty.
    illustrative_facts: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")

    def is_invented(self, fact: str) -> bool:
        """Whether the demo data made this key fact up (a field name: "expires_on", "owner", "parties"...)."""
        return fact in (self.illustrative_facts or ())

    # Optimistic locking: every UPDATE checks and bumps it, so two editors cannot
    # silently overwrite each other.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}

    owner: Mapped[User | None] = relationship(lazy="joined")
    parent: Mapped["Agreement | None"] = relationship(
        remote_side=[id], foreign_keys=[parent_id], back_populates="children"
    )
    children: Mapped[list["Agreement"]] = relationship(
        back_populates="parent", foreign_keys=[parent_id], order_by="Agreement.reference"
    )
    signing_event: Mapped[SigningEvent | None] = relationship(back_populates="agreements")
    renewal_of: Mapped["Agreement | None"] = relationship(
        remote_side=[id], foreign_keys=[renewal_of_id], back_populates="renewals"
    )
    renewals: Mapped[list["Agreement"]] = relationship(
        back_populates="renewal_of", foreign_keys=[renewal_of_id], order_by="Agreement.reference"
    )
    non_renewal_document = relationship("AgreementDocument", foreign_keys=[non_renewal_document_id])
    non_renewal_organization = relationship(Organization, foreign_keys=[non_renewal_organization_id])
    parties: Mapped[list[AgreementParty]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementParty.id"
    )
    workflow_version = relationship("WorkflowVersion")
    signatories = relationship("Signatory", order_by="Signatory.position", cascade="all, delete-orphan")
    documents = relationship(
        "AgreementDocument",
        order_by="AgreementDocument.uploaded_at",
        cascade="all, delete-orphan",
        foreign_keys="AgreementDocument.agreement_id",
    )
    negotiation_rounds = relationship(
        "NegotiationRound",
        order_by="NegotiationRound.number",
        cascade="all, delete-orphan",
        foreign_keys="NegotiationRound.agreement_id",
    )
    approval_rounds = relationship("ApprovalRound", order_by="ApprovalRound.requested_at", cascade="all, delete-orphan")

    @property
    def title(self) -> str:
        return title_of(self)

    @classmethod
    def naming_columns(cls) -> tuple:
        """Its id, reference and titles: what a page listing many agreements by name reads instead of whole rows
        (title_of names such a row)."""
        return (cls.id, cls.reference, cls.title_ar, cls.title_fr, cls.title_en)

    @property
    def summary(self) -> str | None:
        return localized(self, "summary")

    @property
    def type_label(self) -> str:
        return type_label_of(self.type)

    @property
    def renewal_terms_label(self) -> str:
        return str(RENEWAL_TERMS.get(self.renewal_terms, self.renewal_terms))

    @hybrid_property
    def notice_deadline(self) -> date | None:
        """The last day a side may give notice of non-renewal (app/agreements/renewals.py): the end
        date less the notice period, or None without renewal terms, notice or end date. In SQL too
        (below), so lists of deadlines are filtered, sorted and cut by the database."""
        return notice_deadline_for(self.renewal_terms, self.expires_on, self.notice_period, self.notice_unit)

    @notice_deadline.inplace.expression
    @classmethod
    def _notice_deadline_expression(cls):
        return case(
            (
                or_(
                    cls.renewal_terms.is_(None),
                    cls.renewal_terms == "none",
                    cls.expires_on.is_(None),
                    func.coalesce(cls.notice_period, 0) == 0,
                ),
                null(),
            ),
            (cls.notice_unit == "days", days_before(cls.expires_on, cls.notice_period)),
            else_=months_before(cls.expires_on, cls.notice_period),
        )

    @property
    def partner_organizations(self) -> list[Organization]:
        return [party.organization for party in self.parties if party.is_partner]

    @property
    def partner_organization_ids(self) -> list[int]:
        return [party.organization_id for party in self.parties if party.is_partner]

    def __repr__(self) -> str:
        return f"<Agreement {self.reference} {self.state}>"


class ReferenceCounter(db.Model):
    """Last reference number handed out per year (MTNRA-2025-014)."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


keep_folded(Agreement, "search_text", "reference", "title_ar", "title_fr", "title_en")
keep_folded(SigningEvent, "search_text", "name_ar", "name_fr", "name_en")
