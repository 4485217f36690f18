"""Shared column helpers for the domain models."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, event
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.core.clock import utcnow  # noqa: F401  (model defaults read the one clock)
from app.core.text import fold


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database.

    SQLite has no time zones; storing naive UTC and re-attaching tzinfo on the
    way out keeps comparisons and arithmetic identical on SQLite and PostgreSQL.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC was expected")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


def keep_folded(model, column: str, *sources: str) -> None:
    """Keep `model.column` the folded copy (app/core/text.fold) of its `sources` columns, written with the row
    on every insert and update, so whatever changes a name, a search finds it without accents or Arabic
    diacritics ("helene" finds "Hélène")."""

    def refresh(_mapper, _connection, target) -> None:
        setattr(target, column, fold(" ".join(filter(None, (getattr(target, source) for source in sources)))))

    event.listen(model, "before_insert", refresh)
    event.listen(model, "before_update", refresh)
