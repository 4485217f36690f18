""" "My actions": what waits on a user now, oldest first, with days waiting against the stage's SLA.

The database finds, counts, sorts and pages the waiting items (workflow rules become SQL
conditions in app/workflow/queries/), so the inbox costs the same few queries whether the
portfolio holds a hundred agreements or a hundred thousand; Python only dresses the page shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from flask import url_for
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import and_, case, func, literal, null, select, union_all

from app.agreements.models import Agreement
from app.core import clock
from app.core.i18n import gettext as _
from app.core.permissions import (
    holds_role,
    may_decide_approvals,
    may_own_agreements,
    visible_agreements_clause,
)
from app.deliverables.models import Deliverable, Occurrence, Submission
from app.extensions import db
from app.workflow import engine, queries
from app.workflow.models import ApprovalRound, NegotiationRound
from app.workflow.presenter import STUCK_AFTER_SLA_TIMES

LISTED = 50  # rows on one page of /inbox


@dataclass
class InboxItem:
    agreement: Agreement
    what: str
    since: datetime | None
    days_waiting: int | None
    sla_days: int | None
    acting_for: object | None = None
    # Where on the agreement's page the action is (the move's form, the approvals, the negotiation).
    anchor: str | None = None
    # Where the action is when it is not on the agreement's page (a hand-in to review).
    link: str | None = None

    @property
    def url(self) -> str:
        return self.link or url_for("agreements.view_agreement", agreement_id=self.agreement.id, _anchor=self.anchor)

    @property
    def is_over_sla(self) -> bool:
        return self.sla_days is not None and self.days_waiting is not None and self.days_waiting > self.sla_days

    @property
    def is_stuck(self) -> bool:
        return bool(
            self.sla_days
            and self.days_waiting is not None
            and (self.days_waiting > STUCK_AFTER_SLA_TIMES * self.sla_days)
        )


class InboxPage(Pagination):
    """One page of the inbox, with the total and how many of all the items are past their SLA,
    all read by the statement that reads the page (COUNT and SUM OVER the whole result)."""

    def _query_items(self) -> list:
        self.total_found, self.over_sla, items = self._query_args["fetch"](self._query_offset, self.per_page)
        return items

    def _query_count(self) -> int:
        if self.items or self.page == 1:
            return self.total_found
        # Past the last page: the page's statement had no row to carry the totals.
        total, self.over_sla = self._query_args["counter"]()
        return total


@cache
def _turn_since():
    """When a negotiation turn began: the latest version's sending, else the stage's start. One
    expression for every request, so queries.over_state_sla finds the condition it built for it."""
    return func.coalesce(NegotiationRound.sent_at, Agreement.state_entered_at)


def _waiting(user, today: date):
    """One SELECT per kind of waiting item: (kind, agreement id, round number, transition, since, late)."""
    visible = visible_agreements_clause(user)
    people = [user, *engine.active_delegators(user, today)]

    def late(since):
        return case((queries.over_state_sla(since, today), 1), else_=0)

    selects = []
    if may_decide_approvals(user):
        selects.append(
            select(
                literal("approve").label("kind"),
                Agreement.id.label("agreement_id"),
                null().label("number"),
                ApprovalRound.transition.label("transition"),
                ApprovalRound.requested_at.label("since"),
                late(ApprovalRound.requested_at).label("late"),
            )
            .join(Agreement, Agreement.id == ApprovalRound.agreement_id)
            .where(visible, queries.approvals_waiting_on(user, people))
        )
    if may_own_agreements(user):
        # The ministry's turns in the negotiations of the agreements the user owns. (A partner's turns are on
        # their portal, with what they owe: drafts_waiting_on_partner.)
        latest = (
            select(func.max(NegotiationRound.number))
            .where(NegotiationRound.agreement_id == Agreement.id)
            .correlate(Agreement)
            .scalar_subquery()
        )
        last = NegotiationRound
        since = _turn_since()
        turn = and_(Agreement.owner_id == user.id, queries.ministry_turn_clause(last))
        selects.append(
            select(
                case((last.id.is_(None), "first_version"), else_="answer").label("kind"),
                Agreement.id.label("agreement_id"),
                last.number.label("number"),
                null().label("transition"),
                since.label("since"),
                late(since).label("late"),
            )
            .select_from(Agreement)
            .outerjoin(last, and_(last.agreement_id == Agreement.id, last.number == latest))
            .where(visible, queries.in_state_tagged("negotiating"), Agreement.agreed_round_id.is_(None), turn)
        )
        selects.append(
            select(
                literal("move").label("kind"),
                Agreement.id.label("agreement_id"),
                null().label("number"),
                null().label("transition"),
                Agreement.state_entered_at.label("since"),
                late(Agreement.state_entered_at).label("late"),
            ).where(
                visible,
                Agreement.owner_id == user.id,
                queries.moves_waiting_on_owner(user),
                # IS NOT TRUE: a definition's test on another definition's agreement may be NULL.
                queries.moves_waiting_for_their_date(today).is_not(True),
            )
        )
        # Hand-ins waiting for the owner's review, since the latest one (after a send-back, the new hand-in).
        # Their number is the occurrence's id; no deadline is set for a review, so none is late.
        handed_in = (
            select(func.max(Submission.submitted_at))
            .where(Submission.occurrence_id == Occurrence.id)
            .correlate(Occurrence)
            .scalar_subquery()
        )
        selects.append(
            select(
                literal("review").label("kind"),
                Agreement.id.label("agreement_id"),
                Occurrence.id.label("number"),
                null().label("transition"),
                handed_in.label("since"),
                literal(0).label("late"),
            )
            .select_from(Occurrence)
            .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
            .join(Agreement, Agreement.id == Deliverable.agreement_id)
            .where(visible, Agreement.owner_id == user.id, Occurrence.status == "submitted")
        )
    return union_all(*selects).subquery() if selects else None


def inbox_for(user, today: date, *, page: int = 1, per_page: int = LISTED) -> InboxPage:
    """Approvals the user may give, moves their agreements wait for, negotiation turns and hand-ins to review:
    one page of them, oldest first, with how many there are in all and how many are late."""
    waiting = _waiting(user, today)

    def count() -> tuple[int, int]:
        if waiting is None:
            return 0, 0
        total, late = db.session.execute(
            select(func.count(), func.coalesce(func.sum(waiting.c.late), 0)).select_from(waiting)
        ).one()
        return int(total), int(late)

    def fetch(offset: int, limit: int) -> tuple[int, int, list[InboxItem]]:
        if waiting is None:
            return 0, 0, []
        rows = db.session.execute(
            select(Agreement, waiting, func.count().over(), func.sum(waiting.c.late).over())
            .join(Agreement, Agreement.id == waiting.c.agreement_id)
            .order_by(
                waiting.c.since.is_(None), waiting.c.since, waiting.c.agreement_id, waiting.c.kind, waiting.c.transition
            )
            .offset(offset)
            .limit(limit)
        ).all()
        if not rows:
            return 0, 0, []
        return (int(rows[0][-2]), int(rows[0][-1] or 0), [_item(row, row[0], user, today) for row in rows])

    return InboxPage(page=page, per_page=per_page, error_out=False, count=True, fetch=fetch, counter=count)


def _item(row, agreement: Agreement, user, today: date) -> InboxItem:
    definition = engine.definition_for(agreement)
    state = definition.states.get(agreement.state)
    sla = state.sla_days if state else None
    waited = clock.days_since(row.since, today)
    if row.kind == "approve":
        transition = definition.known_transition(row.transition)  # the SQL matched it in this definition
        return InboxItem(
            agreement,
            _("Approve: %(what)s", what=engine.label(transition.label)),
            row.since,
            waited,
            sla,
            acting_for=_acting_for(transition, user, today),
            anchor=f"action-{transition.name}",
        )
    if row.kind == "review":
        return InboxItem(
            agreement,
            _("Review the hand-in"),
            row.since,
            waited,
            None,
            link=url_for("deliverables.view_occurrence", occurrence_id=row.number),
        )
    if row.kind == "first_version":
        return InboxItem(
            agreement, _("Send the first version of the text"), row.since, waited, sla, anchor="negotiation-heading"
        )
    if row.kind == "answer":
        return InboxItem(
            agreement,
            _("Answer version %(n)s of the text: accept it or send a new one", n=row.number),
            row.since,
            waited,
            sla,
            anchor="negotiation-heading",
        )
    move = _next_move(definition, agreement.state, user)
    if move is not None:
        return InboxItem(
            agreement,
            _(
                "Next step: “%(move)s” (the agreement is in “%(state)s”)",
                move=engine.label(move.label),
                state=engine.state_label(agreement),
            ),
            row.since,
            waited,
            sla,
            anchor=f"action-{move.name}",
        )
    return InboxItem(
        agreement,
        _("Move forward from “%(state)s”", state=engine.state_label(agreement)),
        row.since,
        waited,
        sla,
        anchor="actions-heading",
    )


def _next_move(definition, state: str, user):
    """The usual next step out of `state` for this reader: the first move forward in the definition's
    order that the reader's role may take and that is not a hard-to-undo one (those need a decision)."""
    order = list(definition.states)
    for transition in definition.transitions_from(state):
        forward = transition.target in order and order.index(transition.target) > order.index(state)
        may = holds_role(user, transition.roles) or "owner" in transition.roles
        if forward and may and not transition.confirm and transition.approval is None:
            return transition
    return None


def _acting_for(transition, user, today: date):
    """Nobody when the user holds a slot of this approval; else the colleague who delegated to them."""
    for identity in [user, *engine.active_delegators(user, today)]:
        if any(engine.slot_of(step, identity) is not None for step in transition.approval.steps):
            return None if identity is user else identity
    return None
