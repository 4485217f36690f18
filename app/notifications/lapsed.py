"""Reminders no longer true when they would leave.

A reminder is written by the hourly pass and sent by the outbox within seconds, as a rule. But mail
can wait for hours or days — paused by an administrator, the SMTP server down, retries — and by then
the deliverable may have been handed in or the approval given. Just before sending, the sender asks
here which of its messages have lapsed, and withdraws them instead of telling a partner that a report
they handed in yesterday is overdue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select

from app.extensions import db

# Kinds of mail about one deliverable occurrence: true while it is still owed.
ABOUT_OCCURRENCES = frozenset({"deliverable_due", "deliverable_overdue", "deliverable_escalated"})
OWED = ("pending", "sent_back")
# Kinds of mail about an approval round's wait: true while the round is open (and, for an approver,
# while they have not decided in it).
ABOUT_ROUNDS = frozenset({"approval_overdue", "approval_escalated"})


class Outgoing(Protocol):
    """What the rules read of a message about to be sent (the sender's outbox.Claimed)."""

    id: int
    kind: str
    object_id: int | None
    recipient_id: int | None


def lapsed(messages: Sequence[Outgoing]) -> dict[int, str]:
    """The messages among `messages` no longer worth sending: id -> why (kept on the message). Reads
    at most two statements, whatever the batch's size."""
    why: dict[int, str] = {}
    occurrences = {m.object_id for m in messages if m.kind in ABOUT_OCCURRENCES and m.object_id is not None}
    if occurrences:
        from app.deliverables.models import Occurrence

        status_of = dict(
            db.session.execute(select(Occurrence.id, Occurrence.status).where(Occurrence.id.in_(occurrences))).all()
        )
        for message in messages:
            if message.kind in ABOUT_OCCURRENCES and message.object_id in occurrences:
                status = status_of.get(message.object_id)
                if status not in OWED:
                    why[message.id] = f"withdrawn before sending: the deliverable is {status or 'deleted'} now"
    rounds = {m.object_id for m in messages if m.kind in ABOUT_ROUNDS and m.object_id is not None}
    if rounds:
        from app.workflow.models import ApprovalDecision, ApprovalRound

        rows = db.session.execute(
            select(ApprovalRound.id, ApprovalRound.status, ApprovalDecision.counted_user_id)
            .outerjoin(ApprovalDecision, ApprovalDecision.round_id == ApprovalRound.id)
            .where(ApprovalRound.id.in_(rounds))
        ).all()
        status_of = {row.id: row.status for row in rows}
        decided = {(row.id, row.counted_user_id) for row in rows if row.counted_user_id is not None}
        for message in messages:
            if message.kind not in ABOUT_ROUNDS or message.object_id not in rounds:
                continue
            status = status_of.get(message.object_id)
            if status != "open":
                why[message.id] = f"withdrawn before sending: the approval round is {status or 'deleted'} now"
            elif message.kind == "approval_overdue" and (message.object_id, message.recipient_id) in decided:
                why[message.id] = "withdrawn before sending: the approver has decided since"
    return why
