"""The append-only audit trail: every change to a domain object writes one row."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow
from app.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # Null actor means the system (a scheduled job, a CLI command).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Kept as text too, so the trail still reads right if the user is renamed or removed.
    actor_label: Mapped[str] = mapped_column(String(300))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column()
    action: Mapped[str] = mapped_column(String(60))
    # {"before": {...}, "after": {...}} for updates, free details otherwise.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comment: Mapped[str | None] = mapped_column(String(2000))

    actor = relationship("User", lazy="joined")


def record(action: str, obj, *, actor=None, changes: dict | None = None, comment: str | None = None,
           object_type: str | None = None) -> AuditEvent:
    """Add an audit row for `obj` to the current transaction (flushes so obj has an id)."""
    if getattr(obj, "id", None) is None:
        db.session.flush()
    label = "system"
    if actor is not None:
        label = f"{actor.full_name} <{actor.email}>"
    audit_event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        actor_label=label,
        object_type=object_type or obj.__tablename__,
        object_id=obj.id,
        action=action,
        changes=_jsonable(changes or {}),
        comment=comment,
    )
    db.session.add(audit_event)
    return audit_event


def diff(before: dict, after: dict) -> dict:
    """Keep only the fields that changed, as {"before": ..., "after": ...}."""
    changed = [key for key in after if before.get(key) != after.get(key)]
    return {
        "before": {key: before.get(key) for key in changed},
        "after": {key: after.get(key) for key in changed},
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def history_for(object_type: str, object_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            db.select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        )
    )


class AuditTrailIsAppendOnly(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session, flush_context, instances):
    """The trail is evidence: rows are added, never edited or deleted."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditTrailIsAppendOnly("audit events cannot be changed or deleted")
