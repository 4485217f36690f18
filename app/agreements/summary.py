"""What the printable summary of one agreement shows, computed once per request.

It never shows more than the agreement's own page and API: the stage history
only to those who may read the agreement's history (the ministry), approval
rounds, waiting and past, to those who may read them (`may_see_approval_round`:
the ministry, and partners for the rounds the workflow shares with them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.core.audit import history_for
from app.core.i18n import gettext as _
from app.core.permissions import can, sees_deliverables_of
from app.discussions.copies import verification_code
from app.workflow import engine, rules


@dataclass
class StageChange:
    occurred_at: datetime
    from_state: str | None  # None for the agreement's creation
    to_state: str
    transition_label: str | None
    actor_name: str
    comment: str | None
    is_automatic: bool


@dataclass
class DecisionView:
    step_number: int | None  # None when the approval has a single step
    decision: str  # approve | reject
    approver: object | None
    counted_user: object
    is_delegated: bool
    decided_at: datetime
    comment: str | None


@dataclass
class RoundView:
    transition_label: str
    status: str  # open | approved | rejected | cancelled
    requested_by: object | None
    requested_at: datetime
    closed_at: datetime | None
    decisions: list[DecisionView]


@dataclass
class AgreementSummary:
    shows_history: bool
    stage_changes: list[StageChange]
    approval_rounds: list[RoundView]
    deliverables: list
    # The start of the final text's SHA-256: typed on /verify, it names that text (None: no final text yet).
    verification_code: str | None = None
    # The terms a reader of the record looks for beside the facts: what each party contributes (lines and
    # totals per currency), who signed and when, the renewal terms, and the amendments with what they change.
    budget_lines: list = field(default_factory=list)
    budget_totals: list = field(default_factory=list)
    signatories: list = field(default_factory=list)
    signs_for_no_party: list = field(default_factory=list)  # of the signatories: they stand for no partner
    renewal: str | None = None
    amendments: list[tuple] = field(default_factory=list)  # (amendment, [labels of the terms it changes])


def build_summary(agreement, user) -> AgreementSummary:
    """The stage history, approval rounds, deliverables, budget, signatures, renewal terms and amendments
    of `agreement` as `user` may see them (the agreement's page shows each of them to the same readers)."""
    from app.agreements.amendments import term_label
    from app.agreements.renewals import current_terms, describe
    from app.budget.services import lines_of, totals_by_currency

    definition = engine.definition_for(agreement)
    shows_history = can(user, "agreement.history", agreement)
    lines = lines_of(agreement)
    return AgreementSummary(
        budget_lines=lines,
        budget_totals=totals_by_currency(lines),
        signatories=sorted(agreement.signatories, key=lambda s: s.position),
        signs_for_no_party=rules.signs_for_no_party(agreement),
        renewal=None if agreement.type == "amendment" else describe(current_terms(agreement)),
        amendments=[
            (child, [term_label(term) for term in (child.amendment_changes or {})])
            for child in sorted(agreement.children, key=lambda c: c.id)
            if child.type == "amendment" and can(user, "agreement.view", child)
        ],
        shows_history=shows_history,
        stage_changes=_stage_changes(agreement, definition) if shows_history else [],
        approval_rounds=_approval_rounds(agreement, definition, user),
        deliverables=sorted(getattr(agreement, "deliverables", []), key=lambda d: (d.first_due_on, d.id))
        if sees_deliverables_of(user, agreement.id)
        else [],
        verification_code=verification_code(agreement),
    )


def _actor_name(event) -> str:
    if event.actor is not None:
        return event.actor.full_name
    return _("System") if event.by_system else event.actor_name


def _stage_changes(agreement, definition) -> list[StageChange]:
    """Creation and every change of state from the audit trail, oldest first."""
    changes = []
    for event in reversed(history_for("agreements", agreement.id)):
        recorded = event.changes if isinstance(event.changes, dict) else {}
        after = recorded.get("after") if isinstance(recorded.get("after"), dict) else {}
        before = recorded.get("before") if isinstance(recorded.get("before"), dict) else {}
        if event.action == "created":
            to_state = after.get("state") or definition.initial_state
            changes.append(
                StageChange(event.occurred_at, None, to_state, None, _actor_name(event), event.comment, False)
            )
        elif event.action == "transition" and after.get("state"):
            transition = definition.transition(recorded.get("transition") or "")
            label = engine.label(transition.label) if transition else None
            if recorded.get("approval") == "rejected":
                label = _("Sent back")  # moved by the approval transition, but the other way
            changes.append(
                StageChange(
                    event.occurred_at,
                    before.get("state"),
                    after["state"],
                    label,
                    _actor_name(event),
                    event.comment,
                    bool(recorded.get("automatic_on")),
                )
            )
    return changes


def _approval_rounds(agreement, definition, user) -> list[RoundView]:
    rounds = []
    for round_ in engine.visible_rounds(agreement, user):
        is_waiting = round_.status == "open" and round_.from_state == agreement.state
        if round_.status in ("open", "cancelled") and not round_.decisions and not is_waiting:
            continue  # opened on entering a state that was left another way: nothing happened in it
        transition = definition.transition(round_.transition)
        steps = [step.name for step in transition.approval.steps] if transition and transition.approval else []
        decisions = [
            DecisionView(
                step_number=steps.index(d.step) + 1 if len(steps) > 1 and d.step in steps else None,
                decision=d.decision,
                approver=d.approver,
                counted_user=d.counted_user,
                is_delegated=d.is_delegated,
                decided_at=d.decided_at,
                comment=d.comment,
            )
            for d in round_.decisions
        ]
        rounds.append(
            RoundView(
                transition_label=engine.label(transition.label) if transition else round_.transition,
                status=round_.status,
                requested_by=round_.requested_by,
                requested_at=round_.requested_at,
                closed_at=round_.closed_at,
                decisions=decisions,
            )
        )
    return rounds
