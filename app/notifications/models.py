"""What notifications persist: in-app notices, reminders already generated, the
mail outbox, each person's mail choices, the admin's mail switch and calendar feeds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow
from app.core.permissions import guarded_model
from app.extensions import db

# Category -> (label shown on the preferences page, mandatory). A mandatory
# category cannot be switched off: it asks the person to act.
CATEGORIES: dict[str, tuple[Any, bool]] = {
    "approval_requested": (_l("Approvals asked of me"), True),
    "approval_overdue": (_l("Approvals waiting past their deadline"), True),
    "deliverable_overdue": (_l("Overdue deliverables"), True),
    "deliverable_due": (_l("Deliverables coming due"), False),
    "deliverable_activity": (_l("Deliverables handed in, accepted or sent back"), False),
    "agreement_activity": (_l("Changes of stage on my agreements"), False),
    "agreement_ending": (_l("Agreements coming to an end"), False),
    "agreement_stalled": (_l("Agreements waiting too long in one stage"), False),
    "weekly_digest": (_l("Weekly digest (managers)"), False),
    "discussion_mention": (_l("Mentions of me in discussions"), False),
    "discussion_activity": (_l("New messages in discussions I take part in"), False),
    # The daily copy of the audit chain's head: evidence kept outside the database.
    "audit_anchor": (_l("Daily anchor of the audit trail (auditors)"), True),
    # A scheduled job failed on one agreement (the others went on): admins must look.
    "job_failed": (_l("A scheduled job failed on one agreement (admins)"), True),
    # Asked for by the person themselves; never shown as a choice.
    "password_reset": (_l("Password reset links"), True),
    "export_ready": (_l("Spreadsheets I asked for are ready"), False),
    "invitation": (_l("Invitations"), True),
    # A personal API token ends within a week: whatever uses it stops then unless given a new one.
    "api_token_ending": (_l("My API tokens about to stop working"), True),
    # An admin changed the account's sign-in address: told at the old address and the new.
    "email_changed": (_l("Changes of my sign-in address"), True),
    # An admin changed the account's role or made it (or no longer) its organisation's admin: what it may do
    # changed, so it is told like a change of address, whatever else the person switched off.
    # The link confirming a person's own new address, sent to that address: asked for by them.
    "email_change_confirm": (_l("Links confirming my new sign-in address"), True),
    "role_changed": (_l("Changes of my role"), True),
}

# Mails about an account itself, sent to whoever asked (an invitee has no account yet): their footer speaks
# of that, not of a role and of preferences that cannot turn them off.
ASKED_FOR = frozenset({"password_reset", "invitation", "email_change_confirm"})

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "withdrawn")


@guarded_model
class Notification(db.Model):
    """One notice in a person's bell. Its text is drawn from `kind` and `params` when
    shown, so it reads in whatever language the person uses at that moment."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_unread", "user_id", "read_at"),
        Index("ix_notifications_user_created", "user_id", "created_at"),
        # The reader's latest notice (a dashboard's version): max(id) of one user's rows.
        Index("ix_notifications_user_latest", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    link: Mapped[str | None] = mapped_column(String(500))  # a path inside the app
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User")


class ReminderSent(db.Model):
    """A reminder already generated. The natural key makes a second pass, or a
    second scheduler, insert nothing."""

    __tablename__ = "reminders_sent"
    __table_args__ = (
        UniqueConstraint(
            "rule", "object_type", "object_id", "recipient_id", "occurrence_key", name="uq_reminders_sent_natural_key"
        ),
        # A pass reads the recorded keys by key (reminders.unsent).
        Index("ix_reminders_sent_key", "object_type", "occurrence_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column()
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    occurrence_key: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


@guarded_model
class OutboxMessage(db.Model):
    """One e-mail, written in the transaction that caused it and sent later by the sender."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("status IN ('pending','sending','sent','failed','withdrawn')", name="status_known"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        # The mail about one object (an invitation's, on the team page): the outbox is never emptied.
        Index("ix_outbox_messages_about", "kind", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(5))
    category: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))
    # Written with the message, or — for the thousands a reminder pass queues at once — left empty
    # and drawn from `notice` (params, link, extra) by the sender just before it sends.
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    notice: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What it is about (a deliverable's due date, an approval round; which of them its kind says): a
    # reminder no longer true when it would leave is withdrawn instead (notifications/lapsed.py).
    object_id: Mapped[int | None] = mapped_column()
    # Chosen when the message is written, so a resend after a crash carries the
    # same Message-ID and mail clients can recognise the duplicate.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    recipient = relationship("User")


class MailOptOut(db.Model):
    """A category of mail a person switched off (in-app notices still arrive)."""

    __tablename__ = "mail_opt_outs"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Setting(db.Model):
    """Site-wide switches an admin sets at run time (e.g. mail paused)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CalendarFeed(db.Model):
    """A personal iCal address. Only a hash of its secret is kept; a new one revokes the old."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User")
