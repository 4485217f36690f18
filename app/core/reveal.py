"""Showing a secret once, right after it was made (a new API token, a private calendar address).

The value never travels in the session cookie, which is signed but readable by whoever
holds it. It waits in a row for a few minutes, is handed to the page that shows it,
and is deleted there; the address of that page carries only a random ticket, and only
its creator can redeem the ticket.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import UTCDateTime, utcnow
from app.extensions import db

LIFETIME = timedelta(minutes=5)


class OneTimeSecret(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    __tablename__ = "one_time_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(2000))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


def keep(user, kind: str, value: str) -> str:
    """Hold `value` for `user` until it is shown; returns the ticket to put in the next page's address."""
    _sweep()
    ticket = secrets.token_urlsafe(24)
    db.session.add(
        OneTimeSecret(
            ticket_hash=_hash(ticket), user_id=user.id, kind=kind, value=value, expires_at=utcnow() + LIFETIME
        )
    )
    return ticket


def _sweep() -> None:
    db.session.execute(delete(OneTimeSecret).where(OneTimeSecret.expires_at < utcnow()))


def take(user, kind: str, ticket: str | None) -> str | None:
    """The value behind `ticket` if it is `user`'s and still fresh; then it is deleted. Someone else's
    ticket is left as it is: another person who opened the link (it was shared, or looked over) had
    destroyed it, and its owner was then told their address was ready with none shown. Stale rows of
    anyone are swept at the same time. The caller commits. Without a ticket (the page merely viewed)
    nothing is written: a view that wrote made concurrent readers collide on SQLite."""
    if not ticket or len(ticket) > 100:
        return None
    _sweep()
    row = db.session.scalar(select(OneTimeSecret).where(OneTimeSecret.ticket_hash == _hash(ticket)))
    if row is None or row.user_id != user.id or row.kind != kind:
        return None
    db.session.delete(row)
    return row.value
