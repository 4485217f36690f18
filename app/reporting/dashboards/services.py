"""The home dashboards: what each role sees first, gathered from the cards (cards.py) and the
portfolio's figures (figures.py), each computed with a fixed number of queries (an unchanged one
reloads as kept: app/auth/kept_pages.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.core.permissions import can
from app.reporting.dashboards.cards import agreement_cards, late_approvals, my_deliverables
from app.reporting.dashboards.figures import counts_by_state, organization_figures, portfolio_counts
from app.workflow.checks import steps_left_to_nobody
from app.workflow.inbox import inbox_for
from app.workflow.queries import definitions_in_use

ACTIONS_LISTED = 10


@dataclass
class ActionsSummary:
    items: list  # the oldest InboxItem rows
    total: int
    over_sla: int


def my_actions(user, today: date, *, limit: int = ACTIONS_LISTED) -> ActionsSummary:
    """What waits on `user` (the "My actions" inbox): the oldest few, how many in all, how many past the SLA."""
    page = inbox_for(user, today, per_page=limit)
    return ActionsSummary(items=page.items, total=page.total, over_sla=page.over_sla)


def officer_home(user, today: date) -> dict:
    """Everything an officer's dashboard shows: their actions, agreements, deliverables and endings."""
    ending, stuck, _nobody = agreement_cards(user, today, owner=user)
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
    # Approvals nobody can give (an account deactivated, a role taken away, the only holder of a role the
    # requester): the admin was told once, on saving; the agreements waiting on them are said here, where the
    # portfolio is watched, by the rule their approvals panel says it by.
    stranded = steps_left_to_nobody(definition for _on, definition in definitions_in_use())
    ending, stuck, nobody = agreement_cards(user, today, stranded=stranded)
    overdue, overdue_total, on_time = organization_figures(user, today)
    return {
        # What waits on the reader comes first on every dashboard (a manager's own approvals too).
        "actions": my_actions(user, today) if can(user, "inbox.view") else None,
        "by_state": by_state,
        "by_type": by_type,
        "total": sum(row.value for row in by_state),
        "late_approvals": late_approvals(user, today),
        "stuck": stuck,
        "nobody_to_approve": nobody,
        "overdue": overdue,
        "overdue_total": overdue_total,
        "ending": ending,
        "signed_per_month": signed,
        "year": today.year,
        "on_time": on_time,
    }
