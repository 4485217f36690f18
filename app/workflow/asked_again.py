"""An approval asked again after a send-back: what the round before it ended on (who sent it back, when,
why) and what the submitter said as they sent it again. The approvers' request e-mail and the approve-by-mail
page say it: the second request had read word for word as the first, and the approver decided without
knowing what had been asked of the text, nor what was answered. Read from the rounds and from the moves the
audit trail recorded (recorded_moves, which the agreement's page reads too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.core.audit import AuditEvent
from app.extensions import db
from app.workflow.models import ApprovalRound


@dataclass(frozen=True)
class AskedAgain:
    sent_back_by: str
    sent_back_at: datetime
    reason: str | None
    resubmitted_by: str | None
    comment: str | None  # the submitter's, on the move that asked again (None: they said nothing)


def asked_again(round_: ApprovalRound) -> AskedAgain | None:
    """What `round_` follows, when the round of the same approval before it was sent back; else None (a
    first request, or one after an approval that went through: a later return to the draft is no refusal)."""
    previous = db.session.scalars(
        select(ApprovalRound)
        .where(
            ApprovalRound.agreement_id == round_.agreement_id,
            ApprovalRound.transition == round_.transition,
            ApprovalRound.id < round_.id,
            # A round cancelled by another move (the owner took it back) refused nothing: the one before counts.
            ApprovalRound.status != "cancelled",
        )
        .order_by(ApprovalRound.id.desc())
        .limit(1)
    ).first()
    if previous is None or previous.status != "rejected":
        return None
    refusal = next((d for d in reversed(previous.decisions) if d.decision == "reject"), None)
    if refusal is None:
        return None
    refuser = refusal.approver or refusal.counted_user
    resubmission = _move_into(round_, since=previous.closed_at or refusal.decided_at)
    return AskedAgain(
        sent_back_by=refuser.full_name,
        sent_back_at=refusal.decided_at,
        reason=refusal.comment,
        resubmitted_by=resubmission.actor_name if resubmission is not None else None,
        comment=resubmission.comment if resubmission is not None else None,
    )


def _move_into(round_: ApprovalRound, *, since: datetime) -> AuditEvent | None:
    """The latest recorded move of the agreement into the stage `round_` is asked in, since `since`: the one
    that opened it."""
    for move in reversed(recorded_moves(round_.agreement_id)):
        if move.occurred_at < since:
            return None
        if state_of(move, "after") == round_.from_state:
            return move
    return None


def recorded_moves(agreement_id: int) -> list[AuditEvent]:
    """The agreement's moves from state to state as its audit trail recorded them, oldest first."""
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "agreements",
                AuditEvent.object_id == agreement_id,
                AuditEvent.action == "transition",
            )
            .order_by(AuditEvent.id)
        )
    )


def changes_of(move) -> dict:
    return move.changes if isinstance(move.changes, dict) else {}


def state_of(move, side: str) -> str | None:
    """The state before or after a recorded move ("before"/"after"), if it was recorded."""
    states = changes_of(move).get(side)
    return states.get("state") if isinstance(states, dict) else None
