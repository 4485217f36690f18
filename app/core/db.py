"""Committing a request's work, turning lost races into a clear conflict."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from app.core.errors import ConcurrentChange
from app.extensions import db


def commit_or_conflict() -> None:
    """Commit; if another request changed the same rows first, roll back and raise ConcurrentChange.

    PostgreSQL reports the loser as a stale version or a unique violation;
    SQLite may also refuse the write of a transaction whose snapshot is stale
    ("database is locked" / busy snapshot).
    """
    try:
        db.session.commit()
    except (StaleDataError, IntegrityError) as error:
        db.session.rollback()
        raise ConcurrentChange() from error
    except OperationalError as error:
        db.session.rollback()
        if is_lock_conflict(error):
            raise ConcurrentChange() from error
        raise


def is_lock_conflict(error: OperationalError) -> bool:
    """SQLite's "database is locked"/busy snapshot, or PostgreSQL's serialization or deadlock failures."""
    text = str(getattr(error, "orig", error)).lower()
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    return "database is locked" in text or "busy" in text or code in ("40001", "40P01")
