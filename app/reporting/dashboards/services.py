"""The home dashboards: what each role sees first, gathered from the cards (cards.py) and the
portfolio's figures (figures.py), each computed with a fixed number of queries, and the fingerprint
that lets an unchanged dashboard reload as a 304.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

from app.core.audit import request_trail_version
from app.core.permissions import can
from app.notifications.services import latest_notice_id, unread_count
from app.reporting.dashboards.cards import agreement_cards, late_approvals, my_deliverables
from app.reporting.dashboards.figures import counts_by_state, organization_figures, portfolio_counts
from app.workflow.inbox import inbox_for

ACTIONS_LISTED = 10


@dataclass
class ActionsSummary:
    items: list  # the oldest InboxItem rows
    total: int
    over_sla: int


def dashboard_version(user, now: datetime, language: str) -> str:
    """A fingerprint of everything a dashboard shows, read beside the session (app/auth/sessions.py): every
    change writes an audit row (so the trail's version moves with any change, the reader's own included),
    the reader's latest notice and unread count (the bell, as it shows it: "99+" past 99), the day
    (days waiting, what is due) and the hour (the page's CSRF tokens stay fresh). Equal fingerprints mean
    an identical page: a reload may be answered 304, or with the page kept for the session."""
    last_change, last_notice, unread = request_trail_version(), latest_notice_id(user), unread_count(user)
    raw = f"{user.id}:{user.role}:{user.language}:{language}:{now:%Y-%m-%dT%H}:{last_change}:{last_notice}:{unread}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def my_actions(user, today: date, *, limit: int = ACTIONS_LISTED) -> ActionsSummary:
    """What waits on `user` (the "My actions" inbox): the oldest few, how many in all, how many past the SLA."""
    page = inbox_for(user, today, per_page=limit)
    return ActionsSummary(items=page.items, total=page.total, over_sla=page.over_sla)


def officer_home(user, today: date) -> dict:
    """Everything an officer's dashboard shows: their actions, agreements, deliverables and endings."""
    ending, stuck = agreement_cards(user, today, owner=user)
    return {
        "actions": my_actions(user, today),
        "my_states": counts_by_state(user, owner=user),
        "deliverables": my_deliverables(user, today),
        "ending": ending,
        "stuck": stuck,
    }


def portfolio_home(user, today: date) -> dict:
    """Everything the portfolio dashboard shows (managers; auditors and admins read it)."""
    by_state, by_type, signed = portfolio_counts(user, today.year)
    ending, stuck = agreement_cards(user, today)
    overdue, overdue_total, on_time = organization_figures(user, today)
    return {
        # What waits on the reader comes first on every dashboard (a manager's own approvals too).
        "actions": my_actions(user, today) if can(user, "inbox.view") else None,
        "by_state": by_state,
        "by_type": by_type,
        "total": sum(row.value for row in by_state),
        "late_approvals": late_approvals(user, today),
        "stuck": stuck,
        "overdue": overdue,
        "overdue_total": overdue_total,
        "ending": ending,
        "signed_per_month": signed,
        "year": today.year,
        "on_time": on_time,
    }
