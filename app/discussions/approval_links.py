"""Approve from the e-mail: single-use, expiring links for "approve" and "send back".

A link only opens a confirmation page; the decision is a POST by the signed-in person the link
was made for, through the same engine verb as the agreement page (`engine.act`), so
four-eyes, quorum, order and delegation apply unchanged. Only the token's SHA-256 is stored.
A link dies when used (with its sibling), when it expires, or when its round moves on: the round
closes, the agreement leaves the round's state, or the round's current step is another one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.core import audit, clock
from app.core.errors import DomainError
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.templating import written_date
from app.discussions.models import ApprovalLink
from app.extensions import db
from app.workflow import engine

DECISIONS = ("approve", "reject")


class LinkDead(DomainError):
    status_code = 410


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_links(round_, step_name: str, person) -> dict[str, str]:
    """Two fresh links (approve, send back) for `person` on `round_`'s step; returns absolute URLs."""
    from app.notifications.services import absolute_url, app_path

    expires_at = utcnow() + timedelta(hours=current_app.config["APPROVAL_LINK_HOURS"])
    links = {}
    for decision in DECISIONS:
        token = secrets.token_urlsafe(32)
        db.session.add(
            ApprovalLink(
                token_hash=_hash(token),
                round_id=round_.id,
                user_id=person.id,
                step=step_name,
                decision=decision,
                expires_at=expires_at,
            )
        )
        links[decision] = absolute_url(app_path("by_mail.confirm_decision", token=token))
    return links


def with_decision_links(notice, round_, step_name: str, person, *, rule: str, occurrence_key: str | None = None):
    """The approval request (or reminder) `notice` for `person`, carrying their own links in the e-mail,
    unless this one was already sent to them (then no links are made: nothing would carry them).
    `occurrence_key`: what the notice is recorded under (the step's name, for a request)."""
    from app.notifications.services import already_recorded

    key = occurrence_key or step_name
    if already_recorded(rule, notice.object_type or "-", notice.object_id or 0, person.id, key):
        return notice
    links = create_links(round_, step_name, person)
    return replace(
        notice, extra={**notice.extra, "decision_links": links, "link_hours": current_app.config["APPROVAL_LINK_HOURS"]}
    )


def find(token: str | None) -> ApprovalLink | None:
    if not token or len(token) > 100:
        return None
    return db.session.scalar(select(ApprovalLink).where(ApprovalLink.token_hash == _hash(token)))


def why_dead(link: ApprovalLink) -> str | None:
    """None while the link may still be used; otherwise the sentence that says why not."""
    if link.used_at is not None:
        return _("This link has already been used: the decision was recorded.")
    if link.expires_at <= utcnow():
        return _("This link has expired. Open the agreement in Sharaka to decide there.")
    round_ = link.round
    agreement = agreement_of(link)
    definition = engine.definition_for(agreement)
    transition = definition.transition(round_.transition)
    step = engine.current_step(transition, round_, agreement) if transition and transition.approval else None
    if round_.status != "open" or round_.from_state != agreement.state or step is None or step.name != link.step:
        moved_on = _(
            "This approval has moved on since the e-mail was sent, so the link no longer works. "
            "Open the agreement in Sharaka to see where it stands."
        )
        return " ".join(part for part in (_what_happened(round_, link), moved_on) if part)
    if any(d.step == link.step and link.user_id in (d.approver_id, d.counted_user_id) for d in round_.decisions):
        return _("You have already decided on this step; the link no longer works.")
    return None


def _what_happened(round_, link: ApprovalLink) -> str:
    """Who decided the link's step, or how the round ended: "moved on" alone left a second approver asking
    a colleague what had happened."""
    from app.core.i18n import list_of
    from app.notifications.lapsed import ROUND_OUTCOMES

    if round_.status != "open":
        outcome = str(ROUND_OUTCOMES.get(round_.status, round_.status))
        return _("The approval round is closed (%(outcome)s).", outcome=outcome)
    decided = [d for d in round_.decisions if d.step == link.step]
    if decided:
        return _(
            "%(names)s decided this step on %(date)s.",
            names=list_of(dict.fromkeys(d.counted_user.full_name for d in decided)),
            date=written_date(clock.day_of(max(d.decided_at for d in decided))),
        )
    return ""


def agreement_of(link: ApprovalLink):
    from app.agreements.models import Agreement

    return db.session.get(Agreement, link.round.agreement_id)


def decide_by_link(link: ApprovalLink, *, by, comment: str | None, expected_version: int) -> None:
    """Take the decision the link stands for, as `by` (who must be the link's person), through
    the page's engine verb; the link and its sibling die with it."""
    if by.id != link.user_id:
        raise LinkDead(_("This link was sent to someone else."))
    reason = why_dead(link)
    if reason:
        raise LinkDead(reason)
    agreement = agreement_of(link)
    engine.act(
        agreement,
        link.round.transition,
        by=by,
        decision=link.decision,
        comment=comment,
        expected_version=expected_version,
        step=link.step,
    )
    db.session.execute(
        update(ApprovalLink)
        .where(
            ApprovalLink.round_id == link.round_id, ApprovalLink.user_id == link.user_id, ApprovalLink.used_at.is_(None)
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    # The decision's own audit row is the engine's; this one says it came through the e-mail's link.
    audit.record(
        "approval_link_used",
        link,
        actor=by,
        changes={"agreement_id": agreement.id, "round_id": link.round_id, "step": link.step, "decision": link.decision},
    )
