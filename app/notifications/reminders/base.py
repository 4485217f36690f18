"""What every reminder rule shares: a candidate reminder with its natural key, the people a
pass may address, and the reckoning of days in Casablanca time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import cached_property

from sqlalchemy import select

from app.core import clock
from app.core.i18n import in_every_language
from app.core.permissions import holds, is_partner, partner_accounts_clause
from app.extensions import db
from app.notifications.services import Notice


@dataclass
class Candidate:
    """A reminder a rule found due: its natural key, and its notice (or how to build it: a pass
    builds the notices of the reminders not sent yet only, so a repeat pass builds none)."""

    rule: str
    occurrence_key: str
    recipient: object
    notice_or_maker: Notice | Callable[[], Notice]
    object_type: str = "-"
    object_id: int = 0

    def __post_init__(self):
        if isinstance(self.notice_or_maker, Notice):
            self.object_type = self.notice_or_maker.object_type or "-"
            self.object_id = self.notice_or_maker.object_id or 0

    @cached_property
    def notice(self) -> Notice:
        made = self.notice_or_maker
        return made if isinstance(made, Notice) else made()

    @property
    def key(self) -> tuple:
        return (self.rule, self.object_type, self.object_id, self.recipient.id, self.occurrence_key[:60])


@dataclass
class PassReport:
    created: int = 0
    already: int = 0
    errors: int = 0
    problems: list = field(default_factory=list)  # what failed alone (operations.failures's records)


# {ar, fr, en} of a multilingual field, each falling back as the pages do: texts(agreement, "title").
texts = in_every_language


class People:
    """The active accounts a pass may address, loaded once: ministry staff by id and role,
    partner users by organisation (one query, instead of one per reminder)."""

    def __init__(self):
        from app.auth.models import User

        users = db.session.scalars(select(User).where(User.is_active_account.is_(True)).order_by(User.id)).all()
        self.staff = [user for user in users if not is_partner(user)]
        self.by_id = {user.id: user for user in users}
        self.partners: dict[int, list] = defaultdict(list)
        for user in users:
            if is_partner(user) and user.organization_id is not None:
                self.partners[user.organization_id].append(user)
        # Partner users whose organisation's admin chose which agreements' deliverables they see.
        from app.auth.models import DeliverableGrant

        self.grants: dict[int, set[int]] = defaultdict(set)
        restricted = [user.id for user in users if user.deliverables_restricted]
        if restricted:  # most passes: nobody is restricted, no query
            for user_id, agreement_id in db.session.execute(
                select(DeliverableGrant.user_id, DeliverableGrant.agreement_id).where(
                    DeliverableGrant.user_id.in_(restricted)
                )
            ):
                self.grants[user_id].add(agreement_id)

    def holding(self, action: str) -> list:
        """The staff whose role holds the grant `action` (e.g. "escalation.receive")."""
        return [user for user in self.staff if holds(user, action)]

    def of_partner(self, organization_id: int | None, is_home: bool, agreement_id: int | None = None) -> list:
        """The users of the partner answering for a deliverable; with `agreement_id`, only those who see that
        agreement's deliverables (their organisation answers for one: whether its admin granted them)."""
        from app.core.permissions import granted_deliverables_of

        users = [] if organization_id is None or is_home else self.partners.get(organization_id, [])
        if agreement_id is None:
            return users
        return [user for user in users if granted_deliverables_of(user, agreement_id, self.grants.get(user.id, set()))]


def _partner_users(organization) -> list:
    """The active partner users of `organization` (event notices; a pass uses People instead)."""
    from app.auth.models import User

    if organization is None or organization.is_home:
        return []
    return list(
        db.session.scalars(
            select(User)
            .where(User.organization_id == organization.id, partner_accounts_clause(), User.is_active_account.is_(True))
            .order_by(User.id)
        )
    )


def _people(*groups) -> list:
    """Distinct active people, in order."""
    seen, people = set(), []
    for group in groups:
        for person in group:
            if person is not None and person.is_active_account and person.id not in seen:
                seen.add(person.id)
                people.append(person)
    return people


# The ministry's day of a moment, and the moment a day begins: local_date(m) < day exactly when
# m < local_midnight(day). Both are the one clock's.
local_date = clock.day_of
local_midnight = clock.start_of


def _threshold(days_left: int, thresholds: tuple[int, ...]) -> int | None:
    """The smallest threshold not below days_left: 7 for 5 days left with (7, 1); None if too early."""
    fitting = [t for t in thresholds if days_left <= t]
    return min(fitting) if fitting else None


def overdue_week(due_on: date, running_since: datetime | None, today: date, every: int) -> int:
    """Which period of `every` days late `today` is in, for an occurrence due on `due_on`: one reminder a
    period. Counted from the day after the due date; for a date missed before the agreement ran (activated
    months late, resumed after a suspension), from the day it began to run (`running_since`'s day in UTC, as
    the database reads it in gates.overdue_week), which then starts a period: that day's reminder is followed
    by the next a period later, not by one the next day when the due date's reckoning began a new period."""
    days = (today - due_on).days
    offset = 0
    if running_since is not None:
        late_at_start = (running_since.astimezone(timezone.utc).date() - due_on).days
        if late_at_start > 0:
            offset = (late_at_start - 1) % every
    return (days - 1 - offset) // every


def agreement_params(agreement) -> dict:
    return {"reference": agreement.reference, "title": texts(agreement, "title")}
