"""Notices caused by something a person did: receivers of the workflow and
deliverable signals. They run inside the transaction of the change, so the
notice and its e-mail commit or roll back with it."""

from __future__ import annotations

from sqlalchemy import select

from app.core import clock
from app.core.db import flush_or_conflict
from app.core.permissions import sees_deliverables_of
from app.extensions import db
from app.notifications.reminders import (
    _partner_users,
    _people,
    agreement_params,
    approval_request_extra,
    approval_request_params,
    texts,
    waiting_approval,
)
from app.notifications.services import Notice, app_path, mark_settled, notify, notify_once


def connect_receivers(app) -> None:
    from app.agreements.renewals import non_renewal_recorded, non_renewal_withdrawn
    from app.deliverables.services import deliverable_changed
    from app.workflow.engine import agreement_moved, approval_recorded, version_accepted, version_sent

    # Not tied to one app object: tests run several apps, and connecting twice is a no-op.
    agreement_moved.connect(on_agreement_moved, weak=False)
    approval_recorded.connect(on_approval_recorded, weak=False)
    deliverable_changed.connect(on_deliverable_changed, weak=False)
    version_sent.connect(on_version_sent, weak=False)
    version_accepted.connect(on_version_accepted, weak=False)
    non_renewal_recorded.connect(on_non_renewal_recorded, weak=False)
    non_renewal_withdrawn.connect(on_non_renewal_withdrawn, weak=False)


def _partners_of(agreement) -> list:
    """The active users of the agreement's partner organisations."""
    from app.agreements.models import is_partner_party

    return _people(*(_partner_users(party.organization) for party in agreement.parties if is_partner_party(party.role)))


def _past_signature(agreement, state: str) -> bool:
    from app.workflow.engine import definition_for

    found = definition_for(agreement).states.get(state)
    return found is not None and found.has("after_signing")


def _state_label(agreement, state: str) -> dict:
    from app.workflow.engine import definition_for

    found = definition_for(agreement).states.get(state)
    return dict(found.label) if found else {"ar": state, "fr": state, "en": state}


def _is_actor(person, by) -> bool:
    # By id, not identity: routes pass `current_user`, a proxy that is never the loaded User itself.
    return by is not None and getattr(by, "id", None) is not None and person.id == by.id


def _amended(agreement, target: str) -> dict:
    """An amendment coming into force: what it changed (its terms' names) and the agreement's new end, so
    partners are told more than "In force" (the new end and due dates had reached them first as reminders)."""
    from app.workflow.engine import definition_for

    found = definition_for(agreement).states.get(target)
    changes = agreement.amendment_changes if agreement.type == "amendment" else None
    if not changes or found is None or not found.has("in_force") or agreement.parent is None:
        return {}
    params: dict = {"amended_terms": sorted(changes)}
    if changes.get("expires_on"):  # as proposed and checked again on the way in (the parent's may not be set yet)
        params["new_end"] = str(changes["expires_on"])
    return params


def _agreement_link(agreement) -> str:
    return app_path("agreements.view_agreement", agreement_id=agreement.id)


def on_agreement_moved(
    app, *, agreement, transition, source, target, by, round_outcome=None, comment=None, **_ignored
) -> None:
    # Write the change first: the queries below would autoflush it anyway, and a
    # concurrent change must surface as a conflict, not as a database error.
    flush_or_conflict()
    # A decision that closed an approval round is told here, with where it took the agreement: the owner
    # had received "approved by X" and "now at stage Y" as two e-mails in the same second.
    decided = {"decision": "approve" if round_outcome == "approved" else "reject", "comment": comment}
    notice = Notice(
        kind="agreement_moved",
        category="agreement_activity",
        params={
            **agreement_params(agreement),
            "previous": _state_label(agreement, source),
            "state": _state_label(agreement, target),
            "by": getattr(by, "full_name", None),
            **(decided if round_outcome in ("approved", "rejected") else {}),
            **_amended(agreement, target),
        },
        link=_agreement_link(agreement),
        object_type="agreements",
        object_id=agreement.id,
    )
    # The owner hears of every move; the partners of those that bind them, from the signature on: signed,
    # in force, suspended and resumed, ended (the ministry's internal stages are not theirs).
    binding = _past_signature(agreement, source) or _past_signature(agreement, target)
    partners = _partners_of(agreement) if binding else []
    for person in _people([agreement.owner], partners):
        if not _is_actor(person, by):
            notify(person, notice)
    ask_for_approvals(agreement)


def on_version_sent(app, *, agreement, negotiation_round, by, **_ignored) -> None:
    """A new version of the text: the other side's turn. From the ministry, the partners' users hear of
    it; from a partner (or recorded for one), the agreement's owner."""
    flush_or_conflict()
    told = _partners_of(agreement) if negotiation_round.side == "ministry" else [agreement.owner]
    notice = Notice(
        kind="version_sent",
        category="agreement_activity",
        params={
            **agreement_params(agreement),
            "number": negotiation_round.number,
            "side": negotiation_round.side,
            "by": getattr(by, "full_name", None),
        },
        link=_agreement_link(agreement),
        object_type="agreements",
        object_id=agreement.id,
    )
    for person in _people(told):
        if not _is_actor(person, by):
            notify(person, notice)


def _told_of_non_renewal(agreement) -> list:
    """Who hears of a notice of non-renewal, and of its withdrawal: the agreement's owner, the managers
    who follow endings and the partners' users."""
    from app.auth.models import User
    from app.core.permissions import holders_clause

    managers = db.session.scalars(
        select(User).where(holders_clause("escalation.receive"), User.is_active_account.is_(True)).order_by(User.id)
    ).all()
    return _people([agreement.owner], managers, _partners_of(agreement))


def on_non_renewal_recorded(app, *, agreement, by, **_ignored) -> None:
    """A notice of non-renewal ends the agreement at its end date: those it concerns hear who gave it
    (nobody had been told, the partner included)."""
    flush_or_conflict()
    giver = agreement.non_renewal_organization
    notice = Notice(
        kind="non_renewal_recorded",
        category="agreement_ending",
        params={
            **agreement_params(agreement),
            "given_on": agreement.non_renewal_on.isoformat(),
            "side": agreement.non_renewal_by,
            "giver": texts(giver, "name") if giver is not None else None,
            "expires_on": agreement.expires_on.isoformat() if agreement.expires_on else None,
        },
        link=_agreement_link(agreement),
        object_type="agreements",
        object_id=agreement.id,
    )
    for person in _told_of_non_renewal(agreement):
        if not _is_actor(person, by):
            notify(person, notice)


def on_non_renewal_withdrawn(app, *, agreement, by, reason: str, **_ignored) -> None:
    """A notice withdrawn (recorded in error): those told it would end hear that it renews after all, and
    the notice that said otherwise no longer waits unread in their bell."""
    from app.agreements.renewals import renews_tacitly

    flush_or_conflict()
    mark_settled({"non_renewal_recorded"}, "agreements", agreement.id)
    renews = agreement.expires_on is not None and renews_tacitly(agreement)
    notice = Notice(
        kind="non_renewal_withdrawn",
        category="agreement_ending",
        params={
            **agreement_params(agreement),
            "by": by.full_name,
            "reason": reason,
            "renews_on": agreement.expires_on.isoformat() if renews else None,
        },
        link=_agreement_link(agreement),
        object_type="agreements",
        object_id=agreement.id,
    )
    for person in _told_of_non_renewal(agreement):
        if not _is_actor(person, by):
            notify(person, notice)


def on_approval_recorded(
    app, *, agreement, decision, by, transition, step, comment, round, closes_round=False, **_ignored
) -> None:
    flush_or_conflict()
    owner = agreement.owner
    if owner is not None and not _is_actor(owner, by) and not closes_round:  # else the move tells it
        notify(
            owner,
            Notice(
                kind="approval_decided",
                category="agreement_activity",
                params={**agreement_params(agreement), "decision": decision, "by": by.full_name, "comment": comment},
                link=_agreement_link(agreement),
                object_type="agreements",
                object_id=agreement.id,
            ),
        )
    _settle_round_notices(round, closes_round)
    if decision == "approve":
        # In a sequential chain the next step's approvers are asked now.
        ask_for_approvals(agreement)


def _settle_round_notices(round_, closes_round: bool) -> None:
    """Mark read the bell's requests and reminders about `round_` that no longer wait on their reader: all of
    them once the round closes, else those of everyone who may no longer decide its current step (the one
    who just decided, a colleague whose place in a parallel step they took). A cabinet's request still
    asked for her decision, unread, after the manager had given the step's."""
    from app.notifications.lapsed import ABOUT_ROUNDS
    from app.notifications.models import Notification

    deciders = None if closes_round else _deciders(round_, clock.today())
    still = sorted({person.id for person in deciders[1] + deciders[2]}) if deciders else []
    mark_settled(ABOUT_ROUNDS, "approval_rounds", round_.id, Notification.user_id.not_in(still) if still else None)


def on_version_accepted(app, *, agreement, organization_id, **_ignored) -> None:
    """A party accepted the text (or answered with its own version, which it accepts): the notices that asked
    its people to answer are read. A partner's "version 1 waits for your answer" stayed unread after it had
    answered with version 2."""
    from app.auth.models import User
    from app.core.permissions import MINISTRY
    from app.notifications.models import Notification
    from app.organizations.models import Organization

    # The ministry answers through its staff, whose accounts need not name its organisation.
    if db.session.get(Organization, organization_id).is_home:
        speaking = User.role.in_(sorted(MINISTRY))
    else:
        speaking = User.organization_id == organization_id
    answered = Notification.user_id.in_(select(User.id).where(speaking))
    mark_settled({"version_sent"}, "agreements", agreement.id, answered)


def _deciders(round_, today):
    """(the reminder rules' wait of `round_`, its current step's approvers, their delegates who may decide for
    them) or None when no step is left to decide."""
    from app.workflow.engine import may_decide_step
    from app.workflow.models import Delegation

    waiting = waiting_approval(round_)
    if waiting is None:
        return None
    step, approvers = waiting[1], waiting[4]
    delegates = []
    if approvers:
        # A delegate is asked only where they may decide for their delegator: the officer who submitted
        # it, holding a colleague's approvals, was asked for a decision the four-eyes rule refuses them.
        delegates = [
            d.delegate
            for d in db.session.scalars(
                select(Delegation).where(
                    Delegation.delegator_id.in_([p.id for p in approvers]),
                    Delegation.revoked_at.is_(None),
                    Delegation.starts_on <= today,
                    Delegation.ends_on >= today,
                )
            )
            if d.delegate.is_active and may_decide_step(step, round_, d.delegate, d.delegator)
        ]
    return waiting, list(approvers), delegates


def ask_for_approvals(agreement) -> None:
    """Ask the people who may decide the current step of each open round (once per round and step)."""
    from app.discussions.approval_links import with_decision_links

    open_rounds = [r for r in agreement.approval_rounds if r.status == "open" and r.from_state == agreement.state]
    if not open_rounds:
        return
    flush_or_conflict()  # new rounds need their ids for the reminder keys
    today = clock.today()
    for round_ in open_rounds:
        deciders = _deciders(round_, today)
        if deciders is None:
            continue
        (_agreement, step, started, sla, _approvers), approvers, delegates = deciders
        notice = Notice(
            kind="approval_requested",
            category="approval_requested",
            params=approval_request_params(agreement, round_, step, started, sla),
            link=_agreement_link(agreement),
            object_type="approval_rounds",
            object_id=round_.id,
            extra=approval_request_extra(agreement),
        )
        for person in _people(approvers, delegates):
            personal = with_decision_links(notice, round_, step.name, person, rule="approval_requested")
            notify_once(person, personal, rule="approval_requested", occurrence_key=step.name)


def on_deliverable_changed(app, *, occurrence, event, by, comment=None, **_ignored) -> None:
    flush_or_conflict()
    deliverable = occurrence.deliverable
    agreement = deliverable.agreement
    params = {
        **agreement_params(agreement),
        "deliverable": texts(deliverable, "title"),
        "due_on": occurrence.due_on.isoformat(),
        "responsible": texts(deliverable.responsible_organization, "name"),
        "comment": comment,
    }
    if deliverable.is_illustrative:
        params["illustrative"] = True  # the mail says the deliverable is the demo's invention
    if event == "submitted" and occurrence.latest_submission is not None:
        params["number"] = occurrence.latest_submission.number  # a second one answers a send-back
    notice = Notice(
        kind=f"deliverable_{event}",
        category="deliverable_activity",
        params=params,
        link=app_path("deliverables.view_occurrence", occurrence_id=occurrence.id),
        object_type="deliverable_occurrences",
        object_id=occurrence.id,
    )
    if event == "submitted":
        recipients = _people([agreement.owner])
    else:
        submitter = occurrence.latest_submission.submitted_by if occurrence.latest_submission else None
        partners = [
            person
            for person in _partner_users(deliverable.responsible_organization)
            if sees_deliverables_of(person, agreement.id)
        ]
        recipients = _people(partners, [submitter], [agreement.owner])
    for person in recipients:
        if not _is_actor(person, by):
            notify(person, notice)
