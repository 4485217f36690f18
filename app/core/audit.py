"""The append-only audit trail: every change to a domain object writes one row.

The rows form a hash chain: when a transaction commits, each of its new rows gets the
next sequence number, the previous row's hash and its own SHA-256 over a canonical
serialisation of its content and that previous hash (`seal_new_events`). Editing,
deleting, inserting or reordering a row breaks the chain, which `app.core.audit_chain`
walks and checks; the chain head is published daily as an anchor, so even a rewrite
of the whole chain shows against an earlier anchor.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, event, inspect, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from app.core.models import UTCDateTime, utcnow
from app.extensions import db

# The actor_label of the rows written by Sharaka itself (a scheduled job, a command): no account acted.
SYSTEM_LABEL = "system"


class AuditEvent(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id", "occurred_at"),
        # Browsing the trail by action or by person, newest first (app/audit/browsing.py).
        Index("ix_audit_events_action", "action", "id"),
        Index("ix_audit_events_actor", "actor_id", "id"),
    )

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
    # The chain; empty only inside the transaction that writes the row (sealed at commit).
    chain_seq: Mapped[int | None] = mapped_column(index=True, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))

    actor = relationship("User", lazy="joined")

    @property
    def by_system(self) -> bool:
        return self.actor_label == SYSTEM_LABEL

    @property
    def actor_name(self) -> str:
        """Who acted, as pages name people: the label's name without its address ("system" for the system)."""
        name, bracket, address = self.actor_label.rpartition(" <")
        return name if bracket and address.endswith(">") else self.actor_label


class AuditChainHead(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """One row: the last sealed sequence number and hash. Writers lock it, so the chain is
    strictly ordered on both databases whatever the number of processes."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)


def trail_version():
    """The audit trail's version as a scalar subquery: the head's last sealed sequence number. Every
    change writes an audit row, and rows are sealed at commit under the head's lock, so the number
    moves with every committed change and in commit order: a reader who sees version N sees every
    change sealed up to N (the rows' ids, taken at insert, may commit out of order)."""
    return select(AuditChainHead.last_seq).where(AuditChainHead.id == 1).scalar_subquery()


_SEEN = "sharaka.trail_version"  # where a request keeps the version it read (its WSGI environ: per request)


def seen_trail_version(version: int | None) -> None:
    """The request read the trail's version in a statement of its own (the session's lookup reads it beside
    the session, app/auth/sessions.py): request_trail_version() answers with it."""
    from flask import has_request_context, request

    if has_request_context():
        request.environ[_SEEN] = version


def request_trail_version() -> int | None:
    """The trail's version as this request first read it (outside a request: now). Read before anything
    the request computes from it, so what is kept under it is never older than the data the version names;
    newer data under an older version only means a reader of that version gets a fresher answer."""
    from flask import has_request_context, request

    if has_request_context() and _SEEN in request.environ:
        return request.environ[_SEEN]
    version = db.session.scalar(select(trail_version()))
    seen_trail_version(version)
    return version


class AuditAnchor(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """A published chain head (also e-mailed to the auditors and written to the log)."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    chain_seq: Mapped[int] = mapped_column()
    row_hash: Mapped[str] = mapped_column(String(64))
    # What the verification that preceded the anchor found: "ok", or the first broken link.
    verification: Mapped[str] = mapped_column(String(500))


GENESIS_HASH = "0" * 64
CHAIN_FORMAT = "sharaka-audit-v1"


def row_digest(
    *,
    seq: int,
    prev_hash: str,
    id: int,
    occurred_at: datetime,
    actor_id: int | None,
    actor_label: str,
    object_type: str,
    object_id: int,
    action: str,
    changes: Any,
    comment: str | None,
) -> str:
    """SHA-256 over the canonical form of one row and the previous row's hash.

    The format is fixed (CHAIN_FORMAT): JSON with sorted keys, no spaces, UTF-8, and
    the time as UTC with microseconds. Changing it needs a new format name.
    """
    moment = occurred_at.astimezone(timezone.utc) if occurred_at.tzinfo else occurred_at
    canonical = json.dumps(
        [
            CHAIN_FORMAT,
            seq,
            prev_hash,
            id,
            moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            actor_id,
            actor_label,
            object_type,
            object_id,
            action,
            changes,
            comment,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def digest_of(row, *, seq: int, prev_hash: str) -> str:
    """`row_digest` of an AuditEvent (or a row with the same attributes)."""
    return row_digest(
        seq=seq,
        prev_hash=prev_hash,
        id=row.id,
        occurred_at=row.occurred_at,
        actor_id=row.actor_id,
        actor_label=row.actor_label,
        object_type=row.object_type,
        object_id=row.object_id,
        action=row.action,
        changes=row.changes,
        comment=row.comment,
    )


def record(
    action: str,
    obj,
    *,
    actor=None,
    changes: dict | None = None,
    comment: str | None = None,
    object_type: str | None = None,
) -> AuditEvent:
    """Add an audit row for `obj` to the current transaction (flushes so obj has an id)."""
    if getattr(obj, "id", None) is None:
        db.session.flush()
    label = SYSTEM_LABEL
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


# --- sealing -------------------------------------------------------------------------------
_UNSEALED = "sharaka.audit_unsealed"


@event.listens_for(Session, "after_flush")
def _remember_new_events(session, flush_context):
    for obj in session.new:
        if isinstance(obj, AuditEvent):
            session.info.setdefault(_UNSEALED, []).append(obj)


@event.listens_for(Session, "before_commit")
def _seal_before_commit(session):
    seal_new_events(session)


@event.listens_for(Session, "after_rollback")
def _forget_unsealed(session):
    # A savepoint's rollback fires this too: the rows written before the savepoint are still the
    # transaction's, to be sealed at its commit. Only those the rollback took away are forgotten.
    remembered = session.info.pop(_UNSEALED, [])
    if session.in_transaction():
        session.info[_UNSEALED] = [obj for obj in remembered if inspect(obj).persistent]


def seal_new_events(session) -> None:
    """Chain this transaction's new audit rows, in the order they were written.

    Runs at commit, after every other write of the transaction: the head row is the last
    lock taken, so two committing transactions queue on it and never deadlock.
    """
    session.flush()
    pending = [obj for obj in session.info.pop(_UNSEALED, []) if inspect(obj).persistent and obj.chain_seq is None]
    if not pending:
        return
    connection = session.connection()
    seq, prev_hash = chain_head(connection)
    table = AuditEvent.__table__
    for obj in sorted(pending, key=lambda o: o.id):
        seq += 1
        row_hash = digest_of(obj, seq=seq, prev_hash=prev_hash)
        # Core, not the ORM: the ORM refuses every change to an audit row, and the database
        # allows this one only while the row is unsealed.
        connection.execute(
            table.update()
            .where(table.c.id == obj.id, table.c.row_hash.is_(None))
            .values(chain_seq=seq, prev_hash=prev_hash, row_hash=row_hash)
        )
        for name, value in (("chain_seq", seq), ("prev_hash", prev_hash), ("row_hash", row_hash)):
            set_committed_value(obj, name, value)
        prev_hash = row_hash
    move_chain_head(connection, seq, prev_hash)


def chain_head(connection) -> tuple[int, str]:
    """(place, hash) of the chain's last row, held until the transaction ends: two committing transactions
    queue on it. SQLite: the write lock is already the writer's (it flushed); nobody else commits meanwhile."""
    locking = " FOR UPDATE" if connection.dialect.name == "postgresql" else ""
    head = connection.execute(text(f"SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1{locking}")).one()
    return head.last_seq, head.last_hash


def move_chain_head(connection, seq: int, last_hash: str) -> None:
    connection.execute(
        text("UPDATE audit_chain_head SET last_seq = :seq, last_hash = :hash WHERE id = 1"),
        {"seq": seq, "hash": last_hash},
    )
