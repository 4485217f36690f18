"""The workflow conditions (app/workflow/queries/) are built once and reused by later requests: for the
same definitions in use, day and reader the same object comes back; a new day, a new definition version
or another role gets its own, and the pages answer by it."""

from __future__ import annotations

import copy
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.agreements.models import Agreement
from app.core import clock
from app.core.models import utcnow
from app.extensions import db
from app.workflow import engine
from app.workflow.definitions import parse_definition
from app.workflow.models import ApprovalRound
from app.workflow.queries import approvals_waiting_on, in_state_tagged, late_round_clause, over_state_sla
from tests import factories


def in_review_since(world, days_ago: int):
    """An MoU of the officer's in internal review (10 days allowed) for `days_ago` days, its round as old."""
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="En revue")
    db.session.commit()
    engine.take(agreement, "submit_for_review", by=world.users["officer"], expected_version=agreement.version)
    db.session.commit()
    round_ = db.session.scalars(select(ApprovalRound).where(ApprovalRound.agreement_id == agreement.id)).one()
    round_.requested_at = agreement.state_entered_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()
    return agreement


def card(client, name: str) -> str:
    """The dashboard's card `name` ("" when the dashboard leaves it out: nothing to show)."""
    page = client.get("/dashboard").get_data(as_text=True)
    if f'id="{name}"' not in page:
        return ""
    found = page[page.index(f'id="{name}"') :]
    return found[: found.index("</section>")]


def test_the_same_definitions_day_and_reader_reuse_one_condition(world):
    today = clock.today()
    manager, lawyer = world.users["manager"], world.users["legal"]
    stuck = over_state_sla(Agreement.state_entered_at, today, 3)
    waiting = approvals_waiting_on(manager, [manager])
    engine.forget_definitions_in_use()  # as the next request finds them: read again, the same definitions
    assert over_state_sla(Agreement.state_entered_at, today, 3) is stuck
    assert approvals_waiting_on(manager, [manager]) is waiting
    assert in_state_tagged("in_force") is in_state_tagged("in_force")
    # Whatever the condition reads is part of its key: the day, the multiple, the column, the reader.
    assert over_state_sla(Agreement.state_entered_at, today + timedelta(days=1), 3) is not stuck
    assert over_state_sla(Agreement.state_entered_at, today, 1) is not stuck
    assert over_state_sla(ApprovalRound.requested_at, today, 3) is not stuck
    assert approvals_waiting_on(lawyer, [lawyer]) is not waiting
    assert approvals_waiting_on(manager, [manager, lawyer]) is not waiting
    assert late_round_clause(today, clock.start_of) is late_round_clause(today, clock.start_of)


def test_a_readers_new_role_is_a_new_condition(world):
    lawyer = world.users["legal"]
    agreement = in_review_since(world, days_ago=1)
    round_ = db.session.scalars(select(ApprovalRound).where(ApprovalRound.agreement_id == agreement.id)).one()

    def waits_on_lawyer() -> bool:
        found = select(ApprovalRound.id).join(Agreement, Agreement.id == ApprovalRound.agreement_id)
        return round_.id in db.session.scalars(found.where(approvals_waiting_on(lawyer, [lawyer]))).all()

    assert waits_on_lawyer()
    lawyer.role = "officer"  # the review's slots are the legal adviser's and a manager's
    db.session.commit()
    assert not waits_on_lawyer()


def test_a_new_day_moves_agreements_into_the_stuck_and_late_cards(world, signed_in):
    agreement = in_review_since(world, days_ago=5)  # internal review allows 10 days
    manager = signed_in("manager")
    assert agreement.reference not in card(manager, "late-approvals")
    assert agreement.reference not in card(manager, "stuck")
    with clock.frozen(clock.now() + timedelta(days=10)):  # 15 days: late
        manager = signed_in("manager")  # a session of that day
        assert agreement.reference in card(manager, "late-approvals")
        assert agreement.reference not in card(manager, "stuck")
    with clock.frozen(clock.now() + timedelta(days=30)):  # 35 days: more than three times the 10 days
        manager = signed_in("manager")
        assert agreement.reference in card(manager, "stuck")
    manager = signed_in("manager")
    assert agreement.reference not in card(manager, "late-approvals")  # and back to today


def test_a_new_definition_version_counts_by_its_own_deadlines(world, signed_in, app, monkeypatch):
    on_first = in_review_since(world, days_ago=20)  # 10 days allowed: late, not stuck
    manager = signed_in("manager")
    assert on_first.reference not in card(manager, "stuck")  # built for the definitions in use so far
    body = copy.deepcopy(current_app.extensions["sharaka.workflows"]["mou"].body)
    body["states"]["internal_review"]["sla_days"] = 5
    for flask_app in (app, current_app._get_current_object()):  # the requests' app and the test body's
        definitions = {**flask_app.extensions["sharaka.workflows"], "mou": parse_definition(body)}
        monkeypatch.setitem(flask_app.extensions, "sharaka.workflows", definitions)
    engine.forget_definitions_in_use()
    on_second = in_review_since(world, days_ago=20)  # runs on a new version: 5 days allowed, 20 is stuck
    assert on_second.workflow_version_id != on_first.workflow_version_id
    stuck = card(manager, "stuck")
    assert on_second.reference in stuck and on_first.reference not in stuck
