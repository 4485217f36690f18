"""An illustrative stage history for the demo agreements.

The demo portfolio places each agreement directly in its current state, so its audit trail
has no moves and the stage analytics would have nothing to measure. For each demo agreement
this writes, once, a backdated history consistent with its current state: drafting began
(a creation row), each transition up to the current state, and the approvals the internal
review needed. The reported facts are the anchors and never change: the agreement enters
the state that requires the signature date on that date, and its current state when the loader says it did
(`state_since`, else the entry-into-force or signature date); the weeks before are invented,
and every row says so (ILLUSTRATIVE_HISTORY).

Idempotent: an agreement that already has this history, or real moves of its own, gets nothing.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import or_, select

from app.core import audit, stored_texts
from app.core.audit import AuditEvent
from app.extensions import db
from app.workflow.engine import applicable_steps, definition_for
from app.workflow.models import ApprovalDecision, ApprovalRound

ILLUSTRATIVE_HISTORY = stored_texts.DEMO_HISTORY

# Days spent in a stage before moving on (shortest, longest), picked per agreement from its reference
# so that every load invents the same history: by what the stage is (its kind or tag), an internal
# review (left by an approval), or any other stage.
STAY_DAYS = {"initial": (3, 12), "negotiating": (10, 45), "signing": (4, 24)}
REVIEW_STAY_DAYS = (3, 14)
OTHER_STAY_DAYS = (3, 10)


def way_forward(definition) -> tuple[str, ...]:
    """The states from the initial one to the first in effect (tagged running), each reached by the
    definition's first move to a state not yet passed (no send-backs, no endings); an agreement
    elsewhere (suspended, cancelled…) gets no history."""
    path = [definition.initial_state]
    while not definition.states[path[-1]].has("running"):
        onward = [
            t.target
            for t in definition.transitions_from(path[-1])
            if t.target not in path
            and (definition.states[t.target].kind != "final" or definition.states[t.target].has("running"))
        ]
        if not onward:
            return ()
        path.append(onward[0])
    return tuple(path)


def _stay_days(definition, name: str) -> tuple[int, int]:
    state = definition.states[name]
    for key in (state.kind, *state.tags):
        if key in STAY_DAYS:
            return STAY_DAYS[key]
    if any(t.approval is not None for t in definition.transitions_from(name)):
        return REVIEW_STAY_DAYS
    return OTHER_STAY_DAYS


def _pick(reference: str, what: str, low: int, high: int) -> int:
    digest = int(hashlib.sha256(f"{reference}:{what}".encode()).hexdigest(), 16)
    return low + digest % (high - low + 1)


def _at_nine(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=timezone.utc)


def _workday(day: date) -> date:
    """The day itself, or the Friday before a weekend (nobody moves a file on Sunday)."""
    return day - timedelta(days=max(0, day.weekday() - 4))


def has_history(agreement) -> bool:
    """True when the agreement already has this illustrative history or moves of its own."""
    return (
        db.session.scalar(
            select(AuditEvent.id)
            .where(
                AuditEvent.object_type == "agreements",
                AuditEvent.object_id == agreement.id,
                or_(AuditEvent.action == "transition", AuditEvent.comment == ILLUSTRATIVE_HISTORY),
            )
            .limit(1)
        )
        is not None
    )


def stage_entries(agreement) -> list[tuple[str, datetime]]:
    """(stage, entered at) from the first draft to the current state, oldest first; [] when the
    current state is not on the way forward."""
    definition = definition_for(agreement)
    path = way_forward(definition)
    if agreement.state not in path or agreement.state_entered_at is None:
        return []
    stages = path[: path.index(agreement.state) + 1]
    entered = {agreement.state: agreement.state_entered_at}
    for stage, following in zip(reversed(stages[:-1]), reversed(stages[1:])):
        later = entered[following]
        if "signed_on" in definition.states[stage].required_fields and agreement.signed_on:
            moment = _at_nine(agreement.signed_on)
            entered[stage] = moment if moment < later else later - timedelta(hours=1)
            continue
        low, high = _stay_days(definition, stage)
        day = _workday((later - timedelta(days=_pick(agreement.reference, stage, low, high))).date())
        entered[stage] = _at_nine(day) + timedelta(hours=_pick(agreement.reference, stage + ":hour", 0, 6))
    return [(stage, entered[stage]) for stage in stages]


def write_stage_history(agreement, *, owner, people_by_role: dict) -> int:
    """Write the illustrative history of one demo agreement (flushes nothing); return the rows added."""
    if has_history(agreement):
        return 0
    entries = stage_entries(agreement)
    if not entries:
        return 0
    definition = definition_for(agreement)
    added = [
        _backdate(
            audit.record(
                "created",
                agreement,
                actor=owner,
                changes={"after": {"state": entries[0][0]}},
                comment=ILLUSTRATIVE_HISTORY,
            ),
            entries[0][1],
        )
    ]
    for (source, entered), (target, left) in zip(entries, entries[1:]):
        transition = next((t for t in definition.transitions if source in t.sources and t.target == target), None)
        if transition is None:
            break
        actor, extra = owner, {}
        if transition.approval is not None:
            actor = _approve(agreement, transition, source, owner, people_by_role, entered, left, added)
            extra = {"approval": "approved"}
        elif transition.automatic == "effective_on" and agreement.effective_on:
            # Entry into force on the effective date: the scheduler's move, as in real life.
            actor, extra = None, {"automatic_on": agreement.effective_on.isoformat()}
        added.append(
            _backdate(
                audit.record(
                    "transition",
                    agreement,
                    actor=actor,
                    comment=ILLUSTRATIVE_HISTORY,
                    changes={
                        "before": {"state": source},
                        "after": {"state": target},
                        "transition": transition.name,
                        **extra,
                    },
                ),
                left,
            )
        )
    return len(added)


def _approve(agreement, transition, source, owner, people_by_role, requested_at, completed_at, added):
    """A completed approval round: each step's approvers decide in turn, the last one at `completed_at`."""
    round_ = ApprovalRound(
        transition=transition.name,
        from_state=source,
        requested_by_id=getattr(owner, "id", None),
        requested_at=requested_at,
        status="approved",
        closed_at=completed_at,
    )
    agreement.approval_rounds.append(round_)
    # Only the steps that apply to this agreement (a finance sign-off needs a budget, the Minister's office a
    # large one): a decision in a step that never applied would be history that could not have happened.
    steps = list(applicable_steps(transition, agreement))
    span = completed_at - requested_at
    last = owner
    for index, step in enumerate(steps):
        approvers = [people_by_role[role] for role in step.roles if role in people_by_role][: max(step.quorum, 1)]
        # Steps share the review unevenly (sequential steps: one office is often slower than the other).
        share = _pick(agreement.reference, f"{step.name}:share", 30, 70) / 100
        step_end = completed_at if index == len(steps) - 1 else requested_at + span * (index + share) / len(steps)
        for number, person in enumerate(approvers):
            moment = step_end
            if number < len(approvers) - 1:
                # Earlier approvers of the step a day or two before the one who completes it, in office hours.
                day = _workday((step_end - timedelta(days=len(approvers) - number)).date())
                moment = max(
                    requested_at + timedelta(hours=2),
                    _at_nine(day) + timedelta(hours=_pick(agreement.reference, f"{step.name}:{number}", 0, 7)),
                )
            round_.decisions.append(
                ApprovalDecision(
                    step=step.name,
                    approver=person,
                    counted_user=person,
                    decision="approve",
                    comment=ILLUSTRATIVE_HISTORY,
                    decided_at=moment,
                )
            )
            added.append(
                _backdate(
                    audit.record(
                        "approval_approved",
                        agreement,
                        actor=person,
                        comment=ILLUSTRATIVE_HISTORY,
                        changes={"transition": transition.name, "step": step.name, "on_behalf_of": None},
                    ),
                    moment,
                )
            )
            last = person
    return last


def _backdate(row: AuditEvent, moment: datetime) -> AuditEvent:
    # A new row, not yet flushed: setting its time is part of writing it, not an edit of the trail.
    row.occurred_at = moment
    return row
