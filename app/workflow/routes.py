"""Workflow moves on an agreement, documents, the "my actions" inbox, workflow pages, delegations."""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.agreements.models import fill_party_fields
from app.auth.kept_pages import kept_page
from app.auth.models import User
from app.budget.services import MAX_LINES, too_many_lines
from app.choices.services import fill
from app.core import clock
from app.core.errors import DomainError, ValidationFailed
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import current_language
from app.core.i18n import gettext as _
from app.core.pagination import requested_page
from app.core.permissions import can, get_agreement_or_404, get_document_or_404, holders_clause, is_partner, require
from app.core.responses import done, form_errors, refusals_return_to
from app.core.storage import send_stored
from app.core.templating import written_date
from app.deliverables.before_sharaka import brings_into_force, follow_choice, settled_message
from app.extensions import db
from app.workflow import drafts, engine, services
from app.workflow.diagram import render_svg
from app.workflow.forms import (
    AcceptVersionForm,
    ActionForm,
    AmendmentForm,
    DelegationForm,
    RecordAcceptanceForm,
    SendVersionForm,
    SignatoryForm,
    SignatureForm,
    SignedCopyForm,
    WithdrawSignatureForm,
)
from app.workflow.inbox import inbox_for
from app.workflow.labels import guard_label, is_account_role, workflow_role_label
from app.workflow.models import Delegation

blueprint = Blueprint("workflow", __name__)


def _page(agreement_id: int) -> str:
    return url_for("agreements.view_agreement", agreement_id=agreement_id)


def _done(agreement, message: str):
    return done(_page(agreement.id), message, {"state": agreement.state, "version": agreement.version})


@blueprint.route("/agreements/<int:agreement_id>/actions/<name>", methods=["POST"])
@login_required
@refusals_return_to(_page)
def take_action(agreement_id: int, name: str):
    agreement = get_agreement_or_404(agreement_id, current_user, need="act")
    form = ActionForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    definition = engine.definition_for(agreement)
    transition = definition.transition(name[:60])
    decision = form.decision.data if form.decision.data in ("approve", "reject") else None
    state_before = agreement.state
    # One choice per child agreement when the definition asks (child_<id> = the same move or "keep").
    child_decisions = {
        int(key[6:]): value
        for key, value in request.form.items()
        if key.startswith("child_") and key[6:].isdecimal() and len(key) < 20
    }
    planned_by = _activation_deliverable_party(agreement, form)  # asked before the move is taken
    engine.act(
        agreement,
        name[:60],
        by=current_user,
        decision=decision,
        comment=form.comment.data,
        values={
            "signed_on": form.signed_on.data,
            "effective_on": form.effective_on.data,
            "expires_on": form.expires_on.data,
        },
        documents={"termination_notice": form.termination_notice.data or None},
        expected_version=form.version.data,
        child_decisions=child_decisions,
        step=form.step.data or None,
    )
    titles = form.deliverable_titles(current_language())
    if any(titles.values()) and brings_into_force(transition):
        _plan_from_activation(agreement, form, titles, planned_by)
    settled = follow_choice(agreement, name[:60], form.past_due.data, by=current_user, today=clock.today())
    message = _moved_message(agreement, definition, transition, decision, state_before)
    return _done(agreement, f"{message} {settled_message(settled)}" if settled else message)


def _moved_message(agreement, definition, transition, decision, state_before) -> str:
    stage = engine.label(definition.states[agreement.state].label)
    later = engine.scheduled_on(agreement, transition, clock.today()) if transition is not None else None
    if later is not None and agreement.state == state_before:
        return _(
            "Dates recorded: the agreement moves to the stage “%(state)s” by itself on %(date)s.",
            state=engine.label(definition.states[transition.target].label),
            date=written_date(later, "long"),
        )
    if transition is None or transition.approval is None:
        return _("Done: the agreement is now in the stage “%(state)s”.", state=stage)
    if decision == "reject":
        return _("Sent back with your comment.")
    if agreement.state != state_before:
        return _("Approved: the agreement is now in the stage “%(state)s”.", state=stage)
    return _("Your approval is recorded; other approvals are still needed.")


@blueprint.route("/agreements/<int:agreement_id>/negotiation/versions", methods=["POST"])
@login_required
@refusals_return_to(_page)
def send_version(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="act")
    form = SendVersionForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    draft_id = form.from_draft_id.data
    services.send_version(
        agreement,
        by=current_user,
        upload=form.file.data,
        note=form.note.data,
        expected_version=form.version.data,
        on_behalf_of_partner=bool(form.on_behalf_of_partner.data),
        from_draft=drafts.draft_text_named(agreement, draft_id, current_user) if draft_id else None,
    )
    return _done(agreement, _("The new version is sent; it is now the other side's turn."))


@blueprint.route("/agreements/<int:agreement_id>/negotiation/accept", methods=["POST"])
@login_required
@refusals_return_to(_page)
def accept_version(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="act")
    form = AcceptVersionForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    services.accept_version(agreement, by=current_user, expected_version=form.version.data)
    return _done(agreement, _accepted_message(agreement))


@blueprint.route("/agreements/<int:agreement_id>/negotiation/acceptances", methods=["POST"])
@login_required
@refusals_return_to(_page)
def record_acceptance(agreement_id: int):
    """A partner's acceptance given outside Sharaka, recorded by ministry staff with its proof."""
    agreement = get_agreement_or_404(agreement_id, current_user, need="act")
    form = RecordAcceptanceForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    services.record_acceptance_on_behalf(
        agreement,
        organization_id=form.organization_id.data,
        proof=form.proof.data,
        by=current_user,
        expected_version=form.version.data,
    )
    return _done(agreement, _accepted_message(agreement))


def _accepted_message(agreement) -> str:
    if agreement.agreed_round_id is not None:
        return _("Every party accepted this version: the text is locked.")
    return _("The acceptance is recorded; other parties still have to answer.")


@blueprint.route("/agreements/<int:agreement_id>/signatories", methods=["POST"])
@login_required
@refusals_return_to(_page)
def add_signatory(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="act")
    form = SignatoryForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    side, organization_id = form.side.data
    services.add_signatory(
        agreement,
        by=current_user,
        side=side,
        organization_id=organization_id,
        name=form.name.data,
        title=form.title.data,
        expected_version=form.version.data,
    )
    return _done(agreement, _("Signatory added."))


@blueprint.route("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/sign", methods=["POST"])
@login_required
@refusals_return_to(_page)
def record_signature(agreement_id: int, signatory_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="act")
    form = SignatureForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    services.record_signature(
        agreement, signatory_id, by=current_user, signed_on=form.signed_on.data, expected_version=form.version.data
    )
    return _done(agreement, _("Signature recorded."))


@blueprint.route("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/withdraw", methods=["POST"])
@login_required
@refusals_return_to(_page)
def withdraw_signature(agreement_id: int, signatory_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="act")
    form = WithdrawSignatureForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    services.withdraw_signature(agreement, signatory_id, by=current_user, expected_version=form.version.data)
    return _done(agreement, _("Signature taken back: record it again with the right date."))


@blueprint.route("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/remove", methods=["POST"])
@login_required
@refusals_return_to(_page)
def remove_signatory(agreement_id: int, signatory_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="act")
    form = WithdrawSignatureForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    services.remove_signatory(agreement, signatory_id, by=current_user, expected_version=form.version.data)
    return _done(agreement, _("Signatory removed."))


@blueprint.route("/agreements/<int:agreement_id>/signed-copy", methods=["POST"])
@login_required
@refusals_return_to(_page)
def upload_signed_copy(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="act")
    form = SignedCopyForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    services.upload_signed_copy(agreement, form.file.data, by=current_user, expected_version=form.version.data)
    return _done(agreement, _("Signed copy stored."))


@blueprint.route("/agreements/<int:agreement_id>/amendment", methods=["GET", "POST"])
@login_required
def set_amendment(agreement_id: int):
    """The amendment's proposed terms, edited next to the parent's current ones."""
    from app.agreements import amendments

    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    if agreement.type != "amendment" or agreement.parent is None or not engine.is_initial(agreement):
        flash(_("What an amendment changes can be edited only while it is a draft that names its parent."), "warning")
        return redirect(_page(agreement_id), 303)
    form = AmendmentForm()
    if request.method == "GET":
        _prefill_amendment(form, agreement)
    _fill_amendment_choices(form)
    if request.method == "POST" and form.validate_on_submit():
        # The service names the parties and the budget lines; the form's fields are `partners` and `budget`.
        with refusal_shown_on(form, catching=DomainError, fields={"parties": "partners", "budget_lines": "budget"}):
            if _rows_sent(request.form, "budget") > MAX_LINES:  # past it the form keeps the first rows only
                raise ValidationFailed(too_many_lines(), {"budget_lines": [too_many_lines()]})
            amendments.set_changes(agreement, form.changes(), by=current_user, expected_version=form.version.data)
            return _done(agreement, _("The amendment's changes are saved."))
    status = form_status(form)
    return render_template(
        "workflow/amendment_form.html",
        agreement=agreement,
        parent=agreement.parent,
        form=form,
        view=amendments.shown_to(agreement, current_user),
    ), status


def _rows_sent(formdata, prefix: str) -> int:
    """How many rows of the list field `prefix` a form sent (`prefix-<n>-<field>` names)."""
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)-")
    return len({match.group(1) for name in formdata if (match := pattern.match(name))})


def _fill_amendment_choices(form) -> None:
    fill(form.partners, "partners", current_user)
    budget_rows = [row.form.organization_id for row in form.budget]
    fill([form.co_signatories, form.witnesses, *budget_rows], "organizations", current_user)


def _prefill_amendment(form, agreement) -> None:
    from app.agreements import renewals

    parent, changes = agreement.parent, agreement.amendment_changes or {}
    for name in ("title_fr", "title_ar", "title_en", "summary_fr", "summary_ar", "summary_en"):
        getattr(form, name).data = changes.get(name, getattr(parent, name))
    for name in ("effective_on", "expires_on"):
        getattr(form, name).data = date.fromisoformat(changes[name]) if name in changes else getattr(parent, name)
    parties = changes.get("parties") or [[p.organization_id, p.role] for p in parent.parties]
    fill_party_fields(form, parties)
    form.version.data = agreement.version
    for name, value in (changes.get("renewal") or renewals.current_terms(parent)).items():
        getattr(form, name).data = value
    from app.agreements.amendments import current_budget

    lines = (changes["budget_lines"] if "budget_lines" in changes else current_budget(parent))[:MAX_LINES]
    home = next(iter(parent.partner_organization_ids), None)
    blanks = min(2, MAX_LINES - len(lines))  # never more rows than the form takes
    for line in [*lines, *[{"organization_id": home, "currency": "MAD", "kind": "cash"}] * blanks]:
        form.budget.append_entry(line)


def _activation_deliverable_party(agreement, form) -> int | None:
    """The partner party that hands in the deliverable typed into the activation form: the one chosen, the
    only one when there is one. With several and none chosen, refused before the move (the first partner
    had been taken without a word)."""
    if not any(form.deliverable_titles(current_language()).values()):
        return None
    partners = list(agreement.partner_organization_ids)
    chosen = form.deliverable_responsible.data or ""
    if chosen.isdecimal() and int(chosen) in partners:
        return int(chosen)
    if len(partners) <= 1:
        return next(iter(partners), None)
    message = _("Say which partner hands in the deliverable you add.")
    raise ValidationFailed(message, {"deliverable_responsible": [message]})


def _plan_from_activation(agreement, form, titles: dict[str, str | None], partner: int | None) -> None:
    """The deliverable typed into the activation form, planned in the same transaction, with its titles in
    the languages typed (a page drawn before them gave one, in the reader's language)."""
    from app.deliverables.services import PlanData, plan_deliverable

    plan_deliverable(
        agreement,
        PlanData(
            **titles,
            description=None,
            responsible_organization_id=partner,
            recurrence=form.deliverable_recurrence.data or "once",
            first_due_on=form.deliverable_first_due_on.data,
            until_on=None,
        ),
        by=current_user,
    )


@blueprint.route("/agreements/<int:agreement_id>/documents/<int:document_id>")
@login_required
def download_document(agreement_id: int, document_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="documents")
    document = get_document_or_404(agreement, document_id, current_user)
    return send_stored(document.stored_file, document.original_name)


@blueprint.route("/inbox")
@login_required
@kept_page
def inbox():
    # A partner's list of what waits on them is their portal (the texts to answer and what is due), as
    # their menu has it; "My actions" would say nothing waits while a hand-in is late.
    if is_partner(current_user):
        return redirect(url_for("deliverables.portal"))
    require(current_user, "inbox.view")
    return render_template("workflow/inbox.html", page=inbox_for(current_user, clock.today(), page=requested_page()))


@blueprint.route("/workflows/")
@login_required
def list_workflows():
    require(current_user, "workflow.view")
    return render_template("workflow/list.html", definitions=engine.current_definitions())


@blueprint.route("/workflows/<workflow_type>")
@login_required
def view_workflow(workflow_type: str):
    require(current_user, "workflow.view")
    definition = engine.current_definitions().get(workflow_type)
    if definition is None:
        abort(404)
    from app.workflow.conditions import describe
    from app.workflow.states import version_definition, versions_of

    versions = versions_of(workflow_type)
    shown = None  # today's definition, unless an earlier version is asked for (an agreement's own)
    if (asked := request.args.get("version")) is not None:
        shown = next((v for v in versions if str(v.version.version) == asked), None)
        if shown is None:
            abort(404)
        if not shown.is_current:
            definition = version_definition(shown.version)
    return render_template(
        "workflow/detail.html",
        definition=definition,
        svg=render_svg(definition),
        describe_condition=describe,
        versions=versions,
        shown=shown,
    )


@blueprint.route("/account/delegations", methods=["GET", "POST"])
@login_required
def delegations():
    require(current_user, "delegation.manage")
    form = DelegationForm()
    colleagues = db.session.scalars(
        select(User)
        .where(User.is_active_account.is_(True), User.id != current_user.id, holders_clause("approval.decide"))
        .order_by(User.full_name)
    ).all()
    form.delegate_id.choices = [(u.id, u.choice_label) for u in colleagues]
    if form.validate_on_submit():
        with refusal_shown_on(form, catching=DomainError):
            services.delegate(
                delegator=current_user,
                delegate_user=db.session.get(User, form.delegate_id.data),
                starts_on=form.starts_on.data,
                ends_on=form.ends_on.data,
                by=current_user,
            )
            flash(_("Delegation saved."), "success")
            return redirect(url_for("workflow.delegations"), 303)
    given = db.session.scalars(
        select(Delegation).where(Delegation.delegator_id == current_user.id).order_by(Delegation.starts_on.desc())
    ).all()
    received = db.session.scalars(
        select(Delegation).where(Delegation.delegate_id == current_user.id).order_by(Delegation.starts_on.desc())
    ).all()
    status = form_status(form)
    return render_template(
        "workflow/delegations.html",
        form=form,
        given=given,
        received=received,
        today=clock.today(),
        without_effect=services.without_effect,
    ), status


@blueprint.route("/account/delegations/<int:delegation_id>/revoke", methods=["POST"])
@login_required
def revoke_delegation(delegation_id: int):
    require(current_user, "delegation.manage")
    delegation = db.session.get(Delegation, delegation_id)
    if delegation is None or delegation.delegator_id != current_user.id:
        abort(404)
    services.revoke_delegation(delegation, by=current_user)
    flash(_("Delegation revoked."), "success")
    return redirect(url_for("workflow.delegations"), 303)


@blueprint.app_template_global()
def workflow_panel(agreement):
    from app.workflow.presenter import build_panel

    return build_panel(agreement, current_user)


blueprint.add_app_template_global(workflow_role_label)
blueprint.add_app_template_global(is_account_role)
blueprint.add_app_template_global(guard_label)


@blueprint.app_template_global("state_has")
def state_has(agreement, tag: str) -> bool:
    """Templates ask what the agreement's state means (its tags), never its name."""
    return engine.state_has(agreement, tag)


@blueprint.app_template_global("has_ended")
def has_ended(agreement) -> bool:
    """Whether the agreement is over (engine.has_ended): nothing more is planned or handed in."""
    return engine.has_ended(agreement)


@blueprint.app_template_global("state_label")
def state_label(agreement) -> str:
    """The agreement's state as the definition it runs on names it (workflows/*.yaml)."""
    return engine.state_label(agreement)


@blueprint.app_template_global("document_kind_label")
def document_kind_label(kind: str) -> str:
    """A kind of document as the pages name it (labels.DOCUMENT_LABELS, the one list of their names)."""
    return engine.document_label(kind)


@blueprint.app_template_global("is_initial_state")
def is_initial_state(agreement) -> bool:
    return engine.is_initial(agreement)


@blueprint.app_template_global()
def can_act(agreement):
    return can(current_user, "agreement.act", agreement)


@blueprint.app_template_global()
def amendment_view(agreement):
    """What an amendment changes, side by side with its parent, and who else changes the same terms."""
    from app.agreements import amendments

    return amendments.shown_to(agreement, current_user)


@blueprint.app_template_global()
def amendment_term_label(name: str) -> str:
    from app.agreements.amendments import term_label

    return term_label(name)
