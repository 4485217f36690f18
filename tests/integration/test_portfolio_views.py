"""The portfolio views: board, timeline, calendar and stage analytics — who sees what, filters,
hostile query strings, the numbers of the analytics, and the demo's illustrative history."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import flask
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from app.core import audit, clock
from app.core.audit import AuditEvent
from app.core.models import utcnow
from app.deliverables import services as deliverables
from app.extensions import db
from app.reporting.portfolio.board import build_board
from app.reporting.portfolio.filters import PortfolioFilters
from app.reporting.portfolio.report import build_report
from app.reporting.portfolio.timeline import build_timeline
from app.workflow import engine
from app.workflow.models import ApprovalDecision, ApprovalRound
from tests import factories

PAGES = ["/portfolio/board", "/portfolio/timeline", "/portfolio/calendar", "/portfolio/analytics"]
ROLES = ["admin", "officer", "other_officer", "manager", "legal", "auditor", "partner", "partner_b"]


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=timezone.utc)


def text_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def stage_row(agreement, action: str, moment: datetime, *, before=None, after=None, transition=None):
    """An audit row of a stage change at a chosen moment (the trail is append-only: set before the flush)."""
    changes = (
        {"after": {"state": after}}
        if action == "created"
        else {"before": {"state": before}, "after": {"state": after}, "transition": transition}
    )
    row = audit.record(action, agreement, changes=changes)
    row.occurred_at = moment
    return row


def plan(world, agreement, organization, due_on: date, title: str = "Rapport"):
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


# --- who gets in, and what they see ----------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, world, url):
    response = client.get(url)
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url", PAGES)
def test_every_role_gets_the_pages_it_may_see(signed_in, world, role, url):
    expected = 403 if role.startswith("partner") and url.endswith("analytics") else 200
    assert signed_in(role).get(url).status_code == expected


@pytest.mark.parametrize("url", ["/portfolio/board", "/portfolio/timeline", "/portfolio/timeline?group=event"])
def test_a_partner_sees_only_its_organisations_agreements(signed_in, world, url):
    page = text_of(signed_in("partner"), url)
    assert world.agreement_a.reference in page
    assert world.agreement_b.reference not in page
    assert "Partner B" not in page
    ministry_page = text_of(signed_in("manager"), url)
    assert world.agreement_a.reference in ministry_page and world.agreement_b.reference in ministry_page


def test_the_pages_link_to_each_other_and_hide_analytics_from_partners(signed_in, world):
    assert 'href="/portfolio/analytics"' in text_of(signed_in("manager"), "/portfolio/board")
    partner_page = text_of(signed_in("partner"), "/portfolio/board")
    assert 'href="/portfolio/timeline"' in partner_page and 'href="/portfolio/analytics"' not in partner_page


# --- board ---------------------------------------------------------------------------------------


@pytest.fixture
def pipeline(world):
    """A draft convention with partner B owned by the other officer, and a cancelled MoU."""
    draft = factories.agreement(
        by=world.users["other_officer"],
        partners=[world.partner_b],
        type="convention",
        title_fr="Convention en projet",
        owner_id=world.users["other_officer"].id,
    )
    cancelled = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], state="cancelled", title_fr="Accord abandonné"
    )
    db.session.commit()
    return draft, cancelled


def test_board_columns_follow_the_workflow_and_finished_stages_only_count(signed_in, world, pipeline):
    draft, cancelled = pipeline
    page = text_of(signed_in("manager"), "/portfolio/board")
    columns = re.findall(r'<section class="board-column state-(\w+)', page)
    assert columns[:6] == ["draft", "internal_review", "negotiation", "signature", "signed", "active"]
    assert "cancelled" not in columns and "expired" not in columns
    assert draft.reference in page
    assert cancelled.reference not in page  # finished: counted, not shown as a card
    finished = page[page.index('aria-labelledby="finished-heading"') : page.index('class="board-scroll"')]
    assert re.search(
        r'data-stage="cancelled">\s*<a href="/agreements/\?state=cancelled">Cancelled</a>\s*'
        r'<span class="badge[^"]*">1</span>',
        finished,
    )


def test_board_filters_by_type_partner_and_owner(app, signed_in, world, pipeline):
    draft, _cancelled = pipeline
    manager = signed_in("manager")
    by_type = text_of(manager, "/portfolio/board?type=convention")
    assert draft.reference in by_type and world.agreement_a.reference not in by_type
    by_partner = text_of(manager, f"/portfolio/board?partner={world.partner_b.id}")
    assert draft.reference in by_partner and world.agreement_b.reference in by_partner
    assert world.agreement_a.reference not in by_partner
    by_owner = text_of(manager, f"/portfolio/board?owner={world.users['other_officer'].id}")
    assert draft.reference in by_owner and world.agreement_a.reference not in by_owner
    # An amendment's "active" is its final state: filtered on amendments, the column is folded away.
    assert "No agreement matches these filters." in text_of(manager, "/portfolio/board?type=amendment")
    with app.test_request_context():  # a board carries its cards' links
        board = build_board(world.users["manager"], PortfolioFilters(type="amendment"), clock.today())
    assert "active" in [column.stage.name for column in board.finished]
    assert [column.stage.name for column in board.columns] == ["draft", "internal_review", "signature", "signed"]


def test_board_cards_link_to_the_moves_the_reader_may_take(signed_in, world, pipeline):
    draft, _cancelled = pipeline
    link = f'href="/agreements/{draft.id}#action-submit_for_review"'
    assert link in text_of(signed_in("other_officer"), "/portfolio/board")  # the owner
    assert link in text_of(signed_in("manager"), "/portfolio/board")
    for role in ("officer", "auditor", "legal"):  # not theirs to submit
        assert link not in text_of(signed_in(role), "/portfolio/board")
    # The anchor exists on the agreement's page, where the action's form is.
    assert 'id="action-submit_for_review"' in text_of(signed_in("other_officer"), f"/agreements/{draft.id}")
    # Active agreements: suspending needs a reason, so it sits under "Other actions".
    page = text_of(signed_in("manager"), "/portfolio/board")
    card = page[page.index(f'id="card-{world.agreement_a.id}"') :]
    card = card[: card.index("</article>")]
    assert "Other actions" in card and "#action-suspend" in card


def test_board_offers_the_open_rounds_approval_reading_no_closed_round(signed_in, world):
    """The engine offers an approval from the open round alone: the board loads no other (most rounds are
    closed, with their decisions), and still offers the approval of an agreement reviewed once before."""
    review = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Revue reprise")
    approval_round(
        review, utcnow() - timedelta(days=30), [("legal_and_head", world.users["legal"], 2)], by=world.users["officer"]
    )
    db.session.commit()
    engine.take(review, "submit_for_review", by=world.users["officer"], expected_version=review.version)
    db.session.commit()
    client, review_id = signed_in("legal"), review.id
    db.session.expunge_all()  # the rounds are loaded by the page, not found in the test's session
    loaded = []

    def record(round_, _context):
        loaded.append(round_.status)

    event.listen(ApprovalRound, "load", record)
    try:
        page = text_of(client, "/portfolio/board")
    finally:
        event.remove(ApprovalRound, "load", record)
    card = page[page.index(f'id="card-{review_id}"') :]
    assert f'href="/agreements/{review_id}#action-approve_review"' in card[: card.index("</article>")]
    assert loaded == ["open"]


def test_board_days_in_stage_against_the_sla(signed_in, world, pipeline):
    draft, _cancelled = pipeline
    draft.state_entered_at = utcnow() - timedelta(days=9)  # a convention draft's SLA is 7 days
    db.session.commit()
    page = text_of(signed_in("manager"), "/portfolio/board")
    card = page[page.index(f'id="card-{draft.id}"') :]
    card = card[: card.index("</article>")]
    assert "9 days in this stage" in card and "SLA 7 days" in card and "Over the SLA" in card


def test_board_shows_at_most_the_cap_per_column_and_links_to_the_rest(app, world):
    for number in range(3):
        factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr=f"Brouillon {number}")
    db.session.commit()
    with app.test_request_context():  # a board carries its cards' links
        board = build_board(world.users["manager"], PortfolioFilters(), clock.today(), cap=2)
    draft = next(column for column in board.columns if column.stage.name == "draft")
    assert draft.count == 3 and len(draft.cards) == 2 and draft.hidden == 1
    # Longest in the stage first.
    entered = [card.agreement.state_entered_at for card in draft.cards]
    assert entered == sorted(entered)


def test_board_reads_its_cards_budgets_with_the_cards(app, world, set_rates):
    """The approval steps a budget decides find each card's MAD total, and an amendment its parent's, read
    with the cards: no statement of the board asks for budget totals on its own."""
    set_rates({"EUR": Decimal(10)})
    parent = world.agreement_a
    factories.budget_line(parent, world.partner_a, 12_000_000)
    factories.budget_line(parent, world.partner_a, 500, currency="EUR")
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    factories.budget_line(draft, world.partner_a, 3_000)
    amendment = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], type="amendment", parent_id=parent.id
    )
    db.session.commit()
    statements = []

    def keep(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", keep)
    try:
        with app.test_request_context():
            build_board(world.users["manager"], PortfolioFilters(), clock.today())
            totals = dict(flask.g.sharaka_mad_budgets)
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    assert totals[draft.id] == 3_000 and totals[parent.id] == 12_005_000 and totals[amendment.id] == 0
    assert not [statement for statement in statements if statement.lstrip().startswith("SELECT budget_lines")]


# --- timeline ------------------------------------------------------------------------------------


def test_timeline_draws_bars_from_signature_to_end_or_to_the_edge(signed_in, world):
    world.agreement_a.expires_on = date(2027, 7, 1)
    db.session.commit()
    page = text_of(signed_in("manager"), "/portfolio/timeline")
    bar_a = re.search(rf'<a class="timeline-bar state-active([^"]*)"\s+href="/agreements/{world.agreement_a.id}"', page)
    bar_b = re.search(rf'<a class="timeline-bar state-active([^"]*)"\s+href="/agreements/{world.agreement_b.id}"', page)
    assert bar_a and "runs-on" not in bar_a.group(1)
    assert bar_b and "runs-on" in bar_b.group(1)  # open-ended
    assert 'class="timeline-today"' in page and ">2025<" in page
    # The accessible alternative says the same dates.
    assert "open-ended" in page and '<time datetime="2027-07-01">' in page


def test_timeline_groups_by_signing_event_and_mirrors_in_arabic(app, world, signed_in):
    page = text_of(signed_in("manager"), "/portfolio/timeline?group=event")
    assert world.event.name in page and 'aria-current="true"' in page
    arabic = factories.user("manager", world.ministry, language="ar")
    db.session.commit()
    page = text_of(signed_in(arabic), "/portfolio/timeline")
    assert 'dir="rtl"' in page  # logical CSS insets run time right to left


def test_timeline_takes_the_last_signed_then_those_in_force_undated_in_one_read(app, world):
    """The cap is filled by signature date, newest first, then by agreements in force with no signature
    date; the same statements whether or not the signed ones fill it (a small portfolio no dearer)."""
    undated = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], effective_on=date(2025, 9, 1), state="active"
    )
    db.session.commit()
    statements = []

    def count(*_args):
        statements.append(1)

    def bars_with(cap):
        statements.clear()
        event.listen(Engine, "before_cursor_execute", count)
        try:
            with app.test_request_context():
                timeline = build_timeline(world.users["manager"], "type", clock.today(), cap=cap)
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        return [bar.agreement.id for group in timeline.groups for bar in group.bars], len(statements)

    bars_with(3)  # what a process reads once (the definitions in use) read before counting
    newest_only, filled = bars_with(1)
    everyone, not_filled = bars_with(3)
    assert newest_only == [world.agreement_b.id]
    assert sorted(everyone) == sorted([world.agreement_a.id, world.agreement_b.id, undated.id])
    assert filled == not_filled, (filled, not_filled)
    assert filled > 0


# --- calendar ------------------------------------------------------------------------------------


@pytest.fixture
def deadlines(world):
    """Deliverables due in the month after next for each partner, an agreement ending then, an approval waiting."""
    month = (clock.today().replace(day=1) + timedelta(days=62)).replace(day=1)
    occ_a = plan(world, world.agreement_a, world.partner_a, month + timedelta(days=4), "Rapport A")
    occ_b = plan(world, world.agreement_b, world.partner_b, month + timedelta(days=9), "Rapport B")
    ministry_owes = plan(world, world.agreement_a, world.ministry, month + timedelta(days=11), "Revue ministère")
    world.agreement_a.expires_on = month + timedelta(days=14)
    review = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="En revue")
    db.session.commit()
    engine.take(review, "submit_for_review", by=world.users["officer"], expected_version=review.version)
    db.session.commit()
    return month, occ_a, occ_b, ministry_owes, review


def test_calendar_shows_the_months_deadlines_each_linking_to_its_page(signed_in, world, deadlines):
    month, occ_a, occ_b, ministry_owes, _review = deadlines
    page = text_of(signed_in("manager"), f"/portfolio/calendar?month={month:%Y-%m}")
    for occurrence in (occ_a, occ_b, ministry_owes):
        assert f'href="/deliverables/{occurrence.id}"' in page
    assert f'href="/agreements/{world.agreement_a.id}"' in page  # its end date
    assert f"{month + timedelta(days=14):%Y-%m-%d}" in page
    assert f'month={(month - timedelta(days=1)):%Y-%m}"' in page and 'rel="next"' in page
    assert "Agreement ends" in page and "Deliverable due" in page


def test_calendar_shows_approval_deadlines_to_the_ministry_only(signed_in, world, deadlines):
    _month, _occ_a, _occ_b, _ministry_owes, review = deadlines
    deadline = clock.today() + timedelta(days=10)  # an MoU's internal review: 10 days
    url = f"/portfolio/calendar?month={deadline:%Y-%m}"
    assert f'href="/agreements/{review.id}#approvals-heading"' in text_of(signed_in("legal"), url)
    assert "#approvals-heading" not in text_of(signed_in("partner"), url)


def test_approval_deadlines_are_reckoned_as_the_reminders_do(app, world):
    from app.notifications.reminders import local_date, waiting_approval
    from app.reporting.portfolio.deadlines import approval_deadline

    convention = factories.agreement(by=world.users["officer"], partners=[world.partner_a], type="convention")
    db.session.commit()
    engine.take(convention, "submit_for_review", by=world.users["officer"], expected_version=convention.version)
    db.session.commit()
    round_ = engine.open_round(convention, "approve_review")
    round_.requested_at = utcnow() - timedelta(days=20)
    db.session.commit()
    engine.decide(
        convention,
        "approve_review",
        by=world.users["legal"],
        decision="approve",
        comment=None,
        expected_version=convention.version,
    )  # the second step, the finance controller's, starts now
    db.session.commit()
    _agreement, step, started, sla, _approvers = waiting_approval(round_)
    deadline, transition = approval_deadline(round_, convention)
    assert step.name == "finance" and transition.name == "approve_review"
    assert deadline == local_date(started) + timedelta(days=sla) == local_date(utcnow()) + timedelta(days=10)


def test_the_database_keeps_the_rounds_due_in_the_month_as_python_dates_them(app, world):
    """queries.rounds_due_between picks the open rounds whose deadline (approval_deadline) falls in the
    month: rounds asked a minute either side of the local midnights that put the deadline on the
    month's first and last days, and on the days just outside."""
    from app.agreements.models import Agreement
    from app.notifications.reminders import local_midnight
    from app.reporting.portfolio.deadlines import approval_deadline
    from app.workflow.queries import rounds_due_between

    first = (clock.today().replace(day=1) + timedelta(days=40)).replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    sla = 10  # an MoU's internal review
    rounds = []
    for start in (first, last, first - timedelta(days=1), last + timedelta(days=1)):
        for shift in (timedelta(minutes=-1), timedelta(minutes=1)):
            agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
            db.session.commit()
            engine.take(agreement, "submit_for_review", by=world.users["officer"], expected_version=agreement.version)
            round_ = engine.open_round(agreement, "approve_review")
            round_.requested_at = local_midnight(start - timedelta(days=sla)) + shift
            rounds.append((round_, agreement))
    db.session.commit()
    in_python = {r.id for r, agreement in rounds if first <= approval_deadline(r, agreement)[0] <= last}
    in_sql = set(
        db.session.scalars(
            select(ApprovalRound.id)
            .join(Agreement, Agreement.id == ApprovalRound.agreement_id)
            .where(ApprovalRound.id.in_([r.id for r, _a in rounds]), rounds_due_between(first, last, local_midnight))
        )
    )
    assert in_sql == in_python and len(in_python) == 4, (sorted(in_sql), sorted(in_python))


def test_a_partners_calendar_shows_what_its_organisation_owes(signed_in, world, deadlines):
    month, occ_a, occ_b, ministry_owes, _review = deadlines
    page = text_of(signed_in("partner"), f"/portfolio/calendar?month={month:%Y-%m}")
    assert f'href="/deliverables/{occ_a.id}"' in page
    assert f'href="/deliverables/{occ_b.id}"' not in page  # another organisation's agreement
    assert f'href="/deliverables/{ministry_owes.id}"' not in page  # owed by the ministry
    assert f'href="/agreements/{world.agreement_a.id}"' in page  # its own agreement's end


def test_calendar_weeks_start_on_monday_with_day_names_in_the_readers_language(app, world, signed_in):
    page = text_of(signed_in("manager"), "/portfolio/calendar?month=2026-11")
    assert re.findall(r'<abbr title="(\w+)">', page)[:2] == ["Monday", "Tuesday"]
    # 1 November 2026 is a Sunday: the grid opens on Monday 26 October.
    assert page.index('datetime="2026-10-26"') < page.index('datetime="2026-11-01"')
    french = factories.user("manager", world.ministry, language="fr")
    db.session.commit()
    page = text_of(signed_in(french), "/portfolio/calendar?month=2026-11")
    assert re.findall(r'<abbr title="(\w+)">', page)[0] == "lundi" and "novembre 2026" in page


# --- hostile query strings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/portfolio/board?type=zz",
        "/portfolio/board?owner=abc",
        "/portfolio/board?owner=-1",
        "/portfolio/board?partner=99999999999",
        "/portfolio/board?type=%00&partner=%C3%A9&owner=1e9",  # text not UTF-8 (%ff) is a 400: test_undecodable_text
        "/portfolio/board?type=mou&type=convention",
        "/portfolio/timeline?group=x",
        "/portfolio/timeline?group=",
        "/portfolio/calendar?month=2026-13",
        "/portfolio/calendar?month=<script>alert(1)</script>",
        "/portfolio/calendar?month=0000-00",
        "/portfolio/calendar?month=99999-01",
        "/portfolio/calendar?month=2026-1",
        "/portfolio/calendar?month=2026-02-30",
        "/portfolio/analytics?year=99999999999",
        "/portfolio/analytics?year=abc",
        "/portfolio/analytics?type=zz&year=-1",
        "/portfolio/analytics?year=1800",
    ],
)
def test_hostile_or_wrong_query_values_show_the_default_view(signed_in, world, url):
    page = text_of(signed_in("manager"), url)
    assert "<script>alert(1)" not in page
    assert "Some filters were not valid and were ignored." in page or url.endswith(("group=", "type=convention"))


def test_a_bad_month_shows_the_current_month(signed_in, world):
    page = text_of(signed_in("manager"), "/portfolio/calendar?month=2026-13")
    assert f'<h2 class="h4 mb-0" id="month-heading">{clock.today():%B %Y}</h2>' in page


# --- stage analytics -----------------------------------------------------------------------------


@pytest.fixture
def history(world):
    """Four MoUs with a recorded history at chosen moments (days in draft: 2, 4, 10, and 7 in 2024)."""
    officer = world.users["officer"]
    mous = [factories.agreement(by=officer, partners=[world.partner_a], title_fr=f"MoU {n}") for n in range(4)]
    for mou, start, draft_days, review_days in zip(
        mous[:3], ("2025-01-01", "2025-02-01", "2025-03-01"), (2, 4, 10), (1, 3, 5)
    ):
        stage_row(mou, "created", at(start), after="draft")
        stage_row(
            mou,
            "transition",
            at(start) + timedelta(days=draft_days),
            before="draft",
            after="internal_review",
            transition="submit_for_review",
        )
        left = at(start) + timedelta(days=draft_days + review_days)
        stage_row(mou, "transition", left, before="internal_review", after="negotiation", transition="approve_review")
        mou.state, mou.state_entered_at = "negotiation", left
    stage_row(mous[3], "created", at("2024-12-01"), after="draft")
    stage_row(
        mous[3], "transition", at("2024-12-08"), before="draft", after="internal_review", transition="submit_for_review"
    )
    mous[3].state, mous[3].state_entered_at = "internal_review", at("2024-12-08")
    db.session.commit()
    return mous


def _row(report, agreement_type: str, state: str):
    type_report = next(t for t in report.types if t.type == agreement_type)
    return next(r for r in type_report.rows if r.state == state)


def test_analytics_medians_and_90th_percentiles_per_stage(app, world, history):
    report = build_report(world.users["manager"], agreement_type=None, year=None, now=utcnow())
    draft, review = _row(report, "mou", "draft"), _row(report, "mou", "internal_review")
    assert (draft.visits, draft.median, round(draft.p90, 6)) == (4, 5.5, 9.1)  # [2, 4, 7, 10]
    assert (review.visits, review.median, round(review.p90, 6)) == (3, 3.0, 4.6)  # [1, 3, 5]; one still open
    assert draft.is_over_sla is False and _row(report, "mou", "negotiation").visits == 0
    by_year = build_report(world.users["manager"], agreement_type="mou", year=2025, now=utcnow())
    assert [t.type for t in by_year.types] == ["mou"]
    draft = _row(by_year, "mou", "draft")
    assert (draft.visits, draft.median, round(draft.p90, 6)) == (3, 4.0, 8.8)  # [2, 4, 10]


def test_analytics_page_shows_the_figures_and_lists_agreements_over_their_sla(signed_in, world, history):
    fresh = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Récent")
    late = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="En retard")
    fresh.state_entered_at = utcnow() - timedelta(days=3)
    late.state_entered_at = utcnow() - timedelta(days=12)  # MoU draft SLA: 7 days
    db.session.commit()
    page = text_of(signed_in("manager"), "/portfolio/analytics?type=mou")
    table = page[page.index('id="type-mou"') : page.index('id="late-heading"')]
    assert re.search(
        r'data-stage="draft">\s*<th[^>]*>Draft</th>\s*<td[^>]*>4</td>\s*<td[^>]*>5\.5</td>\s*'
        r"<td[^>]*>9\.1</td>",
        table,
    )
    assert "Median days in each stage" in table and "90th percentile: 9.1 days" in table
    late_list = page[page.index('id="late-heading"') : page.index('id="steps-heading"')]
    assert late.reference in late_list and fresh.reference not in late_list
    assert history[3].reference in late_list  # in internal review since 2024
    assert 'value="2024"' in page  # years offered from the first recorded change
    by_year = text_of(signed_in("manager"), "/portfolio/analytics?type=mou&year=2025")
    assert '<option value="2025" selected>' in by_year and "Some filters were not valid" not in by_year


def test_analytics_figures_are_kept_until_the_next_change_and_shared_by_the_ministry(
    app, signed_in, world, history, kept_figures
):
    """Production keeps the figures over the whole portfolio while the audit trail is unchanged
    (app/core/kept.py): a second reader who sees the same portfolio is not sent their statements, and
    a move shows at once."""
    from app.core.permissions import portfolio_scope
    from tests.bulk import counting_queries

    draft_row = re.compile(r'data-stage="draft">\s*<th[^>]*>Draft</th>\s*<td[^>]*>(\d+)</td>')
    manager, auditor = signed_in("manager"), signed_in("auditor")  # (a sign-in is a change: it is audited)
    first = text_of(manager, "/portfolio/analytics?type=mou")
    with counting_queries() as statements:
        again = text_of(auditor, "/portfolio/analytics?type=mou")
    assert draft_row.search(first).group(1) == draft_row.search(again).group(1) == "4"
    sent = [s for s in statements if "stage_visits" in s or "approval_decisions" in s]
    assert not sent, sent
    fresh = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Soumis")
    db.session.commit()
    engine.take(fresh, "submit_for_review", by=world.users["officer"], expected_version=fresh.version)
    db.session.commit()
    assert draft_row.search(text_of(auditor, "/portfolio/analytics?type=mou")).group(1) == "5"
    # Only those who see every agreement share figures.
    assert portfolio_scope(world.users["manager"]) == portfolio_scope(world.users["auditor"])
    assert portfolio_scope(world.users["partner"]) != portfolio_scope(world.users["manager"])


def test_analytics_figures_one_worker_computed_serve_the_others(app, signed_in, world, history, kept_figures):
    """Kept in the store every worker of the machine reads: the worker a reader's next request lands on
    sends none of the statements the first one computed the figures with, unless it runs other code or
    settings (a worker started after a deployment)."""
    import diskcache

    from tests.bulk import counting_queries
    from tests.integration.test_kept_pages import _same_session, _worker_like

    manager = signed_in("manager")
    first = text_of(manager, "/portfolio/analytics?type=mou")
    with diskcache.Cache(app.config["KEPT_PAGES_DIR"]) as store:  # as another process opens it
        assert any(key.startswith("figure:") for key in store.iterkeys())
    for settings, computed in (({}, False), ({"AGREEMENT_REF_PREFIX": "OTHER"}, True)):
        other = _worker_like(app, PAGES_KEPT=False, FIGURES_KEPT=True, **settings)
        with counting_queries() as statements:
            again = _same_session(manager, other).get("/portfolio/analytics?type=mou")
        sent = [s for s in statements if "stage_visits" in s or "approval_decisions" in s]
        assert again.status_code == 200 and bool(sent) == computed, (settings, sent)
        assert again.get_data(as_text=True).count("data-stage=") == first.count("data-stage=")


def test_analytics_reads_the_moves_the_engine_records(app, world):
    mou = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Par le moteur")
    db.session.commit()
    engine.take(mou, "submit_for_review", by=world.users["officer"], expected_version=mou.version)
    db.session.commit()
    for person in ("legal", "manager"):
        engine.decide(
            mou,
            "approve_review",
            by=world.users[person],
            decision="approve",
            comment=None,
            expected_version=mou.version,
        )
        db.session.commit()
    assert mou.state == "negotiation"
    report = build_report(world.users["admin"], agreement_type="mou", year=None, now=utcnow())
    assert _row(report, "mou", "draft").visits == 1 and _row(report, "mou", "internal_review").visits == 1
    step = next(row for row in report.steps if row.stat.step == "legal_and_head")
    assert step.stat.decisions == 2 and step.stat.median < 0.01


def approval_round(agreement, requested: datetime, decisions, *, by):
    """A review round of `agreement` asked by `by` at `requested`, with (step, person, days after) decisions."""
    row = ApprovalRound(
        transition="approve_review",
        from_state="internal_review",
        requested_by_id=by.id,
        requested_at=requested,
        status="approved",
        closed_at=requested + timedelta(days=9),
    )
    agreement.approval_rounds.append(row)
    for step, person, days in decisions:
        row.decisions.append(
            ApprovalDecision(
                step=step,
                approver=person,
                counted_user=person,
                decision="approve",
                decided_at=requested + timedelta(days=days),
            )
        )


def test_the_slowest_approval_step(app, world):
    officer, legal, finance, manager = (world.users[r] for r in ("officer", "legal", "finance", "manager"))

    def round_(agreement, requested: datetime, decisions):
        approval_round(agreement, requested, decisions, by=officer)

    conventions = [factories.agreement(by=officer, partners=[world.partner_a], type="convention") for _ in range(2)]
    mou = factories.agreement(by=officer, partners=[world.partner_a])
    # Convention steps follow one another: finance waits from the legal decision, the head of department
    # from the finance controller's.
    round_(
        conventions[0],
        at("2025-01-10"),
        [("legal", legal, 2), ("finance", finance, 3), ("head_of_department", manager, 5)],
    )
    round_(
        conventions[1],
        at("2025-02-10"),
        [("legal", legal, 4), ("finance", finance, 5), ("head_of_department", manager, 7)],
    )
    # MoU: one parallel step, each approver from the request.
    round_(mou, at("2025-01-03"), [("legal_and_head", legal, 1), ("legal_and_head", manager, 6)])
    db.session.commit()
    report = build_report(manager, agreement_type=None, year=None, now=utcnow())
    medians = {(r.stat.agreement_type, r.stat.step): r.stat.median for r in report.steps}
    assert medians == {
        ("mou", "legal_and_head"): 3.5,
        ("convention", "legal"): 3.0,
        ("convention", "finance"): 1.0,
        ("convention", "head_of_department"): 2.0,
    }
    assert (report.slowest.stat.agreement_type, report.slowest.stat.step) == ("mou", "legal_and_head")
    assert build_report(manager, agreement_type="convention", year=None, now=utcnow()).slowest.stat.step == "legal"
    assert build_report(manager, agreement_type=None, year=2024, now=utcnow()).steps == []


def test_the_database_reckons_step_waits_as_step_waits_does(app, world):
    """analytics.load_step_statistics (SQL) against step_statistics(step_waits(load_rounds(...))) (Python):
    waits of hours, a later step waiting from the earlier one's last decision, a decision before the
    round's request (no wait), a step whose predecessor has no decision and a step no definition has
    (both left out)."""
    from app.reporting.portfolio import analytics

    officer, legal, finance, manager = (world.users[r] for r in ("officer", "legal", "finance", "manager"))
    plans = [
        (
            "convention",
            [
                ("legal", legal, 0.25),
                ("legal", manager, 2.5),
                ("finance", finance, 2.5),
                ("head_of_department", manager, 4.75),
            ],
        ),
        ("convention", [("head_of_department", manager, 3)]),  # its predecessor never decided
        ("convention", [("legal", legal, -1), ("finance", finance, -1), ("head_of_department", manager, 1.5)]),
        ("mou", [("legal_and_head", legal, 1.5), ("no_such_step", manager, 2)]),
    ]
    for number, (kind, decisions) in enumerate(plans):
        agreement = factories.agreement(by=officer, partners=[world.partner_a], type=kind)
        approval_round(agreement, at("2025-03-01") + timedelta(days=10 * number, hours=7), decisions, by=officer)
    db.session.commit()
    positions = {
        ("convention", "approve_review", "legal"): 1,
        ("convention", "approve_review", "finance"): 2,
        ("convention", "approve_review", "head_of_department"): 3,
    }

    def figures(stats):
        return sorted(
            (s.agreement_type, s.step, s.position, s.decisions, round(s.median, 6), round(s.p90, 6)) for s in stats
        )

    in_sql = analytics.load_step_statistics(manager, positions, year=2025)
    in_python = analytics.step_statistics(analytics.step_waits(analytics.load_rounds(manager, year=2025)), positions)
    assert figures(in_sql) == figures(in_python)
    assert ("convention", "head_of_department", 3, 2, 2.375, 2.475) in figures(in_sql)


# --- the demo's illustrative history --------------------------------------------------------------


def test_the_demo_history_is_illustrative_consistent_and_written_once(app):
    from app.agreements.models import Agreement
    from app.demo.history import ILLUSTRATIVE_HISTORY

    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "load"]).exit_code == 0

    def count():
        return db.session.scalar(select(db.func.count(AuditEvent.id)).where(AuditEvent.comment == ILLUSTRATIVE_HISTORY))

    rows, rounds = count(), db.session.scalar(select(db.func.count(ApprovalRound.id)))
    assert rows > 50
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    assert (count(), db.session.scalar(select(db.func.count(ApprovalRound.id)))) == (rows, rounds)

    for agreement in db.session.scalars(select(Agreement)):
        moves = db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "agreements",
                AuditEvent.object_id == agreement.id,
                AuditEvent.action == "transition",
            )
            .order_by(AuditEvent.occurred_at)
        ).all()
        assert all(move.comment == ILLUSTRATIVE_HISTORY for move in moves)
        if moves:  # the last move is into today's state, at the moment the loader dates it
            assert moves[-1].changes["after"]["state"] == agreement.state
            assert moves[-1].occurred_at == agreement.state_entered_at
            assert [m.changes["before"]["state"] for m in moves[1:]] == [
                m.changes["after"]["state"] for m in moves[:-1]
            ]
        signed = [m for m in moves if m.changes["after"]["state"] == "signed"]
        if signed and agreement.signed_on:
            assert signed[0].occurred_at.date() == agreement.signed_on  # the reported date, unchanged
    mistral = db.session.scalar(select(Agreement).where(Agreement.reference == "MTNRA-2025-010"))
    assert (mistral.signed_on, mistral.effective_on) == (date(2025, 9, 12), date(2026, 1, 12))
    from app.auth.models import User

    report = build_report(
        db.session.scalar(select(User).where(User.role == "manager")), agreement_type=None, year=None, now=utcnow()
    )
    assert all(row.visits for row in (_row(report, "mou", "draft"), _row(report, "convention", "negotiation")))
    assert report.slowest is not None


def test_the_demo_has_a_finance_controller_who_signed_off_its_conventions(app):
    """An illustrative finance controller among the demo sign-ins, who signs in with the printed password and
    gave the finance step of the conventions the demo took past their review."""
    from app.agreements.models import Agreement
    from app.auth.models import User
    from app.demo.loader import demo_sign_ins
    from tests.conftest import SignedInClient

    assert app.test_cli_runner().invoke(args=["demo", "load"]).exit_code == 0
    [row] = [row for row in demo_sign_ins() if row["role"] == "finance"]
    assert (row["email"], row["password"]) == ("nadia.finance@sharaka.example", "finance-demo-2026")
    assert SignedInClient(app, None).sign_in(row["email"], row["password"]).status_code == 302
    finance = db.session.scalar(select(User).where(User.email == row["email"]))
    steps = db.session.scalars(
        select(ApprovalDecision.step)
        .join(ApprovalRound, ApprovalDecision.round_id == ApprovalRound.id)
        .join(Agreement, ApprovalRound.agreement_id == Agreement.id)
        .where(Agreement.type == "convention", ApprovalDecision.approver_id == finance.id)
    ).all()
    assert steps and set(steps) == {"finance"}


def test_the_demo_history_decides_only_the_steps_that_applied(app):
    """The demo's backdated approvals had a decision for every step of the move, those whose condition did not
    hold too: a finance sign-off on an MoU without a budget, a Minister's office on one under 10 million."""
    from app.agreements.models import Agreement

    assert app.test_cli_runner().invoke(args=["demo", "load"]).exit_code == 0
    rounds = db.session.scalars(select(ApprovalRound).where(ApprovalRound.status == "approved")).all()
    assert rounds
    for round_ in rounds:
        agreement = db.session.get(Agreement, round_.agreement_id)
        transition = engine.definition_for(agreement).transition(round_.transition)
        applied = {step.name for step in engine.applicable_steps(transition, agreement)}
        decided = {decision.step for decision in round_.decisions}
        assert decided <= applied, (agreement.reference, round_.transition, decided - applied)
