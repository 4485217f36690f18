"""The pages behind the "approve" / "send back" links of approval request e-mails.

GET only shows what would be decided (a link scanner opening it decides nothing); the POST,
with its CSRF token, by the signed-in person the link was made for, decides."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.budget import services as budget
from app.core.errors import DomainError
from app.core.i18n import gettext as _
from app.core.permissions import can
from app.discussions import approval_links
from app.extensions import db
from app.workflow import drafts, engine
from app.workflow.asked_again import asked_again
from app.workflow.services import latest_round

blueprint = Blueprint("by_mail", __name__)


def _version(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _option(link, agreement):
    """The reader's move for the link's round, as the agreement's page offers it (None: none for them)."""
    return next((o for o in engine.actions_for(agreement, current_user) if o.name == link.round.transition), None)


def _page(link, token: str, *, option=None, error: str | None = None, status: int = 200):
    """The decision to confirm, with what it rests on: an approver deciding from the e-mail had only the key
    facts, not the budget a step may be there for (the Minister's office, from 10 M MAD), the text, nor why
    the round before was sent back and what was answered."""
    agreement = approval_links.agreement_of(link)
    definition = engine.definition_for(agreement)
    transition = definition.transition(link.round.transition)
    option = option or _option(link, agreement)
    version = latest_round(agreement)
    asked, holders = engine.step_asked(transition, agreement, link.step)
    return render_template(
        "discussions/by_mail.html",
        link=link,
        token=token,
        agreement=agreement,
        transition_label=asked or link.round.transition,
        step_holders=holders,
        option=option,
        error=error,
        budget_totals=budget.totals_by_currency(budget.lines_of(agreement)),
        text_version=version if version is not None and version.document is not None else None,
        shows_draft_text=drafts.shows_draft_texts(current_user, agreement),
        draft_text=drafts.latest_draft_text(agreement),
        asked_again=asked_again(link.round),
    ), status


def _refusal(message: str, status: int, *, sign_in_next: str | None = None, agreement=None):
    shown = agreement if agreement is not None and can(current_user, "agreement.view", agreement) else None
    return render_template(
        "discussions/by_mail_refused.html", message=message, sign_in_next=sign_in_next, agreement=shown, status=status
    ), status


def _load(token: str):
    """(link, refusal response or None, the reader's move) for `token` and the signed-in person."""
    link = approval_links.find(token)
    if link is None:
        return None, _refusal(_("This link is not valid. Open Sharaka to decide on the agreement."), 404), None
    if not current_user.is_authenticated:
        return (
            link,
            _refusal(
                _("Sign in as the person this e-mail was sent to, then open the link again."),
                401,
                sign_in_next=request.path,
            ),
            None,
        )
    if current_user.id != link.user_id:
        # Never for another person, and nothing about the agreement is shown.
        return (
            link,
            _refusal(
                _("This link was sent to someone else. Sign out, then sign in as the person this e-mail was sent to."),
                403,
            ),
            None,
        )
    agreement = approval_links.agreement_of(link)
    if not can(current_user, "agreement.view", agreement):
        # Moved to a partner's account, say: the agreement is no longer theirs to read, let alone decide.
        return link, _refusal(_("This link no longer works for you. Open Sharaka to see what you may do."), 404), None
    reason = approval_links.why_dead(link)
    if reason:
        return link, _refusal(reason, 410, agreement=agreement), None
    option = _option(link, agreement)
    if option is None or not option.may_decide:
        # A delegation that ended, a role that changed: said now, not after pressing the button.
        reasons = " ".join(option.reasons) if option is not None else ""
        return (
            link,
            _refusal(f"{_('You can no longer decide on this approval.')} {reasons}".strip(), 403, agreement=agreement),
            None,
        )
    return link, None, option


@blueprint.route("/approvals/by-mail/<token>", methods=["GET"])
def confirm_decision(token: str):
    link, refusal, option = _load(token)
    if refusal is not None:
        return refusal
    return _page(link, token, option=option)


@blueprint.route("/approvals/by-mail/<token>", methods=["POST"])
def take_decision(token: str):
    link, refusal, _option_read = _load(token)
    if refusal is not None:
        db.session.rollback()
        return refusal
    agreement = approval_links.agreement_of(link)
    state_before = agreement.state
    comment = (request.form.get("comment") or "")[:2000]
    try:
        approval_links.decide_by_link(
            link, by=current_user, comment=comment, expected_version=_version(request.form.get("version"))
        )
    except DomainError as error:
        db.session.rollback()
        link = approval_links.find(token)
        details = " ".join(" ".join(m) for m in (error.field_errors or {}).values())
        return _page(link, token, error=f"{error.message} {details}".strip(), status=error.status_code)
    if link.decision == "reject":
        said = _("Sent back with your comment.")
    elif agreement.state != state_before:  # the last approval the step needed: the agreement moved on
        said = _("Your approval is recorded: the agreement moves to “%(state)s”.", state=engine.state_label(agreement))
    else:
        said = _("Your approval is recorded.")
    flash(said, "success")
    return redirect(url_for("agreements.view_agreement", agreement_id=agreement.id), 303)
