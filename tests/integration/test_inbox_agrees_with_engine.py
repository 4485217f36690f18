"""The inbox's SQL (queries.approvals_waiting_on) says an approval waits on someone exactly when the
engine would let them approve it."""

from datetime import date

from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.extensions import db
from app.workflow import engine
from app.workflow.models import ApprovalRound
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
    return engine._approval_option(agreement, transition, user, date.today()).is_allowed


def test_the_last_place_kept_for_a_required_approver(world):
    """approve_review needs two approvals, one from legal and one from a manager: once a lawyer approved,
    a second lawyer cannot fill the quorum; only a manager can."""
    other_lawyer = factories.user("legal", world.ministry, email="legal2@ministry.example")
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="En revue")
    db.session.commit()
    engine.take(agreement, "submit_for_review", by=world.users["officer"], expected_version=agreement.version)
    db.session.commit()
    round_ = next(r for r in agreement.approval_rounds if r.status == "open")
    lawyer, manager = world.users["legal"], world.users["manager"]
    assert waits_on(other_lawyer, round_) == engine_lets(other_lawyer, agreement, round_) is True
    engine.decide(
        agreement, "approve_review", by=lawyer, decision="approve", comment=None, expected_version=agreement.version
    )
    db.session.commit()
    for person in (lawyer, other_lawyer, manager):
        assert waits_on(person, round_) == engine_lets(person, agreement, round_), person.email
    assert not waits_on(other_lawyer, round_) and waits_on(manager, round_)
