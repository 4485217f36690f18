"""The one transaction path: services flush, each request or job commits once, here.

A request's work is committed by `register_unit_of_work`'s after-request hook when the answer is a
success (below 400), and rolled back otherwise; a job or command wraps its work in `unit_of_work()`.
A lost race at that commit becomes the same 409 / "this agreement has changed" everywhere.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import sys
import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timezone
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from app.core.errors import ConcurrentChange
from app.core.i18n import gettext as _
from app.extensions import AS_WRITER, SAFE_METHODS, SQLITE_CHANGES_AT_BEGIN, db, sqlite_rows_changed

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
        raise ConcurrentChange.at_commit() from error
    except OperationalError as error:
        db.session.rollback()
        if is_lock_conflict(error):
            raise ConcurrentChange.at_commit() from error
        raise


def keep_even_if_refused() -> None:
    """Commit this request's work even though it answers with a refusal (a failed sign-in must be
    counted by the throttle, a spent one-time link must stay spent)."""
    from flask import g

    g.keep_even_if_refused = True


def register_unit_of_work(app, *, before_commit=None, answer_after_refusal=None) -> None:
    """Commit each request once, after its view answered; register it last so it runs first.

    `before_commit(response)` adds to the request's work what must land with it; `answer_after_refusal()`
    may give a refused or rolled-back request another answer (app/core/receipts.py: a repeat's first one).
    """
    from flask import g

    def other_answer():
        return answer_after_refusal() if answer_after_refusal else None

    @app.after_request
    def commit_the_request(response):
        if response.status_code >= 400 and not g.pop("keep_even_if_refused", False):
            db.session.rollback()
            return other_answer() or response
        # The page is rendered, but a streamed body (a CSV export, a file from the database) is read
        # after this: its objects (the signed-in user…) must stay loaded, not expire with the commit.
        session = db.session()
        expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
        try:
            if before_commit:
                before_commit(response)
            commit_or_conflict()
        except ConcurrentChange as error:
            from app.core.responses import refused

            if run_again_as_writer(error):
                return response  # dropped: the request runs again
            return other_answer() or app.make_response(refused(None, error))
        except DBAPIError as error:
            # The database lost at the commit (a connection cut, a server restarting): the answer the app
            # gives when it is lost during the view (a 503 saying so, one log line), not Flask's 500 for an
            # after-request failure, whose error page asked the lost database again.
            return app.make_response(app.handle_user_exception(error))
        finally:
            session.expire_on_commit = expire_on_commit
        return response


# A safe request (GET, HEAD, OPTIONS) that writes (a notice marked read as its link is followed, a one-time
# secret taken as it is shown, a document's text kept at its first comparison) reads first, in a transaction
# SQLite cannot turn into a writer once another process has committed after it began: its write is refused at
# once ("database is locked"), whatever the busy timeout, and such pages answered 503 or "this has changed"
# under load. Run again whole as a writer (BEGIN IMMEDIATE, which waits its turn for the lock), the request
# gets its page; the refused run's answer is dropped unsent. A safe request's body is empty, so running it
# again repeats nothing but its reads.
READ_AGAIN = "sharaka.read_again"  # in the environ: drop this run's answer and run the request as a writer


def run_again_as_writer(error: BaseException) -> bool:
    """Whether `error`, met by the request under way, is a refusal that running it again as a writer avoids
    (a safe request on SQLite, not a writer yet, refused a write for a read transaction): if so the request
    is marked to be run again (`runs_again_as_writer`), and its answer now does not matter."""
    from flask import has_request_context, request

    if not has_request_context() or request.method not in SAFE_METHODS or request.environ.get(AS_WRITER):
        return False
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, OperationalError):
        cause = cause.__cause__
    if cause is None or db.engine.dialect.name != "sqlite" or not is_lock_conflict(cause):
        return False
    request.environ[READ_AGAIN] = True
    return True


def is_run_again() -> bool:
    """Whether the request under way is to be run again as a writer: its answer is dropped (not logged)."""
    from flask import has_request_context, request

    return has_request_context() and bool(request.environ.get(READ_AGAIN))


def runs_again_as_writer(app) -> None:
    """Wrap `app`'s WSGI callable: a safe request marked by run_again_as_writer is run again as a writer, and
    only that run's answer is sent. (Innermost: the proxy's headers are read once per run, the same way.)"""
    inner = app.wsgi_app

    def wsgi_app(environ, start_response):
        if environ.get("REQUEST_METHOD") not in SAFE_METHODS:
            return inner(environ, start_response)
        started: list[tuple] = []

        def held(status, headers, exc_info=None):
            started[:] = [(status, headers, exc_info)]
            return _no_early_writes

        body = inner(environ, held)
        if environ.pop(READ_AGAIN, False):
            if hasattr(body, "close"):
                body.close()
            environ[AS_WRITER] = True
            return inner(environ, start_response)
        start_response(*started[0])
        return body

    app.wsgi_app = wsgi_app


def _no_early_writes(data: bytes) -> None:
    raise RuntimeError("WSGI's write() before the body: Flask's answers never use it, nor may one held here")


def commit_bookkeeping(*only) -> None:
    """Commit a bookkeeping write (a token's, session's or calendar feed's last use) before the request's
    own work, on its own: a busy database must never refuse the request for a timestamp (a page view whose
    only write was its session's, committed with the request, answered 409 while SQLite was busy). What was
    read stays loaded: the request goes on with it, not reading it all again.
    With `only` (the objects the bookkeeping changed): done only when nothing else is pending, else left to
    the request's one commit, since its work must never land half done."""
    session = db.session()
    if only and (session.new or session.deleted or not set(session.dirty) <= set(only)):
        return
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    except Exception:
        session.rollback()
    finally:
        session.expire_on_commit = expire_on_commit


def commit_batch() -> None:
    """Commit one batch of a long job that keeps each batch once written (the reminder pass writes
    thousands of rows). Errors reach the caller as they are: it knows whether to try the batch again
    or to write its items one by one."""
    db.session.commit()


@contextmanager
def unit_of_work(*, as_writer: bool = False) -> Iterator[None]:
    """A job's or command's one commit: the block's work is committed at its end, or rolled back if it
    raised (a lost race raises ConcurrentChange). `as_writer`: on SQLite the block is a writer's from its
    first statement (`_as_writer`), for a short block that writes (a command's): it then holds the lock to
    its end, so not one that waits on something else meanwhile (the directory, a storage backend)."""
    if as_writer:
        _as_writer()
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    commit_or_conflict()


def _as_writer() -> None:
    """On SQLite, the session's transaction a writer's from here: BEGIN IMMEDIATE, which waits its turn for the
    lock (the busy timeout) as a request that may write does. A transaction that only read so far (a command
    that looked its account up first) is ended first: SQLite refuses it a write at once, whatever the busy
    timeout, while another connection holds the lock or once it wrote since ("database is locked", a
    command's traceback while the server was busy). One that wrote holds the lock already, and is kept."""
    session = db.session()
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        connection = session.connection()
        wrote = sqlite_rows_changed(connection) != connection.info.get(SQLITE_CHANGES_AT_BEGIN)
        if wrote or session.new or session.dirty or session.deleted:
            return
        session.rollback()
    session.connection(execution_options={"sqlite_immediate": True})


def is_unique_violation(error: IntegrityError) -> bool:
    """A unique key met: on PostgreSQL its SQLSTATE, on SQLite its message."""
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    return code == "23505" or "unique constraint failed" in str(getattr(error, "orig", error)).lower()


def is_writer_lock_timeout(error: OperationalError) -> bool:
    """SQLite's "database is locked" met by a request: it waited the whole busy timeout for the one writer's
    lock, which it takes at its first statement, while another process held it. The database is busy, not
    the request's data changed: nothing of it was read before the lock."""
    return "database is locked" in str(getattr(error, "orig", error)).lower()


def is_lock_conflict(error: OperationalError) -> bool:
    """SQLite's "database is locked"/busy snapshot, or PostgreSQL's serialization or deadlock failures."""
    text = str(getattr(error, "orig", error)).lower()
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    return "database is locked" in text or "busy" in text or code in ("40001", "40P01")


# What the drivers say when the database server cannot be reached or went away (psycopg; SQLite's file).
_UNREACHABLE = (
    "connection refused",
    "failed to resolve host",  # psycopg, for a host name that does not resolve (a mistyped DATABASE_URL)
    "connection failed",
    "could not connect",
    "server closed the connection",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "unable to open database file",
    "consuming input failed",
    "not currently accepting connections",
)


def is_unreachable(error: DBAPIError) -> bool:
    """The database server is down, restarting or out of reach (not a statement's own fault)."""
    text = str(getattr(error, "orig", error)).lower()
    return bool(getattr(error, "connection_invalidated", False)) or any(words in text for words in _UNREACHABLE)


def log_failure(logger, message: str, *args) -> None:
    """Log the exception being handled under `message`: in full, unless the database is out of reach;
    then one line naming the cause. A process whose jobs run every few seconds would otherwise write the
    driver's chained traceback each time, for as long as the outage (or a mistyped DATABASE_URL) lasts."""
    error = sys.exc_info()[1]
    if isinstance(error, DBAPIError) and is_unreachable(error):
        cause = str(getattr(error, "orig", error)).strip().splitlines()
        logger.error(message + ": the database is out of reach (%s)", *args, cause[0][:300] if cause else "")
    else:
        logger.exception(message, *args)


def check_version(obj, expected_version, message: str | None = None) -> None:
    """Refuse a change made from a stale page: the version the user saw must be the stored one."""
    try:
        if expected_version is None or int(expected_version) != obj.version:
            raise ConcurrentChange(message)
    except (TypeError, ValueError):
        raise ConcurrentChange(message) from None


def fields_seen(obj, fields: Iterable[str]) -> str:
    """What an edit form showed of `obj`, as its hidden `seen` field carries it: a short hash of each edited
    field's stored value, in order. Records without a version column (organisations, signing events, plan
    lines, indicators) are checked with it, and it says which fields changed meanwhile (changed_since).
    The form may add what it showed after a "|" (core.forms.EditForm), which the check does not read."""
    return ".".join(short_hash(repr(getattr(obj, name))) for name in fields)


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def changed_since(obj, fields: Iterable[str], seen: str | None) -> list[str]:
    """The fields whose stored value is no longer the one the form showed (every field for a `seen` that
    is not one fields_seen wrote)."""
    names = list(fields)
    shown = (seen or "").partition("|")[0].split(".")
    now = fields_seen(obj, names).split(".")
    if len(shown) != len(names):
        return names
    return [name for name, before, after in zip(names, shown, now, strict=True) if before != after]


def check_seen(obj, fields: Iterable[str], seen: str | None) -> None:
    """Before a save of `obj`: wait for a save of it under way elsewhere, read it again, and refuse a save
    made from a stale form. Two tabs, or two colleagues, each saving a different field had each undone the
    other's change without a word; two plan saves at the same moment on PostgreSQL had left one's due dates
    under the other's recurrence. `seen` None: the caller showed no form (the API), and its save is whole."""
    take_turns_on(f"{type(obj).__tablename__}:{obj.id}")
    db.session.flush()  # what this request changed is kept: expiring cascades to the record's children
    db.session.expire(obj)
    if seen is not None and changed_since(obj, fields, seen):
        raise ConcurrentChange(
            _(
                "Someone saved this since you opened it: what they changed is shown under each field. "
                "Check it and save again."
            )
        )


def flush_or_conflict(message: str | None = None) -> None:
    """Write now, so a lost race surfaces here as a conflict rather than at commit."""
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise ConcurrentChange(message) from None
    except IntegrityError as error:
        # A row another request inserted first (the same acceptance, the same address): lost, as at commit.
        if not is_unique_violation(error):
            raise
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


def write_transaction(work: Callable[[], T], *, give_up_after: float = 120.0, through_outages: bool = False) -> T:
    """Run `work` in its own short write transaction, commit, and return its result.

    On SQLite the transaction starts with BEGIN IMMEDIATE (it waits for the write lock
    instead of failing half-way); lock conflicts and PostgreSQL serialization failures
    are rolled back and tried again, so a caller that must record something (a message
    the SMTP server accepted) does not crash on a busy database. `through_outages`: the
    database out of reach (a connection cut, a server restarting) is waited out too, up to
    `give_up_after`, for what must not be lost (that message: given back unmarked, it was
    sent a second time). Ends any read transaction the session had open first.
    """
    deadline = time.monotonic() + give_up_after
    for attempt in itertools.count():
        try:
            db.session.rollback()
            db.session.connection(execution_options={"sqlite_immediate": True})
            result = work()
            db.session.commit()
            return result
        except OperationalError as error:
            roll_back_or_close()
            outage = through_outages and is_unreachable(error)
            if not (is_lock_conflict(error) or outage) or time.monotonic() > deadline:
                raise
            pause = min(0.25 * 2 ** min(attempt, 4), 4.0) if outage else min(0.01 * 2 ** min(attempt, 6), 0.5)
            time.sleep(pause * (0.5 + random.random()))
    raise AssertionError("unreachable")


def roll_back_or_close() -> None:
    """End the session's transaction, even when the database is gone with its connection."""
    try:
        db.session.rollback()
    except DBAPIError:  # the connection itself is gone: nothing was written on it
        db.session.close()


def take_turns_on(name: str) -> None:
    """Until this transaction ends, make others that call this with the same `name` wait: for a rule
    checked by reading ("no waiting invitation for this address") that no index can hold.

    PostgreSQL: a transaction-level advisory lock; the reads after it see what the one before committed.
    SQLite needs nothing: it has one writer, and a writer whose reads another has outdated is refused.
    """
    if db.engine.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def dialect_insert(model):
    """INSERT for `model` in the current database's dialect: the one that knows ON CONFLICT."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


def insert_ignoring_conflicts(model):
    """INSERT … ON CONFLICT DO NOTHING, in the current database's dialect."""
    return dialect_insert(model).on_conflict_do_nothing()


def plain_rows(result) -> list:
    """The rows of `result` as named tuples: the same fields, by name or by position, read at a tuple's
    speed. A SQLAlchemy row finds a field by name through its class's look-up and then a Python
    __getattr__ (0.6 µs a field): a reminder pass reads a dozen fields of each of ten thousand rows."""
    rows = result.all()
    if not rows:
        return rows
    # A field name a tuple cannot take fails here, loudly (the fields are known only when read: no literal).
    plain = namedtuple("PlainRow", rows[0]._fields)  # type: ignore[misc]
    return [plain._make(row) for row in rows]
