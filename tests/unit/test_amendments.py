"""Amendments of any term: checking what is proposed, the side-by-side view, two amendments
changing the same term, and the atomic change of the parent (with its deliverable plan)."""

from datetime import date

import pytest

from app.agreements import amendments
from app.core.audit import AuditEvent
from app.core.errors import ValidationFailed
from app.deliverables.models import Submission
from app.extensions import db
from app.workflow.engine import TransitionBlocked, WorkflowError
from tests import factories
from tests.unit.test_workflow_engine import decide, sign, take


@pytest.fixture(autouse=True)
def _in_march_2026():
    """The ministry's today inside the parent's term (an amendment's end date may not be already past)."""
    from app.core import clock

    with clock.frozen(date(2026, 3, 15)):
        yield


@pytest.fixture
def parent(world):
    agreement = world.agreement_a
    agreement.state, agreement.signed_on, agreement.effective_on = "active", date(2026, 1, 5), date(2026, 1, 10)
    agreement.expires_on = date(2026, 12, 31)
    db.session.commit()
    return agreement


def new_amendment(world, parent, changes=None, title="Avenant"):
    return factories.amendment(parent, world.users["officer"], partners=[world.partner_a], changes=changes, title=title)


def running_child(world, parent, *, expires_on):
    """A convention under `parent`, in force until `expires_on`."""
    child = factories.agreement(
        by=world.users["officer"],
        partners=[world.partner_a],
        type="convention",
        parent_id=parent.id,
        state="active",
        signed_on=date(2026, 1, 5),
        effective_on=date(2026, 1, 10),
        expires_on=expires_on,
    )
    db.session.commit()
    return child


def budget_line_in_force(world, parent, organization, label: str, amount: str) -> None:
    """A line of the parent's budget, written as its draft was (a signed agreement's budget changes only by
    amendment)."""
    from app.budget.services import LineData, add_line

    parent.state = "draft"
    add_line(
        parent,
        LineData(organization_id=organization.id, label=label, amount=amount, year=2026),
        by=world.users["officer"],
    )
    parent.state = "active"
    db.session.commit()


def to_signed(amendment, world):
    """Reviewed and signed, waiting to come into force (the finance controller reviews a changed budget)."""
    officer = world.users["officer"]
    take(amendment, "submit_for_review", officer)
    decide(amendment, world.users["legal"])
    if amendment.proposed_mad_budget is not None:
        decide(amendment, world.users["finance"])
    sign(amendment, world, day=date(2026, 3, 2))
    take(amendment, "record_signed", officer)


def activate(amendment, world):
    take(amendment, "activate", world.users["officer"], values={"effective_on": date(2026, 3, 10)})


def bring_into_force(amendment, world):
    to_signed(amendment, world)
    activate(amendment, world)


def test_only_real_changes_are_kept_and_unknown_terms_refused(world, parent):
    cleaned = amendments.clean_changes(
        {"title_fr": parent.title_fr, "title_en": " New title ", "expires_on": "2027-06-30", "effective_on": ""}, parent
    )
    assert cleaned == {"title_en": "New title", "expires_on": "2027-06-30"}
    with pytest.raises(ValidationFailed) as refused:
        amendments.clean_changes({"budget": 5, "expires_on": "30/06/2027"}, parent)
    assert set(refused.value.field_errors) == {"changes", "expires_on"}


def test_bad_dates_and_parties_are_refused_and_nothing_is_stored(world, parent):
    amendment = new_amendment(world, parent)
    for bad in (
        {"expires_on": "2025-01-01"},
        {"effective_on": "2025-12-01"},
        {"parties": [[world.ministry.id, "partner"]]},
        {"parties": [[999999, "partner"]]},
        {"parties": [[world.partner_a.id, "partner"], [world.partner_a.id, "witness"]]},
        {"parties": []},
        {"title_fr": "x" * 501},
        {"expires_on": "9999-01-01"},
    ):
        with pytest.raises(ValidationFailed):
            amendments.set_changes(amendment, bad, by=world.users["officer"], expected_version=amendment.version)
        db.session.rollback()
        assert amendment.amendment_changes is None


def test_an_agreement_in_force_is_not_moved_to_start_later(world, parent):
    """In force since 10 January (today is 15 March), it owed what fell due since: an amendment starting
    it in 2027 had left those due dates before its start, shown overdue. Earlier, back to the signature, it
    may still be moved; and one not yet in force may start later."""
    amendment = new_amendment(world, parent)
    for later in ("2026-01-11", "2027-03-01"):
        with pytest.raises(ValidationFailed) as refused:
            amendments.set_changes(
                amendment, {"effective_on": later}, by=world.users["officer"], expected_version=amendment.version
            )
        assert "in force since" in refused.value.field_errors["effective_on"][0]
        db.session.rollback()
    amendments.set_changes(
        amendment, {"effective_on": "2026-01-06"}, by=world.users["officer"], expected_version=amendment.version
    )
    assert amendment.amendment_changes == {"effective_on": "2026-01-06"}
    parent.effective_on = date(2026, 4, 1)  # signed, not yet in force
    db.session.commit()
    assert amendments.clean_changes({"effective_on": "2026-05-01"}, parent) == {"effective_on": "2026-05-01"}


def test_an_end_moved_before_a_childs_end_is_refused_as_a_child_ending_later_is(world, parent):
    """The MoU refuses a child ending after it (children.end_after_parent: refuse): a convention under it
    runs to 31 December, so an amendment ending the MoU on 31 October is refused, naming the child."""
    child = running_child(world, parent, expires_on=date(2026, 12, 31))
    amendment = new_amendment(world, parent)
    with pytest.raises(ValidationFailed) as refused:
        amendments.set_changes(
            amendment, {"expires_on": "2026-10-31"}, by=world.users["officer"], expected_version=amendment.version
        )
    assert child.reference in refused.value.field_errors["expires_on"][0]
    db.session.rollback()
    amendments.set_changes(  # later than the child's end: no child outlives it
        amendment, {"expires_on": "2027-03-31"}, by=world.users["officer"], expected_version=amendment.version
    )
    assert amendment.amendment_changes == {"expires_on": "2027-03-31"}


def test_an_amendment_in_force_changes_every_term_at_once(world, parent):
    amendment = new_amendment(
        world,
        parent,
        {
            "title_fr": "Accord avec A et B",
            "summary_en": "Now with B.",
            "expires_on": "2027-12-31",
            "parties": [[world.partner_a.id, "partner"], [world.partner_b.id, "partner"]],
        },
    )
    rows = {row.name: row for row in amendments.comparison(amendment)}
    assert set(rows) == {"title_fr", "summary_en", "expires_on", "parties"}
    assert rows["expires_on"].current == date(2026, 12, 31) and rows["expires_on"].proposed == date(2027, 12, 31)
    assert len(rows["parties"].current) == 1 and len(rows["parties"].proposed) == 2
    bring_into_force(amendment, world)
    assert parent.title_fr == "Accord avec A et B" and parent.summary_en == "Now with B."
    assert parent.expires_on == date(2027, 12, 31)
    assert {p.organization_id for p in parent.parties} == {world.partner_a.id, world.partner_b.id}
    history = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.object_id == parent.id, AuditEvent.action == "amended")
    ).all()
    assert sorted(e.changes["term"] for e in history) == ["expires_on", "parties", "summary_en", "title_fr"]
    assert all(e.changes["amendment"] == amendment.reference for e in history)
    assert next(e for e in history if e.changes["term"] == "expires_on").changes["before"] == {
        "expires_on": "2026-12-31"
    }
    # Its partners are told what it changed, not only that it is "In force".
    from app.notifications import messages
    from app.notifications.models import Notification

    told = db.session.scalars(
        db.select(Notification).where(
            Notification.user_id == world.users["partner"].id,
            Notification.kind == "agreement_moved",
            Notification.object_id == amendment.id,
        )
    ).all()
    in_force = next(n for n in told if n.params.get("amended_terms"))
    assert in_force.params["amended_terms"] == ["expires_on", "parties", "summary_en", "title_fr"]
    assert in_force.params["new_end"] == "2027-12-31"
    from flask_babel import force_locale

    with force_locale("en"):
        said = messages.detail("agreement_moved", in_force.params)
    assert "It changes: " in said and "Ends on" in said and "The agreement now ends on December 31, 2027." in said


def test_a_recurring_plan_follows_a_moved_end_date_without_touching_handed_in_work(world, parent):
    officer = world.users["officer"]
    report = factories.plan_line(
        parent, officer, responsible=world.partner_a, recurrence="quarterly", first=date(2026, 3, 31), title="Rapport"
    )
    assert [o.due_on for o in report.occurrences][-1] == date(2026, 12, 31)
    # Shortened: the occurrence due on 31 December is cancelled, but 30 September was handed in and stays.
    handed_in = next(o for o in report.occurrences if o.due_on == date(2026, 9, 30))
    handed_in.status = "submitted"
    handed_in.submissions.append(Submission(number=1, submitted_by_id=world.users["partner"].id))
    db.session.commit()
    shorter = new_amendment(world, parent, {"expires_on": "2026-08-31"})
    [effect] = amendments.plan_effects(shorter)
    assert effect["cancelled"] == ["2026-12-31"] and effect["kept"] == ["2026-09-30"] and effect["added"] == []
    bring_into_force(shorter, world)
    db.session.refresh(report)
    assert [o.due_on for o in report.occurrences] == [date(2026, 3, 31), date(2026, 6, 30), date(2026, 9, 30)]
    assert report.until_on == date(2026, 8, 31)
    # Lengthened: new quarters are added up to the new end.
    longer = new_amendment(world, parent, {"expires_on": "2027-06-30"})
    assert amendments.plan_effects(longer)[0]["added"] == ["2026-12-31", "2027-03-31", "2027-06-30"]
    bring_into_force(longer, world)
    db.session.refresh(report)
    assert [o.due_on for o in report.occurrences][-3:] == [date(2026, 12, 31), date(2027, 3, 31), date(2027, 6, 30)]
    assert (
        db.session.scalar(
            db.select(db.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_id == parent.id, AuditEvent.action == "deliverable_replanned")
        )
        == 2
    )


def test_two_amendments_changing_the_same_term_are_flagged_and_only_one_goes_ahead(world, parent):
    first = new_amendment(world, parent, {"expires_on": "2027-12-31", "title_en": "One"})
    second = new_amendment(world, parent, {"expires_on": "2028-12-31"})
    other = new_amendment(world, parent, {"summary_fr": "Autre chose"})
    assert [(s.id, terms) for s, terms in amendments.overlaps(first)] == [(second.id, ["expires_on"])]
    assert [(s.id, terms) for s, terms in amendments.overlaps(second)] == [(first.id, ["expires_on"])]
    assert amendments.overlaps(other) == []
    take(first, "submit_for_review", world.users["officer"])
    with pytest.raises(TransitionBlocked, match=first.reference):
        take(second, "submit_for_review", world.users["officer"])
    db.session.rollback()
    take(other, "submit_for_review", world.users["officer"])  # a different term goes ahead
    assert second.state == "draft" and other.state == "internal_review"


def test_an_amendment_that_no_longer_fits_its_parent_is_refused_whole(world, parent):
    amendment = new_amendment(world, parent, {"title_en": "Renamed", "expires_on": "2026-11-30"})
    to_signed(amendment, world)
    parent.effective_on = date(2026, 12, 1)  # moved since (say, by hand before the rule existed)
    db.session.commit()
    with pytest.raises(WorkflowError, match="no longer fits"):
        activate(amendment, world)
    db.session.rollback()
    assert parent.title_en != "Renamed" and amendment.state == "signed"


def test_a_signed_amendment_of_an_agreement_ended_since_never_comes_into_force_and_can_be_cancelled(world, parent):
    """The parent was terminated while its amendment waited, signed, for its date: bringing it into force
    is refused (it had set a terminated agreement's end and planned reports on it), and it can be cancelled."""
    amendment = new_amendment(world, parent, {"expires_on": "2027-12-31"})
    to_signed(amendment, world)
    parent.state = "terminated"
    db.session.commit()
    with pytest.raises(WorkflowError, match="has ended"):
        activate(amendment, world)
    db.session.rollback()
    assert parent.expires_on == date(2026, 12, 31) and amendment.state == "signed"
    take(amendment, "cancel", world.users["officer"], comment="The agreement was terminated")
    assert amendment.state == "cancelled"


def test_an_end_moved_before_a_lines_first_date_leaves_it_nothing_due(world, parent):
    """The yearly review is first due on 31 December; an amendment ends the agreement on 30 June: the line
    keeps nothing due (it ended in a 500 before: a line's end before its first date breaks its rule)."""
    officer, last_day = world.users["officer"], date(2026, 12, 31)
    review = factories.plan_line(
        parent, officer, responsible=world.ministry, recurrence="yearly", first=last_day, until=last_day, title="Revue"
    )
    db.session.commit()
    shorter = new_amendment(world, parent, {"expires_on": "2026-06-30"})
    assert amendments.plan_effects(shorter)[0]["cancelled"] == ["2026-12-31"]
    bring_into_force(shorter, world)
    db.session.refresh(review)
    assert review.occurrences == [] and parent.expires_on == date(2026, 6, 30)


def test_a_line_that_ran_to_the_last_period_before_the_end_follows_a_longer_term(world, parent):
    """A quarterly report until 30 December in an agreement ending on 31 December (its last one due on 31
    October) ran to its last period: a longer term carries it on; a line stopping well before does not."""
    officer = world.users["officer"]
    report = factories.plan_line(
        parent,
        officer,
        responsible=world.partner_a,
        recurrence="quarterly",
        first=date(2026, 1, 31),
        until=date(2026, 12, 30),
        title="Rapport trimestriel",
    )
    db.session.commit()
    assert [o.due_on for o in report.occurrences][-1] == date(2026, 10, 31)
    longer = new_amendment(world, parent, {"expires_on": "2027-06-30"})
    assert amendments.plan_effects(longer)[0]["added"] == ["2027-01-31", "2027-04-30"]
    early = factories.plan_line(
        parent,
        officer,
        responsible=world.partner_a,
        recurrence="monthly",
        first=date(2026, 2, 28),
        until=date(2026, 5, 31),  # stops well before the end on purpose: stays as it is
        title="Rapport de lancement",
    )
    db.session.commit()
    assert all(effect["deliverable"] != early.id for effect in amendments.plan_effects(longer))


def test_changes_are_edited_only_on_a_draft_amendment(world, parent):
    amendment = new_amendment(world, parent, {"expires_on": "2027-12-31"})
    take(amendment, "submit_for_review", world.users["officer"])
    with pytest.raises(WorkflowError):
        amendments.set_changes(
            amendment, {"title_en": "Late"}, by=world.users["officer"], expected_version=amendment.version
        )
    with pytest.raises(ValidationFailed):
        amendments.set_changes(parent, {"title_en": "x"}, by=world.users["officer"], expected_version=parent.version)


def test_an_amendment_replaces_the_budget_and_checks_every_line(world, parent, set_rates):
    from decimal import Decimal

    set_rates({"EUR": Decimal("10.80")})  # its 200 EUR reckoned: no minister's office for this budget
    from app.budget.services import lines_of

    budget_line_in_force(world, parent, world.partner_a, "Formation", "1000")
    budget = [
        {
            "organization_id": world.partner_a.id,
            "label": "Formation",
            "amount": "1500.00",
            "currency": "MAD",
            "kind": "cash",
            "year": 2026,
        },
        {
            "organization_id": world.partner_b.id,
            "label": "Cloud",
            "amount": "200",
            "currency": "EUR",
            "kind": "in_kind",
            "year": 2027,
        },
    ]
    # Partner B contributes only if the same amendment makes it a party.
    with pytest.raises(ValidationFailed, match="correct"):
        amendments.clean_changes({"budget_lines": budget}, parent)
    for bad in ({"amount": "-1"}, {"currency": "XYZ"}, {"amount": "1e40"}, {"colour": "red"}):
        with pytest.raises(ValidationFailed):
            amendments.clean_changes({"budget_lines": [{**budget[0], **bad}]}, parent)
    amendment = new_amendment(
        world,
        parent,
        {"budget_lines": budget, "parties": [[world.partner_a.id, "partner"], [world.partner_b.id, "partner"]]},
    )
    [row] = [r for r in amendments.comparison(amendment) if r.name == "budget_lines"]
    assert len(row.current) == 1 and len(row.proposed) == 2
    bring_into_force(amendment, world)
    assert sorted((line.amount, line.currency) for line in lines_of(parent)) == [
        (Decimal("200.00"), "EUR"),
        (Decimal("1500.00"), "MAD"),
    ]
    history = db.session.scalar(
        db.select(AuditEvent).where(
            AuditEvent.object_id == parent.id,
            AuditEvent.action == "amended",
            AuditEvent.changes["term"].as_string() == "budget_lines",
        )
    )
    assert history.changes["before"]["budget_lines"][0]["amount"] == "1000.00"


def test_only_an_editor_says_what_an_amendment_changes(world, parent):
    from app.core.errors import PermissionDenied

    amendment = new_amendment(world, parent)
    for role in ("partner", "legal", "auditor"):
        with pytest.raises(PermissionDenied):
            amendments.set_changes(
                amendment, {"title_en": "x"}, by=world.users[role], expected_version=amendment.version
            )


def test_removing_a_partner_that_still_owes_or_contributes_is_refused(world, parent):
    """Removed, a partner could no longer hand in what it owes (nobody else may) and went on being reminded of an
    agreement it could not open; its budget lines stayed on the signed budget."""
    officer = world.users["officer"]
    from app.agreements.models import AgreementParty

    parent.parties.append(AgreementParty(organization_id=world.partner_b.id, role="partner"))
    db.session.commit()
    factories.plan_line(parent, officer, responsible=world.partner_b, first=date(2026, 6, 30), title="Rapport de B")
    db.session.commit()
    amendment = new_amendment(world, parent)
    only_a = {"parties": [[world.partner_a.id, "partner"]]}
    with pytest.raises(ValidationFailed) as refused:
        amendments.set_changes(amendment, only_a, by=officer, expected_version=amendment.version)
    assert "Rapport de B" in refused.value.field_errors["parties"][0]
    db.session.rollback()
    for occurrence in parent.deliverables[0].occurrences:
        occurrence.status = "waived"
    factories.budget_line(parent, world.partner_b, "500.00", label="Apport de B")
    db.session.commit()
    for asked in (only_a, {**only_a, "budget_lines": None}):  # null is no budget change (the API's)
        with pytest.raises(ValidationFailed) as refused:
            amendments.set_changes(amendment, asked, by=officer, expected_version=amendment.version)
        assert "Budget lines are contributed by" in refused.value.field_errors["parties"][0]
        db.session.rollback()
    amendments.set_changes(amendment, {**only_a, "budget_lines": []}, by=officer, expected_version=amendment.version)
    assert amendment.amendment_changes["parties"] == [[world.partner_a.id, "partner"]]


def test_a_childs_amendment_cannot_take_it_past_its_parents_end_nor_into_the_past(world, parent):
    child = running_child(world, parent, expires_on=date(2026, 6, 30))
    amendment = new_amendment(world, child)
    for end, words in (("2027-06-30", parent.reference), ("2026-03-01", "already past")):
        with pytest.raises(ValidationFailed) as refused:
            amendments.set_changes(
                amendment, {"expires_on": end}, by=world.users["officer"], expected_version=amendment.version
            )
        assert words in refused.value.field_errors["expires_on"][0]
        db.session.rollback()
    amendments.set_changes(
        amendment, {"expires_on": "2026-12-31"}, by=world.users["officer"], expected_version=amendment.version
    )
    assert amendment.amendment_changes == {"expires_on": "2026-12-31"}


def test_an_amendment_of_an_agreement_that_has_ended_can_only_be_cancelled(world, parent):
    """Approved and signed after its parent was terminated, an amendment had gone on to its last step."""
    amendment = new_amendment(world, parent, {"title_en": "Renamed"})
    take(amendment, "submit_for_review", world.users["officer"])
    parent.state = "terminated"
    db.session.commit()
    with pytest.raises(TransitionBlocked) as blocked:
        decide(amendment, world.users["legal"])
    assert parent.reference in str(blocked.value) and "only be cancelled" in str(blocked.value)
    db.session.rollback()
    decide(amendment, world.users["legal"], decision="reject", comment="Le parent est résilié.")
    take(amendment, "cancel", world.users["officer"], comment="Sans objet.")
    assert amendment.state == "cancelled"


def test_a_signed_child_whose_parent_ended_is_cancelled_not_activated(world, parent):
    """Its only move was "activate": refused under a terminated parent, and the tick had activated it anyway."""
    from app.workflow import date_moves

    child = running_child(world, parent, expires_on=date(2026, 12, 31))
    child.state, child.effective_on = "signed", date(2026, 3, 10)
    parent.state = "terminated"
    db.session.commit()
    results = date_moves.run_date_transitions(date(2026, 3, 15))
    db.session.commit()
    assert any(ref == child.reference and outcome.startswith("blocked:") for ref, _move, outcome in results)
    assert child.state == "signed"
    take(child, "cancel", world.users["officer"], comment="Le protocole est résilié.")
    assert child.state == "cancelled"


def test_under_an_ended_parent_only_the_ways_out_are_offered_and_no_approval_waits(world, parent):
    """The page, the board and the API had offered "approve" (refused once taken), and the approver's inbox
    listed it as waiting on them: what is offered and what waits follow the rule the move obeys."""
    from app.core import clock
    from app.workflow import engine
    from app.workflow.inbox import inbox_for

    legal = world.users["legal"]
    amendment = new_amendment(world, parent, {"title_en": "Renamed"})
    take(amendment, "submit_for_review", world.users["officer"])
    assert [item.agreement.id for item in inbox_for(legal, clock.today()).items] == [amendment.id]
    parent.state = "terminated"
    db.session.commit()
    approve = next(o for o in engine.actions_for(amendment, legal) if o.name == "approve_review")
    assert not approve.is_allowed and parent.reference in " ".join(approve.reasons)
    assert inbox_for(legal, clock.today()).items == []
    officer_moves = {o.name: o for o in engine.actions_for(amendment, world.users["officer"])}
    assert all(not o.is_allowed for name, o in officer_moves.items() if name != "cancel")


def test_an_approval_under_a_parent_that_ends_closes_and_stops_reminding(world, parent):
    """Offered nowhere and waiting in no inbox, the round had still been reminded, escalated, listed as
    late on the dashboard and counted "1 more approval needed" on the page."""
    from datetime import timedelta

    from app.core import clock
    from app.notifications.reminders.base import People
    from app.notifications.reminders.rules import approval_candidates

    amendment = new_amendment(world, parent, {"title_en": "Renamed"})
    take(amendment, "submit_for_review", world.users["officer"])
    (round_,) = amendment.approval_rounds
    much_later = clock.today() + timedelta(days=60)
    assert approval_candidates(much_later, People())  # late, reminded
    take(parent, "close", world.users["officer"], comment="Tout est remis")
    assert parent.state == "closed" and round_.status == "cancelled"
    assert approval_candidates(much_later, People()) == []
    take(amendment, "cancel", world.users["officer"], comment="Sans objet.")
    assert amendment.state == "cancelled"


def test_the_ministrys_current_budget_lines_are_named_not_numbered(world, parent):
    """The ministry contributes without being a party: the "Now" column read "MAD 8,000,000.00 — 1, Cash"."""
    budget_line_in_force(world, parent, world.ministry, "Locaux", "8000000")
    changed = [
        {"organization_id": world.partner_a.id, "label": "Locaux", "amount": "9000000.00", "currency": "MAD"}
        | {"kind": "cash", "year": 2026}
    ]
    amendment = new_amendment(world, parent, {"budget_lines": changed})
    [row] = [r for r in amendments.comparison(amendment) if r.name == "budget_lines"]
    assert world.ministry.name in row.current[0] and world.partner_a.name in row.proposed[0]
