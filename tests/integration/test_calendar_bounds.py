"""The calendar draws a bounded page at any portfolio size: at most DAY_CAP deliverables a day, with a
link that lists the rest, and only the approval rounds due in the month, picked by the database with
the engine's SLA rule (queries.rounds_due_between), which must agree with engine.step_waiting."""

from __future__ import annotations

import copy
import html
import re
from datetime import date, timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from app.agreements.models import Agreement
from app.core import clock
from app.core.models import utcnow
from app.deliverables import services as deliverables
from app.extensions import db
from app.notifications.reminders import local_midnight
from app.reporting.portfolio.deadlines import DAY_CAP, approval_deadline
from app.workflow import engine, queries
from app.workflow import services as workflow_services
from app.workflow.definitions import checksum_of
from app.workflow.models import ApprovalRound, WorkflowVersion
from tests import factories


def text_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def plan(world, agreement, organization, due_on: date, title: str):
    return deliverables.plan_deliverable(
        agreement,
        deliverables.PlanData(
            title_fr=title,
            title_ar=None,
            title_en=title,
            description=None,
            responsible_organization_id=organization.id,
            recurrence="once",
            first_due_on=due_on,
        ),
        by=world.users["manager"],
    ).occurrences[0]


def month_after_next() -> date:
    return (clock.today().replace(day=1) + timedelta(days=62)).replace(day=1)


def listed_occurrences(page: str) -> set[int]:
    return {int(found) for found in re.findall(r'href="/deliverables/(\d+)"', page)}


# --- deliverables: at most DAY_CAP a day, and a link to the rest ---------------------------------


@pytest.fixture
def crowded_day(world):
    """DAY_CAP + 3 reports of partner A due on one day, one the day after, one waived that day, and one
    of partner B that day."""
    day = month_after_next() + timedelta(days=6)
    due = [plan(world, world.agreement_a, world.partner_a, day, f"Rapport {n:02d}") for n in range(DAY_CAP + 3)]
    next_day = plan(world, world.agreement_a, world.partner_a, day + timedelta(days=1), "Lendemain")
    waived = plan(world, world.agreement_a, world.partner_a, day, "Dispensé")
    waived.status = "waived"
    other_partner = plan(world, world.agreement_b, world.partner_b, day, "Rapport B")
    db.session.commit()
    return day, {o.id for o in due}, next_day.id, waived.id, other_partner.id


def _more_link(page: str) -> str:
    found = re.findall(r'href="(/deliverables/\?[^"]*due_after[^"]*)"', page)
    assert len(found) == 1, found
    return html.unescape(found[0])


def test_a_crowded_day_draws_the_cap_and_links_to_exactly_the_days_deliverables(signed_in, world, crowded_day):
    day, due, next_day, waived, other_partner = crowded_day
    manager = signed_in("manager")
    page = text_of(manager, f"/portfolio/calendar?month={day:%Y-%m}")
    drawn = listed_occurrences(page)
    assert next_day in drawn and waived not in drawn
    # Of the DAY_CAP + 4 open ones due that day (A's and B's), DAY_CAP are drawn; the 4 others are counted.
    assert len(drawn & (due | {other_partner})) == DAY_CAP
    assert "4 more deliverables due this day" in page
    link = _more_link(page)
    assert f"due_after={day.isoformat()}" in link and f"due_before={day.isoformat()}" in link
    listed = listed_occurrences(text_of(manager, link))
    assert listed == due | {other_partner}


def test_a_partners_link_lists_what_its_organisation_owes_that_day(signed_in, world, crowded_day):
    day, due, _next_day, _waived, other_partner = crowded_day
    partner = signed_in("partner")
    page = text_of(partner, f"/portfolio/calendar?month={day:%Y-%m}")
    assert other_partner not in listed_occurrences(page)
    assert "3 more deliverables due this day" in page
    assert listed_occurrences(text_of(partner, _more_link(page))) == due


def test_a_day_within_the_cap_has_no_link(signed_in, world):
    day = month_after_next() + timedelta(days=3)
    plan(world, world.agreement_a, world.partner_a, day, "Seul")
    db.session.commit()
    page = text_of(signed_in("manager"), f"/portfolio/calendar?month={day:%Y-%m}")
    assert "due_after=" not in page and "more deliverable" not in page


def test_a_crowded_days_links_are_built_once_not_per_drawn_row(world, crowded_day, monkeypatch):
    from app.reporting.portfolio import deadlines

    day = crowded_day[0]
    for _ in range(DAY_CAP + 2):
        factories.agreement(by=world.users["manager"], partners=[world.partner_a], state="active", expires_on=day)
    db.session.commit()
    built = []
    build_url = deadlines.url_for
    monkeypatch.setattr(
        deadlines, "url_for", lambda endpoint, **values: built.append(endpoint) or build_url(endpoint, **values)
    )
    # The test body's own app (current_app): its session is the one the world's objects live in.
    with current_app.test_request_context():
        month = deadlines.build_month(world.users["manager"], day.replace(day=1), clock.today())
    assert [(kind, hidden) for kind, hidden, _url in month.hidden(day)] == [("deliverable", 4), ("end", 2)]
    assert built.count("deliverables.list_deliverables") == 1 and built.count("agreements.list_agreements") == 1


@pytest.mark.parametrize(
    "query",
    ["due_after=2026-13-01", "due_after=demain", "due_after=2026-05-02&due_before=2026-05-01"],
)
def test_bad_due_dates_on_the_deliverables_list_are_refused_clearly(signed_in, world, query):
    page = text_of(signed_in("manager"), f"/deliverables/?{query}")
    assert "Some filters were not valid and were ignored." in page
    if "due_before" in query:
        assert "The first due date must not come after the last." in page


# --- agreements ending: at most DAY_CAP a day, and a link to the rest ------------------------------


def listed_agreements(page: str) -> set[int]:
    return {int(found) for found in re.findall(r'href="/agreements/(\d+)"', page)}


def test_a_day_many_agreements_end_draws_the_cap_and_links_to_exactly_those_in_force(signed_in, world):
    """Agreements signed at one ceremony end together: the day draws DAY_CAP and the link lists every
    agreement in force ending that day (not one that ends that day but was terminated, nor one that renews
    by itself that day, which the calendar shows by its notice deadline, nor the next day's)."""
    day = month_after_next() + timedelta(days=9)
    manager = world.users["manager"]
    ending = {
        factories.agreement(
            by=manager, partners=[world.partner_a], state="active", signed_on=date(2025, 7, 1), expires_on=day
        ).id
        for _ in range(DAY_CAP + 2)
    }
    terminated = factories.agreement(by=manager, partners=[world.partner_a], state="terminated", expires_on=day)
    next_day = factories.agreement(
        by=manager, partners=[world.partner_a], state="active", expires_on=day + timedelta(days=1)
    )
    renewing = factories.agreement(
        by=manager, partners=[world.partner_a], state="active", signed_on=date(2025, 7, 1), expires_on=day
    )
    renewing.renewal_terms, renewing.renewal_months = "tacit", 12
    renewing.notice_period, renewing.notice_unit = 3, "months"
    db.session.commit()
    client = signed_in("manager")
    page = text_of(client, f"/portfolio/calendar?month={day:%Y-%m}")
    drawn = listed_agreements(page)
    assert len(drawn & ending) == DAY_CAP and next_day.id in drawn and terminated.id not in drawn
    assert "2 more agreements ending this day" in page
    found = re.findall(r'href="(/agreements/\?[^"]*ends_after[^"]*)"', page)
    assert len(found) == 1, found
    more = text_of(client, html.unescape(found[0]))
    assert listed_agreements(more) == ending and renewing.id not in listed_agreements(more)
    # The list says what it shows: its state filter is the calendar's "ending" (and may be chosen there).
    assert re.search(r'<option selected value="ending-for-good">\s*In force, ending \(not renewing by itself\)', more)
    everything_in_force = text_of(client, f"/agreements/?state=in-force&ends_after={day}&ends_before={day}")
    assert renewing.id in listed_agreements(everything_in_force)


def test_the_agreements_list_filters_by_end_dates_and_refuses_a_reversed_range(signed_in, world):
    manager = world.users["manager"]
    day = date(2027, 3, 31)
    inside = factories.agreement(by=manager, partners=[world.partner_a], state="active", expires_on=day)
    outside = factories.agreement(by=manager, partners=[world.partner_a], state="active", expires_on=date(2028, 1, 1))
    db.session.commit()
    client = signed_in("manager")
    listed = listed_agreements(text_of(client, "/agreements/?ends_after=2027-03-01&ends_before=2027-03-31"))
    assert inside.id in listed and outside.id not in listed
    page = text_of(client, "/agreements/?ends_after=2027-04-01&ends_before=2027-03-01")
    assert "The first end date must not come after the last." in page
    assert "Some filters were not valid and were ignored." in page


# --- approvals: only the rounds due in the month, by the one SLA rule ------------------------------


def _submit(world, agreement):
    engine.take(agreement, "submit_for_review", by=world.users["officer"], expected_version=agreement.version)
    db.session.commit()
    return engine.open_round(agreement, "approve_review")


def _approve(agreement, user):
    engine.decide(
        agreement, "approve_review", by=user, decision="approve", comment=None, expected_version=agreement.version
    )
    db.session.commit()


def test_an_approval_due_in_the_month_shows_and_one_due_the_next_month_does_not(signed_in, world):
    month = month_after_next()
    last = month.replace(day=28) + timedelta(days=4)
    last = last - timedelta(days=last.day)  # the month's last day
    sla = 10  # an MoU's internal review
    rounds = {}
    for name, deadline in (("last day", last), ("next month", last + timedelta(days=1))):
        agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr=name)
        db.session.commit()
        round_ = _submit(world, agreement)
        round_.requested_at = local_midnight(deadline - timedelta(days=sla)) + timedelta(hours=23)
        db.session.commit()
        assert approval_deadline(round_, agreement)[0] == deadline
        rounds[name] = agreement
    legal = signed_in("legal")
    this_month = text_of(legal, f"/portfolio/calendar?month={month:%Y-%m}")
    next_month = text_of(legal, f"/portfolio/calendar?month={last + timedelta(days=1):%Y-%m}")
    assert f'href="/agreements/{rounds["last day"].id}#approvals-heading"' in this_month
    assert f'href="/agreements/{rounds["next month"].id}#approvals-heading"' not in this_month
    assert f'href="/agreements/{rounds["next month"].id}#approvals-heading"' in next_month


@pytest.fixture
def sequential_version(world):
    """Today's MoU with its first approval step sequential (legal, then manager) due in 3 days, and the
    Minister's office always asked, in 5 days: steps with their own SLA instead of the state's 10."""
    body = copy.deepcopy(engine.current_definitions()["mou"].body)
    approval = next(t for t in body["transitions"] if t["name"] == "approve_review")["approval"]
    # The first and the last step (the finance one between, asked only with a budget, left out).
    first, second = approval["steps"] = [approval["steps"][0], approval["steps"][-1]]
    first.update(mode="sequential", sla_days=3)
    second.pop("when", None)
    second["sla_days"] = 5
    version = WorkflowVersion(type="mou", version=998, checksum=checksum_of(body), body=body)
    db.session.add(version)
    db.session.commit()
    engine.forget_definitions_in_use()
    return version


def test_the_databases_deadlines_agree_with_the_engines(world, sequential_version):
    """Rounds on different SLAs (the state's, a step's own), a sequential step part-way, a second step
    begun by an approval a stand-in gave for the legal adviser: for every day around them, the rounds the
    database says are due that day are those engine.step_waiting says."""
    now = utcnow()
    officer, legal, manager = world.users["officer"], world.users["legal"], world.users["manager"]

    def agreement_on(version=None, type_="mou"):
        agreement = factories.agreement(by=officer, partners=[world.partner_a], type=type_)
        agreement.workflow_version = version
        db.session.commit()
        return agreement

    plain = agreement_on()  # the state's SLA: 10 days from the request
    round_ = _submit(world, plain)
    round_.requested_at = now - timedelta(days=4)

    waiting = agreement_on(sequential_version)  # the step's own SLA: 3 days
    round_ = _submit(world, waiting)
    round_.requested_at = now - timedelta(days=1)

    part_way = agreement_on(sequential_version)  # legal approved, manager's turn: still the first step
    round_ = _submit(world, part_way)
    round_.requested_at = now - timedelta(days=2)
    db.session.commit()
    _approve(part_way, legal)

    stand_in = world.users["other_officer"]
    workflow_services.delegate(
        delegator=legal, delegate_user=stand_in, starts_on=clock.today(), ends_on=clock.today(), by=legal
    )
    db.session.commit()
    second_step = agreement_on(sequential_version)  # both approved: the Minister's office, 5 days
    round_ = _submit(world, second_step)
    round_.requested_at = now - timedelta(days=6)
    db.session.commit()
    _approve(second_step, stand_in)  # for the legal adviser
    _approve(second_step, manager)
    decisions = sorted(round_.decisions, key=lambda d: d.id)
    assert decisions[0].counted_user_id == legal.id and decisions[0].approver_id == stand_in.id
    decisions[0].decided_at, decisions[1].decided_at = now - timedelta(days=7), now - timedelta(days=5)
    assert engine.step_waiting(round_, engine.definition_for(second_step), second_step)[1].name == "ministers_office"

    convention = agreement_on(type_="convention")  # its second step, begun by the legal approval
    round_ = _submit(world, convention)
    db.session.commit()
    _approve(convention, legal)
    round_.decisions[0].decided_at = now - timedelta(days=13)  # overdue
    db.session.commit()

    engine_deadlines = {}
    for round_, agreement in db.session.execute(
        select(ApprovalRound, Agreement).join(Agreement, Agreement.id == ApprovalRound.agreement_id)
    ):
        due = approval_deadline(round_, agreement) if round_.status == "open" else None
        if due is not None:
            engine_deadlines[round_.id] = due[0]
    assert len(set(engine_deadlines.values())) == 5  # the rounds fall due on different days

    def due_between(first: date, last: date) -> set[int]:
        return set(
            db.session.scalars(
                select(ApprovalRound.id)
                .join(Agreement, Agreement.id == ApprovalRound.agreement_id)
                .where(queries.rounds_due_between(first, last, local_midnight))
            )
        )

    today = clock.today()
    for offset in range(-12, 15):
        day = today + timedelta(days=offset)
        assert due_between(day, day) == {r for r, due in engine_deadlines.items() if due == day}, day
    assert due_between(today - timedelta(days=30), today + timedelta(days=30)) == set(engine_deadlines)


# --- the personal feed: the approvals waiting on its reader, picked the same way -------------------


def _feed_uids(client, user) -> set[str]:
    from icalendar import Calendar

    from app.notifications.services import create_calendar_feed

    token = create_calendar_feed(user)
    db.session.commit()
    response = client.get(f"/calendar/{token}.ics")
    assert response.status_code == 200
    return {str(event["UID"]).split("@")[0] for event in Calendar.from_ical(response.data).walk("VEVENT")}


def test_a_feed_holds_the_approval_deadlines_waiting_on_its_reader(world, client):
    from app.notifications.calendar import PAST_DAYS

    officer, legal, manager = world.users["officer"], world.users["legal"], world.users["manager"]
    review = factories.agreement(by=officer, partners=[world.partner_a], title_fr="En revue")
    long_late = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Oubliée")
    db.session.commit()
    round_ = _submit(world, review)
    forgotten = _submit(world, long_late)
    # Asked at noon, ministry time, PAST_DAYS + 11 days ago: fell due PAST_DAYS + 1 days ago. (Counted back
    # from this instant instead, late in a UTC evening it fell on the next ministry day in the summer,
    # when Morocco was UTC+1, and was due inside the window.)
    asked_on = clock.today() - timedelta(days=PAST_DAYS + 11)
    forgotten.requested_at = clock.start_of(asked_on) + timedelta(hours=12)
    db.session.commit()
    uid = f"approval-{round_.id}-legal_and_head"
    assert uid in _feed_uids(client, legal) and uid in _feed_uids(client, manager)
    assert uid not in _feed_uids(client, officer)  # the requester approves nothing
    assert f"approval-{forgotten.id}-legal_and_head" not in _feed_uids(client, manager)  # out of the window
    _approve(review, legal)
    assert uid not in _feed_uids(client, legal) and uid in _feed_uids(client, manager)


def test_approval_reminders_lapse_once_the_approver_decided_or_the_round_closed(world):
    """What the outbox asks before sending an approval reminder that waited (notifications/lapsed.py)."""
    from types import SimpleNamespace

    from app.notifications.lapsed import lapsed

    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    round_ = _submit(world, agreement)
    legal, manager = world.users["legal"], world.users["manager"]

    def reminder(number, kind, user):
        return SimpleNamespace(id=number, kind=kind, object_id=round_.id, recipient_id=user.id, created_at=utcnow())

    waiting = [
        reminder(1, "approval_overdue", legal),
        reminder(2, "approval_overdue", manager),
        reminder(3, "approval_escalated", manager),
        SimpleNamespace(id=4, kind="weekly_digest", object_id=round_.id, recipient_id=legal.id, created_at=utcnow()),
        # The request itself, held while mail was paused: true while the round is open and its person has
        # not decided (its links would only say "already decided"), and while its links work.
        reminder(5, "approval_requested", manager),
        reminder(6, "approval_requested", legal),
    ]
    assert lapsed(waiting) == {}
    _approve(agreement, legal)
    why = lapsed(waiting)
    assert round_.status == "open"  # the step needs both: the one who decided is no longer reminded
    assert set(why) == {1, 6} and "decided" in why[1] and "decided" in why[6]
    _approve(agreement, manager)
    db.session.refresh(round_)
    assert round_.status == "approved"
    why = lapsed(waiting)
    assert set(why) == {1, 2, 3, 5, 6} and all("approval round is closed (approved)" in text for text in why.values())


def test_an_approval_request_whose_links_expired_while_it_waited_is_sent_without_them(world):
    """Its links expired while it waited: it is written again without them, linking to the agreement's
    approvals (it was withdrawn); one queued before requests kept their notice cannot be, and is withdrawn."""
    from app.discussions.models import ApprovalLink
    from app.notifications.lapsed import lapsed, sent_without_links
    from app.notifications.models import OutboxMessage

    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    _submit(world, agreement)
    manager = world.users["manager"]
    request = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == "approval_requested", OutboxMessage.recipient_id == manager.id
        )
    ).one()
    assert "decision_links" not in request.notice["extra"]  # its one-click links are not kept
    assert lapsed([request]) == {} and sent_without_links([request]) == {}
    for link in db.session.scalars(select(ApprovalLink).where(ApprovalLink.user_id == manager.id)):
        link.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert lapsed([request]) == {}
    notice = sent_without_links([request])[request.id]
    assert notice.link == f"/agreements/{agreement.id}#approvals-heading" and notice.extra["links_expired"]
    request.notice = None
    db.session.commit()
    assert "expired" in lapsed([request])[request.id] and sent_without_links([request]) == {}


def test_the_month_shows_the_last_day_for_a_notice_of_non_renewal(signed_in, world):
    """The one date that commits the ministry to another term was in no calendar."""
    agreement = world.agreement_a
    agreement.expires_on = date(2027, 7, 1)
    agreement.renewal_terms, agreement.renewal_months = "tacit", 12
    agreement.notice_period, agreement.notice_unit = 3, "months"
    db.session.commit()
    deadline = db.session.scalar(select(Agreement.notice_deadline).where(Agreement.id == agreement.id))
    assert deadline == date(2027, 4, 1)
    page = signed_in("manager").get("/portfolio/calendar?month=2027-04").get_data(as_text=True)
    assert re.search(rf'kind-notice">\s*<a href="/agreements/{agreement.id}"', page)


def test_a_deliverable_reminder_lapses_once_its_agreement_is_suspended(world):
    """Waiting in the outbox, an "overdue" reminder went out after the agreement was suspended: nothing is owed then."""
    from types import SimpleNamespace

    from app.notifications.lapsed import lapsed

    occurrence = factories.plan_line(
        world.agreement_a, world.users["officer"], responsible=world.partner_a
    ).occurrences[0]
    db.session.commit()
    reminder = SimpleNamespace(id=1, kind="deliverable_overdue", object_id=occurrence.id, recipient_id=None)
    assert lapsed([reminder]) == {}
    world.agreement_a.state = "suspended"
    db.session.commit()
    assert lapsed([reminder]) == {1: "Its agreement does not run now: nothing is owed until it does."}


def test_a_spreadsheet_ready_mail_lapses_once_the_spreadsheet_is_forgotten(world):
    from types import SimpleNamespace

    from app.exports.models import ExportJob
    from app.exports.services import forget_for
    from app.notifications.lapsed import lapsed

    partner = world.users["partner"]
    job = ExportJob(user_id=partner.id, list_name="deliverables", fmt="xlsx", language="en", status="done")
    db.session.add(job)
    db.session.commit()
    ready = SimpleNamespace(id=1, kind="export_ready", object_id=job.id, recipient_id=partner.id)
    assert lapsed([ready]) == {}
    forget_for(partner)
    db.session.commit()
    assert lapsed([ready]) == {1: "The spreadsheet is no longer kept."}


def test_a_sent_back_report_of_a_suspended_agreement_is_not_said_late(world, signed_in):
    occurrence = factories.plan_line(
        world.agreement_a, world.users["officer"], responsible=world.partner_a, first=clock.today() - timedelta(days=20)
    ).occurrences[0]
    occurrence.status = "sent_back"
    world.agreement_a.state = "suspended"
    db.session.commit()
    page = signed_in("partner").get(f"/deliverables/{occurrence.id}").get_data(as_text=True)
    assert "days late" not in page
    world.agreement_a.state = "active"
    db.session.commit()
    assert "20 days late" in signed_in("partner").get(f"/deliverables/{occurrence.id}").get_data(as_text=True)


def test_agreement_reminders_lapse_once_the_agreement_moved_on(world):
    """Held while the SMTP server was down, "stuck in a stage", "ends in 30 days" and "the notice deadline
    comes" reminders went out after the agreement had left the stage, been renewed or ended, or notice had
    been given. Each is true while the rule that wrote it holds of what it said."""
    from app.agreements import renewals
    from app.notifications.lapsed import lapsed
    from app.notifications.models import OutboxMessage

    officer = world.users["officer"]
    ending, noticed = world.agreement_a, world.agreement_b
    ending.expires_on = clock.today() + timedelta(days=30)
    ended = factories.agreement(by=officer, partners=[world.partner_a], state="active")
    ended.expires_on = ending.expires_on
    noticed.effective_on, noticed.expires_on = clock.today() - timedelta(days=300), clock.today() + timedelta(days=100)
    noticed.renewal_terms, noticed.renewal_months, noticed.notice_period, noticed.notice_unit = "tacit", 12, 3, "months"
    stalled = factories.agreement(by=officer, partners=[world.partner_a])
    stalled.state_entered_at = utcnow() - timedelta(days=60)
    db.session.commit()

    def held(kind, agreement, **said):
        message = OutboxMessage(
            recipient_id=officer.id,
            to_address=officer.email,
            language="en",
            category="agreement_stalled" if kind == "agreement_stalled" else "agreement_ending",
            kind=kind,
            subject=kind,
            notice={"params": said, "link": None, "extra": None},
            object_id=agreement.id,
            message_id=f"<{kind}-{agreement.id}@sharaka.test>",
        )
        db.session.add(message)
        db.session.commit()
        return message

    waiting = [
        held("agreement_ending", ending, expires_on=ending.expires_on.isoformat()),
        held("agreement_ending", ended, expires_on=ended.expires_on.isoformat()),
        held("notice_deadline", noticed, notice_deadline=noticed.notice_deadline.isoformat()),
        held("agreement_stalled", stalled, state={"en": "Draft"}),
    ]
    assert lapsed(waiting) == {}

    ending.expires_on += timedelta(days=365)  # renewed (an amendment, a tacit renewal)
    ended.state = "terminated"
    renewals.record_non_renewal(
        noticed, by=officer, given_on=clock.today(), side="ministry", expected_version=noticed.version
    )
    engine.take(stalled, "submit_for_review", by=officer, expected_version=stalled.version)
    db.session.commit()
    assert lapsed(waiting) == {
        waiting[0].id: "The agreement no longer ends on that date.",
        waiting[1].id: "The agreement is no longer in force.",
        waiting[2].id: "A notice of non-renewal was given since.",
        waiting[3].id: "The agreement has moved to another stage since.",
    }
