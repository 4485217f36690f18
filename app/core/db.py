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


def check_version(obj, expected_version, message: str | None = None) -> None:
    """Refuse a change made from a stale page: the version the user saw must be the stored one."""
    try:
        if expected_version is None or int(expected_version) != obj.version:
            raise ConcurrentChange(message)
    except (TypeError, ValueError):
        raise ConcurrentChange(message) from None


def flush_or_conflict(message: str | None = None) -> None:
    """Write now, so a lost race surfaces here as a conflict rather than at commit."""
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise ConcurrentChange(message) from None
    except OperationalError as error:
        # SQLite refuses to upgrade a reader whose snapshot another writer has outdated.
        if not is_lock_conflict(error):
            raise
        db.session.rollback()
        raise ConcurrentChange(message) from None
