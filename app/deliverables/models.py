"""What partners and the ministry owe under an active agreement, and what they handed in."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    event,
    false,
    func,
    select,
    update,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.core.clock import day_of
from app.core.i18n import localized
from app.core.models import TimestampMixin, UTCDateTime, utcnow
from app.core.permissions import guarded_model
from app.extensions import db

RECURRENCES = {
    "once": _l("Once"),
    "monthly": _l("Monthly"),
    "quarterly": _l("Quarterly"),
    "yearly": _l("Yearly"),
}

# As in UNICEF's partner reporting portal. Stored statuses are pending, submitted,
# sent_back, accepted, waived; "not yet due", "due" and "overdue" are what a
# pending occurrence shows depending on today's date, and "not owed now" what it shows
# while its agreement does not run (app/deliverables/falling_due.py).
# Still to hand in (first time, or again after a send-back): what may be handed in, what is reminded.
OWED_STATUSES = ("pending", "sent_back")
# Still owed or under review: what a calendar shows on its due date.
UNFINISHED_STATUSES = (*OWED_STATUSES, "submitted")

STATUS_LABELS = {
    "not_owed": _l("Not owed now"),
    "not_yet_due": _l("Not yet due"),
    "due": _l("Due"),
    "overdue": _l("Overdue"),
    "submitted": _l("Submitted"),
    "sent_back": _l("Sent back"),
    "accepted": _l("Accepted"),
    "waived": _l("Waived"),
}


def shown_status(status: str, due_on: date, today: date, due_window_days: int = 14, falls_due: bool = True) -> str:
    """The status a person sees today of an occurrence stored as `status`, due on `due_on`: pending
    becomes not yet due, due or overdue by the date, or not owed now while its agreement does not run
    (`falls_due`, falling_due.falls_due). The one rule, for an occurrence loaded whole (falling_due.
    shown_status_of) or read as columns (the calendar); its SQL twin is falling_due.shown_as."""
    if status != "pending":
        return status
    if not falls_due:
        return "not_owed"
    if today > due_on:
        return "overdue"
    if (due_on - today).days <= due_window_days:
        return "due"
    return "not_yet_due"


@guarded_model
class Deliverable(TimestampMixin, db.Model):
    """One line of an agreement's plan: a one-off deliverable or a recurring one."""

    __tablename__ = "deliverables"
    __table_args__ = (
        CheckConstraint("recurrence IN ('once','monthly','quarterly','yearly')", name="recurrence_known"),
        CheckConstraint("until_on IS NULL OR until_on >= first_due_on", name="until_after_first"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    title_ar: Mapped[str | None] = mapped_column(String(300))
    title_fr: Mapped[str | None] = mapped_column(String(300))
    title_en: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    # The organisation that owes it: a partner, or the ministry itself.
    responsible_organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    recurrence: Mapped[str] = mapped_column(String(12), default="once")
    first_due_on: Mapped[date] = mapped_column(Date)
    until_on: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Invented by the demo loader (no one reported it): shown with an "illustrative" mark wherever it is listed.
    is_illustrative: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    agreement = relationship("Agreement", backref="deliverables")
    responsible_organization = relationship("Organization")
    occurrences: Mapped[list["Occurrence"]] = relationship(
        back_populates="deliverable", order_by="Occurrence.due_on", cascade="all, delete-orphan"
    )

    @property
    def title(self) -> str:
        return localized(self, "title") or ""

    @classmethod
    def naming_columns(cls) -> tuple:
        """Its titles, named deliverable_title_<language> so that they sit in one row beside its agreement's
        (Agreement.naming_columns: title_<language>); localized(row, "deliverable_title") reads them."""
        return (
            cls.title_ar.label("deliverable_title_ar"),
            cls.title_fr.label("deliverable_title_fr"),
            cls.title_en.label("deliverable_title_en"),
        )

    @property
    def recurrence_label(self) -> str:
        return str(RECURRENCES.get(self.recurrence, self.recurrence))


@guarded_model
class Occurrence(db.Model):
    """One due date of a deliverable, with its own status and submissions."""

    __tablename__ = "deliverable_occurrences"
    __table_args__ = (
        UniqueConstraint("deliverable_id", "due_on"),
        CheckConstraint("status IN ('pending','submitted','sent_back','accepted','waived')", name="status_known"),
        Index("ix_deliverable_occurrences_status_due", "status", "due_on"),
        Index("ix_deliverable_occurrences_due", "due_on", "id"),  # the list's order
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deliverable_id: Mapped[int] = mapped_column(ForeignKey("deliverables.id", ondelete="CASCADE"), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    waived_reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The ministry's day of the first hand-in (clock.day_of), kept by note_first_hand_ins when a
    # submission is added: "on time" compares it with due_on. The day, not the UTC moment, is stored
    # because the comparison needs the ministry's calendar, which SQLite cannot compute (no time
    # zones) and Casablanca's offset changes during the year; computed once in Python, it reads the
    # same on both databases, in SQL and in Python, without a grouped subquery over all submissions.
    first_handed_in_on: Mapped[date | None] = mapped_column(Date)
    # Optimistic locking: a review and a resubmission cannot cross silently.
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}

    deliverable: Mapped[Deliverable] = relationship(back_populates="occurrences")
    submissions: Mapped[list["Submission"]] = relationship(
        back_populates="occurrence", order_by="Submission.number", cascade="all, delete-orphan"
    )
    decided_by = relationship("User")

    @property
    def latest_submission(self) -> "Submission | None":
        return self.submissions[-1] if self.submissions else None

    @hybrid_property
    def was_handed_in_on_time(self) -> bool:
        """First handed in on or before its due date, on the ministry's calendar (a hand-in at 00:30 in
        Casablanca the day after is late, though still the due date in UTC)."""
        return self.first_handed_in_on is not None and self.first_handed_in_on <= self.due_on

    @was_handed_in_on_time.inplace.expression
    @classmethod
    def _was_handed_in_on_time_expression(cls):
        return and_(cls.first_handed_in_on.is_not(None), cls.first_handed_in_on <= cls.due_on)


class Submission(db.Model):
    """One hand-in: files and a note; a resubmission after a send-back is a new one, the old ones stay."""

    __tablename__ = "deliverable_submissions"
    __table_args__ = (
        UniqueConstraint("occurrence_id", "number"),
        CheckConstraint("decision IS NULL OR decision IN ('accept','send_back')", name="decision_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("deliverable_occurrences.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    note: Mapped[str | None] = mapped_column(Text)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(10))
    feedback: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    occurrence: Mapped[Occurrence] = relationship(back_populates="submissions")
    files: Mapped[list["SubmissionFile"]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="SubmissionFile.id"
    )
    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    reviewed_by = relationship("User", foreign_keys=[reviewed_by_id])


def latest_submission_column(column):
    """SQL twin of Occurrence.latest_submission, for a statement on occurrences: `column` (of Submission) of
    the occurrence's hand-in of the highest number, or NULL before any."""
    return (
        select(column)
        .where(Submission.occurrence_id == Occurrence.id)
        .order_by(Submission.number.desc())
        .limit(1)
        .correlate(Occurrence)
        .scalar_subquery()
    )


class SubmissionFile(db.Model):
    __tablename__ = "deliverable_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("deliverable_submissions.id", ondelete="CASCADE"), index=True)
    stored_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="RESTRICT"))
    original_name: Mapped[str] = mapped_column(String(255))

    submission: Mapped[Submission] = relationship(back_populates="files")
    stored_file = relationship("StoredFile", lazy="joined")


@event.listens_for(Session, "before_flush")
def note_first_hand_ins(session, _flush_context, _instances) -> None:
    """Every submission added through the ORM (the hand-in service behind the page and the API, the
    demo data, tests) gives its occurrence its first hand-in day when it has none, or an earlier one."""
    for submission in session.new:
        if not isinstance(submission, Submission):
            continue
        if submission.submitted_at is None:
            submission.submitted_at = utcnow()  # the column's default, needed now rather than at INSERT
        occurrence = submission.occurrence or (
            session.get(Occurrence, submission.occurrence_id) if submission.occurrence_id else None
        )
        if occurrence is None:
            continue  # an orphan the database refuses anyway
        handed_in_on = day_of(submission.submitted_at)
        if occurrence.first_handed_in_on is None or handed_in_on < occurrence.first_handed_in_on:
            occurrence.first_handed_in_on = handed_in_on


def fill_first_hand_ins(session) -> int:
    """The same rule for submissions inserted in bulk, bypassing the ORM (tests/bulk.py,
    bench/portfolio.py): every occurrence without a first hand-in day gets its earliest submission's,
    with one SELECT and one UPDATE (run for many rows). Returns how many occurrences it filled."""
    earliest = session.execute(
        select(Submission.occurrence_id, func.min(Submission.submitted_at))
        .join(Occurrence, Occurrence.id == Submission.occurrence_id)
        .where(Occurrence.first_handed_in_on.is_(None))
        .group_by(Submission.occurrence_id)
    ).all()
    if earliest:
        table = Occurrence.__table__
        session.execute(
            update(table).where(table.c.id == bindparam("occurrence_id")).values(first_handed_in_on=bindparam("day")),
            [{"occurrence_id": occurrence_id, "day": day_of(moment)} for occurrence_id, moment in earliest],
        )
    return len(earliest)
