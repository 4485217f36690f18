"""The timeline: each signed agreement as a bar from its signature to its end, grouped by
partner or by signing event, on an axis of years and quarters with today's line.

Positions are percentages of the axis from its start; the template places them with logical
CSS properties, so time runs right to left in Arabic without any arithmetic here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.orm import joinedload, lazyload, selectinload

from app.agreements.models import Agreement
from app.core import clock
from app.core.i18n import gettext as _
from app.core.permissions import can, visible_agreements_clause
from app.core.templating import links_to, written_date
from app.extensions import db
from app.workflow.engine import state_has
from app.workflow.queries import in_state_tagged

# The axis goes at least a year past today and at most this many years past it (end dates
# further out run off the edge, like open-ended agreements).
MAX_YEARS_AHEAD = 10
# Bars drawn at most, the most recently signed: a government's portfolio drawn whole is
# megabytes of HTML nobody can read; the agreements list finds the others.
BAR_CAP = 200
# The shortest bar drawn, in percent of the axis, so a bar of a few days is still seen.
MIN_BAR = 0.8


@dataclass
class Bar:
    agreement: Agreement
    start: date
    end: date | None  # the known end; None for an open-ended agreement
    offset: float = 0.0  # percent of the axis from its start
    size: float = 0.0
    runs_on: bool = False  # open-ended, or ends after the axis: drawn to the edge with an arrow
    # Read, built and written once per agreement, for the bar, its label and its table row (and each group
    # it is in).
    url: str = ""  # the agreement's page
    title: str = ""  # the agreement's, in the reader's language
    start_text: str = ""  # the dates as the reader reads them
    end_text: str = ""


@dataclass
class Group:
    key: str
    label: str
    url: str | None
    note: str | None = None  # a partner's acronym
    held_on: date | None = None  # a signing event's date
    bars: list[Bar] = field(default_factory=list)


# Past this share of the axis (percent), a tick's label is drawn ending at its line, not starting there.
LABEL_ENDS_AFTER = 92


@dataclass
class Tick:
    label: str
    offset: float
    is_year: bool

    @property
    def is_near_the_end(self) -> bool:
        """Too near the axis's end for its label to start at its line: the label ends there instead."""
        return self.offset > LABEL_ENDS_AFTER


@dataclass
class Timeline:
    groups: list[Group]
    ticks: list[Tick]
    start: date
    end: date
    today: date
    today_offset: float | None
    undated: int  # visible agreements not signed yet (nothing to draw)
    dated: int = 0  # visible agreements with a date, drawn or not (past BAR_CAP)

    @property
    def bar_count(self) -> int:
        return len({bar.agreement.id for group in self.groups for bar in group.bars})


def agreement_span(agreement: Agreement, ended_early: bool | None = None) -> tuple[date | None, date | None]:
    """(start, end): signature (else entry into force) and the end date, or the day it was
    terminated or closed when that came first. `ended_early`: whether its state is tagged so
    (asked of its definition when not given)."""
    start = agreement.signed_on or agreement.effective_on
    end = agreement.expires_on
    if ended_early is None:
        ended_early = state_has(agreement, "ended_early")
    # Ended before its end date: the bar stops the day it left.
    if ended_early and agreement.state_entered_at is not None:
        left = clock.day_of(agreement.state_entered_at)
        end = min(end, left) if end else left
    return start, end


def build_timeline(user, group_by: str, today: date, *, cap: int = BAR_CAP) -> Timeline:
    """The `cap` most recently signed agreements `user` may see, drawn oldest first; how many are dated in all."""
    agreements = sorted(
        _most_recently_signed(user, cap), key=lambda a: (a.signed_on is None, a.signed_on or date.max, a.reference)
    )
    visible = visible_agreements_clause(user)
    is_dated = and_(
        or_(Agreement.signed_on.is_not(None), Agreement.effective_on.is_not(None)), in_state_tagged("after_signing")
    )
    dated, undated = db.session.execute(
        select(
            func.count(Agreement.id).filter(is_dated),
            func.count(Agreement.id).filter(~is_dated, ~in_state_tagged("abandoned")),
        ).where(visible)
    ).one()
    spans = [(agreement, *agreement_span(agreement)) for agreement in agreements]
    start, end = axis_bounds([s for _a, s, _e in spans], [e for _a, _s, e in spans], today)
    groups: dict[str, Group] = {}
    agreement_url = links_to("agreements.view_agreement", "agreement_id")
    for agreement, first, last in spans:
        bar = Bar(
            agreement,
            first,
            last,
            url=agreement_url(agreement.id),
            title=agreement.title,
            start_text=written_date(first),
            end_text=written_date(last),
        )
        place(bar, start, end)
        for key, make in _group_keys(agreement, group_by, user):
            if key not in groups:
                groups[key] = make()
            groups[key].bars.append(bar)
    ordered = sorted(groups.values(), key=_group_order(group_by))
    return Timeline(
        groups=ordered,
        ticks=axis_ticks(start, end),
        start=start,
        end=end,
        today=today,
        today_offset=offset_of(today, start, end) if start <= today <= end else None,
        undated=undated or 0,
        dated=dated or 0,
    )


def _most_recently_signed(user, cap: int) -> list[Agreement]:
    """The `cap` visible agreements signed last (by signature date, then reference, both descending), then,
    when they are fewer, those in force without a signature date (by reference, descending).

    One statement: each kind's ids walk their own index and stop at `cap` (where one ORDER BY ... NULLS
    LAST sorted the whole portfolio), and the agreements are loaded from those at most 2 x `cap`. A
    second read only when the first found fewer than `cap` made the page cost one statement more for a
    small portfolio than for a large one."""
    visible = visible_agreements_clause(user)
    after_signing = in_state_tagged("after_signing")
    signed = (
        select(Agreement.id)
        .where(visible, Agreement.signed_on.is_not(None), after_signing)
        .order_by(Agreement.signed_on.desc(), Agreement.reference.desc())
        .limit(cap)
        .subquery()
    )
    in_force_undated = (
        select(Agreement.id)
        .where(visible, Agreement.signed_on.is_(None), Agreement.effective_on.is_not(None), after_signing)
        .order_by(Agreement.reference.desc())
        .limit(cap)
        .subquery()
    )
    candidates = union_all(select(signed.c.id), select(in_force_undated.c.id))
    # A bar draws its agreement's parties and signing event, never its owner, whom the model joins to every
    # agreement it loads.
    return list(
        db.session.scalars(
            select(Agreement)
            .where(Agreement.id.in_(candidates))
            .options(selectinload(Agreement.parties), joinedload(Agreement.signing_event), lazyload(Agreement.owner))
            .order_by(Agreement.signed_on.is_(None), Agreement.signed_on.desc(), Agreement.reference.desc())
            .limit(cap)
        )
    )


def axis_bounds(starts: list[date], ends: list[date | None], today: date) -> tuple[date, date]:
    """From 1 January of the first signature year to 31 December of the year of the last end
    date (at least next year, at most MAX_YEARS_AHEAD years from now)."""
    first_year = min([d.year for d in starts] + [today.year])
    last_year = max([d.year for d in ends if d] + [today.year + 1])
    last_year = min(last_year, today.year + MAX_YEARS_AHEAD)
    return date(first_year, 1, 1), date(last_year, 12, 31)


def offset_of(day: date, start: date, end: date) -> float:
    span = (end - start).days or 1
    return round(min(100.0, max(0.0, 100 * (day - start).days / span)), 3)


def place(bar: Bar, start: date, end: date) -> Bar:
    bar.offset = offset_of(bar.start, start, end)
    bar.runs_on = bar.end is None or bar.end > end
    stop = 100.0 if bar.runs_on else offset_of(bar.end, start, end)
    bar.size = round(max(stop - bar.offset, MIN_BAR), 3)
    if bar.offset + bar.size > 100:
        bar.offset = round(100 - bar.size, 3)
    return bar


def axis_ticks(start: date, end: date) -> list[Tick]:
    """A tick each 1 January (labelled with the year) and, on axes of six years or less, each quarter."""
    years = end.year - start.year + 1
    ticks = []
    for year in range(start.year, end.year + 1):
        ticks.append(Tick(str(year), offset_of(date(year, 1, 1), start, end), True))
        if years <= 6:
            for quarter, month in ((2, 4), (3, 7), (4, 10)):
                ticks.append(Tick(_("Q%(number)s", number=quarter), offset_of(date(year, month, 1), start, end), False))
    return ticks


def _group_keys(agreement: Agreement, group_by: str, user):
    if group_by == "event":
        event = agreement.signing_event
        if event is None:
            yield "event-none", lambda: Group("event-none", _("No signing event"), None)
            return
        yield (
            f"event-{event.id}",
            lambda: Group(
                f"event-{event.id}",
                event.name,
                _url("events.view_event", "event.view", event, user, event_id=event.id),
                held_on=event.held_on,
            ),
        )
        return
    partners = agreement.partner_organizations
    if not partners:
        yield "partner-none", lambda: Group("partner-none", _("No partner"), None)
    for organization in partners:
        # The group (and the reader's right to open the partner's page) is made once, for its first bar.
        yield (
            f"partner-{organization.id}",
            lambda organization=organization: Group(
                f"partner-{organization.id}",
                organization.name,
                _url(
                    "organizations.view_organization",
                    "organization.view",
                    organization,
                    user,
                    organization_id=organization.id,
                ),
                note=organization.acronym,
            ),
        )


def _url(endpoint: str, action: str, obj, user, **values) -> str | None:
    from flask import url_for

    return url_for(endpoint, **values) if can(user, action, obj) else None


def _group_order(group_by: str):
    def key(group: Group):
        is_none = group.key.endswith("-none")
        if group_by == "event":
            return (is_none, group.held_on or date.max, group.label)
        return (is_none, group.label.casefold())

    return key
