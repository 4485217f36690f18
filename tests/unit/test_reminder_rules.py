"""Reminder rules and event notices without SMTP: who is told what, on which day, exactly once.

Every moment is an aware datetime in Casablanca, some days after today: the data
is written now (real time), and the rules look at it from the simulated future.
"""

from datetime import date, datetime, time, timedelta, timezone
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from flask import current_app
from sqlalchemy import func, select

from app.auth.models import User
from app.core import clock
from app.deliverables import services as deliverable_services
from app.deliverables.models import Occurrence
from app.extensions import db
from app.notifications import reminders, services
from app.notifications.models import CATEGORIES, Notification, OutboxMessage, ReminderSent
from app.workflow import engine
from app.workflow.definitions import DefinitionError, parse_definition
from tests import factories

CASA = clock.zone_named("Africa/Casablanca")  # the app's own zone data (tzdata), not the system's
BASE = datetime.now(CASA).date()
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=CASA)


def plan(agreement, by, responsible, due_on: date, title: str = "Rapport"):
    return factories.plan_line(agreement, by, responsible=responsible, first=due_on, title=title).occurrences[0]


def about(candidates, object_type: str, object_id: int) -> set[tuple[str, str, str]]:
    """(rule, occurrence key, e-mail) of the candidates about one object."""
    return {
        (c.rule, c.occurrence_key, c.recipient.email)
        for c in candidates
        if c.notice.object_type == object_type and c.notice.object_id == object_id
    }


def recorded(object_type: str, object_id: int) -> set[tuple[str, str, int]]:
    return set(
        db.session.execute(
            select(ReminderSent.rule, ReminderSent.occurrence_key, ReminderSent.recipient_id).where(
                ReminderSent.object_type == object_type, ReminderSent.object_id == object_id
            )
        ).all()
    )


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def notices_of(user, kind: str | None = None) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user.id)
    if kind:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query.order_by(Notification.id)))


def mails_to(user, kind: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.recipient_id == user.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    mails = list(db.session.scalars(query.order_by(OutboxMessage.id)))
    for mail in mails:
        # A pass leaves the bodies to the sender, which writes them from the stored notice just before
        # sending (app/notifications/outbox.py): write them the same way to read them here.
        if mail.body_text is None:
            assert mail.notice is not None and mail.subject
            mail.body_text, mail.body_html = services.bodies_of(mail)
    return mails


@pytest.fixture
def people(world):
    """The people of partner A: two active partner users, one switched off."""
    colleague = factories.user("partner", world.partner_a, email="colleague@partner-a.example")
    gone = factories.user("partner", world.partner_a, email="gone@partner-a.example")
    gone.is_active_account = False
    db.session.commit()
    return {
        "partner": world.users["partner"],
        "colleague": colleague,
        "gone": gone,
        "owner": world.users["officer"],
        "manager": world.users["manager"],
    }


@pytest.fixture
def occurrence(world, people):
    """Partner A owes a report 30 days from now; partner B owes one the same day (another officer's agreement)."""
    world.agreement_b.owner_id = world.users["other_officer"].id
    due_on = BASE + timedelta(days=30)
    mine = plan(world.agreement_a, world.users["officer"], world.partner_a, due_on, "Rapport A")
    plan(world.agreement_b, world.users["manager"], world.partner_b, due_on, "Rapport B")
    db.session.commit()
    return mine


# --- deliverables --------------------------------------------------------------------------


def test_a_daily_pass_reminds_on_the_right_days_the_right_people(world, people, occurrence):
    due = occurrence.due_on
    told = {people[name].email for name in ("partner", "colleague", "owner")}
    created = {}
    for offset in range(-8, 17):
        before = recorded("deliverable_occurrences", occurrence.id)
        reminders.run_pass(at(due + timedelta(days=offset)))
        new = recorded("deliverable_occurrences", occurrence.id) - before
        if new:
            created[offset] = new
    emails = {user.id: user.email for user in db.session.scalars(select(User))}

    def expect(rule, key, addresses):
        return {(rule, key, address) for address in addresses}

    assert {offset: {(rule, key, emails[who]) for rule, key, who in rows} for offset, rows in created.items()} == {
        -7: expect("deliverable_due", f"{due}:7d", told),
        -1: expect("deliverable_due", f"{due}:1d", told),
        1: expect("deliverable_overdue", f"{due}:w0", told),
        8: expect("deliverable_overdue", f"{due}:w1", told),
        15: expect("deliverable_overdue", f"{due}:w2", told)
        | expect("deliverable_escalated", f"{due}:escalated", {people["manager"].email}),
    }
    # One notice (and one e-mail) per reminder and person; none about this report for partner B or the
    # switched-off user.
    assert len(notices_of(people["partner"], "deliverable_due")) == 2
    assert len(notices_of(people["partner"], "deliverable_overdue")) == 3
    assert [
        n.params["days"] for n in notices_of(people["owner"], "deliverable_overdue") if n.object_id == occurrence.id
    ] == [1, 8, 15]
    assert len(mails_to(people["colleague"], "deliverable_overdue")) == 3
    assert notices_of(people["manager"], "deliverable_escalated")[0].params["days"] == 15
    assert not notices_of(people["manager"], "deliverable_due")
    assert all(n.object_id != occurrence.id for n in notices_of(world.users["partner_b"]))
    assert not notices_of(people["gone"]) and not mails_to(people["gone"])
    partner_b_occurrence = db.session.scalar(select(Occurrence.id).where(Occurrence.id != occurrence.id))
    assert {rule for rule, _key, _who in recorded("deliverable_occurrences", partner_b_occurrence)} == {
        "deliverable_due",
        "deliverable_overdue",
        "deliverable_escalated",
    }
    assert {who for _rule, _key, who in recorded("deliverable_occurrences", partner_b_occurrence)} == {
        world.users["partner_b"].id,
        world.users["other_officer"].id,
        world.users["manager"].id,
    }


def test_exact_thresholds_of_the_candidates(world, people, occurrence):
    due = occurrence.due_on
    told = {people[name].email for name in ("partner", "colleague", "owner")}

    def rows(day):
        return about(reminders.candidates_at(at(day)), "deliverable_occurrences", occurrence.id)

    assert rows(due - timedelta(days=8)) == set()
    assert rows(due - timedelta(days=7)) == {("deliverable_due", f"{due}:7d", e) for e in told}
    # Five days left: still the seven-day reminder (a pass after downtime catches up, once).
    assert rows(due - timedelta(days=5)) == {("deliverable_due", f"{due}:7d", e) for e in told}
    assert rows(due - timedelta(days=1)) == {("deliverable_due", f"{due}:1d", e) for e in told}
    assert rows(due + timedelta(days=7)) == {("deliverable_overdue", f"{due}:w0", e) for e in told}
    assert rows(due + timedelta(days=14)) == {("deliverable_overdue", f"{due}:w1", e) for e in told}
    # The day turns at midnight in Casablanca, whatever zone the moment is given in.
    late = at(due - timedelta(days=8), 23, 59).astimezone(ZoneInfo("UTC"))
    early = at(due - timedelta(days=7), 0, 1).astimezone(ZoneInfo("UTC"))
    assert about(reminders.candidates_at(late), "deliverable_occurrences", occurrence.id) == set()
    assert {r for r, _k, _e in about(reminders.candidates_at(early), "deliverable_occurrences", occurrence.id)} == {
        "deliverable_due"
    }


def test_a_pass_run_twice_creates_nothing_new(world, people, occurrence):
    moment = at(occurrence.due_on - timedelta(days=7))
    first = reminders.run_pass(moment)
    counts = (count(Notification), count(OutboxMessage), count(ReminderSent))
    second = reminders.run_pass(moment)
    assert first.created >= 3 and first.errors == 0
    assert second.created == 0 and second.already == first.created + first.already
    assert (count(Notification), count(OutboxMessage), count(ReminderSent)) == counts
    assert reminders.preview(moment) == []


def test_nothing_is_owed_when_handed_in_settled_or_the_agreement_not_active(world, people, occurrence):
    for change in ("submitted", "accepted", "waived", "suspended", "draft"):
        world.agreement_a.state, occurrence.status = "active", "pending"
        if change in ("suspended", "draft"):
            world.agreement_a.state = change
        else:
            occurrence.status = change
        db.session.commit()
        for offset in (-7, 1, 15):
            assert (
                about(
                    reminders.candidates_at(at(occurrence.due_on + timedelta(days=offset))),
                    "deliverable_occurrences",
                    occurrence.id,
                )
                == set()
            ), change
    occurrence.status = "pending"
    world.agreement_a.state = "active"
    db.session.commit()
    assert about(
        reminders.candidates_at(at(occurrence.due_on + timedelta(days=1))), "deliverable_occurrences", occurrence.id
    )  # the same checks can see a reminder when one is owed


def test_a_sent_back_deliverable_is_still_reminded(world, people, occurrence):
    occurrence.status = "sent_back"
    db.session.commit()
    rows = about(
        reminders.candidates_at(at(occurrence.due_on + timedelta(days=1))), "deliverable_occurrences", occurrence.id
    )
    assert {rule for rule, _k, _e in rows} == {"deliverable_overdue"} and len(rows) == 3


# --- agreements ending -----------------------------------------------------------------------


def test_ending_reminders_at_90_60_30_days_and_a_new_end_date_rearms_them(world, people):
    agreement = world.agreement_a
    ends = BASE + timedelta(days=200)
    agreement.expires_on = ends
    db.session.commit()
    told = {people["owner"].email, people["manager"].email}

    def new_on(day):
        before = recorded("agreements", agreement.id)
        reminders.run_pass(at(day))
        return {(rule, key) for rule, key, _who in recorded("agreements", agreement.id) - before}, len(
            recorded("agreements", agreement.id) - before
        )

    assert new_on(ends - timedelta(days=91)) == (set(), 0)
    assert new_on(ends - timedelta(days=90)) == ({("agreement_ending", f"{ends}:90d")}, 2)
    assert new_on(ends - timedelta(days=89)) == (set(), 0)
    assert new_on(ends - timedelta(days=75)) == (set(), 0)
    assert new_on(ends - timedelta(days=60)) == ({("agreement_ending", f"{ends}:60d")}, 2)
    assert new_on(ends - timedelta(days=30)) == ({("agreement_ending", f"{ends}:30d")}, 2)
    assert new_on(ends - timedelta(days=1)) == (set(), 0)
    assert {n.params["days"] for n in notices_of(people["owner"], "agreement_ending")} == {90, 60, 30}
    assert {
        m.to_address for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "agreement_ending"))
    } == told
    # An amendment moves the end date: the reminders start again for the new date.
    later = ends + timedelta(days=40)
    agreement.expires_on = later
    db.session.commit()
    assert new_on(ends - timedelta(days=1)) == ({("agreement_ending", f"{later}:60d")}, 2)


def test_an_ending_after_a_notice_of_non_renewal_asks_to_prepare_it_not_to_decide(world, people):
    """Notice given, the 90-day reminder still said "decide whether to renew it"."""
    from app.notifications.messages import detail

    agreement = world.agreement_a
    ends = BASE + timedelta(days=200)
    agreement.expires_on, agreement.non_renewal_on = ends, BASE
    db.session.commit()
    reminders.run_pass(at(ends - timedelta(days=90)))
    (notice,) = notices_of(people["owner"], "agreement_ending")
    assert notice.params["non_renewal_on"] == BASE.isoformat()
    written = detail(notice.kind, notice.params)
    assert "notice of non-renewal was given" in written and "Decide whether" not in written


def test_ending_reminders_only_for_agreements_in_force(world, people):
    agreement = world.agreement_a
    agreement.expires_on = BASE + timedelta(days=100)
    told = {("agreement_ending", people["owner"].email), ("agreement_ending", people["manager"].email)}
    for state, reminded in (
        ("active", True),
        ("signed", True),
        ("suspended", True),
        ("draft", False),
        ("expired", False),
        ("terminated", False),
    ):
        agreement.state = state
        db.session.commit()
        rows = about(reminders.candidates_at(at(BASE + timedelta(days=10))), "agreements", agreement.id)
        endings = {(rule, email) for rule, _key, email in rows if rule == "agreement_ending"}
        assert endings == (told if reminded else set()), state


# --- approvals past their deadline -------------------------------------------------------------


@pytest.fixture
def in_review(world):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="En revue")
    db.session.commit()
    engine.take(agreement, "submit_for_review", by=world.users["officer"], expected_version=agreement.version)
    db.session.commit()
    return agreement


def _round_of(agreement):
    return next(r for r in agreement.approval_rounds if r.status == "open")


def test_an_approval_past_its_sla_reminds_the_approvers_then_the_managers(world, in_review):
    round_ = _round_of(in_review)
    legal, manager = world.users["legal"], world.users["manager"]
    asked_on = reminders.local_date(round_.requested_at)

    def rows(days):
        return about(reminders.candidates_at(at(asked_on + timedelta(days=days))), "approval_rounds", round_.id)

    assert rows(10) == set()  # internal_review's sla_days is 10: on day 10 it is not late yet
    assert rows(11) == {
        ("approval_overdue", "legal_and_head:sla", legal.email),
        ("approval_overdue", "legal_and_head:sla", manager.email),
    }
    assert rows(20) == rows(11)
    # Escalated: the manager, an approver too, is due the escalation instead (one message per pass).
    assert rows(21) == {
        ("approval_overdue", "legal_and_head:sla", legal.email),
        ("approval_escalated", "legal_and_head:sla2", manager.email),
    }
    reminders.run_pass(at(asked_on + timedelta(days=11)))
    assert {
        n.user_id for n in db.session.scalars(select(Notification).where(Notification.kind == "approval_overdue"))
    } == {legal.id, manager.id}
    notice = notices_of(legal, "approval_overdue")[0]
    assert notice.params["sla"] == 10 and notice.params["days"] == 11
    assert not notices_of(world.users["officer"], "approval_overdue")  # the owner asked; approvers are late
    assert not notices_of(world.users["admin"], "approval_overdue")
    # Legal approves: only the manager is still waited for.
    engine.decide(
        in_review, "approve_review", by=legal, decision="approve", comment=None, expected_version=in_review.version
    )
    db.session.commit()
    assert {email for rule, _k, email in rows(12) if rule == "approval_overdue"} == {manager.email}


def test_escalation_of_an_approval_goes_to_managers_only(world, in_review):
    second = factories.user("manager", world.ministry, email="head2@ministry.example")
    db.session.commit()
    round_ = _round_of(in_review)
    asked_on = reminders.local_date(round_.requested_at)
    escalated = {
        email
        for rule, _k, email in about(
            reminders.candidates_at(at(asked_on + timedelta(days=21))), "approval_rounds", round_.id
        )
        if rule == "approval_escalated"
    }
    assert escalated == {world.users["manager"].email, second.email}


def test_a_pass_catching_up_on_an_escalated_approval_tells_an_approver_who_is_a_manager_once(world, in_review):
    """The manager both approves the step and receives escalations. A pass after the scheduler was down past
    the escalation (day 24, none since day 10) sent them the escalation and the overdue reminder, word for word
    alike; they get the escalation alone, and no later pass sends them the other."""
    round_ = _round_of(in_review)
    legal, manager = world.users["legal"], world.users["manager"]
    asked_on = reminders.local_date(round_.requested_at)
    late = ("approval_overdue", "approval_escalated")
    about_round = (Notification.object_id == round_.id, Notification.kind.in_(late))

    for day in (24, 25):
        reminders.run_pass(at(asked_on + timedelta(days=day)))
        assert {row for row in recorded("approval_rounds", round_.id) if row[0] in late} == {
            ("approval_overdue", "legal_and_head:sla", legal.id),
            ("approval_escalated", "legal_and_head:sla2", manager.id),
        }
        told = db.session.execute(select(Notification.user_id, Notification.kind).where(*about_round)).all()
        assert sorted(told) == sorted([(legal.id, "approval_overdue"), (manager.id, "approval_escalated")])
        assert [m.kind for m in mails_to(manager) if m.object_id == round_.id and m.kind in late] == [
            "approval_escalated"
        ]
        assert reminders.preview(at(asked_on + timedelta(days=day))) == []


def test_an_approver_who_is_a_manager_told_of_the_overdue_approval_hears_of_its_escalation_later(world, in_review):
    round_ = _round_of(in_review)
    manager = world.users["manager"]
    asked_on = reminders.local_date(round_.requested_at)
    for day in (11, 21):
        reminders.run_pass(at(asked_on + timedelta(days=day)))
    assert [n.kind for n in notices_of(manager) if n.object_id == round_.id and n.kind != "approval_requested"] == [
        "approval_overdue",
        "approval_escalated",
    ]


def test_a_closed_approval_round_is_not_reminded(world, in_review):
    round_ = _round_of(in_review)
    for person in ("legal", "manager"):
        engine.decide(
            in_review,
            "approve_review",
            by=world.users[person],
            decision="approve",
            comment=None,
            expected_version=in_review.version,
        )
        db.session.commit()
    assert in_review.state == "negotiation"
    assert about(reminders.candidates_at(at(BASE + timedelta(days=25))), "approval_rounds", round_.id) == set()


# --- stalled agreements ---------------------------------------------------------------------


def test_a_draft_idle_for_more_than_7_days_reminds_its_owner(world):
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Oublié")
    db.session.commit()

    created_on = reminders.local_date(draft.state_entered_at)

    def rows(days):
        return about(reminders.candidates_at(at(created_on + timedelta(days=days))), "agreements", draft.id)

    assert rows(7) == set()
    assert rows(8) == {("agreement_stalled", f"draft:{created_on}:1", world.users["officer"].email)}
    reminders.run_pass(at(created_on + timedelta(days=8)))
    reminders.run_pass(at(created_on + timedelta(days=9)))
    notices = notices_of(world.users["officer"], "agreement_stalled")
    assert len(notices) == 1 and notices[0].params["sla"] == 7 and notices[0].params["days"] == 8
    assert not notices_of(world.users["manager"], "agreement_stalled")
    # A state waiting for approvals is covered by the approval rule, not this one.
    engine.take(draft, "submit_for_review", by=world.users["officer"], expected_version=draft.version)
    db.session.commit()
    assert rows(30) == set()


def test_negotiation_is_stalled_after_30_days_of_no_activity(world):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], state="negotiation")
    db.session.commit()
    owner = world.users["officer"].email
    since = reminders.local_date(max(agreement.state_entered_at, agreement.updated_at))
    assert about(reminders.candidates_at(at(since + timedelta(days=30))), "agreements", agreement.id) == set()
    assert about(reminders.candidates_at(at(since + timedelta(days=31))), "agreements", agreement.id) == {
        ("agreement_stalled", f"negotiation:{since}:1", owner)
    }


# --- the weekly digest ------------------------------------------------------------------------


def _next_monday(after: date) -> date:
    return after + timedelta(days=7 - after.weekday())


def test_the_digest_leaves_from_monday_8_casablanca_once_a_week_to_managers(world, people):
    second = factories.user("manager", world.ministry, email="head2@ministry.example")
    db.session.commit()
    monday = _next_monday(BASE + timedelta(days=7))
    managers = {people["manager"].email, second.email}

    def digests(moment):
        return {
            (c.occurrence_key, c.recipient.email) for c in reminders.candidates_at(moment) if c.rule == "weekly_digest"
        }

    def week(day):
        year, number, _ = day.isocalendar()
        return f"{year}-W{number:02d}"

    assert digests(at(monday, 7, 59)) == set()
    assert digests(at(monday, 8, 0)) == {(week(monday), email) for email in managers}
    # Sunday night belongs to the week before; its digest is the previous week's.
    assert {key for key, _e in digests(at(monday - timedelta(days=1), 23, 0))} == {week(monday - timedelta(days=1))}

    reminders.run_pass(at(monday, 7, 59))
    assert count(Notification, Notification.kind == "weekly_digest") == 0
    wednesday = monday + timedelta(days=2)
    reminders.run_pass(at(wednesday, 10))  # Monday's pass was missed: Wednesday sends it
    assert {
        n.user_id for n in db.session.scalars(select(Notification).where(Notification.kind == "weekly_digest"))
    } == {people["manager"].id, second.id}
    reminders.run_pass(at(wednesday, 11))
    reminders.run_pass(at(monday + timedelta(days=6), 23, 59))
    assert count(Notification, Notification.kind == "weekly_digest") == 2
    reminders.run_pass(at(monday + timedelta(days=7), 8))
    assert count(Notification, Notification.kind == "weekly_digest") == 4
    mails = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "weekly_digest")))
    assert {m.to_address for m in mails} == managers
    assert all(m.subject.startswith("Sharaka weekly digest") for m in mails)


def test_the_digest_counts_what_waits(world, people, occurrence):
    monday = _next_monday(occurrence.due_on)
    candidate = next(c for c in reminders.candidates_at(at(monday, 8)) if c.rule == "weekly_digest")
    assert candidate.notice.params["overdue_count"] == 2  # partner A's and partner B's reports
    assert {row["reference"] for row in candidate.notice.extra["overdue"]} == {
        world.agreement_a.reference,
        world.agreement_b.reference,
    }


def test_the_digest_lists_hand_ins_waiting_for_review_longest_first(world, people, occurrence):
    """Hand-ins the ministry has not reviewed are reminded to nobody else: two had sat "handed in" for months."""
    from app.deliverables.models import Occurrence, Submission

    handed_in = clock.utcnow()
    occurrence.status = "submitted"
    occurrence.submissions.append(Submission(number=1, submitted_at=handed_in - timedelta(days=1)))
    other = db.session.scalars(select(Occurrence).where(Occurrence.id != occurrence.id)).first()
    other.status = "submitted"
    other.submissions.append(Submission(number=1, submitted_at=handed_in - timedelta(days=9)))
    db.session.commit()
    monday = _next_monday(occurrence.due_on)
    candidate = next(c for c in reminders.candidates_at(at(monday, 8)) if c.rule == "weekly_digest")
    extra = candidate.notice.extra
    assert extra["review_total"] == 2
    assert [row["reference"] for row in extra["review"]] == [world.agreement_b.reference, world.agreement_a.reference]
    reminders.run_pass(at(monday, 8))
    mail = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == "weekly_digest", OutboxMessage.recipient_id == people["manager"].id
        )
    ).first()
    text, html = services.bodies_of(mail)
    for body in (text, html):
        assert "Hand-ins waiting for review (2)" in body and "Rapport B" in body


def test_the_digest_lists_its_first_rows_and_counts_the_rest(world, people, occurrence, monkeypatch):
    """A government's digest has thousands overdue: each manager's message keeps the rows it shows and the
    totals, never every row, and says how many more wait in Sharaka."""
    from app.notifications.reminders import rules

    monday = _next_monday(occurrence.due_on)
    monkeypatch.setattr(rules, "DIGEST_ROWS", 1)
    candidate = next(c for c in reminders.candidates_at(at(monday, 8)) if c.rule == "weekly_digest")
    extra = candidate.notice.extra
    assert len(extra["overdue"]) == 1 and extra["overdue_total"] == 2
    assert candidate.notice.params["overdue_count"] == 2
    reminders.run_pass(at(monday, 8))
    mail = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == "weekly_digest", OutboxMessage.recipient_id == people["manager"].id
        )
    ).one()
    assert len(mail.notice["extra"]["overdue"]) == 1
    text, html = services.bodies_of(mail)
    for body in (text, html):
        assert "Overdue deliverables (2)" in body and "and 1 more" in body


def test_the_digest_writes_its_counts_as_its_headings_do(app):
    """ "6,548 overdue deliverables" in the sentence under the headline, as the heading writes "(6,548)":
    the reader's digit grouping, the plural still chosen by the number."""
    from flask_babel import force_locale, format_number

    from app.notifications import messages

    counts = {"approvals_count": 608, "overdue_count": 6548, "ending_count": 1}
    with app.test_request_context():
        with force_locale("en"):
            assert messages.detail("weekly_digest", counts) == (
                "608 approvals waiting, 6,548 overdue deliverables, 1 agreement ending within 90 days."
            )
        with force_locale("fr"):
            assert f"{format_number(6548)}\u00a0livrables en retard" in messages.detail("weekly_digest", counts)
            assert "0\u00a0approbation en attente" in messages.detail("weekly_digest", {})


# --- the `reminders:` section of a definition ---------------------------------------------------


def _body_with(reminder_section):
    original = current_app.extensions["sharaka.workflows"]["mou"]
    return {**original.body, "reminders": reminder_section}


def test_the_reminders_section_sets_the_thresholds(world, people):
    definitions = current_app.extensions["sharaka.workflows"]
    original = definitions["mou"]
    custom = parse_definition(
        _body_with(
            {
                "deliverable_due_days": [3, 10, 3],
                "deliverable_overdue_every_days": 2,
                "deliverable_escalate_after_days": 3,
                "ending_days": [45],
                "stalled": False,
            }
        )
    )
    assert custom.reminders.deliverable_due_days == (10, 3)
    definitions["mou"] = custom
    try:
        agreement = factories.agreement(
            by=world.users["officer"],
            partners=[world.partner_a],
            state="active",
            title_fr="Règles maison",
            expires_on=BASE + timedelta(days=120),
        )
        stalled = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Brouillon")
        db.session.commit()
    finally:
        definitions["mou"] = original
    # The agreement keeps the rules it was created under, even once the definition changed again.
    due = BASE + timedelta(days=40)
    occurrence = plan(agreement, world.users["officer"], world.partner_a, due)
    db.session.commit()
    told = {people[name].email for name in ("partner", "colleague", "owner")}

    def rows(day, object_type="deliverable_occurrences", object_id=occurrence.id):
        return about(reminders.candidates_at(at(day)), object_type, object_id)

    assert rows(due - timedelta(days=11)) == set()
    assert rows(due - timedelta(days=10)) == {("deliverable_due", f"{due}:10d", e) for e in told}
    assert rows(due - timedelta(days=7)) == {("deliverable_due", f"{due}:10d", e) for e in told}
    assert rows(due - timedelta(days=3)) == {("deliverable_due", f"{due}:3d", e) for e in told}
    assert rows(due - timedelta(days=1)) == {("deliverable_due", f"{due}:3d", e) for e in told}
    assert {(r, k) for r, k, _e in rows(due + timedelta(days=2))} == {("deliverable_overdue", f"{due}:w0")}
    assert {(r, k) for r, k, _e in rows(due + timedelta(days=3))} == {("deliverable_overdue", f"{due}:w1")}
    assert {(r, k) for r, k, _e in rows(due + timedelta(days=4))} == {
        ("deliverable_overdue", f"{due}:w1"),
        ("deliverable_escalated", f"{due}:escalated"),
    }
    ends = agreement.expires_on
    assert rows(ends - timedelta(days=90), "agreements", agreement.id) == set()
    assert {(r, k) for r, k, _e in rows(ends - timedelta(days=45), "agreements", agreement.id)} == {
        ("agreement_ending", f"{ends}:45d")
    }
    assert rows(BASE + timedelta(days=60), "agreements", stalled.id) == set()  # stalled: false


@pytest.mark.parametrize(
    "section, message",
    [
        ({"deliverable_due_days": 7}, "deliverable_due_days must be a list of whole numbers"),
        ({"deliverable_due_days": [7, -1]}, "deliverable_due_days must be a list of whole numbers"),
        ({"deliverable_due_days": [True]}, "deliverable_due_days must be a list of whole numbers"),
        ({"ending_days": [90, "60"]}, "ending_days must be a list of whole numbers"),
        ({"ending_days": [4000]}, "ending_days must be a list of whole numbers"),
        ({"deliverable_overdue_every_days": 0}, "deliverable_overdue_every_days must be a whole number"),
        ({"deliverable_escalate_after_days": 2.5}, "deliverable_escalate_after_days must be a whole number"),
        ({"approval_escalate_after_slas": True}, "approval_escalate_after_slas must be a whole number"),
        ({"stalled": "yes"}, "stalled must be true or false"),
        ({"every_hour": 1}, "unknown keys every_hour"),
        ([7, 1], "reminders: must be a mapping"),
    ],
)
def test_bad_reminder_sections_are_reported(app, section, message):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(_body_with(section), "mou.yaml")
    assert any(file == "mou.yaml" and message in problem for file, problem in caught.value.problems), (
        caught.value.problems
    )


# --- mail choices, languages and links -------------------------------------------------------


def test_an_optional_category_switched_off_gives_a_notice_but_no_mail(world, people, occurrence):
    partner = people["partner"]
    services.set_mail_choices(partner, set(CATEGORIES) - {"deliverable_due"})
    db.session.commit()
    reminders.run_pass(at(occurrence.due_on - timedelta(days=7)))
    assert len(notices_of(partner, "deliverable_due")) == 1
    assert mails_to(partner, "deliverable_due") == []
    assert len(mails_to(people["colleague"], "deliverable_due")) == 1
    assert len(mails_to(people["owner"], "deliverable_due")) == 1


def test_a_mandatory_category_mails_even_when_everything_is_switched_off(world, people, occurrence):
    partner = people["partner"]
    services.set_mail_choices(partner, set())
    # A hand-made opt-out of a mandatory category (not possible through the page) changes nothing either.
    db.session.add(services.MailOptOut(user_id=partner.id, category="deliverable_overdue"))
    db.session.commit()
    assert services.switched_off(partner) >= {"deliverable_due", "deliverable_overdue"}
    reminders.run_pass(at(occurrence.due_on - timedelta(days=7)))
    reminders.run_pass(at(occurrence.due_on + timedelta(days=1)))
    assert mails_to(partner, "deliverable_due") == []
    assert len(mails_to(partner, "deliverable_overdue")) == 1
    assert len(notices_of(partner)) == 2


def test_mail_is_written_in_each_recipients_language_with_links_from_base_url(world, people, occurrence):
    people["partner"].language = "ar"
    people["colleague"].language = "en"
    people["owner"].language = "fr"
    db.session.commit()
    reminders.run_pass(at(occurrence.due_on - timedelta(days=7)))
    base = current_app.config["BASE_URL"]
    assert base == "http://sharaka.test"
    link = f"{base}/deliverables/{occurrence.id}"
    arabic = mails_to(people["partner"], "deliverable_due")[0]
    assert arabic.language == "ar"
    assert 'lang="ar"' in arabic.body_html and 'dir="rtl"' in arabic.body_html
    french = mails_to(people["owner"], "deliverable_due")[0]
    assert french.language == "fr" and 'lang="fr"' in french.body_html and 'dir="ltr"' in french.body_html
    english = mails_to(people["colleague"], "deliverable_due")[0]
    assert english.language == "en" and 'lang="en"' in english.body_html
    assert english.subject == f"Due in 7 days: Rapport A ({world.agreement_a.reference})"
    for message in (arabic, french, english):
        assert f'href="{link}"' in message.body_html and link in message.body_text
        assert all(href.startswith(base + "/") for href in _hrefs(message.body_html))
        assert message.message_id.startswith("<") and message.message_id.endswith(">")
        assert message.status == "pending" and message.attempts == 0
    assert len({m.message_id for m in (arabic, french, english)}) == 3


def _hrefs(html: str) -> list[str]:
    import re

    return re.findall(r'href="([^"]+)"', html)


# --- notices caused by people, through the pages ----------------------------------------------


def act(client, agreement, name, **kwargs):
    db.session.refresh(agreement)
    page = f"/agreements/{agreement.id}"
    data = {"version": str(agreement.version), **kwargs.pop("data", {})}
    return client.post(f"/agreements/{agreement.id}/actions/{name}", data=data, csrf_from=page, **kwargs)


def test_submitting_for_review_asks_the_approvers_and_not_the_requester(world, signed_in):
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="À revoir")
    db.session.commit()
    assert act(signed_in("officer"), draft, "submit_for_review").status_code == 303
    asked = list(db.session.scalars(select(Notification).where(Notification.kind == "approval_requested")))
    assert {n.user_id for n in asked} == {world.users["legal"].id, world.users["manager"].id}
    assert all(n.link == f"/agreements/{draft.id}" for n in asked)
    assert {
        m.to_address
        for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "approval_requested"))
    } == {world.users["legal"].email, world.users["manager"].email}
    assert not notices_of(world.users["officer"])  # the owner moved it: nothing to tell them
    # The legal adviser approves: the owner hears of it; nobody is asked twice.
    assert act(signed_in("legal"), draft, "approve_review", data={"decision": "approve"}).status_code == 303
    assert [n.kind for n in notices_of(world.users["officer"])] == ["approval_decided"]
    assert count(Notification, Notification.kind == "approval_requested") == 2
    # The head of department's approval closes the round and moves it: one message says both (it had been
    # "approved by" and "now at the stage" in the same second).
    assert act(signed_in("manager"), draft, "approve_review", data={"decision": "approve"}).status_code == 303
    told = notices_of(world.users["officer"])
    assert [n.kind for n in told] == ["approval_decided", "agreement_moved"]
    assert told[-1].params["decision"] == "approve"
    mails = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_address == world.users["officer"].email).order_by(OutboxMessage.id)
    ).all()
    assert [m.kind for m in mails] == ["approval_decided", "agreement_moved"]
    assert f"approved by {world.users['manager'].full_name}: now at the stage" in mails[-1].subject


def test_a_sequential_chain_asks_the_next_step_after_an_approval(world):
    convention = factories.agreement(by=world.users["officer"], partners=[world.partner_a], type="convention")
    db.session.commit()
    engine.take(convention, "submit_for_review", by=world.users["officer"], expected_version=convention.version)
    db.session.commit()

    def asked():
        return [
            (n.user_id, n.params["reference"])
            for n in db.session.scalars(
                select(Notification).where(Notification.kind == "approval_requested").order_by(Notification.id)
            )
        ]

    def approve(role):
        engine.decide(
            convention,
            "approve_review",
            by=world.users[role],
            decision="approve",
            comment="ok",
            expected_version=convention.version,
        )
        db.session.commit()

    assert asked() == [(world.users["legal"].id, convention.reference)]
    approve("legal")
    # Legal, then the finance controller, then the head of department: each asked when their step opens.
    assert asked() == [
        (world.users["legal"].id, convention.reference),
        (world.users["finance"].id, convention.reference),
    ]
    assert [n.kind for n in notices_of(world.users["officer"])] == ["approval_decided"]
    approve("finance")
    assert asked()[2:] == [(world.users["manager"].id, convention.reference)]


@pytest.mark.parametrize(
    "language, approved, commented",
    [
        ("fr", "{name} a approuvé «\u00a0Convention Jazari\u00a0».", "Commentaire\u00a0: Vu."),
        ("ar", "صادق {name} على «Convention Jazari».", "التعليق: Vu."),
    ],
)
def test_an_approval_is_told_in_a_whole_sentence_with_its_comment_if_any(world, language, approved, commented):
    """Who decided what on which agreement: without a comment the body had been the title in quotes alone."""
    from flask_babel import force_locale

    from app.notifications import messages
    from app.notifications.services import bodies_of

    def read(text: str) -> str:  # as read: the Arabic isolates and the mail's line breaks left out
        return text.replace("\u2068", "").replace("\u2069", "").replace("\n", " ")

    officer, legal = world.users["officer"], world.users["legal"]
    officer.language = language
    convention = factories.agreement(
        by=officer, partners=[world.partner_a], type="convention", title_fr="Convention Jazari"
    )
    db.session.commit()
    engine.take(convention, "submit_for_review", by=officer, expected_version=convention.version)
    version = convention.version
    engine.decide(convention, "approve_review", by=legal, decision="approve", comment="", expected_version=version)
    db.session.commit()
    (mail,) = mails_to(officer, "approval_decided")
    body = read(bodies_of(mail)[0])
    assert approved.format(name=legal.full_name) in body and commented.split(":")[0] not in body

    params = {"title": {"fr": "Convention Jazari"}, "by": legal.full_name, "decision": "approve", "comment": "Vu."}
    with force_locale(language):
        said = read(messages.detail("approval_decided", params))
    assert said == f"{approved.format(name=legal.full_name)} {commented}"


def test_links_in_mail_never_come_from_the_host_header(world, signed_in):
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Hôte")
    db.session.commit()
    officer = signed_in("officer")
    token = officer.csrf(f"/agreements/{draft.id}")
    # The test client keeps cookies per host: hand the session (with its CSRF secret) to the forged host too.
    session = officer.http.get_cookie("session", domain="localhost")
    officer.http.set_cookie("session", session.value, domain="evil.example")
    response = officer.http.post(
        f"/agreements/{draft.id}/actions/submit_for_review",
        data={"version": str(draft.version), "csrf_token": token},
        headers={"Host": "evil.example"},
    )
    assert response.status_code == 303
    mails = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "approval_requested")))
    assert len(mails) == 2
    for message in mails:
        assert f'href="http://sharaka.test/agreements/{draft.id}"' in message.body_html
        assert "evil.example" not in message.body_html and "evil.example" not in message.body_text
        assert all(href.startswith("http://sharaka.test/") for href in _hrefs(message.body_html))


def _hand_in(client, occurrence, **kwargs):
    db.session.refresh(occurrence)
    return client.post(
        f"/deliverables/{occurrence.id}/submissions",
        data={"version": str(occurrence.version), "note": "T1", "files": [(BytesIO(PDF), "rapport.pdf")]},
        csrf_from=f"/deliverables/{occurrence.id}",
        content_type="multipart/form-data",
        **kwargs,
    )


def _review(client, occurrence, **data):
    db.session.refresh(occurrence)
    return client.post(
        f"/deliverables/{occurrence.id}/review",
        data={"version": str(occurrence.version), **data},
        csrf_from=f"/deliverables/{occurrence.id}",
        content_type="multipart/form-data",
    )


def test_a_hand_in_tells_the_owner_and_a_send_back_tells_the_partner(world, people, occurrence, signed_in):
    partner, officer = signed_in("partner"), signed_in("officer")
    assert _hand_in(partner, occurrence).status_code == 303
    db.session.refresh(occurrence)
    assert occurrence.status == "submitted"
    handed = notices_of(people["owner"], "deliverable_submitted")
    assert len(handed) == 1 and handed[0].link == f"/deliverables/{occurrence.id}"
    assert not notices_of(people["partner"])  # the one who handed it in
    assert not notices_of(people["colleague"])
    assert _review(officer, occurrence, decision="send_back", feedback="Ajoutez les annexes").status_code == 303
    db.session.refresh(occurrence)
    assert occurrence.status == "sent_back"
    for name in ("partner", "colleague"):
        sent_back = notices_of(people[name], "deliverable_sent_back")
        assert len(sent_back) == 1 and sent_back[0].params["comment"] == "Ajoutez les annexes"
        assert len(mails_to(people[name], "deliverable_sent_back")) == 1
    assert "Ajoutez les annexes" in mails_to(people["partner"], "deliverable_sent_back")[0].body_text
    assert not notices_of(people["owner"], "deliverable_sent_back")  # the owner sent it back
    assert not notices_of(world.users["partner_b"]) and not notices_of(people["gone"])


def test_accepted_and_waived_tell_the_partner_and_the_owner_but_never_the_actor(world, people, occurrence, signed_in):
    assert _hand_in(signed_in("partner"), occurrence).status_code == 303
    assert _review(signed_in("manager"), occurrence, decision="accept").status_code == 303
    accepted = {
        n.user_id for n in db.session.scalars(select(Notification).where(Notification.kind == "deliverable_accepted"))
    }
    assert accepted == {people["partner"].id, people["colleague"].id, people["owner"].id}
    other = plan(world.agreement_a, world.users["officer"], world.partner_a, BASE + timedelta(days=60), "Autre")
    db.session.commit()
    deliverable_services.waive(other, reason="Fusionné", by=people["manager"], expected_version=other.version)
    db.session.commit()
    waived = list(db.session.scalars(select(Notification).where(Notification.kind == "deliverable_waived")))
    assert {n.user_id for n in waived} == {people["partner"].id, people["colleague"].id, people["owner"].id}
    assert all(n.params["comment"] == "Fusionné" for n in waived)


# --- wording of the mail (#16) -------------------------------------------------------------


def test_an_overdue_report_that_was_sent_back_says_so_and_what_to_fix(world, people, occurrence, signed_in):
    assert _hand_in(signed_in("partner"), occurrence).status_code == 303
    assert (
        _review(signed_in("officer"), occurrence, decision="send_back", feedback="Ajoutez les annexes").status_code
        == 303
    )
    db.session.commit()
    reminders.run_pass(at(occurrence.due_on + timedelta(days=2)))
    [notice] = [n for n in notices_of(people["partner"], "deliverable_overdue") if n.object_id == occurrence.id]
    assert notice.params["sent_back"] is True and notice.params["feedback"] == "Ajoutez les annexes"
    [mail] = [m for m in mails_to(people["partner"], "deliverable_overdue")]
    assert "sent back for changes" in mail.body_text and "Ajoutez les annexes" in mail.body_text
    assert "has not been handed in" not in mail.body_text


def test_a_report_sent_back_twice_quotes_the_latest_feedback(world, people, occurrence, signed_in):
    """The rule's own reading brings a sent-back occurrence's feedback (occurrence_facts.columns): the last
    hand-in's, not the first's."""
    for feedback in ("Ajoutez les annexes", "Signez la page 3"):
        assert _hand_in(signed_in("partner"), occurrence).status_code == 303
        assert _review(signed_in("officer"), occurrence, decision="send_back", feedback=feedback).status_code == 303
        db.session.commit()
    reminders.run_pass(at(occurrence.due_on + timedelta(days=2)))
    [notice] = [n for n in notices_of(people["partner"], "deliverable_overdue") if n.object_id == occurrence.id]
    assert notice.params["feedback"] == "Signez la page 3"


def test_managers_hear_again_of_each_date_missed_past_the_threshold(world, people):
    deliverable = deliverable_services.plan_deliverable(
        world.agreement_a,
        deliverable_services.PlanData(
            title_fr="Rapport mensuel",
            title_ar=None,
            title_en=None,
            description=None,
            responsible_organization_id=world.partner_a.id,
            recurrence="monthly",
            first_due_on=BASE + timedelta(days=5),
            until_on=BASE + timedelta(days=200),
        ),
        by=world.users["officer"],
    )
    db.session.commit()
    missed = [o for o in deliverable.occurrences if o.due_on < BASE + timedelta(days=100 - 14)]
    assert len(missed) >= 3
    reminders.run_pass(at(BASE + timedelta(days=100)))
    mine = [
        n
        for n in notices_of(people["manager"], "deliverable_escalated")
        if n.object_id in {o.id for o in deliverable.occurrences}
    ]
    assert len(mine) == 1
    assert mine[0].params["missed"] == [o.due_on.isoformat() for o in missed]
    mail = [m for m in mails_to(people["manager"], "deliverable_escalated") if "Rapport mensuel" in m.body_text]
    assert len(mail) == 1 and "Missed due dates so far" in mail[0].body_text

    # A week later the same deliverable is not escalated again.
    def escalations():
        return [
            n
            for n in notices_of(people["manager"], "deliverable_escalated")
            if n.object_id in {o.id for o in deliverable.occurrences}
        ]

    reminders.run_pass(at(BASE + timedelta(days=107)))
    assert len(escalations()) == 1
    # Once the next monthly date is missed past the threshold too, managers hear again, of every date.
    later = BASE + timedelta(days=140)
    reminders.run_pass(at(later))
    missed = [o for o in deliverable.occurrences if o.due_on < later - timedelta(days=14)]
    assert len(escalations()) == 2
    latest = max(escalations(), key=lambda n: n.id)
    assert latest.params["missed"] == [o.due_on.isoformat() for o in missed]
    assert latest.object_id == missed[-1].id and latest.params["due_on"] == missed[-1].due_on.isoformat()


def test_an_approval_request_states_its_deadline(world, people, signed_in):
    agreement = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], title_fr="Délai d'approbation"
    )
    db.session.commit()
    engine.take(agreement, "submit_for_review", by=world.users["officer"], expected_version=agreement.version)
    db.session.commit()
    [mail] = [m for m in mails_to(world.users["legal"], "approval_requested") if "Délai" in m.body_text]
    sla = engine.definition_for(agreement).states["internal_review"].sla_days
    decide_by = clock.today() + timedelta(days=sla)  # today, not BASE: a run may cross midnight
    assert "Please decide by" in mail.body_text
    assert format_date(decide_by, "long", locale="en") in mail.body_text


def test_the_digest_counts_in_words_with_plural_forms():
    from app.notifications.messages import detail

    one = detail("weekly_digest", {"approvals_count": 1, "overdue_count": 1, "ending_count": 1})
    assert one == "1 approval waiting, 1 overdue deliverable, 1 agreement ending within 90 days."
    two = detail("weekly_digest", {"approvals_count": 2, "overdue_count": 0, "ending_count": 3})
    assert two == "2 approvals waiting, 0 overdue deliverables, 3 agreements ending within 90 days."


def test_the_stalled_mail_counts_days_in_the_stage_as_the_page_does(world):
    from datetime import timedelta as days

    from app.core.clock import days_since

    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Immobile")
    # Counted back from the pass's moment, not from now: a run may cross midnight after BASE was read.
    draft.state_entered_at = at(BASE) - days(20)
    draft.updated_at = at(BASE) - days(12)
    db.session.commit()
    reminders.run_pass(at(BASE))
    [notice] = [n for n in notices_of(world.users["officer"], "agreement_stalled") if n.object_id == draft.id]
    assert notice.params["days"] == days_since(draft.state_entered_at, BASE) == 20
    assert notice.params["idle"] == 12


def test_the_digest_names_each_stage_as_the_dashboard_does(world):
    """An amendment in force is in the state "active" too: the digest's count of that state is named as
    the dashboard names it ("Active", the MoU's), not by the amendment's own label ("In force")."""
    from app.notifications.reminders import portfolio_summary
    from app.workflow.states import state_labels

    amendment = factories.amendment(world.agreement_a, world.users["officer"], partners=[world.partner_a])
    amendment.state = "active"
    db.session.commit()
    [active] = [stage for stage in portfolio_summary(clock.today())["stages"] if stage["state"] == "active"]
    assert active["label"]["en"] == state_labels()["active"] == "Active"


def test_a_date_missed_before_the_agreement_ran_is_escalated_a_threshold_after_it_began_to_run(
    world, people, occurrence
):
    """Resumed (or activated) after its due date, a report was escalated to the managers on the first pass,
    before its partner could hand it in: the threshold now counts from the day the agreement ran again."""
    due = occurrence.due_on
    world.agreement_a.state = "suspended"
    db.session.commit()
    resumed = due + timedelta(days=20)
    world.agreement_a.state = "active"
    world.agreement_a.state_entered_at = at(resumed, 10).astimezone(timezone.utc)
    db.session.commit()

    def escalated(day):
        return {
            rule
            for rule, _key, _who in about(reminders.candidates_at(at(day)), "deliverable_occurrences", occurrence.id)
        } & {"deliverable_escalated"}

    assert not escalated(resumed + timedelta(days=1))  # told it is overdue, not escalated yet
    assert "deliverable_overdue" in {
        rule
        for rule, _k, _w in about(
            reminders.candidates_at(at(resumed + timedelta(days=1))), "deliverable_occurrences", occurrence.id
        )
    }
    # As a date missed while it ran: on the 15th day (the shipped policy's threshold of 14 days passed).
    assert not escalated(resumed + timedelta(days=14))
    assert escalated(resumed + timedelta(days=15))


def test_a_token_owner_hears_a_week_before_it_ends_once_and_not_after_a_revocation(world):
    from types import SimpleNamespace

    from app.api.tokens import create_token, revoke_token
    from app.notifications.lapsed import lapsed
    from app.notifications.reminders.tokens import TOKEN_ENDING_DAYS

    partner, officer = world.users["partner"], world.users["officer"]
    ending, _secret = create_token(partner, "Nightly sync", by=partner, days=30)
    create_token(officer, "Yearly", by=officer, days=365)
    db.session.commit()
    ends = clock.as_ministry_time(ending.expires_at)

    def told(moment):
        found = reminders.candidates_at(moment)
        return {(c.rule, c.recipient.email, c.notice.object_id) for c in found if c.rule == "api_token_ending"}

    assert told(ends - timedelta(days=TOKEN_ENDING_DAYS, minutes=1)) == set()
    week_before = ends - timedelta(days=TOKEN_ENDING_DAYS - 1)
    assert told(week_before) == {("api_token_ending", partner.email, ending.id)}
    assert told(ends + timedelta(minutes=1)) == set()  # ended: nothing left to renew

    reminders.run_pass(week_before)
    reminders.run_pass(week_before + timedelta(days=2))  # once per token
    [notice] = notices_of(partner, "api_token_ending")
    [mail] = mails_to(partner, "api_token_ending")
    assert notice.link == "/account/tokens" and "Nightly sync" in mail.subject
    assert "revoke" in mail.body_text and "/account/tokens" in mail.body_text
    assert notices_of(officer, "api_token_ending") == []

    waiting = [SimpleNamespace(id=1, kind="api_token_ending", object_id=ending.id, recipient_id=partner.id)]
    assert lapsed(waiting) == {}
    revoke_token(ending, by=partner)
    db.session.commit()
    assert "revoked" in lapsed(waiting)[1]  # a mail still waiting is withdrawn, not sent
    assert told(week_before) == set()


def test_a_date_missed_before_the_agreement_ran_is_chased_weekly_from_the_day_it_runs(world, people):
    """Activated months late (chase, at the back-capture of an agreement signed before Sharaka), a report
    missed 56 days before is mailed on that day, then a week later: not again the next day, when its
    eighth week late began by the due date's reckoning."""
    due = BASE - timedelta(days=56)
    occurrence = plan(world.agreement_a, world.users["officer"], world.partner_a, due)
    world.agreement_a.state_entered_at = at(BASE, 8)
    db.session.commit()
    mailed = []
    for offset in range(15):
        before = recorded("deliverable_occurrences", occurrence.id)
        reminders.run_pass(at(BASE + timedelta(days=offset), 10))
        if {rule for rule, _k, _who in recorded("deliverable_occurrences", occurrence.id) - before} & {
            "deliverable_overdue"
        }:
            mailed.append(offset)
    assert mailed == [0, 7, 14]
