"""Committing a request's work, turning lost races into a clear conflict."""
from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from datetime import timezone
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from app.core.errors import ConcurrentChange
from app.extensions import db

T = TypeVar("T")


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


def database_now(connection=None):
    """The database's clock (UTC, aware): every process agrees on it, whatever its own clock says.

    SQLite lives on the machine that runs the processes, so the machine's clock is the database's.
    `connection`: read it there instead of through the session (e.g. from another thread).
    """
    from app.core.models import utcnow

    bind = connection if connection is not None else db.session
    dialect = connection.dialect.name if connection is not None else db.engine.dialect.name
    if dialect == "postgresql":
        return bind.scalar(text("SELECT clock_timestamp()")).astimezone(timezone.utc)
    return utcnow()


def write_transaction(work: Callable[[], T], *, give_up_after: float = 120.0) -> T:
    """Run `work` in its own short write transaction, commit, and return its result.

    On SQLite the transaction starts with BEGIN IMMEDIATE (it waits for the write lock
    instead of failing half-way); lock conflicts and PostgreSQL serialization failures
    are rolled back and tried again, so a caller that must record something (a message
    the SMTP server accepted) does not crash on a busy database. Ends any read
    transaction the session had open first.
    """
    deadline = time.monotonic() + give_up_after
    for attempt in itertools.count():
        db.session.rollback()
        try:
            db.session.connection(execution_options={"sqlite_immediate": True})
            result = work()
            db.session.commit()
            return result
        except OperationalError as error:
            db.session.rollback()
            if not is_lock_conflict(error) or time.monotonic() > deadline:
                raise
            time.sleep(min(0.01 * 2 ** min(attempt, 6), 0.5) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def insert_ignoring_conflicts(model):
    """INSERT … ON CONFLICT DO NOTHING, in the current database's dialect."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model).on_conflict_do_nothing()
