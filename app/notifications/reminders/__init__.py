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
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.core.db import unit_of_work
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
    approval_request_extra,
    approval_request_params,
    approvals_of,
    deliverable_candidates,
    digest_candidates,
    ending_candidates,
    notice_candidates,
    portfolio_summary,
    stalled_candidates,
    waiting_approval,
)
from app.notifications.reminders.tokens import token_ending_candidates
from app.notifications.reminders.writing import BatchWriter, Ready
from app.notifications.services import MailChoices, Notice, prepared_notices

log = logging.getLogger("sharaka.reminders")
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
        + token_ending_candidates(now, people)
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


class _Preparer:
    """Makes each batch ready to write in the reading transaction, where what the notices describe is
    loaded (after a commit every object read is expired, and each notice would read its agreement again).
    The recipients of one reminder share its notice (one maker, one notice). A reminder whose notice or rows
    cannot be made is left out of its batch, with why, for the pass to report: it waits for the next pass."""

    def __init__(self):
        self.made: dict[int, tuple] = {}  # id(maker) -> (maker, its notice): the maker kept, its id not reused
        self.failed: list[tuple[Candidate, str]] = []
        self.mail_choices = MailChoices()  # each recipient's read once per pass

    def ready(self, batch: list[Candidate]) -> list[Ready]:
        loaded = _load_objects(batch)  # noqa: F841  (kept while the notices are built)
        built = [candidate for candidate in batch if self._built(candidate)]
        try:
            rows = prepared_notices([(c.recipient, c.notice) for c in built], self.mail_choices)
        except Exception:  # one of them, or more: found by making each alone
            return [ready for candidate in built if (ready := self._alone(candidate)) is not None]
        return [Ready(candidate, made) for candidate, made in zip(built, rows)]

    def _built(self, candidate: Candidate) -> bool:
        maker = candidate.notice_or_maker
        if isinstance(maker, Notice):
            return True
        try:
            if id(maker) not in self.made:
                self.made[id(maker)] = (maker, maker())
        except Exception as error:
            self._fail(candidate, error)
            return False
        candidate.notice_or_maker = self.made[id(maker)][1]
        return True

    def _alone(self, candidate: Candidate) -> Ready | None:
        try:
            return Ready(candidate, prepared_notices([(candidate.recipient, candidate.notice)], self.mail_choices)[0])
        except Exception as error:
            self._fail(candidate, error)
            return None

    def _fail(self, candidate: Candidate, error: Exception) -> None:
        log.error("reminder %s could not be written; left for the next pass", candidate.key, exc_info=True)
        self.failed.append((candidate, f"{type(error).__name__}: {error}"[:1000]))


def preview(now: datetime) -> list[Candidate]:
    """What a pass at `now` would send, without sending or recording anything."""
    return unsent(candidates_at(now, skip_sent=True))


def run_pass(now: datetime) -> PassReport:
    """Record and notify every reminder due at `now` and not sent yet.

    The reading is done once; then the new reminders are made ready and written BATCH at a time, each
    batch in its own transaction (one commit per reminder made a pass of thousands take minutes), written
    while the next is made ready (writing.py). The natural key still decides: a reminder another process
    recorded meanwhile is skipped, and a batch that meets a busy database is tried again whole.
    """
    with occurrence_facts.kept_for_a_pass(), _cycles_collected_after():
        return _run_pass(now)


@contextmanager
def _cycles_collected_after() -> Iterator[None]:
    """The garbage collector's cycle detection held until the pass ends. What a pass allocates (its
    candidates, notices and rows) lives until it ends, and a first pass allocates enough to trigger
    collection after collection that walked it all again: a sixth of its CPU time, for a few thousand
    objects in cycles at its end (at 17,000 reminders; reference counting frees the rest as it goes).
    Collecting resumes as it was after the pass (a caller that held it keeps it held)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
    failed: list = []
    preparer = _Preparer()
    with BatchWriter(report, failed) as writer:  # each batch written while the next is made ready
        for start in range(0, len(fresh), BATCH):
            writer.put(preparer.ready(fresh[start : start + BATCH]))
    report.errors += len(preparer.failed)
    failed += preparer.failed
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
