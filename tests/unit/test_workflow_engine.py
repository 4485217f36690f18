"""The engine without HTTP: every move of the default MoU lifecycle, guards,
approvals (quorum, order, four-eyes, delegation), negotiation, signature, dates."""

from datetime import date, timedelta
from io import BytesIO

import pytest
from werkzeug.datastructures import FileStorage

from app.core import clock
from app.core.audit import AuditEvent
from app.core.errors import ConcurrentChange, PermissionDenied, ValidationFailed
from app.extensions import db
from app.notifications.models import Notification
from app.workflow import date_moves, engine, services
from app.workflow.engine import TransitionBlocked, WorkflowError
from app.workflow.models import Delegation
from tests import factories

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def pdf(name="texte.pdf", body=PDF):
    return FileStorage(stream=BytesIO(body), filename=name, content_type="application/pdf")


@pytest.fixture
def mou(world):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="MoU test")
    db.session.commit()
    return agreement


def take(agreement, name, user, **kwargs):
    engine.take(agreement, name, by=user, expected_version=agreement.version, **kwargs)
    db.session.commit()


def decide(agreement, user, decision="approve", comment=None, name="approve_review", step=None):
    engine.decide(
        agreement, name, by=user, decision=decision, comment=comment, expected_version=agreement.version, step=step
    )
    db.session.commit()


def names(options, allowed=True):
    return {o.name for o in options if o.is_allowed == allowed}


def to_negotiation(agreement, world):
    take(agreement, "submit_for_review", world.users["officer"])
    decide(agreement, world.users["legal"])
    decide(agreement, world.users["manager"])
    assert agreement.state == "negotiation"


def agree_text(agreement, world):
    services.send_version(
        agreement, by=world.users["officer"], upload=pdf(), note="v1", expected_version=agreement.version
    )
    db.session.commit()
    services.accept_version(agreement, by=world.users["partner"], expected_version=agreement.version)
    db.session.commit()


def sign(agreement, world, day=date(2026, 3, 2)):
    for side, person in (("ministry", "Amal El Fallah Seghrouchni"), ("partner", "Partner CEO")):
        services.add_signatory(
            agreement, by=world.users["officer"], side=side, name=person, title=None, expected_version=agreement.version
        )
        db.session.commit()
    for signatory in list(agreement.signatories):
        services.record_signature(
            agreement, signatory.id, by=world.users["officer"], signed_on=day, expected_version=agreement.version
        )
        db.session.commit()
    services.upload_signed_copy(
        agreement, pdf("signed.pdf", PDF + b"signed"), by=world.users["officer"], expected_version=agreement.version
    )
    db.session.commit()


def test_new_agreements_start_in_draft_on_a_pinned_definition(mou):
    assert mou.state == "draft"
    assert mou.workflow_version is not None and mou.workflow_version.type == "mou"


def test_the_whole_mou_lifecycle_to_active_and_expired(mou, world):
    officer = world.users["officer"]
    assert names(engine.actions_for(mou, officer)) == {"submit_for_review", "cancel"}
    to_negotiation(mou, world)
    open_signature = next(o for o in engine.actions_for(mou, officer) if o.name == "open_signature")
    assert not open_signature.is_allowed and "accept the same version" in open_signature.reasons[0]
    agree_text(mou, world)
    take(mou, "open_signature", officer)
    record = next(o for o in engine.actions_for(mou, officer) if o.name == "record_signed")
    assert not record.is_allowed
    assert any("signed copy" in r.lower() for r in record.reasons)
    sign(mou, world)
    assert mou.signed_on == date(2026, 3, 2)
    take(mou, "record_signed", officer)
    take(mou, "activate", officer, values={"effective_on": date(2026, 3, 15), "expires_on": date(2029, 3, 15)})
    assert mou.state == "active" and mou.effective_on == date(2026, 3, 15)
    take(mou, "suspend", officer, comment="Budget freeze")
    take(mou, "resume", officer)
    # In force through its end date: it expires the day after, and its last day's reports can be handed in.
    assert date_moves.run_date_transitions(date(2029, 3, 15)) == [] and mou.state == "active"
    assert date_moves.run_date_transitions(date(2029, 3, 16))[0][2] == "done"
    db.session.commit()
    assert mou.state == "expired"
    transitions = [
        e.changes["transition"]
        for e in db.session.scalars(
            db.select(AuditEvent)
            .where(AuditEvent.object_id == mou.id, AuditEvent.action == "transition")
            .order_by(AuditEvent.id)
        )
    ]
    assert transitions == [
        "submit_for_review",
        "approve_review",
        "open_signature",
        "record_signed",
        "activate",
        "suspend",
        "resume",
        "expire",
    ]


def test_four_eyes_the_requester_cannot_approve(mou, world):
    manager = world.users["manager"]
    engine.take(mou, "submit_for_review", by=manager, expected_version=mou.version)
    db.session.commit()
    option = next(o for o in engine.actions_for(mou, manager) if o.name == "approve_review")
    assert not option.is_allowed and "four-eyes" in option.reasons[0]
    with pytest.raises(PermissionDenied):
        decide(mou, manager)


def test_quorum_needs_both_required_roles(mou, world):
    take(mou, "submit_for_review", world.users["officer"])
    decide(mou, world.users["legal"])
    assert mou.state == "internal_review"
    second_legal = factories.user("legal", world.ministry)
    db.session.commit()
    option = next(o for o in engine.actions_for(mou, second_legal) if o.name == "approve_review")
    assert not option.is_allowed and "required approver" in option.reasons[0]
    with pytest.raises(WorkflowError, match="already approved"):  # 409: a conflict with what is recorded
        decide(mou, world.users["legal"])
    db.session.rollback()
    with pytest.raises(PermissionDenied):  # 403: no place in the step
        decide(mou, second_legal)
    db.session.rollback()
    decide(mou, world.users["manager"])
    assert mou.state == "negotiation"


def test_a_decision_on_the_step_shown_is_refused_once_that_step_is_decided(mou, world):
    """Two managers' pages show the first step of a 12-million MoU; the first approves it. The second's
    approval, sent from the page that showed that step, is a 409 and records nothing: without the step it
    would have been counted on the minister's office step that followed (a decision never asked of them)."""
    factories.budget_line(mou, world.partner_a, "12000000.00")
    head_of_office = factories.user("manager", world.ministry)
    db.session.commit()
    take(mou, "submit_for_review", world.users["officer"])
    shown = next(o for o in engine.actions_for(mou, head_of_office) if o.name == "approve_review").approval_step
    assert shown.name == "legal_and_head"
    # A step after the one waiting is not open yet; one named by someone with no place in it is theirs to
    # learn first (403), as for any step.
    with pytest.raises(WorkflowError, match="not open yet"):
        decide(mou, head_of_office, step="ministers_office")
    db.session.rollback()
    for nobody in (world.users["legal"], world.users["officer"]):
        with pytest.raises(PermissionDenied):
            decide(mou, nobody, step="ministers_office")
        db.session.rollback()
    assert mou.approval_rounds[-1].decisions == []
    decide(mou, world.users["legal"])
    decide(mou, world.users["manager"])
    with pytest.raises(WorkflowError, match="decided since you opened"):
        decide(mou, head_of_office, step=shown.name)
    db.session.rollback()
    with pytest.raises(PermissionDenied):  # the officer who asked has no place in it: not told it moved on
        decide(mou, world.users["officer"], step=shown.name)
    db.session.rollback()
    assert [d.step for d in mou.approval_rounds[-1].decisions] == ["legal_and_head", "legal_and_head"]
    with pytest.raises(ValidationFailed) as refused:
        decide(mou, head_of_office, step="no_such_step")
    assert refused.value.field_errors == {"step": ["This approval has no such step."]}
    db.session.rollback()
    decide(mou, world.users["finance"])  # a budget: the finance controller's step comes between
    # Named as it waits now, the step is decided.
    decide(mou, head_of_office, step="ministers_office")
    assert mou.state == "negotiation"


def test_rejection_needs_a_comment_and_sends_back(mou, world):
    take(mou, "submit_for_review", world.users["officer"])
    with pytest.raises(ValidationFailed):
        decide(mou, world.users["legal"], decision="reject")
    db.session.rollback()
    decide(mou, world.users["legal"], decision="reject", comment="Clause 4 conflicts with law 09-08")
    assert mou.state == "draft"
    assert mou.approval_rounds[-1].status == "rejected"
    # A resubmission starts a fresh round: the old approvals do not count.
    take(mou, "submit_for_review", world.users["officer"])
    assert [r.status for r in mou.approval_rounds] == ["rejected", "open"]


def test_only_one_with_a_place_in_the_step_may_send_back(mou, world):
    """Sending back is a decision: the partner, the officer who asked, another officer and an approver who
    already approved may no more send back than approve; the round and the state stay as they were."""
    take(mou, "submit_for_review", world.users["officer"])
    decide(mou, world.users["legal"])
    for person in ("partner", "officer", "other_officer", "legal", "auditor"):
        # The approver who already approved is told so as a conflict (409), the others as a refusal (403).
        with pytest.raises(WorkflowError if person == "legal" else PermissionDenied):
            decide(mou, world.users[person], decision="reject", comment="Not mine to send back")
        db.session.rollback()
        assert mou.state == "internal_review", person
    assert [d.decision for d in mou.approval_rounds[-1].decisions] == ["approve"]
    decide(mou, world.users["manager"], decision="reject", comment="Clause 4 again")
    assert mou.state == "draft"


def test_an_approver_may_send_back_what_cannot_go_forward(mou, world):
    """What blocks approving (here a definition whose review needs an end date, stored as a workflow
    version the agreement is pinned to) does not stop an approver from sending the agreement back."""
    import copy

    from app.workflow.definitions import checksum_of
    from app.workflow.models import WorkflowVersion

    body = copy.deepcopy(engine.current_definitions()["mou"].body)
    review = next(t for t in body["transitions"] if t["name"] == "approve_review")
    review["guards"] = [{"field": "expires_on"}]
    version = WorkflowVersion(type="mou", version=997, checksum=checksum_of(body), body=body)
    db.session.add(version)
    mou.workflow_version = version
    mou.expires_on = None
    db.session.commit()
    engine.forget_definitions_in_use()
    take(mou, "submit_for_review", world.users["officer"])
    option = next(o for o in engine.actions_for(mou, world.users["legal"]) if o.name == "approve_review")
    assert not option.is_allowed and option.may_decide and option.reasons
    with pytest.raises(TransitionBlocked):
        decide(mou, world.users["legal"])
    db.session.rollback()
    with pytest.raises(PermissionDenied):  # blocked or not, a partner holds no place
        decide(mou, world.users["partner"], decision="reject", comment="No end date")
    db.session.rollback()
    decide(mou, world.users["legal"], decision="reject", comment="Give the end date")
    assert mou.state == "draft"


def test_an_agreement_on_an_older_version_still_moves_on_its_date(mou, world):
    """The daily moves read every definition agreements run on: a state today's definition dropped
    (here the version's "paused", today's "suspended") still expires on its end date."""
    import copy

    from app.workflow.definitions import checksum_of
    from app.workflow.models import WorkflowVersion

    body = copy.deepcopy(engine.current_definitions()["mou"].body)
    body["states"]["paused"] = body["states"].pop("suspended")
    for transition in body["transitions"]:
        transition["from"] = ["paused" if name == "suspended" else name for name in transition["from"]]
        transition["to"] = "paused" if transition["to"] == "suspended" else transition["to"]
    version = WorkflowVersion(type="mou", version=996, checksum=checksum_of(body), body=body)
    db.session.add(version)
    mou.workflow_version = version
    mou.state, mou.signed_on, mou.effective_on = "paused", date(2025, 1, 2), date(2025, 1, 2)
    mou.expires_on = clock.today() - timedelta(days=2)
    db.session.commit()
    engine.forget_definitions_in_use()
    # Filters and counts name the state by the version's label, not by its raw name.
    assert engine.state_labels()["paused"] == engine.state_label(mou) == engine.label(body["states"]["paused"]["label"])
    moved = engine.run_automatic_transitions(clock.today())
    db.session.commit()
    assert (mou.reference, "expire", "done") in moved
    assert mou.state == "expired"


def test_names_shown_in_the_apps_sentences_are_kept_on_one_line(mou, world):
    """A signatory's name and title, a budget line's label and period, an indicator's name and unit: a line
    break or a direction override in them reversed or broke the app's own words around them."""
    from app.budget.services import LineData, clean_line
    from app.indicators.services import IndicatorData, _validated

    typed = "a\u202eb\nc"
    (signatory,) = in_signature(mou, world, ("ministry", typed))
    assert signatory.name == "ab c"
    line = clean_line(mou, LineData(organization_id=world.partner_a.id, label=typed, amount="10", period=typed))
    assert (line["label"], line["period"]) == ("ab c", "ab c")
    indicator = _validated(IndicatorData(typed, typed, None, typed, None, "12", "term"))
    assert (indicator["name_ar"], indicator["name_fr"], indicator["unit"]) == ("ab c", "ab c", "ab c")


def test_sequential_steps_go_in_order(world):
    """A convention commits money: legal, then the finance controller, then the head of department, each in
    turn; a step is offered to its approvers only once the one before it is decided."""
    convention = factories.agreement(by=world.users["officer"], partners=[world.partner_a], type="convention")
    db.session.commit()
    take(convention, "submit_for_review", world.users["officer"])

    def offered_to(role) -> bool:
        options = engine.actions_for(convention, world.users[role])
        return any(o.name == "approve_review" and o.is_allowed for o in options)

    assert (offered_to("legal"), offered_to("finance"), offered_to("manager")) == (True, False, False)
    with pytest.raises(WorkflowError, match="not open yet"):
        decide(convention, world.users["finance"], step="finance")
    db.session.rollback()
    decide(convention, world.users["legal"])
    assert convention.state == "internal_review"
    assert (offered_to("finance"), offered_to("manager")) == (True, False)
    with pytest.raises(PermissionDenied):  # the head of department has no place in the finance step
        decide(convention, world.users["manager"], step="finance")
    db.session.rollback()
    decide(convention, world.users["finance"])
    assert convention.state == "internal_review"
    assert offered_to("manager")
    decide(convention, world.users["manager"])
    assert convention.state == "negotiation"
    decisions = convention.approval_rounds[-1].decisions
    assert [(d.step, d.approver.role) for d in decisions] == [
        ("legal", "legal"),
        ("finance", "finance"),
        ("head_of_department", "manager"),
    ]


def test_delegation_lets_a_colleague_approve_for_the_absent_approver(mou, world):
    today = clock.today()
    stand_in = world.users["other_officer"]
    services.delegate(
        delegator=world.users["legal"],
        delegate_user=stand_in,
        starts_on=today,
        ends_on=today + timedelta(days=7),
        by=world.users["legal"],
    )
    take(mou, "submit_for_review", world.users["officer"])
    option = next(o for o in engine.actions_for(mou, stand_in) if o.name == "approve_review")
    assert option.is_allowed and option.acting_for.id == world.users["legal"].id
    decide(mou, stand_in)
    decision = mou.approval_rounds[-1].decisions[0]
    assert decision.approver_id == stand_in.id and decision.counted_user_id == world.users["legal"].id
    row = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "approval_approved"))
    assert world.users["legal"].full_name in row.comment  # "X for Y"


def test_one_person_fills_one_place_of_a_step_even_for_a_delegator(mou, world):
    """The MoU's review needs the legal adviser and a manager: a manager acting for the legal adviser as
    well gives one approval, not the two the step asks for."""
    today = clock.today()
    manager, legal = world.users["manager"], world.users["legal"]
    services.delegate(delegator=legal, delegate_user=manager, starts_on=today, ends_on=today, by=legal)
    take(mou, "submit_for_review", world.users["officer"])
    decide(mou, manager)
    assert mou.state == "internal_review"
    option = next(o for o in engine.actions_for(mou, manager) if o.name == "approve_review")
    assert not option.is_allowed and "already approved" in option.reasons[0]
    with pytest.raises((PermissionDenied, WorkflowError)):
        decide(mou, manager)
    db.session.rollback()
    assert mou.state == "internal_review" and len(mou.approval_rounds[-1].decisions) == 1
    decide(mou, legal)  # the legal adviser, back, gives the second
    assert mou.state == "negotiation"


def test_a_delegate_who_asked_is_told_of_the_four_eyes_rule(mou, world):
    """The manager's delegate is the officer who asked for the review: what stops them is the four-eyes
    rule on the manager's place, not that they hold no place of their own."""
    today = clock.today()
    officer, manager = world.users["officer"], world.users["manager"]
    services.delegate(delegator=manager, delegate_user=officer, starts_on=today, ends_on=today, by=manager)
    take(mou, "submit_for_review", officer)
    decide(mou, world.users["legal"])
    option = next(o for o in engine.actions_for(mou, officer) if o.name == "approve_review")
    assert not option.is_allowed and option.reasons == [
        "The person who asked for approval cannot approve it (four-eyes rule)."
    ]
    second_legal = factories.user("legal", world.ministry)  # a place in the step, already filled
    db.session.commit()
    option = next(o for o in engine.actions_for(mou, second_legal) if o.name == "approve_review")
    assert "required approver" in option.reasons[0]


def test_an_expired_delegation_gives_nothing(mou, world):
    stand_in = world.users["other_officer"]
    db.session.add(
        Delegation(
            delegator_id=world.users["legal"].id,
            delegate_id=stand_in.id,
            starts_on=date(2020, 1, 1),
            ends_on=date(2020, 1, 31),
        )
    )
    take(mou, "submit_for_review", world.users["officer"])
    # Not an approver and no delegation in force: the approval is not even offered.
    assert "approve_review" not in {o.name for o in engine.actions_for(mou, stand_in)}


def test_roles_and_ownership(mou, world):
    assert engine.actions_for(mou, world.users["other_officer"]) == []
    assert engine.actions_for(mou, world.users["auditor"]) == []
    assert engine.actions_for(mou, world.users["partner"]) == []
    with pytest.raises(PermissionDenied):
        take(mou, "submit_for_review", world.users["other_officer"])


def test_a_comment_is_required_where_the_definition_says(mou, world):
    with pytest.raises(ValidationFailed):
        take(mou, "cancel", world.users["officer"])
    db.session.rollback()
    take(mou, "cancel", world.users["officer"], comment="Partner withdrew")
    assert mou.state == "cancelled"
    assert engine.actions_for(mou, world.users["officer"]) == []  # final


def test_a_stale_version_or_a_move_already_made_is_refused(mou, world):
    stale = mou.version
    take(mou, "submit_for_review", world.users["officer"])
    with pytest.raises(ConcurrentChange):
        engine.take(mou, "cancel", by=world.users["officer"], comment="x", expected_version=stale)
    with pytest.raises(WorkflowError):
        engine.take(mou, "submit_for_review", by=world.users["officer"], expected_version=mou.version)


def test_activation_dates_are_checked(mou, world):
    to_negotiation(mou, world)
    agree_text(mou, world)
    take(mou, "open_signature", world.users["officer"])
    sign(mou, world)
    take(mou, "record_signed", world.users["officer"])
    with pytest.raises(ValidationFailed):
        take(mou, "activate", world.users["officer"], values={"effective_on": date(2026, 1, 1)})
    db.session.rollback()
    with pytest.raises(TransitionBlocked):
        take(mou, "activate", world.users["officer"], values={})


def test_nothing_planned_falls_due_before_the_date_activation_gives(world):
    """Placed in "signed" with no signature date (an import; a workflow whose signed stage asks none), its
    line of 1 March 2026 had nothing to be compared with when planned; activated from 15 March, the line was
    overdue from its first day. The move is refused naming the line, by hand as by the daily tick."""
    officer = world.users["officer"]
    agreement = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Sans date", state="signed")
    engine.settle_state(agreement)
    factories.plan_line(agreement, officer, responsible=world.partner_a, first=date(2026, 3, 1), title="Lancement")
    db.session.commit()
    dates = {"effective_on": date(2026, 3, 15), "expires_on": date(2027, 3, 15)}
    with pytest.raises(TransitionBlocked, match="Lancement"):
        take(agreement, "activate", officer, values=dates)
    db.session.rollback()
    agreement.effective_on = dates["effective_on"]
    db.session.commit()
    ticked = date_moves.run_date_transitions(date(2026, 3, 15))
    [(move, outcome)] = [(name, outcome) for ref, name, outcome in ticked if ref == agreement.reference]
    assert move == "activate" and outcome.startswith("blocked") and "Lancement" in outcome
    db.session.rollback()
    take(agreement, "activate", officer, values={**dates, "effective_on": date(2026, 3, 1)})
    assert agreement.state == "active"


def test_negotiation_turns_and_lock(mou, world):
    to_negotiation(mou, world)
    officer, partner = world.users["officer"], world.users["partner"]
    services.send_version(mou, by=officer, upload=pdf(), note="first draft", expected_version=mou.version)
    with pytest.raises(WorkflowError, match="wait for the other parties"):
        services.send_version(mou, by=officer, upload=pdf(), note="again", expected_version=mou.version)
    with pytest.raises(WorkflowError):
        services.accept_version(mou, by=officer, expected_version=mou.version)
    services.send_version(
        mou, by=partner, upload=pdf("contre.pdf", PDF + b"counter"), note="counter", expected_version=mou.version
    )
    services.accept_version(mou, by=officer, expected_version=mou.version)
    db.session.commit()
    assert mou.agreed_round_id == mou.negotiation_rounds[-1].id and mou.negotiation_rounds[-1].side == "partner"
    with pytest.raises(WorkflowError, match="locked"):
        services.send_version(mou, by=partner, upload=pdf(), note="late", expected_version=mou.version)
    # Partner B is no party: cannot speak in this negotiation.
    with pytest.raises(PermissionDenied):
        services.accept_version(mou, by=world.users["partner_b"], expected_version=mou.version)


def in_signature(mou, world, *signatories):
    """The MoU's text agreed and its signature opened, with these (side, name) signatories named."""
    officer = world.users["officer"]
    to_negotiation(mou, world)
    agree_text(mou, world)
    take(mou, "open_signature", officer)
    for side, name in signatories:
        services.add_signatory(mou, by=officer, side=side, name=name, title=None, expected_version=mou.version)
    return list(mou.signatories)


def test_signatures_in_order_and_never_in_the_future(mou, world):
    officer = world.users["officer"]
    first, second = in_signature(mou, world, ("ministry", "First"), ("partner", "Second"))
    with pytest.raises(WorkflowError, match="in order"):
        services.record_signature(mou, second.id, by=officer, signed_on=date(2026, 1, 5), expected_version=mou.version)
    with pytest.raises(ValidationFailed, match="future"):
        services.record_signature(
            mou, first.id, by=officer, signed_on=clock.today() + timedelta(days=1), expected_version=mou.version
        )
    services.record_signature(mou, first.id, by=officer, signed_on=date(2026, 1, 5), expected_version=mou.version)
    with pytest.raises(ValidationFailed, match="before the previous"):
        services.record_signature(mou, second.id, by=officer, signed_on=date(2026, 1, 4), expected_version=mou.version)


def test_the_last_signature_cannot_fall_after_the_entry_into_force(mou, world):
    """The agreement's date of entry into force was 2 December; the last signature on the 5th had met the
    database's check: a server error, and no word of what to change."""
    officer = world.users["officer"]
    mou.effective_on = date(2026, 1, 10)
    first, second = in_signature(mou, world, ("ministry", "First"), ("partner", "Second"))
    services.record_signature(mou, first.id, by=officer, signed_on=date(2026, 1, 12), expected_version=mou.version)
    with pytest.raises(ValidationFailed, match="enters into force on") as refused:
        services.record_signature(mou, second.id, by=officer, signed_on=date(2026, 1, 14), expected_version=mou.version)
    assert "signed_on" in refused.value.field_errors
    db.session.rollback()


def test_a_signature_recorded_in_error_is_taken_back_with_those_after_it(mou, world):
    officer = world.users["officer"]
    first, second = in_signature(mou, world, ("ministry", "First"), ("partner", "Second"))
    services.record_signature(mou, first.id, by=officer, signed_on=date(1999, 1, 1), expected_version=mou.version)
    services.record_signature(mou, second.id, by=officer, signed_on=date(2026, 1, 6), expected_version=mou.version)
    db.session.commit()
    assert mou.signed_on == date(2026, 1, 6)
    with pytest.raises(PermissionDenied):
        services.withdraw_signature(mou, first.id, by=world.users["partner"], expected_version=mou.version)
    services.withdraw_signature(mou, first.id, by=officer, expected_version=mou.version)
    db.session.commit()
    assert (first.signed_on, second.signed_on, mou.signed_on) == (None, None, None)
    with pytest.raises(WorkflowError, match="not recorded"):
        services.withdraw_signature(mou, first.id, by=officer, expected_version=mou.version)
    db.session.rollback()
    services.record_signature(mou, first.id, by=officer, signed_on=date(2026, 1, 5), expected_version=mou.version)
    db.session.commit()
    assert first.signed_on == date(2026, 1, 5)
    row = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "signature_withdrawn"))
    assert [w["signed_on"] for w in row.changes["withdrawn"]] == ["1999-01-01", "2026-01-06"]


def test_the_page_and_the_api_take_back_a_signature(mou, world, signed_in):
    officer = world.users["officer"]
    in_signature(mou, world, ("ministry", "First"))
    first = mou.signatories[0]
    services.record_signature(mou, first.id, by=officer, signed_on=date(1999, 1, 1), expected_version=mou.version)
    db.session.commit()
    client = signed_in("officer")
    page = client.get(f"/agreements/{mou.id}").get_data(as_text=True)
    assert f"/agreements/{mou.id}/signatories/{first.id}/withdraw" in page
    assert f"/agreements/{mou.id}/signatories/{first.id}/withdraw" not in signed_in("partner").get(
        f"/agreements/{mou.id}"
    ).get_data(as_text=True)
    taken = client.post(f"/agreements/{mou.id}/signatories/{first.id}/withdraw", data={"version": mou.version})
    assert taken.status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(type(first), first.id).signed_on is None
    refused = client.post(f"/agreements/{mou.id}/signatories/{first.id}/withdraw", data={"version": mou.version})
    assert refused.status_code in (302, 303, 409, 422)  # refused, said on the page: nothing left to take back


def test_a_text_opened_again_takes_back_the_signatures_of_the_old_one(mou, world):
    """A signature applies to one text: back to negotiation, those recorded are taken back and the
    agreement is no longer dated as signed; the signatories stay named, to sign the next text."""
    officer = world.users["officer"]
    in_signature(mou, world, ("ministry", "First"))
    services.record_signature(
        mou, mou.signatories[0].id, by=officer, signed_on=date(2026, 1, 5), expected_version=mou.version
    )
    db.session.commit()
    take(mou, "back_to_negotiation", officer, comment="Une clause à revoir")
    assert mou.state == "negotiation" and mou.signed_on is None
    assert [(s.name, s.signed_on) for s in mou.signatories] == [("First", None)]
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "signatures_voided")) is not None


def test_the_signed_copy_records_its_sha256(mou, world):
    to_negotiation(mou, world)
    agree_text(mou, world)
    take(mou, "open_signature", world.users["officer"])
    sign(mou, world)
    import hashlib

    copy = next(d for d in mou.documents if d.kind == "signed_copy")
    assert copy.sha256 == hashlib.sha256(PDF + b"signed").hexdigest()


def test_date_job_is_safe_to_run_twice(mou, world):
    to_negotiation(mou, world)
    agree_text(mou, world)
    take(mou, "open_signature", world.users["officer"])
    sign(mou, world)
    take(mou, "record_signed", world.users["officer"])
    mou.effective_on = date(2026, 4, 1)
    db.session.commit()
    assert date_moves.run_date_transitions(date(2026, 3, 31)) == []
    first = date_moves.run_date_transitions(date(2026, 4, 1))
    db.session.commit()
    second = date_moves.run_date_transitions(date(2026, 4, 1))
    assert [r[1:] for r in first] == [("activate", "done")] and second == []
    assert mou.state == "active"


def test_an_amendment_in_force_changes_its_parent(mou, world):
    officer = world.users["officer"]
    parent = world.agreement_a
    parent.expires_on = date(2027, 7, 1)
    amendment = factories.agreement(
        by=officer, partners=[world.partner_a], type="amendment", parent_id=parent.id, title_fr="Avenant n° 1"
    )
    db.session.commit()
    with pytest.raises(TransitionBlocked, match="what the amendment changes"):
        take(amendment, "submit_for_review", officer)
    db.session.rollback()
    amendment.amendment_changes = {"expires_on": "2030-07-01"}
    db.session.commit()
    take(amendment, "submit_for_review", officer)
    decide(amendment, world.users["legal"])
    assert amendment.state == "signature"
    sign(amendment, world)
    take(amendment, "record_signed", officer)
    take(amendment, "activate", officer, values={"effective_on": date(2026, 3, 10)})
    assert amendment.state == "active" and parent.expires_on == date(2030, 7, 1)
    parent_history = db.session.scalar(
        db.select(AuditEvent).where(AuditEvent.object_id == parent.id, AuditEvent.action == "amended")
    )
    assert parent_history.changes["amendment"] == amendment.reference


def test_changing_a_definition_never_strands_agreements_in_flight(mou, world):
    from flask import current_app

    take(mou, "submit_for_review", world.users["officer"])
    pinned = mou.workflow_version_id
    definitions = current_app.extensions["sharaka.workflows"]
    original = definitions["mou"]
    from app.workflow.definitions import parse_definition

    body = {**original.body}
    body["transitions"] = [
        {**t, "comment": "none"} if t["name"] == "cancel" else t for t in original.body["transitions"]
    ]
    definitions["mou"] = parse_definition(body)
    try:
        fresh = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
        assert fresh.workflow_version_id != pinned
        assert mou.workflow_version_id == pinned
        old_cancel = next(o for o in engine.actions_for(mou, world.users["officer"]) if o.name == "cancel")
        new_cancel = next(o for o in engine.actions_for(fresh, world.users["officer"]) if o.name == "cancel")
        assert old_cancel.needs_comment and not new_cancel.needs_comment
    finally:
        definitions["mou"] = original


def test_an_agreement_on_a_version_frozen_before_the_rule_keeps_to_it(world):
    """Agreements in flight run on the version of their workflow frozen when they started: one frozen before
    `nothing_due_before_start` would still have made a draft's 2020 line overdue on its signature."""
    import copy

    from app.workflow.definitions import checksum_of
    from app.workflow.models import WorkflowVersion

    body = copy.deepcopy(engine.current_definitions()["mou"].body)
    for state in body["states"].values():
        guards = state.get("requires", {}).get("guards")
        if guards:
            guards.remove("nothing_due_before_start")
    older = WorkflowVersion(type="mou", version=990, checksum=checksum_of(body), body=body)
    db.session.add(older)
    officer = world.users["officer"]
    agreement = factories.agreement(by=officer, partners=[world.partner_a], title_fr="En vol")
    agreement.workflow_version = older
    factories.plan_line(agreement, officer, responsible=world.partner_a, first=date(2020, 1, 1), title="Lancement")
    agreement.state, agreement.signed_on = "signature", date(2026, 11, 20)
    db.session.commit()
    engine.forget_definitions_in_use()
    record = next(o for o in engine.actions_for(agreement, officer) if o.name == "record_signed")
    assert not record.is_allowed and any("Lancement" in reason for reason in record.reasons)


@pytest.mark.parametrize(
    "path, expected_state",
    [
        (["back_to_draft"], "draft"),
        (["open_signature", "back_to_negotiation"], "negotiation"),
        (["open_signature", "back_to_draft"], "draft"),
    ],
)
def test_send_back_paths_need_a_comment_and_unlock_the_text(mou, world, path, expected_state):
    to_negotiation(mou, world)
    agree_text(mou, world)
    officer = world.users["officer"]
    for name in path:
        if name.startswith("back_"):
            with pytest.raises(ValidationFailed):
                take(mou, name, officer)
            db.session.rollback()
            take(mou, name, officer, comment="The partner asked for changes")
        else:
            take(mou, name, officer)
    assert mou.state == expected_state
    assert mou.agreed_round_id is None  # a new negotiation round may be sent


def _activate(mou, world):
    to_negotiation(mou, world)
    agree_text(mou, world)
    take(mou, "open_signature", world.users["officer"])
    sign(mou, world)
    take(mou, "record_signed", world.users["officer"])
    take(mou, "activate", world.users["officer"], values={"effective_on": date(2026, 3, 15)})


def test_terminate_needs_a_manager_a_reason_and_a_notice(mou, world):
    _activate(mou, world)
    with pytest.raises(PermissionDenied):
        take(mou, "terminate", world.users["officer"], comment="x")
    db.session.rollback()
    option = next(o for o in engine.actions_for(mou, world.users["manager"]) if o.name == "terminate")
    assert option.needs_comment
    with pytest.raises(TransitionBlocked, match="Termination notice"):
        take(mou, "terminate", world.users["manager"], comment="Breach of clause 7")
    db.session.rollback()
    take(
        mou,
        "terminate",
        world.users["manager"],
        comment="Breach of clause 7",
        documents={"termination_notice": pdf("notice.pdf", PDF + b"notice")},
    )
    assert mou.state == "terminated"
    assert any(d.kind == "termination_notice" for d in mou.documents)


def test_close_an_active_agreement(mou, world):
    _activate(mou, world)
    take(mou, "close", world.users["officer"], comment="All deliverables received")
    assert mou.state == "closed"
    assert engine.actions_for(mou, world.users["manager"]) == []


def test_partners_hear_of_the_moves_that_bind_them_and_of_versions_to_answer(mou, world):
    """Partners are told when a version of the text awaits their answer, and of every move from the
    signature on (signed, in force, suspended, resumed, ended); not of the ministry's internal review.
    The owner hears of a version the partner sends."""

    def told(user, kind):
        return [
            n.params.get("state", {}).get("en") or n.params.get("number")
            for n in db.session.scalars(
                db.select(Notification)
                .where(Notification.user_id == user.id, Notification.kind == kind)
                .order_by(Notification.id)
            )
        ]

    partner, officer = world.users["partner"], world.users["officer"]
    to_negotiation(mou, world)
    assert told(partner, "agreement_moved") == []  # the internal review is the ministry's
    services.send_version(mou, by=officer, upload=pdf(), note="v1", expected_version=mou.version)
    db.session.commit()
    assert told(partner, "version_sent") == [1] and told(officer, "version_sent") == []
    services.send_version(mou, by=partner, upload=pdf("v2.pdf", PDF + b"v2"), note="v2", expected_version=mou.version)
    db.session.commit()
    assert told(officer, "version_sent") == [2] and told(partner, "version_sent") == [1]
    services.accept_version(mou, by=officer, expected_version=mou.version)
    db.session.commit()
    take(mou, "open_signature", officer)
    sign(mou, world)
    take(mou, "record_signed", officer)
    take(mou, "activate", officer, values={"effective_on": date(2026, 3, 15), "expires_on": date(2029, 3, 15)})
    take(mou, "suspend", officer, comment="Budget freeze")
    assert told(partner, "agreement_moved") == ["Signed", "Active", "Suspended"]
    assert told(world.users["partner_b"], "agreement_moved") == []  # not a party
