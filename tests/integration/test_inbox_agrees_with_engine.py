"""The inbox's SQL (queries.approvals_waiting_on) says an approval waits on someone exactly when the
engine would let them approve it: the step's places, and what the move needs (its guards, what its
target state requires), each asked from the same definitions and guards."""

from datetime import date
from pathlib import Path

import pytest
import yaml
from flask import current_app
from sqlalchemy import func, literal, select

from app.agreements.models import Agreement
from app.core import clock
from app.core.storage import StoredFile
from app.extensions import db
from app.workflow import engine, rules
from app.workflow.definitions import DefinitionError, load_directory
from app.workflow.models import AgreementDocument, ApprovalRound, NegotiationRound, Signatory
from app.workflow.queries import approvals_waiting_on
from tests import factories


def waits_on(user, round_) -> bool:
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(ApprovalRound)
            .join(Agreement, Agreement.id == ApprovalRound.agreement_id)
            .where(ApprovalRound.id == round_.id, approvals_waiting_on(user, [user]))
        )
    )


def engine_lets(user, agreement, round_) -> bool:
    transition = engine.definition_for(agreement).transition(round_.transition)
    return engine._approval_option(agreement, transition, user, clock.today()).is_allowed


def in_review(world, title: str):
    """An MoU of the officer's submitted for review: (the agreement, its open approval round)."""
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr=title)
    db.session.commit()
    engine.take(agreement, "submit_for_review", by=world.users["officer"], expected_version=agreement.version)
    db.session.commit()
    return agreement, next(r for r in agreement.approval_rounds if r.status == "open")


def test_the_last_place_kept_for_a_required_approver(world):
    """approve_review needs two approvals, one from legal and one from a manager: once a lawyer approved,
    a second lawyer cannot fill the quorum; only a manager can."""
    other_lawyer = factories.user("legal", world.ministry, email="legal2@ministry.example")
    agreement, round_ = in_review(world, "En revue")
    lawyer, manager = world.users["legal"], world.users["manager"]
    assert waits_on(other_lawyer, round_) == engine_lets(other_lawyer, agreement, round_) is True
    engine.decide(
        agreement, "approve_review", by=lawyer, decision="approve", comment=None, expected_version=agreement.version
    )
    db.session.commit()
    for person in (lawyer, other_lawyer, manager):
        assert waits_on(person, round_) == engine_lets(person, agreement, round_), person.email
    assert not waits_on(other_lawyer, round_) and waits_on(manager, round_)


# --- a blocked move: the engine offers no approval, the inbox lists none ----------------------------

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def _signed_by_both(agreement):
    """A signed signatory for the ministry and one for each partner party."""
    signers = [("ministry", None), *(("partner", org_id) for org_id in agreement.partner_organization_ids)]
    for position, (side, org_id) in enumerate(signers, start=1):
        db.session.add(
            Signatory(
                agreement_id=agreement.id,
                side=side,
                organization_id=org_id,
                position=position,
                name=side,
                signed_on=date(2026, 1, 5),
            )
        )


def _document(kind):
    def add(agreement):
        stored = StoredFile(sha256=f"{agreement.id:064d}", size=1, content_type="application/pdf")
        db.session.add(stored)
        db.session.flush()
        db.session.add(
            AgreementDocument(agreement_id=agreement.id, kind=kind, stored_file_id=stored.id, original_name="a.pdf")
        )

    return add


def _parent(agreement):
    parent = factories.agreement(by=agreement.owner, partners=agreement.partner_organizations, title_fr="Parent")
    db.session.flush()
    agreement.parent_id = parent.id


# (what the MoU's definition gains, what fills the gap on the agreement)
BLOCKS = {
    "a named guard on the move": (
        lambda body: _move(body, "approve_review").update(guards=["has_parent"]),
        _parent,
    ),
    "a field guard on the move": (
        lambda body: _move(body, "approve_review").update(guards=[{"field": "summary_fr"}]),
        lambda agreement: setattr(agreement, "summary_fr", "Résumé"),
    ),
    "a document guard on the move": (
        lambda body: _move(body, "approve_review").update(guards=[{"document": "other"}]),
        _document("other"),
    ),
    "a field the target state requires": (
        lambda body: body["states"]["negotiation"].update(requires={"fields": ["expires_on"]}),
        lambda agreement: setattr(agreement, "expires_on", date(2030, 1, 1)),
    ),
    "a document the target state requires": (
        lambda body: body["states"]["negotiation"].update(requires={"documents": ["text_version"]}),
        _document("text_version"),
    ),
    "a guard the target state requires": (
        lambda body: body["states"]["negotiation"].update(requires={"guards": ["all_signatories_signed"]}),
        _signed_by_both,
    ),
}


def _move(body, name):
    return next(t for t in body["transitions"] if t["name"] == name)


def _definitions_with(change, tmp_path):
    for path in WORKFLOWS.glob("*.yaml"):
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
        if path.stem == "mou":
            change(body)
        (tmp_path / path.name).write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_directory(tmp_path)


@pytest.mark.parametrize("block", list(BLOCKS))
def test_an_approval_whose_move_is_blocked_waits_on_nobody(world, tmp_path, monkeypatch, block):
    """Until what the move needs is there, the engine lets nobody approve (its reasons show on the
    agreement's page) and the inbox lists the round for nobody; once it is there, both agree again."""
    change, fill = BLOCKS[block]
    monkeypatch.setitem(current_app.extensions, "sharaka.workflows", _definitions_with(change, tmp_path))
    engine.forget_definitions_in_use()
    agreement, round_ = in_review(world, "Bloqué")
    lawyer, manager = world.users["legal"], world.users["manager"]
    for person in (lawyer, manager):
        assert engine_lets(person, agreement, round_) is False, person.email
        assert waits_on(person, round_) is False, person.email
    fill(agreement)
    db.session.commit()
    db.session.expire(agreement)
    for person in (lawyer, manager):
        assert engine_lets(person, agreement, round_) is True, person.email
        assert waits_on(person, round_) is True, person.email


@pytest.mark.parametrize("name", sorted(rules.GUARD_CLAUSES))
def test_each_guard_says_the_same_in_sql(world, name):
    """A guard's SQL side (rules.GUARD_CLAUSES) holds for exactly the agreements its Python lets through."""
    officer = world.users["officer"]
    bare = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Nu")
    full = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Complet")
    for party in list(bare.parties):
        db.session.delete(party)
    db.session.flush()
    _parent(full)
    _signed_by_both(full)
    full.amendment_changes = {"expires_on": "2030-01-01"}
    bare.amendment_changes = {}
    agreed = NegotiationRound(agreement_id=full.id, number=1, side="ministry")
    db.session.add(agreed)
    db.session.flush()
    full.agreed_round_id = agreed.id
    db.session.commit()
    for agreement in (bare, full):
        db.session.expire(agreement)
        in_python = rules.GUARDS[name](agreement) is None
        in_sql = db.session.scalar(
            select(func.count(Agreement.id)).where(Agreement.id == agreement.id, rules.GUARD_CLAUSES[name]())
        )
        assert bool(in_sql) == in_python, (name, agreement.title_fr)
        # Nested a level down, as the inboxes and dashboards ask it inside a statement over the approval rounds
        # (a subquery correlated by auto-correlation alone reads its table again there).
        asked_inside = select(literal(1)).where(rules.GUARD_CLAUSES[name]()).correlate(Agreement)
        nested = select(func.count(Agreement.id)).where(Agreement.id == agreement.id, asked_inside.exists())
        assert bool(db.session.scalar(nested)) == in_python, (name, agreement.title_fr, "nested")
    assert {rules.GUARDS[name](a) is None for a in (bare, full)} == {True, False}, "both answers are tried"


def test_an_approval_cannot_need_a_guard_without_its_sql(tmp_path):
    change = lambda body: _move(body, "approve_review").update(guards=["no_overlapping_amendment"])  # noqa: E731
    with pytest.raises(DefinitionError) as refused:
        _definitions_with(change, tmp_path)
    assert "no_overlapping_amendment" in str(refused.value)


def test_the_dashboards_nobody_to_approve_asks_what_the_approvals_panel_asks(world):
    """queries.someone_may_decide (the dashboard's "Approvals nobody can give") holds for a round exactly when
    the panel finds someone who may decide its current step (reminders.waiting_approval): the required
    approver's kept place, the requester kept out, who approved already."""
    from app.notifications.reminders.rules import waiting_approval
    from app.workflow.queries.approvals import someone_may_decide

    def agree(round_) -> bool:
        db.session.expire_all()
        _agreement, step, _since, _sla, approvers = waiting_approval(round_)
        in_sql = db.session.scalar(select(func.count()).where(ApprovalRound.id == round_.id, someone_may_decide(step)))
        assert bool(in_sql) == bool(approvers), (step.name, approvers)
        return bool(approvers)

    factories.user("legal", world.ministry, email="legal2@ministry.example")
    lawyer, manager = world.users["legal"], world.users["manager"]
    asked_by_manager = factories.agreement(by=manager, partners=[world.partner_a], title_fr="Par le chef")
    db.session.commit()
    engine.take(asked_by_manager, "submit_for_review", by=manager, expected_version=asked_by_manager.version)
    db.session.commit()
    agreement, round_ = in_review(world, "En revue")
    by_manager = next(r for r in asked_by_manager.approval_rounds if r.status == "open")
    assert agree(round_) and agree(by_manager)
    for each in (agreement, asked_by_manager):
        version = each.version
        engine.decide(each, "approve_review", by=lawyer, decision="approve", comment=None, expected_version=version)
        db.session.commit()
    # The second lawyer may not take the manager's kept place: the manager may, unless they asked.
    assert agree(round_) is True and agree(by_manager) is False


def test_who_approved_another_agreement_may_still_decide_this_one_in_sql_as_in_the_panel(world):
    """Four-eyes keeps out of a round whoever decided another of its steps or approved this one, in that round
    alone: the SQL had looked for such a decision in every round (its subquery named the rounds' table again
    instead of the round at hand), so once the lawyer and the manager had approved one MoU, the managers'
    dashboard said nobody could give the approval of each MoU after it, and the page spent its time reading
    every decision ever made (265 ms at 100 agreements, 708 at 10,000)."""
    from app.notifications.reminders.rules import waiting_approval
    from app.workflow.queries.approvals import someone_may_decide

    lawyer, manager = world.users["legal"], world.users["manager"]
    first, _first_round = in_review(world, "Approuvé")
    for person in (lawyer, manager):
        version = first.version
        engine.decide(first, "approve_review", by=person, decision="approve", comment=None, expected_version=version)
        db.session.commit()
    _next, round_ = in_review(world, "Suivant")
    db.session.expire_all()
    _agreement, step, _since, _sla, approvers = waiting_approval(round_)
    assert {lawyer.id, manager.id} <= {person.id for person in approvers}
    assert db.session.scalar(select(func.count()).where(ApprovalRound.id == round_.id, someone_may_decide(step))) == 1
