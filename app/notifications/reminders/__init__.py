"""Reminder rules: one pass scans the database for what is due at a given moment.

Each rule yields candidates with a natural key (rule, object, recipient,
occurrence); a pass inserts the key and, only if it was new, notifies. So a
pass run twice, a pass after downtime, or two schedulers at once send each
reminder exactly once. The thresholds come from each agreement type's
`reminders:` section in workflows/ (defaults in ReminderPolicy).
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.core.db import commit_batch, is_lock_conflict, unit_of_work
from app.core.errors import ConcurrentChange
from app.extensions import db
from app.notifications.models import ReminderSent
from app.notifications.reminders import last_pass, occurrence_facts
from app.notifications.reminders.base import (  # noqa: F401  (what other modules import from here)
    Candidate,
    PassReport,
    People,
    _partner_users,
    _people,
    agreement_params,
    local_date,
    local_midnight,
    texts,
)
from app.notifications.reminders.rules import (  # noqa: F401
    approval_candidates,
    approval_reminders_sent,
    deliverable_candidates,
    digest_candidates,
    ending_candidates,
    notice_candidates,
    portfolio_summary,
    stalled_candidates,
    waiting_approval,
)
from app.notifications.services import Notice, notify_many, record_many

log = logging.getLogger("sharaka.reminders")
LOCK_RETRIES = 5
BATCH = 500  # reminders written per transaction
KEYS_PER_QUERY = 500  # bound parameters per IN (…), well under every database's limit
DELIVERABLE_RULES = ("deliverable_due", "deliverable_overdue", "deliverable_escalated")  # deliverable_candidates'
# The agreement rules' (approval_candidates, ending_candidates, notice_candidates, stalled_candidates).
AGREEMENT_RULES = ("approval_overdue", "approval_escalated", "agreement_ending", "notice_deadline", "agreement_stalled")


# --- a pass ----------------------------------------------------------------------------


def candidates_at(
    now: datetime,
    skip_sent: bool = False,
    deliverables: bool = True,
    sent: Counter | None = None,
    agreements: bool = True,
) -> list[Candidate]:
    """Every reminder the rules find due at `now`, sent already or not; with `skip_sent`, without
    those of objects whose every recipient had them already (the database skips those: gates.py;
    with `sent`, the deliverable ones are counted there); without `deliverables` or `agreements`,
    without the deliverable rules' or the agreement rules' (a repeat pass: last_pass.py)."""
    today = local_date(now)
    people = People()
    found = (
        (deliverable_candidates(today, people, skip_sent, sent) if deliverables else [])
        + (
            approval_candidates(today, people, skip_sent)
            + ending_candidates(today, people)
            + notice_candidates(today, people)
            + stalled_candidates(today, people)
            if agreements
            else []
        )
        + digest_candidates(now, today, people)
    )
    # A fixed order: two processes inserting the same keys take their locks in the same order.
    return sorted(found, key=lambda c: tuple(str(part) for part in c.key))


def unsent(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates whose natural key is not recorded yet. The keys a pass computes are few
    (a due date and a threshold or a week, a step, a week of the year), so the recorded rows
    are read by key, a few hundred at a time, instead of asking once per candidate."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for candidate in candidates:
        wanted[candidate.object_type].add(candidate.occurrence_key[:60])
    recorded = set()
    for object_type, keys in wanted.items():
        keys = sorted(keys)
        for start in range(0, len(keys), KEYS_PER_QUERY):
            recorded.update(
                tuple(row)
                for row in db.session.execute(
                    select(
                        ReminderSent.rule,
                        ReminderSent.object_type,
                        ReminderSent.object_id,
                        ReminderSent.recipient_id,
                        ReminderSent.occurrence_key,
                    ).where(
                        ReminderSent.object_type == object_type,
                        ReminderSent.occurrence_key.in_(keys[start : start + KEYS_PER_QUERY]),
                    )
                )
            )
    return [candidate for candidate in candidates if candidate.key not in recorded]


def _load_objects(candidates: list[Candidate]) -> list:
    """Bring what the notices of `candidates` describe into the pass, in bulk: the agreements into the
    session (the caller keeps the list while it builds the notices: the session's identity map holds
    objects weakly), the occurrences' facts as plain values (occurrence_facts)."""
    from app.agreements.models import Agreement

    occurrence_facts.read(c.object_id for c in candidates if c.object_type == "deliverable_occurrences")
    agreement_ids = sorted({c.object_id for c in candidates if c.object_type == "agreements"})
    loaded = []
    for start in range(0, len(agreement_ids), KEYS_PER_QUERY):
        loaded += db.session.scalars(
            select(Agreement).where(Agreement.id.in_(agreement_ids[start : start + KEYS_PER_QUERY]))
        ).all()
    return loaded


def _build_notices(candidates: list[Candidate]) -> None:
    """Build the notices of `candidates` in the reading transaction, what they describe read in bulk:
    after its commit every object read is expired, and each notice would read its agreement again. The
    objects are let go once the notices are built (every commit would expire them all again). The
    recipients of one reminder share its notice (one maker, one notice). A notice that cannot be built
    now is tried again in its batch, which reports it alone if it fails."""
    loaded = _load_objects(candidates)  # noqa: F841  (kept while the notices are built)
    made: dict[int, tuple] = {}  # id(maker) -> (maker, its notice): the maker kept, its id not reused
    for candidate in candidates:
        maker = candidate.notice_or_maker
        if isinstance(maker, Notice):
            continue
        try:
            if id(maker) not in made:
                made[id(maker)] = (maker, maker())
            candidate.notice_or_maker = made[id(maker)][1]  # the maker and the objects it holds go
        except Exception:  # left for _write_batch, which isolates the failure
            log.debug("reminders: notice of %s left for its batch", candidate.key, exc_info=True)


def preview(now: datetime) -> list[Candidate]:
    """What a pass at `now` would send, without sending or recording anything."""
    return unsent(candidates_at(now, skip_sent=True))


def run_pass(now: datetime) -> PassReport:
    """Record and notify every reminder due at `now` and not sent yet.

    The reading is done once; then the new reminders are written BATCH at a time, each batch in
    its own transaction (one commit per reminder made a pass of thousands take minutes). The
    natural key still decides: a reminder another process recorded meanwhile is skipped, and a
    batch that meets a busy database is tried again whole.
    """
    with occurrence_facts.kept_for_a_pass(), _long_lived_objects_set_aside():
        return _run_pass(now)


@contextmanager
def _long_lived_objects_set_aside() -> Iterator[None]:
    """The objects alive before the pass (the app, its catalogues, SQLAlchemy's caches: most of the
    process) left out of the garbage collector's full collections while it runs, then given back: a
    first pass allocates enough to trigger them, and walking those objects again was a fifth of its time.
    What the pass itself allocates is collected as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run_pass(now: datetime) -> PassReport:
    report = PassReport()
    today = local_date(now)
    inputs = last_pass.read_inputs(today)  # before the rules read: what is remembered is never newer
    told = last_pass.told(inputs)  # per group, the reminders due, if nothing changed since
    deliverables_run, agreements_run = told.deliverables is None, told.agreements is None
    sent: Counter = Counter()
    candidates = candidates_at(now, skip_sent=True, deliverables=deliverables_run, sent=sent, agreements=agreements_run)
    fresh = unsent(candidates)
    # The reminders the rules skipped because everyone had them count as already sent.
    deliverables_before = sent["deliverables"] if deliverables_run else told.deliverables
    agreements_before = approval_reminders_sent(today) if agreements_run else told.agreements
    # What the next pass is told, once these are written: every one due.
    deliverables_due = deliverables_before + sum(1 for c in candidates if c.rule in DELIVERABLE_RULES)
    agreements_due = agreements_before + sum(1 for c in candidates if c.rule in AGREEMENT_RULES)
    report.already = len(candidates) - len(fresh) + deliverables_before + agreements_before
    _build_notices(fresh)
    commit_batch()  # end the reading transaction before writing
    failed: list = []
    for start in range(0, len(fresh), BATCH):
        _write_batch(fresh[start : start + BATCH], report, failed)
    if failed:
        _report_failures(failed, report)
    elif report.errors == 0 and (deliverables_run or agreements_run):  # (else what is remembered holds still)
        _remember(inputs, deliverables_due, agreements_due)
    return report


def _remember(inputs: last_pass.Inputs, deliverables_due: int, agreements_due: int) -> None:
    try:
        with unit_of_work():
            last_pass.remember(inputs, deliverables_due, agreements_due)
    except (ConcurrentChange, OperationalError):  # busy: the next pass runs its rules in full, no harm
        db.session.rollback()
        log.info("reminders: the pass's inputs not remembered (database busy)")


def _refresh_recipients(batch: list[Candidate]) -> None:
    """Read the batch's recipients again in one query: the last commit expired them, and each would
    otherwise be read alone when its e-mail address is needed."""
    from sqlalchemy import inspect

    from app.auth.models import User

    ids = sorted({inspect(candidate.recipient).identity[0] for candidate in batch})
    for start in range(0, len(ids), KEYS_PER_QUERY):
        db.session.scalars(select(User).where(User.id.in_(ids[start : start + KEYS_PER_QUERY]))).all()


def _report_failures(failed: list, report: PassReport) -> None:
    """The reminders that failed alone: recorded once (audit + admins' notice), kept on the job's record."""
    from app.operations.failures import ItemFailure, report_failures

    try:
        with unit_of_work():
            report.problems = report_failures(
                "reminders",
                [
                    ItemFailure(
                        step=candidate.rule,
                        error=error,
                        object_type=candidate.object_type,
                        object_id=candidate.object_id,
                    )
                    for candidate, error in failed
                ],
            )
    except Exception:  # the pass itself is done; its bookkeeping must not undo it (rolled back alone)
        log.exception("reminders: could not record %d failures", len(failed))


def _write_batch(batch: list[Candidate], report: PassReport, failed: list) -> None:
    error_text = ""
    for attempt in range(LOCK_RETRIES):
        try:
            # No flush before each read: the notices are written in bulk at the end of the batch.
            with db.session.no_autoflush:
                _refresh_recipients(batch)
                # The notices not built with the reading (_build_notices) are built now.
                loaded = _load_objects([c for c in batch if not isinstance(c.notice_or_maker, Notice)])  # noqa: F841
                new = record_many([candidate.key for candidate in batch])
                fresh = list({candidate.key: candidate for candidate in batch if candidate.key in new}.values())
                notify_many([(candidate.recipient, candidate.notice) for candidate in fresh])
            commit_batch()
            report.created += len(fresh)
            report.already += len(batch) - len(fresh)
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
        log.error("reminder %s failed; left for the next pass", batch[0].key)
        failed.append((batch[0], error_text or "database busy"))
        return
    # Something in the batch fails: write its reminders one by one, so only that one waits.
    for candidate in batch:
        _write_batch([candidate], report, failed)
