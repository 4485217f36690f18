"""Writing a pass's reminders: a batch per transaction, the natural key deciding which are new.

The pass prepares each batch's rows in its reading transaction (reminders/__init__.py); a BatchWriter
writes them. On a database it can open a second connection to, the writer is a thread with a connection
of its own, so the database inserts one batch while the pass prepares the next: the first pass over a
government's portfolio spent a third of its time waiting for inserts that can run beside its own work.
Where the pass's session is bound to one connection (a caller's transaction), the batches are written
on it, after the reading, one after the other.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from queue import Queue

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from app.core.db import commit_batch, is_lock_conflict
from app.core.errors import ConcurrentChange
from app.extensions import db
from app.notifications.reminders.base import Candidate, PassReport
from app.notifications.services import PreparedNotice, record_and_notify

log = logging.getLogger("sharaka.reminders")
LOCK_RETRIES = 5
BATCHES_AHEAD = 2  # batches prepared and not written yet, at most: the pass never runs far ahead


@dataclass
class Ready:
    """A reminder ready to be written: its candidate (the natural key) and its rows (None: the recipient
    is no longer an active account, so the key is recorded and nobody is told)."""

    candidate: Candidate
    rows: PreparedNotice | None


class BatchWriter:
    """Writes the batches given to `put`, each in its own transaction; `close` waits for the last and ends
    the pass's reading transaction. What was written is counted in `report` (created, already, errors);
    a reminder that could not be written, even alone, is added to `failed` as (candidate, error)."""

    def __init__(self, report: PassReport, failed: list):
        self.report, self.failed = report, failed
        self.threaded = isinstance(db.session.get_bind(), Engine)
        self._waiting: list[list[Ready]] = []  # without a thread: written at close, after the reading
        self._error: BaseException | None = None
        if self.threaded:
            self._queue: Queue[list[Ready] | None] = Queue(maxsize=BATCHES_AHEAD)
            self._thread = threading.Thread(
                target=self._write_in_turn,
                args=(current_app._get_current_object(),),  # type: ignore[attr-defined]  # the proxied app
                name="sharaka-reminder-writer",
                daemon=True,
            )
            self._thread.start()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, kind, error, trace) -> None:
        if error is None:
            self.close()
        elif self.threaded:  # the pass failed: the batches given are still written, then the thread ends
            self._stop()

    def put(self, batch: list[Ready]) -> None:
        if not batch:
            return
        if not self.threaded:
            self._waiting.append(batch)
        elif self._error is None:  # (once the writer stopped, close raises its error)
            self._queue.put(batch)

    def close(self) -> None:
        if self.threaded:
            self._stop()
            commit_batch()  # the reading transaction, over
            if self._error is not None:
                raise self._error
            return
        commit_batch()  # end the reading transaction before writing on the same connection
        for batch in self._waiting:
            write_batch(batch, self.report, self.failed)
        self._waiting = []

    def _stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _write_in_turn(self, app) -> None:
        # A new application context: a session, and so a connection, of its own.
        with app.app_context():
            try:
                while (batch := self._queue.get()) is not None:
                    if self._error is None:
                        write_batch(batch, self.report, self.failed, autocommit=True)
            except BaseException as error:  # handed to the pass, which raises it at close
                self._error = error
                while self._queue.get() is not None:  # let the pass put its last batches and stop
                    pass
            finally:
                db.session.remove()


def write_batch(batch: list[Ready], report: PassReport, failed: list, autocommit: bool = False) -> None:
    """Record the batch's natural keys and write the notices of those that were new, in one transaction.
    A busy database: the batch is tried again whole. Anything else failing: its reminders are written one
    by one, so only the one that fails waits for the next pass. With `autocommit` (a connection of the
    writer's own), on PostgreSQL, where the batch is one statement (record_and_notify) and so a transaction
    of its own, it is sent without BEGIN and COMMIT: one round trip instead of three, each of which waited
    for the pass's other thread to let go of the interpreter."""
    error_text = ""
    for attempt in range(LOCK_RETRIES):
        try:
            if autocommit and db.engine.dialect.name == "postgresql":
                db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            with db.session.no_autoflush:
                created = record_and_notify([(ready.candidate.key, ready.rows) for ready in batch])
            commit_batch()
            report.created += created
            report.already += len(batch) - created
            return
        except (ConcurrentChange, OperationalError) as error:
            # Another process wrote at the same moment (SQLite allows one writer):
            # try again; the natural key still prevents a second copy.
            db.session.rollback()
            if isinstance(error, OperationalError) and not is_lock_conflict(error):
                error_text = f"{type(error).__name__}: {error}"[:1000]
                break
            if attempt == LOCK_RETRIES - 1:
                log.error("reminders: database busy, %d left for the next pass", len(batch))
                report.errors += len(batch)
                return
            time.sleep(0.05 * (attempt + 1))
        except Exception as error:
            db.session.rollback()
            log.exception("reminders: a batch of %d failed", len(batch))
            error_text = f"{type(error).__name__}: {error}"[:1000]
            break
    if len(batch) == 1:
        report.errors += 1
        log.error("reminder %s failed; left for the next pass", batch[0].candidate.key)
        failed.append((batch[0].candidate, error_text or "database busy"))
        return
    for ready in batch:
        write_batch([ready], report, failed, autocommit)
