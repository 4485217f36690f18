"""Mail no longer true when it would leave: reminders, and any mail to an account closed since.

A reminder is written by the hourly pass and sent by the outbox within seconds, as a rule. But mail
can wait for hours or days — paused by an administrator, the SMTP server down, retries — and by then
the deliverable may have been handed in or the approval given. Just before sending, the sender asks
here which of its messages have lapsed, and withdraws them instead of telling a partner that a report
they handed in yesterday is overdue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.i18n import gettext as _
from app.extensions import db

# Kinds of mail about one deliverable occurrence: true while it is still owed (OWED_STATUSES).
ABOUT_OCCURRENCES = frozenset({"deliverable_due", "deliverable_overdue", "deliverable_escalated"})
# Kinds of mail about an approval round's wait: true while the round is open and, for an approver,
# while they may still decide its current step (a request whose links expired is sent without them,
# sent_without_links, unless its step moved on).
ABOUT_ROUNDS = frozenset({"approval_requested", "approval_overdue", "approval_escalated"})
# One-time links: true while the invitation is pending, while the reset link is unused and unexpired.
ABOUT_INVITATIONS = frozenset({"invitation"})
ABOUT_RESETS = frozenset({"password_reset"})
# A spreadsheet's "ready": true while it is kept (forgotten after EXPORT_KEEP_HOURS, or a change of access).
ABOUT_EXPORTS = frozenset({"export_ready"})
# A token's coming end: true while it still works (revoked or already ended, there is nothing to renew).
ABOUT_TOKENS = frozenset({"api_token_ending"})
# An agreement's coming end, its notice deadline, its stage held too long: true while the rule that wrote
# it still holds of the date or the stage it gave (_agreements_moved_on).
ABOUT_AGREEMENTS = frozenset({"agreement_ending", "notice_deadline", "agreement_stalled"})


class Outgoing(Protocol):
    """What the rules read of a message about to be sent (the sender's outbox.Claimed)."""

    id: int
    kind: str
    object_id: int | None
    recipient_id: int | None
    created_at: datetime  # when it was written: what changed since makes it untrue


# What an approval round's closing is called in a withdrawal's reason.
ROUND_OUTCOMES = {"approved": _l("approved"), "rejected": _l("rejected"), "cancelled": _l("cancelled")}


def lapsed(messages: Sequence[Outgoing]) -> dict[int, str]:
    """The messages among `messages` no longer worth sending: id -> why, in the current language (the
    sender writes it in English on the message; the outbox page says it in the reader's). The
    occurrences are read in one statement whatever the batch's size; the approval rounds (a few a day)
    one by one, through the reminder rules."""
    from app.deliverables.models import OWED_STATUSES, STATUS_LABELS

    why: dict[int, str] = {}
    # Whoever's account was closed since is told nothing more (notify() would not have queued it).
    recipients = {m.recipient_id for m in messages if m.recipient_id is not None}
    if recipients:
        from app.auth.models import User

        closed = set(
            db.session.scalars(select(User.id).where(User.id.in_(recipients), User.is_active_account.is_(False))).all()
        )
        for message in messages:
            if message.recipient_id in closed:
                why[message.id] = _("The recipient's account is no longer active.")
    occurrences = {m.object_id for m in messages if m.kind in ABOUT_OCCURRENCES and m.object_id is not None}
    if occurrences:
        from app.agreements.models import Agreement
        from app.core import clock
        from app.deliverables.falling_due import falling_due
        from app.deliverables.models import Deliverable, Occurrence

        facts = {
            row.id: row
            for row in db.session.execute(
                select(Occurrence.id, Occurrence.status, falling_due(clock.today()).label("owed_now"))
                .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
                .join(Agreement, Agreement.id == Deliverable.agreement_id)
                .where(Occurrence.id.in_(occurrences))
            )
        }
        for message in messages:
            if message.kind in ABOUT_OCCURRENCES and message.object_id in occurrences:
                row = facts.get(message.object_id)
                if row is None:
                    why[message.id] = _("The deliverable was deleted.")
                elif row.status not in OWED_STATUSES:
                    why[message.id] = _(
                        "The deliverable is %(status)s now.", status=str(STATUS_LABELS[row.status]).lower()
                    )
                elif not row.owed_now:  # suspended since: nothing is owed until it runs again
                    why[message.id] = _("Its agreement does not run now: nothing is owed until it does.")
    why |= _dead_links(messages)
    why |= _agreements_moved_on(messages)
    rounds = {m.object_id for m in messages if m.kind in ABOUT_ROUNDS and m.object_id is not None}
    if rounds:
        from app.notifications.reminders.rules import waiting_approval
        from app.workflow.models import ApprovalRound

        found = {r.id: r for r in db.session.scalars(select(ApprovalRound).where(ApprovalRound.id.in_(rounds)))}
        # Who may still decide each open round's current step: the reminder rules' own answer, so "no
        # longer waiting on you" means what it means when the reminder is written (a parallel step a
        # colleague of the same role has answered for included).
        waiting = {number: waiting_approval(r) for number, r in found.items() if r.status == "open"}
        expired = _expired_requests(messages)
        for message in messages:
            if message.kind not in ABOUT_ROUNDS or message.object_id not in rounds:
                continue
            round_ = found.get(message.object_id)
            if round_ is None:
                why[message.id] = _("The approval round was deleted.")
            elif round_.status != "open":
                outcome = ROUND_OUTCOMES.get(round_.status, round_.status)
                why[message.id] = _("The approval round is closed (%(outcome)s).", outcome=str(outcome))
            elif waiting.get(round_.id) is None:
                why[message.id] = _("The approval round has no step left to decide.")
            elif message.kind in ("approval_overdue", "approval_escalated") and _step_moved_on(
                message, waiting[round_.id]
            ):
                why[message.id] = _("The approver has decided since.")
            elif message.kind == "approval_requested" and any(
                # Decided on the page while the request waited (for themselves, or as a delegate), on its step
                # or one before it that their decision settled: its links would only say "already decided" or
                # "moved on" (one person decides one step of a round).
                message.recipient_id in (decision.approver_id, decision.counted_user_id)
                for decision in round_.decisions
            ):
                why[message.id] = _("The approver has decided since.")
            elif message.id in expired and expired[message.id] is None:  # queued before requests kept their notice
                why[message.id] = _("The links to approve or send back have expired; the reminders follow.")
            elif message.id in expired and _step_moved_on(message, waiting[round_.id]):
                # Sent without its links it would ask about a step that no longer waits on anyone.
                why[message.id] = _("Its links have expired, and the step it asks about has moved on since.")
    return why


def sent_without_links(messages: Sequence[Outgoing]) -> dict[int, object]:
    """The approval requests among `messages` whose one-click links all expired while they waited, to be sent
    all the same (their approver would otherwise learn they were asked only from the reminder, days later):
    id -> the notice to write it again from, linking to the agreement's approvals instead, and saying why
    the links are gone. Ask it of the messages `lapsed` leaves (a request about a step moved on is withdrawn)."""
    expired = {number: notice for number, notice in _expired_requests(messages).items() if notice is not None}
    if not expired:
        return {}
    from dataclasses import replace

    from app.notifications.reminders import approvals_of
    from app.workflow.models import ApprovalRound

    rounds = {m.id: m.object_id for m in messages if m.id in expired}
    agreements = dict(
        db.session.execute(
            select(ApprovalRound.id, ApprovalRound.agreement_id).where(ApprovalRound.id.in_(set(rounds.values())))
        ).all()
    )
    return {
        number: replace(
            notice, link=approvals_of(agreements[rounds[number]]), extra={**notice.extra, "links_expired": True}
        )
        for number, notice in expired.items()
        if rounds[number] in agreements
    }


def _step_moved_on(message: Outgoing, waiting) -> bool:
    """Whether the step a late approval's reminder or escalation named no longer waits on whom it named
    (`waiting`: the round's waiting_approval): the current step began waiting after it was written (its
    approvers decided: "still to decide: X" would name someone who has), or, for an approver's own
    reminder, they may no longer decide the current step."""
    _agreement, _step, started, _sla, approvers = waiting
    if started > message.created_at:
        return True
    return message.kind == "approval_overdue" and message.recipient_id not in {person.id for person in approvers}


def _agreements_moved_on(messages: Sequence[Outgoing]) -> dict[int, str]:
    """Reminders about an agreement that a change made while they waited turned untrue: terminated, renewed
    (its end date moved), notice of non-renewal given, moved to another stage. Each is asked the clause its
    rule (reminders.rules) chose it by, and the date it gives (the notice the pass kept for the sender)."""
    from app.agreements.models import Agreement
    from app.agreements.renewals import awaiting_notice, ending_for_good
    from app.notifications.models import OutboxMessage
    from app.workflow.queries import in_state_tagged

    about = [m for m in messages if m.kind in ABOUT_AGREEMENTS and m.object_id is not None]
    if not about:
        return {}
    # Each agreement with what its rules' clauses say of it now, in one statement.
    rows = db.session.execute(
        select(
            Agreement,
            in_state_tagged("in_force").label("in_force"),
            ending_for_good().label("ending"),
            awaiting_notice().label("awaiting"),
        ).where(Agreement.id.in_({m.object_id for m in about}))
    ).all()
    found = {row.Agreement.id: row.Agreement for row in rows}
    in_force = {row.Agreement.id for row in rows if row.in_force}
    ending = {row.Agreement.id for row in rows if row.ending}
    awaiting = {row.Agreement.id for row in rows if row.awaiting}
    notices = select(OutboxMessage.id, OutboxMessage.notice).where(OutboxMessage.id.in_({m.id for m in about}))
    kept = dict(db.session.execute(notices).all())
    why: dict[int, str] = {}
    for message in about:
        agreement = found.get(message.object_id)
        said = (kept.get(message.id) or {}).get("params") or {}
        if agreement is None:
            why[message.id] = _("The agreement was deleted.")
        elif message.kind == "agreement_stalled":
            if agreement.state_entered_at is not None and agreement.state_entered_at > message.created_at:
                why[message.id] = _("The agreement has moved to another stage since.")
        elif agreement.id not in in_force:
            why[message.id] = _("The agreement is no longer in force.")
        elif said and agreement.non_renewal_on is not None and not said.get("non_renewal_on"):
            why[message.id] = _("A notice of non-renewal was given since.")
        elif message.kind == "agreement_ending" and (
            agreement.id not in ending or _differs(agreement.expires_on, said.get("expires_on"))
        ):
            why[message.id] = _("The agreement no longer ends on that date.")
        elif message.kind == "notice_deadline" and (
            agreement.id not in awaiting or _differs(agreement.notice_deadline, said.get("notice_deadline"))
        ):
            why[message.id] = _("The deadline for a notice of non-renewal has moved since.")
    return why


def _differs(day, said: str | None) -> bool:
    """Whether `day` is not the date a reminder gave (ISO), when it gave one."""
    return said is not None and (day is None or day.isoformat() != said)


def _expired_requests(messages: Sequence[Outgoing]) -> dict:
    """The approval requests among `messages` whose links all expired while they waited (an outbox paused or
    a server down for days: "these links work for 72 hours" would be false on arrival): id -> the notice
    it keeps to be written again without them (services.kept_notice), None when it kept none (queued before
    requests kept it)."""
    from app.notifications.models import OutboxMessage
    from app.notifications.services import kept_notice

    expired = _expired_links(messages)
    ids = {m.id for m in messages if m.kind == "approval_requested" and (m.object_id, m.recipient_id) in expired}
    if not ids:
        return {}
    kept = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).all()
    return {number: None for number in ids} | {row.id: kept_notice(row) for row in kept if row.notice}


def _expired_links(messages: Sequence[Outgoing]) -> set[tuple[int, int]]:
    """(round, person) of the approval requests whose links all expired while the mail waited."""
    from app.core.models import utcnow
    from app.discussions.models import ApprovalLink

    wanted = {
        (m.object_id, m.recipient_id)
        for m in messages
        if m.kind == "approval_requested" and m.object_id is not None and m.recipient_id is not None
    }
    if not wanted:
        return set()
    live, made = set(), set()
    for round_id, user_id, expires_at, used_at in db.session.execute(
        select(ApprovalLink.round_id, ApprovalLink.user_id, ApprovalLink.expires_at, ApprovalLink.used_at).where(
            ApprovalLink.round_id.in_({round_id for round_id, _user in wanted}),
            ApprovalLink.user_id.in_({user_id for _round, user_id in wanted}),
        )
    ):
        made.add((round_id, user_id))
        if used_at is None and expires_at > utcnow():
            live.add((round_id, user_id))
    return (made - live) & wanted


def _dead_links(messages: Sequence[Outgoing]) -> dict[int, str]:
    """Invitations revoked, accepted or expired and reset links used or expired while their mail waited: the
    link would answer "no longer works", and a revoked invitation would still name the organisation."""
    from app.auth.models import Invitation, PasswordReset
    from app.core.models import utcnow

    why: dict[int, str] = {}
    invitations = {m.object_id for m in messages if m.kind in ABOUT_INVITATIONS and m.object_id is not None}
    if invitations:
        status_of = {
            invitation.id: invitation.status
            for invitation in db.session.scalars(select(Invitation).where(Invitation.id.in_(invitations)))
        }
        for message in messages:
            if message.kind in ABOUT_INVITATIONS and message.object_id in invitations:
                status = status_of.get(message.object_id)
                if status != "pending":
                    why[message.id] = _("The invitation is %(status)s now.", status=str(INVITATION_ENDS.get(status)))
    from app.api.models import ApiToken
    from app.exports.models import ExportJob

    why |= _unless_still_there(
        messages,
        ABOUT_RESETS,
        lambda ids: select(PasswordReset.id).where(
            PasswordReset.id.in_(ids), PasswordReset.used_at.is_(None), PasswordReset.expires_at > utcnow()
        ),
        _("The link to choose a password was used or has expired."),
    )
    why |= _unless_still_there(
        messages,
        ABOUT_EXPORTS,
        lambda ids: select(ExportJob.id).where(ExportJob.id.in_(ids)),
        _("The spreadsheet is no longer kept."),
    )
    why |= _unless_still_there(
        messages,
        ABOUT_TOKENS,
        lambda ids: select(ApiToken.id).where(ApiToken.id.in_(ids), ApiToken.working_at(utcnow())),
        _("The API token was revoked or has ended."),
    )
    return why


def _unless_still_there(messages: Sequence[Outgoing], kinds: frozenset, still_there, reason: str) -> dict[int, str]:
    """The messages of `kinds` whose object is not among the ids `still_there(ids)` selects: id -> `reason`."""
    ids = {m.object_id for m in messages if m.kind in kinds and m.object_id is not None}
    if not ids:
        return {}
    there = set(db.session.scalars(still_there(ids)))
    return {m.id: reason for m in messages if m.kind in kinds and m.object_id in ids and m.object_id not in there}


# What an invitation's end is called in a withdrawal's reason.
INVITATION_ENDS = {
    "accepted": _l("accepted"),
    "revoked": _l("withdrawn"),
    "expired": _l("expired"),
    None: _l("deleted"),
}


def about_link(message) -> tuple[str, str] | None:
    """(words, path) of what an outbox message is about, for the outbox page, or None."""
    from flask import url_for

    if message.object_id is None:
        return None
    if message.kind in ABOUT_OCCURRENCES:
        return _("The deliverable"), url_for("deliverables.view_occurrence", occurrence_id=message.object_id)
    if message.kind in ABOUT_ROUNDS:
        from app.workflow.models import ApprovalRound

        round_of = select(ApprovalRound.agreement_id).where(ApprovalRound.id == message.object_id)
        agreement_id = db.session.scalar(round_of)
        if agreement_id is not None:
            return _("The agreement"), url_for("agreements.view_agreement", agreement_id=agreement_id)
    return None
