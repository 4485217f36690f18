"""A pass reads only the objects someone still lacks a reminder of (reminders/gates.py): what it sends
must be exactly what the full reading finds unsent, day after day, whoever joins on the way."""

from datetime import timedelta

from sqlalchemy import select

from app.auth.models import DeliverableGrant
from app.extensions import db
from app.notifications import reminders
from app.notifications.models import ReminderSent
from app.workflow import engine
from tests import factories
from tests.unit.test_reminder_rules import at, in_review, occurrence, people, plan  # noqa: F401  (fixtures)


def keys(candidates) -> set[tuple]:
    return {candidate.key for candidate in candidates}


def assert_skipping_agrees(moment):
    """The pass's reading (skip_sent) finds what the full reading finds unsent, and counts the rest as sent."""
    everything = reminders.candidates_at(moment)
    assert keys(reminders.preview(moment)) == keys(reminders.unsent(everything))
    return everything


def test_the_skipping_pass_sends_what_the_full_reading_finds_unsent(world, people, occurrence, in_review):  # noqa: F811
    due = occurrence.due_on
    # Another deliverable of the same agreement, missed long ago: overdue weeks and the managers' escalation.
    plan(world.agreement_a, world.users["officer"], world.partner_a, due - timedelta(days=40), "Ancien")
    db.session.commit()
    for offset in (-8, -7, -5, -1, 0, 1, 3, 8, 15):
        moment = at(due + timedelta(days=offset))
        if offset == 1:
            # Newcomers: a partner user, a restricted one without the agreement granted, one with it,
            # a second manager. Each hears of what is due now, though the others already had it.
            factories.user("partner", world.partner_a, email="new@partner-a.example")
            hidden = factories.user("partner", world.partner_a, email="hidden@partner-a.example")
            granted = factories.user("partner", world.partner_a, email="granted@partner-a.example")
            hidden.deliverables_restricted = granted.deliverables_restricted = True
            db.session.add(DeliverableGrant(user_id=granted.id, agreement_id=world.agreement_a.id))
            factories.user("manager", world.ministry, email="head2@ministry.example")
            db.session.commit()
        if offset == 3:
            engine.decide(
                in_review,
                "approve_review",
                by=world.users["legal"],
                decision="approve",
                comment=None,
                expected_version=in_review.version,
            )
            db.session.commit()
        everything = assert_skipping_agrees(moment)
        first = reminders.run_pass(moment)
        assert first.errors == 0
        assert first.created + first.already == len(keys(everything))
        again = reminders.run_pass(moment)
        assert again.created == 0 and again.already == len(keys(everything))
        assert reminders.preview(moment) == []
    # Every kind the gates narrow was met on the way.
    sent = {rule for (rule,) in db.session.execute(select(ReminderSent.rule).distinct())}
    assert {
        "deliverable_due",
        "deliverable_overdue",
        "deliverable_escalated",
        "approval_overdue",
        "approval_escalated",
    } <= sent


def test_a_newcomer_hears_of_an_overdue_deliverable_the_others_were_told_of(world, people, occurrence):  # noqa: F811
    moment = at(occurrence.due_on + timedelta(days=2))
    reminders.run_pass(moment)
    newcomer = factories.user("partner", world.partner_a, email="late-joiner@partner-a.example")
    db.session.commit()
    fresh = reminders.preview(moment)
    assert {(c.rule, c.object_id, c.recipient.id) for c in fresh} == {
        ("deliverable_overdue", occurrence.id, newcomer.id)
    }
    assert reminders.run_pass(moment).created == 1


def test_a_repeat_the_same_day_skips_the_deliverable_rules_until_something_changes(world, people, occurrence):  # noqa: F811
    """A complete pass remembers what the deliverable rules read (reminders/last_pass.py): the same day,
    over the same inputs, the next pass skips them; any change to those inputs (a moved date, a new
    occurrence, an agreement's new owner, a grant) makes the next pass read them all again, and it
    sends exactly what the full reading finds unsent."""
    from tests.bulk import counting_queries

    moment = at(occurrence.due_on + timedelta(days=9))  # overdue for the second week
    first = reminders.run_pass(moment)
    assert first.created > 0 and first.errors == 0
    due = len(keys(reminders.candidates_at(moment)))
    with counting_queries() as statements:
        again = reminders.run_pass(moment)
    assert again.created == 0 and again.already == due
    # Only the fingerprint reads the occurrences; no anti-join asks reminders_sent about them.
    assert not [s for s in statements if "deliverable_occurrences" in s and "reminders_sent" in s]

    restricted = factories.user("partner", world.partner_a, email="restricted@partner-a.example")
    restricted.deliverables_restricted = True
    db.session.commit()
    assert reminders.run_pass(moment).created == 0  # a newcomer who sees none of partner A's deliverables

    changes = [
        lambda: db.session.add(DeliverableGrant(user_id=restricted.id, agreement_id=world.agreement_a.id)),
        lambda: setattr(occurrence, "due_on", occurrence.due_on - timedelta(days=7)),  # a week more overdue
        lambda: plan(world.agreement_a, world.users["officer"], world.partner_a, moment.date() - timedelta(days=3)),
        lambda: setattr(world.agreement_a, "owner_id", world.users["other_officer"].id),
    ]
    for change in changes:
        change()
        db.session.commit()
        expected = keys(reminders.preview(moment))
        assert expected, "the change makes a reminder due"
        made = reminders.run_pass(moment)
        assert made.errors == 0 and made.created == len(expected)
        everything = assert_skipping_agrees(moment)
        with counting_queries() as statements:
            again = reminders.run_pass(moment)
        assert again.created == 0 and again.already == len(keys(everything))
        assert not [s for s in statements if "deliverable_occurrences" in s and "reminders_sent" in s]


def test_a_pass_with_a_failed_reminder_is_not_remembered(world, people, occurrence, monkeypatch):  # noqa: F811
    """The next pass reads everything again when the last one left a reminder unsent."""
    from app.notifications import services as notification_services
    from app.notifications.reminders import last_pass

    moment = at(occurrence.due_on + timedelta(days=2))
    values = notification_services._notification_values

    def failing(recipient, notice):
        if recipient.id == world.users["officer"].id:
            raise RuntimeError("cannot word this reminder")
        return values(recipient, notice)

    monkeypatch.setattr(notification_services, "_notification_values", failing)
    assert reminders.run_pass(moment).errors == 1
    assert last_pass.told_before(last_pass.read_inputs(moment.date())) is None
    monkeypatch.setattr(notification_services, "_notification_values", values)
    assert reminders.run_pass(moment).created == 1  # the officer's, left over
    assert last_pass.told_before(last_pass.read_inputs(moment.date())) is not None
