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
from tests.unit.test_reminder_rules import BASE, at, in_review, occurrence, people, plan  # noqa: F401  (fixtures)


def keys(candidates) -> set[tuple]:
    return {candidate.key for candidate in candidates}


def assert_skipping_agrees(moment):
    """The pass's reading (skip_sent) finds what the full reading finds unsent, and counts the rest as sent."""
    everything = reminders.candidates_at(moment)
    assert keys(reminders.preview(moment)) == keys(reminders.unsent(everything))
    return everything


def assert_each_change_sent_once(moment, changes, rules_read) -> None:
    """After each change, a pass sends exactly what the full reading finds unsent, and the repeat after it
    reads none of the rules' candidates again (`rules_read(statements)` names the ones that would)."""
    from tests.bulk import counting_queries

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
        assert not rules_read(statements)


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
    assert_each_change_sent_once(
        moment,
        changes,
        lambda statements: [s for s in statements if "deliverable_occurrences" in s and "reminders_sent" in s],
    )


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


def test_a_repeat_the_same_day_skips_the_agreement_rules_until_something_changes(world, people, in_review):  # noqa: F811
    """The agreement rules (late approvals, endings, notice deadlines, stalled agreements) are skipped too by
    a repeat over the same inputs (reminders/last_pass.py), and each change of their inputs the same day
    makes the next pass read them again and send exactly what the full reading finds unsent, once."""
    from app.agreements.models import Agreement
    from tests.bulk import counting_queries

    def agreement_rules_read(statements) -> list[str]:
        # approval_candidates' and approval_reminders_sent's anti-joins; stalled_candidates' last rounds
        return [
            s
            for s in statements
            if ("approval_rounds" in s and "reminders_sent" in s) or "max(negotiation_rounds.sent_at)" in s
        ]

    round_ = next(r for r in in_review.approval_rounds if r.status == "open")
    today = reminders.local_date(round_.requested_at) + timedelta(days=11)  # the review is a day late
    moment = at(today)
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Oublié")
    world.agreement_a.expires_on = today + timedelta(days=90)
    db.session.commit()
    first = reminders.run_pass(moment)
    assert first.errors == 0
    assert {"approval_overdue", "agreement_ending", "agreement_stalled"} <= {
        rule for (rule,) in db.session.execute(select(ReminderSent.rule).distinct())
    }
    with counting_queries() as statements:
        again = reminders.run_pass(moment)
    assert again.created == 0 and again.already == len(keys(assert_skipping_agrees(moment)))
    assert not agreement_rules_read(statements)

    def renew_tacitly():
        agreement = db.session.get(Agreement, world.agreement_a.id)
        agreement.renewal_terms, agreement.renewal_months = "tacit", 12
        agreement.notice_period, agreement.notice_unit = 30, "days"  # notice deadline: 30 days ahead

    changes = [
        # a new manager: an approver of the late step, and told of endings
        lambda: factories.user("manager", world.ministry, email="head2@ministry.example"),
        # an amendment brings the end date nearer
        lambda: setattr(world.agreement_a, "expires_on", today + timedelta(days=60)),
        renew_tacitly,
        # the forgotten draft changes hands
        lambda: setattr(draft, "owner_id", world.users["other_officer"].id),
        # the draft goes for review: a second round, late the same way
        lambda: engine.take(
            draft, "submit_for_review", by=world.users["other_officer"], expected_version=draft.version
        ),
    ]
    assert_each_change_sent_once(moment, changes, agreement_rules_read)


def test_the_agreement_rules_fingerprint_sees_every_input_of_a_late_approval(world, in_review):  # noqa: F811
    """Whatever a late approval depends on changes the agreement rules' fingerprint (not the deliverable
    rules'): a step's `when:` reads budget lines and the partners' countries, its approvers are roles and
    earlier decisions."""
    from app.budget.models import BudgetLine
    from app.notifications.reminders import last_pass

    day = BASE + timedelta(days=11)
    round_ = next(r for r in in_review.approval_rounds if r.status == "open")
    budget = {}

    def add_budget():
        budget["line"] = BudgetLine(
            agreement_id=in_review.id,
            organization_id=world.partner_a.id,
            label="Apport",
            amount=10_000_000,
            currency="MAD",
            kind="cash",
        )
        db.session.add(budget["line"])

    changes = {
        "a budget line": add_budget,
        "its amount": lambda: setattr(budget["line"], "amount", 9_999_999),
        "its currency": lambda: setattr(budget["line"], "currency", "EUR"),
        "a partner's country": lambda: setattr(world.partner_a, "country", "FR"),
        "an account's role": lambda: setattr(world.users["auditor"], "role", "legal"),
        "a decision": lambda: engine.decide(
            in_review,
            "approve_review",
            by=world.users["legal"],
            decision="approve",
            comment=None,
            expected_version=in_review.version,
        ),
        "a round closed": lambda: setattr(round_, "status", "cancelled"),
    }
    before = last_pass.read_inputs(day)
    db.session.rollback()
    for name, change in changes.items():
        change()
        db.session.commit()
        after = last_pass.read_inputs(day)
        assert after.agreements != before.agreements, name
        if name not in ("a partner's country", "an account's role"):
            assert after.fingerprint == before.fingerprint, name
        before = after
        db.session.rollback()


def test_a_round_escalated_to_an_approver_who_is_a_manager_is_not_read_once_everyone_is_told(world, in_review):  # noqa: F811
    """The manager approves the late step and gets its escalation, not its overdue reminder too (rules.
    late_approvers_told): the database does not count them as lacking that reminder, so a pass the next
    day reads no round, and counts what was sent as sent."""
    from app.notifications.reminders.base import People

    round_ = next(r for r in in_review.approval_rounds if r.status == "open")
    asked_on = reminders.local_date(round_.requested_at)
    assert reminders.run_pass(at(asked_on + timedelta(days=24))).errors == 0
    moment = at(asked_on + timedelta(days=25))
    assert reminders.approval_candidates(reminders.local_date(moment), People(), skip_sent=True) == []
    again = reminders.run_pass(moment)
    assert again.created == 0 and again.already == len(keys(assert_skipping_agrees(moment)))
