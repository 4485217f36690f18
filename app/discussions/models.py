"""What threads persist: messages (never deleted), their earlier texts, attachments and mentions;
the approve-from-the-e-mail links (stored hashed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow
from app.core.permissions import guarded_model
from app.extensions import db

# "internal": ministry people only; "shared": also the partner parties of the agreement.
AUDIENCES = ("internal", "shared")


@guarded_model
class DiscussionMessage(db.Model):
    """One message of a thread: the thread is (agreement, deliverable occurrence or none, audience)."""

    __tablename__ = "discussion_messages"
    __table_args__ = (
        CheckConstraint("audience IN ('internal','shared')", name="audience_known"),
        Index("ix_discussion_messages_thread", "agreement_id", "occurrence_id", "audience", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"))
    occurrence_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliverable_occurrences.id", ondelete="CASCADE"), index=True
    )
    audience: Mapped[str] = mapped_column(String(10))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    author = relationship("User", lazy="joined")
    revisions: Mapped[list["DiscussionRevision"]] = relationship(
        back_populates="message", order_by="DiscussionRevision.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list["DiscussionAttachment"]] = relationship(
        back_populates="message", order_by="DiscussionAttachment.id", cascade="all, delete-orphan"
    )
    mentions: Mapped[list["DiscussionMention"]] = relationship(
        back_populates="message", order_by="DiscussionMention.id", cascade="all, delete-orphan"
    )

    @property
    def is_edited(self) -> bool:
        return self.edited_at is not None


class DiscussionRevision(db.Model):
    """The text a message had before an edit (kept: nothing is ever lost)."""

    __tablename__ = "discussion_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("discussion_messages.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when this text was written
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    message: Mapped[DiscussionMessage] = relationship(back_populates="revisions")


class DiscussionAttachment(db.Model):
    __tablename__ = "discussion_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("discussion_messages.id", ondelete="CASCADE"), index=True)
    stored_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="RESTRICT"))
    original_name: Mapped[str] = mapped_column(String(255))

    message: Mapped[DiscussionMessage] = relationship(back_populates="attachments")
    stored_file = relationship("StoredFile", lazy="joined")


class DiscussionMention(db.Model):
    __tablename__ = "discussion_mentions"
    __table_args__ = (UniqueConstraint("message_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("discussion_messages.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)

    message: Mapped[DiscussionMessage] = relationship(back_populates="mentions")
    user = relationship("User")


class ApprovalLink(db.Model):
    """One "approve" or "send back" link of an approval request e-mail, for one person, one round
    and one step. Only the SHA-256 of the token is kept; the link dies when used, when it expires,
    when the person decides another way, or when the round moves on (closed, or another step)."""

    __tablename__ = "approval_links"
    __table_args__ = (CheckConstraint("decision IN ('approve','reject')", name="decision_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("approval_rounds.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(60))
    decision: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    round = relationship("ApprovalRound")
    user = relationship("User")
