"""The calendar: one month of deadlines — deliverables due, approvals due by their SLA, last days for a notice
of non-renewal, agreements ending.

The same kinds of dates as the personal iCal feed (app/notifications/calendar.py), but
for everything the reader may see rather than only what is theirs to do.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from app.agreements.models import Agreement, title_of
from app.agreements.renewals import awaiting_notice, ending_between
from app.agreements.services import ENDING_CHOICE
from app.core.i18n import current_language, localized
from app.core.permissions import can, is_partner, visible_agreements_clause, visible_deliverables_clause
from app.core.templating import links_to
from app.extensions import db
from app.workflow.engine import definition_for, label
from app.workflow.queries import picked_rounds, rounds_due_between

KINDS = ("deliverable", "approval", "notice", "end")
# Deadlines of one kind drawn at most on one day: a government's portfolio has thousands of reports due
# on 31 December, and agreements signed together end together. The others are counted, and a link lists
# them (the deliverables or agreements list, filtered). Approval deadlines are read whole: only the
# month's open rounds due in it, each dated by its step's SLA in Python. Five rather than ten: at 10,000
# agreements a month drew about 600 lines, and drawing them was half the page's time (72 ms against 88
# for the officer at 10,000 on the bench machine, bench/page_cpu.py); a day's sixth report is a click away.
DAY_CAP = 5


@dataclass(frozen=True)
class DueOccurrence:
    """A deliverable's occurrence as the calendar reads it: three columns, not an ORM object (a month
    draws hundreds). Its shown status is the deliverables' one rule (models.shown_status)."""

    id: int
    due_on: date
    status: str
    falls_due: bool  # its agreement runs (falling_due)

    def status_on(self, today: date) -> str:
        from app.deliverables.falling_due import due_window
        from app.deliverables.models import shown_status

        return shown_status(self.status, self.due_on, today, due_window(), self.falls_due)


@dataclass
class Deadline:
    day: date
    kind: str  # one of KINDS
    title: str
    reference: str  # the agreement's
    url: str
    # The occurrence, round or agreement it comes from: orders an agreement's deadlines of one day and kind.
    source_id: int
    occurrence: DueOccurrence | None = None  # for deliverables: its status badge
    detail: str | None = None


@dataclass
class Month:
    first: date
    today: date
    weeks: list[list[date]]
    deadlines: list[Deadline] = field(default_factory=list)
    # (day, kind) -> how many deadlines of that kind fall on that day, drawn or not
    counts: dict[tuple[date, str], int] = field(default_factory=dict)
    # (day, kind) -> where all of them are listed, when they are more than DAY_CAP
    more_urls: dict[tuple[date, str], str] = field(default_factory=dict)

    @property
    def last(self) -> date:
        return self.first.replace(day=calendar.monthrange(self.first.year, self.first.month)[1])

    @property
    def previous(self) -> date:
        return (self.first - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return self.last + timedelta(days=1)

    def on(self, day: date) -> list[Deadline]:
        return self._by_day.get(day, [])

    def total_on(self, day: date) -> int:
        """Deadlines of the day, drawn or not."""
        return sum(self.counts.get((day, kind), 0) for kind in KINDS)

    def hidden(self, day: date) -> list[tuple[str, int, str]]:
        """(kind, how many are not drawn, where they are listed) for each kind over the cap that day."""
        return [
            (kind, self.counts[(day, kind)] - DAY_CAP, self.more_urls[(day, kind)])
            for kind in KINDS
            if (day, kind) in self.more_urls
        ]

    @cached_property
    def _by_day(self) -> dict[date, list[Deadline]]:
        by_day: dict[date, list[Deadline]] = {}
        for deadline in self.deadlines:
            by_day.setdefault(deadline.day, []).append(deadline)
        return by_day

    @property
    def days(self) -> list[date]:
        """Days of the month with at least one deadline, in order."""
        return sorted(self._by_day)


def month_grid(first: date) -> list[list[date]]:
    """The weeks covering the month, Monday first (the ministry's working week starts on Monday)."""
    return calendar.Calendar(firstweekday=calendar.MONDAY).monthdatescalendar(first.year, first.month)


def build_month(user, first: date, today: date) -> Month:
    month = Month(first=first, today=today, weeks=month_grid(first))
    deadlines = [
        *_deliverables(user, month),
        *_approvals(user, month),
        *_notices(user, month),
        *_endings(user, month),
    ]
    for deadline in deadlines:
        if deadline.kind == "approval":  # read whole (only the month's, dated in Python): counted here
            key = (deadline.day, deadline.kind)
            month.counts[key] = month.counts.get(key, 0) + 1
    month.deadlines = sorted(deadlines, key=lambda d: (d.day, KINDS.index(d.kind), d.reference, d.source_id))
    return month


def _first_of_each_day(query, day_column, order_by, cap: int = DAY_CAP):
    """`query`'s rows narrowed to the first `cap` of each day by `order_by`, each with its columns and how
    many rows that day has (`on_day`): one statement counts and picks. The picked rows keep what the ranking
    read, so they are not looked up again in its tables (joined back by id, PostgreSQL hashed every
    occurrence to find the few hundred picked)."""
    ranked = query.add_columns(
        func.row_number().over(partition_by=day_column, order_by=order_by).label("rank"),
        func.count().over(partition_by=day_column).label("on_day"),
    ).subquery()
    return select(*(column for column in ranked.c if column.key != "rank")).where(ranked.c.rank <= cap)


def _deliverables(user, month: Month):
    from app.deliverables.falling_due import falling_due
    from app.deliverables.models import UNFINISHED_STATUSES, Deliverable, Occurrence
    from app.organizations.models import Organization, name_of

    due = (
        select(
            Occurrence.id,
            Occurrence.due_on,
            Occurrence.status,
            Occurrence.deliverable_id,
            Agreement.reference,
            falling_due(month.today).label("falls_due"),
        )
        .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
        .join(Agreement, Agreement.id == Deliverable.agreement_id)
        .where(
            visible_agreements_clause(user),
            visible_deliverables_clause(user),
            Occurrence.status.in_(UNFINISHED_STATUSES),
            Occurrence.due_on >= month.first,
            Occurrence.due_on <= month.last,
        )
    )
    filters = {"status": "unfinished"}
    if is_partner(user):
        # A partner's calendar shows what their organisation owes.
        due = due.where(Deliverable.responsible_organization_id == user.organization_id)
        filters["partner"] = user.organization_id

    def listed(day: date) -> str:
        return url_for(
            "deliverables.list_deliverables", **filters, due_after=day.isoformat(), due_before=day.isoformat()
        )

    first = _first_of_each_day(due, Occurrence.due_on, (Agreement.reference, Occurrence.id)).subquery()
    # Columns, not objects: what a row draws (titles and names in every language, picked below as the
    # models' title and name properties pick them), read for the picked rows only.
    drawn = db.session.execute(
        select(
            first,
            Deliverable.title_ar,
            Deliverable.title_fr,
            Deliverable.title_en,
            *Organization.naming_columns()[1:],  # its names (the id is the occurrence's)
        )
        .join(Deliverable, Deliverable.id == first.c.deliverable_id)
        .join(Organization, Organization.id == Deliverable.responsible_organization_id)
    ).all()
    language = current_language()
    occurrence_url = links_to("deliverables.view_occurrence", "occurrence_id")
    for row in drawn:
        key = (row.due_on, "deliverable")
        month.counts[key] = row.on_day
        if row.on_day > DAY_CAP and key not in month.more_urls:  # one link per day, not per drawn row
            month.more_urls[key] = listed(row.due_on)
        yield Deadline(
            row.due_on,
            "deliverable",
            localized(row, "title", language) or "",
            row.reference,
            occurrence_url(row.id),
            row.id,
            occurrence=DueOccurrence(row.id, row.due_on, row.status, bool(row.falls_due)),
            detail=name_of(row, language),
        )


def approval_deadline(round_, agreement) -> tuple[date, object] | None:
    """(deadline, transition) of an open round: its current step is due `sla` days after it began.

    The same reckoning as the reminders (app/notifications/reminders/ `waiting_approval`),
    without asking who may approve, which the calendar does not need (one query per round)."""
    from app.notifications.reminders import local_date
    from app.workflow.engine import step_waiting

    waiting = step_waiting(round_, definition_for(agreement), agreement)
    if waiting is None or waiting[3] is None:
        return None
    transition, _step, started, sla = waiting
    return local_date(started) + timedelta(days=sla), transition


def _approvals(user, month: Month):
    """Open approval rounds of the agreements' current stage whose current step falls due in the month
    (the database picks them by the one SLA rule, queries.rounds_due_between)."""
    from app.notifications.reminders import local_midnight
    from app.workflow.models import ApprovalDecision, ApprovalRound

    if not can(user, "agreement.approvals"):
        return  # the ministry's internal approvals are not the partner's business (their deadlines neither)
    # The database keeps the rounds due this month (queries.rounds_due_between); each is dated below.
    picked = picked_rounds(visible_agreements_clause(user), rounds_due_between(month.first, month.last, local_midnight))
    rows = db.session.execute(
        select(ApprovalRound, Agreement)
        .join(picked, picked.c.id == ApprovalRound.id)
        .join(Agreement, Agreement.id == ApprovalRound.agreement_id)
        .options(
            # Read below, in a statement of their own whether or not a round is due this month: an eager
            # load runs only for rounds found, so the page cost a statement more in a month with some.
            lazyload(ApprovalRound.decisions),
            # Dating a round reads its agreement's workflow and facts, never its owner, whom the model joins
            # to every agreement it loads: hundreds of rounds a month.
            lazyload(Agreement.owner),
        )
        .order_by(ApprovalRound.id)
    ).all()
    decisions: dict[int, list] = {round_.id: [] for round_, _agreement in rows}
    for decision in db.session.scalars(
        select(ApprovalDecision)
        .where(ApprovalDecision.round_id.in_(list(decisions)))
        .options(joinedload(ApprovalDecision.counted_user))
        # The relationship's own order (ApprovalRound.decisions), round by round.
        .order_by(ApprovalDecision.round_id, ApprovalDecision.decided_at, ApprovalDecision.id)
    ):
        decisions[decision.round_id].append(decision)
    for round_, _agreement in rows:
        set_committed_value(round_, "decisions", decisions[round_.id])
    approvals_url = links_to("agreements.view_agreement", "agreement_id", _anchor="approvals-heading")
    for round_, agreement in rows:
        due = approval_deadline(round_, agreement)
        if due is not None:
            yield Deadline(
                due[0],
                "approval",
                label(due[1].label),
                agreement.reference,
                approvals_url(agreement.id),
                round_.id,
            )


def _endings(user, month: Month):
    """Agreements in force that end in the month (not those renewing by themselves: renewals.ending_between):
    the first DAY_CAP of each day, the others counted and listed by the agreements list (in force, ending
    that day)."""
    ending = select(*Agreement.naming_columns(), Agreement.expires_on).where(
        visible_agreements_clause(user), ending_between(month.first, month.last)
    )
    first = _first_of_each_day(ending, Agreement.expires_on, (Agreement.reference, Agreement.id))
    drawn = db.session.execute(first).all()
    language = current_language()
    agreement_url = links_to("agreements.view_agreement", "agreement_id")
    for row in drawn:
        day = row.expires_on
        month.counts[(day, "end")] = row.on_day
        if row.on_day > DAY_CAP and (day, "end") not in month.more_urls:  # one link per day, not per drawn row
            month.more_urls[(day, "end")] = url_for(
                "agreements.list_agreements",
                state=ENDING_CHOICE,  # the day's agreements ending_between counted, no more
                ends_after=day.isoformat(),
                ends_before=day.isoformat(),
            )
        yield Deadline(day, "end", title_of(row, language), row.reference, agreement_url(row.id), row.id)


def _notices(user, month: Month):
    """The last day to give notice of non-renewal of agreements in force that renew (or whose renewal is due)
    and have had none: past it, the ministry is committed to another term. The first DAY_CAP of each day."""
    deadline_of = Agreement.notice_deadline  # its SQL twin (core/sql_dates.py)
    due = select(*Agreement.naming_columns(), deadline_of.label("notice_deadline")).where(
        visible_agreements_clause(user),
        awaiting_notice(),
        deadline_of >= month.first,
        deadline_of <= month.last,
    )
    first = _first_of_each_day(due, deadline_of, (Agreement.reference, Agreement.id))
    language = current_language()
    agreement_url = links_to("agreements.view_agreement", "agreement_id")
    for row in db.session.execute(first).all():
        day = row.notice_deadline
        month.counts[(day, "notice")] = row.on_day
        yield Deadline(day, "notice", title_of(row, language), row.reference, agreement_url(row.id), row.id)


def weekday_names(locale) -> list[tuple[str, str]]:
    """(abbreviated, full) day names, Monday first, in the reader's language (Babel's data)."""
    from babel.dates import get_day_names

    short, wide = get_day_names("abbreviated", locale=locale), get_day_names("wide", locale=locale)
    return [(short[day], wide[day]) for day in range(7)]  # Babel numbers days from Monday = 0
