"""What the engine persists: definition versions, approvals, delegations,
negotiation rounds, signatories and agreement documents."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow
from app.core.permissions import guarded_model
from app.extensions import db

# The draft text the ministry's reviewers approve before the negotiation (workflow.drafts), which partners first
# read as a version sent them.
DRAFT_TEXT = "draft_text"
# Kinds of document that are the ministry's own work, never shown to a partner (permissions.may_see_document).
INTERNAL_DOCUMENT_KINDS = (DRAFT_TEXT,)


class WorkflowVersion(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """A frozen copy of one definition; agreements point at the copy they started on."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("type", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column()
    checksum: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApprovalRound(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """One request for approval of a transition; a send-back closes it and a resubmission opens a new one."""

    __tablename__ = "approval_rounds"
    __table_args__ = (
        CheckConstraint("status IN ('open','approved','rejected','cancelled')", name="status_known"),
        Index("ix_approval_rounds_open", "agreement_id", "status"),
        Index("ix_approval_rounds_status_requested", "status", "requested_at"),  # late approvals, oldest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"))
    transition: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str] = mapped_column(String(40))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    requested_by = relationship("User", foreign_keys=[requested_by_id])
    decisions: Mapped[list["ApprovalDecision"]] = relationship(
        back_populates="round", order_by="ApprovalDecision.decided_at", cascade="all, delete-orphan"
    )


class ApprovalDecision(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    __tablename__ = "approval_decisions"
    __table_args__ = (
        # A person's approval counts once per step of a round, whoever clicked for them.
        UniqueConstraint("round_id", "step", "counted_user_id"),
        CheckConstraint("decision IN ('approve','reject')", name="decision_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("approval_rounds.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(60))
    # Who clicked, and whose approval it counts as (different under a delegation).
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    counted_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decision: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    round: Mapped[ApprovalRound] = relationship(back_populates="decisions")
    approver = relationship("User", foreign_keys=[approver_id])
    counted_user = relationship("User", foreign_keys=[counted_user_id])

    @property
    def is_delegated(self) -> bool:
        return self.approver_id != self.counted_user_id


class Delegation(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """`delegator` hands their approvals to `delegate` from starts_on to ends_on (inclusive)."""

    __tablename__ = "delegations"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="dates_in_order"),
        CheckConstraint("delegator_id <> delegate_id", name="not_to_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delegator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    delegate_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    delegator = relationship("User", foreign_keys=[delegator_id])
    delegate = relationship("User", foreign_keys=[delegate_id])

    def status_on(self, today: date) -> str:
        """revoked, ended, current or upcoming on `today` (engine.active_delegators asks the same in SQL)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.ends_on < today:
            return "ended"
        return "current" if self.starts_on <= today else "upcoming"


@guarded_model
class AgreementDocument(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """A file attached to an agreement: a draft text, a text version, the signed copy, a termination notice."""

    __tablename__ = "agreement_documents"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('draft_text','text_version','signed_copy','termination_notice','other')", name="kind_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    stored_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="RESTRICT"))
    original_name: Mapped[str] = mapped_column(String(255))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    stored_file = relationship("StoredFile", lazy="joined")
    uploaded_by = relationship("User")

    @property
    def sha256(self) -> str:
        return self.stored_file.sha256

    @hybrid_property
    def is_internal(self) -> bool:
        """The ministry's own work (a draft text): never a partner's to see, in Python and in SQL."""
        return self.kind in INTERNAL_DOCUMENT_KINDS

    @is_internal.inplace.expression
    @classmethod
    def _is_internal_expression(cls):
        return cls.kind.in_(INTERNAL_DOCUMENT_KINDS)


class NegotiationRound(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """One version of the text sent by one side; the other side answers with a new round or accepts."""

    __tablename__ = "negotiation_rounds"
    __table_args__ = (
        UniqueConstraint("agreement_id", "number"),
        CheckConstraint("side IN ('ministry','partner')", name="side_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    side: Mapped[str] = mapped_column(String(10))
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("agreement_documents.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    ministry_accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ministry_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    partner_accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    partner_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    sent_by = relationship("User", foreign_keys=[sent_by_id])
    document = relationship("AgreementDocument")
    ministry_accepted_by = relationship("User", foreign_keys=[ministry_accepted_by_id])
    partner_accepted_by = relationship("User", foreign_keys=[partner_accepted_by_id])

    acceptances = relationship(
        "NegotiationAcceptance",
        back_populates="round",
        cascade="all, delete-orphan",
        order_by="NegotiationAcceptance.id",
    )

    @property
    def is_agreed(self) -> bool:
        return self.ministry_accepted_at is not None and self.partner_accepted_at is not None


class NegotiationAcceptance(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """One party's acceptance of one version: the ministry, or each partner party in turn. Recorded
    by the party's own user, or by ministry staff on its behalf with the document that proves it."""

    __tablename__ = "negotiation_acceptances"
    __table_args__ = (UniqueConstraint("round_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("negotiation_rounds.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(10))
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    is_on_behalf: Mapped[bool] = mapped_column(default=False)
    proof_document_id: Mapped[int | None] = mapped_column(ForeignKey("agreement_documents.id", ondelete="SET NULL"))

    round = relationship("NegotiationRound", back_populates="acceptances")
    organization = relationship("Organization")
    accepted_by = relationship("User")
    proof_document = relationship("AgreementDocument")


class Signatory(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """A person who signs for one side, in order; signed_on is filled when they have signed."""

    __tablename__ = "signatories"
    __table_args__ = (
        UniqueConstraint("agreement_id", "position"),
        CheckConstraint("side IN ('ministry','partner')", name="side_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    side: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
    signed_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organization = relationship("Organization")


class StageVisit(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """One stay of an agreement in one stage, derived from the audit trail (app/workflow/stage_history.py)."""

    __tablename__ = "stage_visits"
    __table_args__ = (
        Index("ix_stage_visits_state_entered", "state", "entered_at"),
        # The first stay on record (stage analytics' years) is the index's first entry, not a scan.
        Index("ix_stage_visits_entered", "entered_at"),
        # Stage analytics' figures per (type, stage) for the whole portfolio: read in group order from the index
        # alone, with no join to agreements and no sort (23 ms -> 5 ms at 10,000 agreements on PostgreSQL).
        Index(
            "ix_stage_visits_finished",
            "agreement_type",
            "state",
            "days",
            "entered_at",
            postgresql_where=text("left_at IS NOT NULL"),
            sqlite_where=text("left_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    # The agreement's type, copied by app/workflow/stage_history.py whenever the stays are worked out (and when
    # a draft's type changes), so that figures per type need not join agreements.
    agreement_type: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(40))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    days: Mapped[float | None] = mapped_column(Float)  # left_at - entered_at, once left
