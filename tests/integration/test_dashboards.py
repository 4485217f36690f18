"""The home dashboards: what each role sees first, and what it costs in queries."""

from __future__ import annotations

import html
import re
import sys
from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.core import clock
from app.core.models import utcnow
from app.deliverables.models import Deliverable, Occurrence, Submission
from app.extensions import db
from app.notifications.models import Notification
from app.workflow.models import ApprovalRound
from tests import factories
from tests.bulk import add_bulk_portfolio, counting_queries

TODAY = clock.today()


@pytest.fixture(autouse=True)
def _today_is_today(monkeypatch):
    """A run that crosses midnight must not compare yesterday's date with the app's today."""
    monkeypatch.setattr(sys.modules[__name__], "TODAY", clock.today())


SAME_ROW = r"(?:(?!</tr>).)*?"  # within one chart row


def days_ago(days: int) -> datetime:
    return utcnow() - timedelta(days=days)


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=timezone.utc)


def plan(agreement, organization, *occurrences) -> list[Occurrence]:
    """A one-off deliverable per (due_on, status, [submitted moments]) on `agreement`."""
    created = []
    for due_on, status, submitted in occurrences:
        deliverable = Deliverable(
            agreement_id=agreement.id,
            title_fr=f"Rapport {due_on}",
            title_en=f"Report {due_on}",
            responsible_organization_id=organization.id,
            recurrence="once",
            first_due_on=due_on,
        )
        occurrence = Occurrence(deliverable=deliverable, due_on=due_on, status=status)
        for number, moment in enumerate(submitted, start=1):
            occurrence.submissions.append(Submission(number=number, submitted_at=moment))
        db.session.add(deliverable)
        created.append(occurrence)
    db.session.flush()
    return created


def figure(page: str, key: str) -> int:
    match = re.search(rf'data-figure="{key}" data-value="(\d+)"', page)
    assert match, f"no figure {key}"
    return int(match.group(1))


def card_count(page: str, card_id: str) -> int:
    section = page[page.index(f'id="{card_id}"') :]
    return int(re.search(r'data-count="(\d+)"', section).group(1))


def card(page: str, card_id: str) -> str:
    start = page.index(f'id="{card_id}"')
    return page[start : page.index("</section>", start)]


@pytest.fixture
def portfolio(world):
    """The world, plus: a stale draft of the officer's, another officer's agreements, deliverables
    (overdue, due this month, handed in on time and late), approvals within and past their SLA,
    an agreement ending in 30 days, and one signed this year."""
    officer, other = world.users["officer"], world.users["other_officer"]
    a, b = world.agreement_a, world.agreement_b
    a.effective_on, a.expires_on = a.signed_on, TODAY + timedelta(days=30)
    stale = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Brouillon oublié")
    stale.state_entered_at = days_ago(12)
    theirs = factories.agreement(by=other, partners=[world.partner_b], title_fr="Accord d'un collègue", state="active")
    theirs_draft = factories.agreement(by=other, partners=[world.partner_b], title_fr="Brouillon du collègue")
    theirs_draft.state_entered_at = days_ago(40)
    late_review = factories.agreement(
        by=other, partners=[world.partner_a], title_fr="Revue en retard", state="internal_review"
    )
    fresh_review = factories.agreement(
        by=other, partners=[world.partner_b], title_fr="Revue récente", state="internal_review"
    )
    signed_now = factories.agreement(
        by=other,
        partners=[world.partner_b],
        title_fr="Signé cette année",
        state="signed",
        signed_on=TODAY.replace(day=1),
    )
    for agreement, requested in ((late_review, days_ago(25)), (fresh_review, days_ago(2))):
        db.session.add(
            ApprovalRound(
                agreement_id=agreement.id,
                transition="approve_review",
                from_state="internal_review",
                requested_at=requested,
                status="open",
            )
        )
    month_end = TODAY.replace(day=28) + timedelta(days=4)
    month_end -= timedelta(days=month_end.day)
    plan(
        a,
        world.partner_a,
        (TODAY - timedelta(days=20), "pending", []),  # overdue (the officer's)
        (TODAY - timedelta(days=40), "accepted", [at_noon(TODAY - timedelta(days=41))]),  # on time
        (
            TODAY - timedelta(days=60),
            "accepted",
            [
                at_noon(TODAY - timedelta(days=55)),  # late first,
                at_noon(TODAY - timedelta(days=50)),
            ],
        ),
    )  # resubmitted
    if month_end > TODAY:
        plan(b, world.partner_b, (month_end, "pending", []))  # due this month (the officer's)
    plan(theirs, world.partner_b, (TODAY - timedelta(days=3), "pending", []))  # overdue, not the officer's
    db.session.commit()
    world.extra = {
        "stale": stale,
        "theirs": theirs,
        "theirs_draft": theirs_draft,
        "late_review": late_review,
        "fresh_review": fresh_review,
        "signed_now": signed_now,
        "month_end": month_end,
    }
    return world


# --- who lands where ------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


def test_partner_dashboard_is_their_portal(signed_in):
    partner = signed_in("partner")
    assert partner.get("/dashboard").headers["Location"].endswith("/portal")
    assert partner.get("/").headers["Location"].endswith("/portal")


@pytest.mark.parametrize("role", ["officer", "manager", "auditor", "admin", "legal"])
def test_ministry_home_is_the_dashboard(signed_in, role):
    client = signed_in(role)
    assert client.get("/").headers["Location"].endswith("/dashboard")
    assert client.get("/dashboard").status_code == 200


# --- the officer -----------------------------------------------------------------------------


def test_officer_sees_their_own_work(signed_in, portfolio):
    page = signed_in("officer").get("/dashboard").get_data(as_text=True)
    extra = portfolio.extra
    assert "My dashboard" in page
    # My actions: their stale draft, past its SLA; never a colleague's.
    actions = card(page, "my-actions")
    assert extra["stale"].reference in actions
    assert 'class="is-over-sla"' in actions
    assert extra["theirs_draft"].reference not in actions
    assert 'href="/inbox"' in actions
    # My agreements by stage: two active and one draft, the colleague's not counted.
    assert card_count(page, "my-agreements") == 3
    mine = card(page, "my-agreements")
    assert re.search(rf"Active</bdi>{SAME_ROW}chart-value\">2<", mine, re.S)
    assert re.search(rf"Draft</bdi>{SAME_ROW}chart-value\">1<", mine, re.S)
    assert "Internal review" not in mine
    # Deliverables: one overdue on their agreements (the colleague's is not theirs).
    assert figure(page, "overdue") == 1
    assert figure(page, "due-this-month") == (1 if extra["month_end"] > TODAY else 0)
    deliverables = card(page, "my-deliverables")
    assert "status=overdue" in deliverables
    # Ending within 90 days: agreement A, in 30 days.
    ending = card(page, "my-ending")
    assert portfolio.agreement_a.reference in ending and "in 30 days" in ending
    assert card_count(page, "my-ending") == 1
    assert 'data-action="new-agreement"' in page


@pytest.mark.parametrize("role", ["officer", "other_officer"])
def test_officer_deliverable_figures_open_the_list_they_count(signed_in, portfolio, role):
    """Each figure's link opens the due dates it counts: the officer's own agreements, not yet handed in,
    due from today to the month's end (not the list's "to act on now", which stops 14 days out)."""
    client = signed_in(role)
    page = client.get("/dashboard").get_data(as_text=True)
    links = re.findall(r'class="dashboard-more" href="([^"]+)"', card(page, "my-deliverables"))
    assert len(links) == 2
    for key, link in zip(("overdue", "due-this-month"), links):
        listed = client.get(html.unescape(link)).get_data(as_text=True)
        shown = re.search(r'<span role="status">(\d+) due date', listed)
        assert (int(shown.group(1)) if shown else 0) == figure(page, key), (key, link)
        assert re.search(r'<input checked[^>]*name="mine"|name="mine"[^>]*checked', listed)


def test_the_deliverables_list_shows_only_my_agreements_when_asked(signed_in, portfolio):
    everyone = signed_in("officer").get("/deliverables/?status=overdue").get_data(as_text=True)
    mine = signed_in("officer").get("/deliverables/?status=overdue&mine=y").get_data(as_text=True)
    # The table only: the agreement filter's choices name every agreement.
    assert portfolio.extra["theirs"].reference in everyone[everyone.index("<table") :]
    assert portfolio.extra["theirs"].reference not in mine[mine.index("<table") :]
    # A partner owns no agreement: no such box on their list.
    assert 'name="mine"' not in signed_in("partner").get("/deliverables/").get_data(as_text=True)


def test_another_officer_sees_theirs_not_the_first_officers(signed_in, portfolio):
    page = signed_in("other_officer").get("/dashboard").get_data(as_text=True)
    assert portfolio.extra["theirs_draft"].reference in card(page, "my-actions")
    assert portfolio.extra["stale"].reference not in card(page, "my-actions")
    assert figure(page, "overdue") == 1  # their colleague-free overdue report on "theirs"
    assert portfolio.agreement_a.reference not in card(page, "my-ending")


def test_officer_actions_list_the_oldest_ten_and_count_all(signed_in, world):
    officer = world.users["officer"]
    drafts = []
    for number in range(12):
        draft = factories.agreement(by=officer, partners=[world.partner_a], title_fr=f"Brouillon {number}")
        draft.state_entered_at = days_ago(30 - number)
        drafts.append(draft)
    db.session.commit()
    page = signed_in("officer").get("/dashboard").get_data(as_text=True)
    actions = card(page, "my-actions")
    assert card_count(page, "my-actions") == 12
    assert actions.count('<tr class="is-over-sla"') + actions.count("<tr data-agreement") == 10
    assert drafts[0].reference in actions and drafts[11].reference not in actions
    assert "All my actions (12)" in actions


# --- the manager, the auditor and the admin ---------------------------------------------------


def test_the_signed_this_year_link_opens_the_agreements_it_counts(signed_in, portfolio):
    """The card counts signatures of this year; its link lists those agreements, not the "year" filter's
    (signed that year or, unsigned, created that year)."""
    client = signed_in("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    signed = card_count(page, "signed-per-month")
    assert signed >= 1  # the portfolio signs one this year
    link = re.search(r'class="dashboard-more" href="([^"]+)"', card(page, "signed-per-month")).group(1)
    listed = client.get(html.unescape(link)).get_data(as_text=True)
    shown = re.search(r'<span role="status">(\d+) agreement', listed)
    assert int(shown.group(1)) == signed
    assert f'value="{TODAY.year}-01-01"' in listed  # the filter is on screen, and can be cleared
    drafts_this_year = client.get(f"/agreements/?year={TODAY.year}").get_data(as_text=True)
    assert int(re.search(r'<span role="status">(\d+) agreement', drafts_this_year).group(1)) > signed


def test_manager_sees_portfolio_counts_that_match_the_data(signed_in, portfolio):
    page = signed_in("manager").get("/dashboard").get_data(as_text=True)
    assert "Portfolio dashboard" in page
    total = db.session.scalar(select(func.count()).select_from(Agreement))
    assert card_count(page, "by-stage") == total
    by_stage = card(page, "by-stage")
    for state, count in db.session.execute(select(Agreement.state, func.count()).group_by(Agreement.state)):
        assert re.search(
            rf'href="/agreements/\?state={state}"><bdi>[^<]+</bdi></a>{SAME_ROW}chart-value">{count}<', by_stage, re.S
        ), state
    by_type = card(page, "by-type")
    assert re.search(
        rf'href="/agreements/\?type=mou"><bdi>[^<]+</bdi></a>{SAME_ROW}chart-value">{total}<', by_type, re.S
    )
    # Approvals: the one requested 25 days ago is past the 10-day SLA of internal review; not the fresh one.
    late = card(page, "late-approvals")
    assert card_count(page, "late-approvals") == 1
    assert portfolio.extra["late_review"].reference in late
    assert portfolio.extra["fresh_review"].reference not in late
    assert 'data-action="review-approval"' in late
    # Overdue deliverables by responsible organisation, each linking to its filtered list.
    overdue = card(page, "overdue-by-partner")
    for organization in (portfolio.partner_a, portfolio.partner_b):
        assert re.search(
            rf'href="/deliverables/\?status=overdue&amp;partner={organization.id}"><bdi>'
            rf'{organization.name}</bdi></a>{SAME_ROW}chart-value">1<',
            overdue,
            re.S,
        )
    # Signed this year: the agreement signed on the 1st of this month.
    signed = card(page, "signed-per-month")
    assert card_count(page, "signed-per-month") == 1
    assert f'href="/agreements/?signed_after={TODAY.year}-01-01&amp;signed_before={TODAY.year}-12-31"' in signed
    # On time: partner A handed in two reports, the first on time, the other late (its resubmission
    # does not count): 50 %.
    on_time = card(page, "on-time")
    assert re.search(
        rf"{portfolio.partner_a.name}</bdi></a>\s*<div[^>]*>1 of 2 on time</div>{SAME_ROW}chart-value\">50%<",
        on_time,
        re.S,
    )
    ending = card(page, "ending")
    assert portfolio.agreement_a.reference in ending
    assert 'data-action="new-agreement"' in page


def test_organisation_figures_are_kept_while_nothing_changes_and_named_for_each_reader(
    app, signed_in, portfolio, kept_figures
):
    """The per-organisation figures group every occurrence due so far: production keeps their rows while
    the audit trail is unchanged (app/core/kept.py), shared by those who see the whole portfolio, each
    reader getting the names in their own language; any change (here a sign-in, audited) computes them again."""
    partner_a = portfolio.partner_a
    partner_a.name_ar = "الشريك أ"
    db.session.commit()
    manager, auditor = signed_in("manager"), signed_in("auditor")
    auditor.post("/language", data={"language": "ar", "next": "/dashboard"})
    with counting_queries() as statements:
        first = card(manager.get("/dashboard").get_data(as_text=True), "on-time")
    assert any("overdue_rank" in statement for statement in statements)
    with counting_queries() as statements:
        arabic = card(auditor.get("/dashboard").get_data(as_text=True), "on-time")
    assert not any("overdue_rank" in statement for statement in statements), statements
    assert f"{partner_a.name_en}</bdi>" in first and "الشريك أ</bdi>" in arabic
    signed_in("officer")  # a change: the trail moves
    with counting_queries() as statements:
        manager.get("/dashboard")
    assert any("overdue_rank" in statement for statement in statements)


@pytest.mark.parametrize("role", ["auditor", "admin", "legal"])
def test_readers_see_the_portfolio_without_action_buttons(signed_in, portfolio, role):
    page = signed_in(role).get("/dashboard").get_data(as_text=True)
    assert "Portfolio dashboard" in page
    assert card_count(page, "late-approvals") == 1
    # Their own waiting items link to what to do (#16: "waiting for you" first for every role); nothing else acts.
    assert not re.search(r'data-action="(?!do-it")', page)
    main = page[page.index("<main") :]
    assert 'class="btn' not in main


# --- the top bar -------------------------------------------------------------------------------


def test_menu_starts_with_the_dashboard_and_gathers_the_rest_under_more(signed_in):
    page = signed_in("admin").get("/dashboard").get_data(as_text=True)
    menu = page[page.index('id="main-menu"') : page.index("language-form")]
    links = re.findall(r'class="nav-link[^"]*" href="([^"]+)"', menu)
    assert links[:4] == ["/dashboard", "/inbox", "/agreements/", "/deliverables/"]
    assert 'aria-current="page"' in menu.split('href="/dashboard"')[1][:40]
    more = menu[menu.index('id="more-menu"') :]
    for path in ("/organizations/", "/events/", "/workflows/", "/admin/users", "/admin/outbox"):
        assert f'href="{path}' in more, path


def test_current_page_in_more_marks_more_as_current(signed_in):
    page = signed_in("admin").get("/organizations/").get_data(as_text=True)
    assert re.search(r'class="nav-link dropdown-toggle active"', page)
    assert re.search(r'class="dropdown-item active" href="/organizations/"\s*aria-current="page"', page)


def test_partner_menu_keeps_the_portal_and_has_no_dashboard(signed_in):
    page = signed_in("partner").get("/portal").get_data(as_text=True)
    menu = page[page.index('id="main-menu"') : page.index("language-form")]
    assert 'href="/portal"' in menu
    assert 'href="/dashboard"' not in menu
    assert "/admin/users" not in menu


# --- queries do not grow with the portfolio ----------------------------------------------------


@pytest.mark.parametrize("role", ["officer", "manager"])
def test_dashboard_queries_do_not_grow_with_the_portfolio(signed_in, world, role):
    client = signed_in(role)
    add_bulk_portfolio(world, 10, start=0)
    assert client.get("/dashboard").status_code == 200  # caches warm (definitions, translations)
    with counting_queries() as small:
        assert client.get("/dashboard").status_code == 200
    add_bulk_portfolio(world, 990, start=10)
    assert db.session.scalar(select(func.count()).select_from(Agreement)) >= 1000
    with counting_queries() as large:
        page = client.get("/dashboard")
    assert page.status_code == 200
    print(f"{role}: {len(small)} queries with 10 agreements, {len(large)} with 1,000")
    assert len(large) == len(small), "\n\n".join(
        [s[:200] for s in large if s not in small] + ["----"] + [s[:200] for s in small if s not in large]
    )


@pytest.mark.parametrize("role", ["officer", "manager"])
def test_an_unchanged_dashboard_reloads_as_a_304_and_a_change_refreshes_it(signed_in, world, role):
    client = signed_in(role)
    first = client.get("/dashboard")
    etag = first.headers["ETag"]
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    with counting_queries() as statements:
        again = client.get("/dashboard", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.get_data()
    # One statement: the session's user, with the bell's count, the latest notice and the trail's version.
    assert len(statements) == 1, statements
    # The reader's own change (any change writes an audit row) shows at once.
    factories.agreement(by=world.users[role], partners=[world.partner_a], title_fr="Nouvel accord")
    db.session.commit()
    changed = client.get("/dashboard", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_a_pending_message_always_gets_the_full_dashboard(signed_in, world):
    client = signed_in("manager")
    etag = client.get("/dashboard").headers["ETag"]
    with client.http.session_transaction() as session:
        session["_flashes"] = [("success", "Saved.")]
    page = client.get("/dashboard", headers={"If-None-Match": etag})
    assert page.status_code == 200 and "Saved." in page.get_data(as_text=True)


# --- a reload of an unchanged dashboard is not rendered again ---------------------------------


def _csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("role", ["officer", "manager"])
def test_an_unchanged_dashboard_is_served_as_kept_and_the_readers_change_shows_at_once(
    signed_in, world, role, kept_pages
):
    client = signed_in(role)
    first = client.get("/dashboard").get_data(as_text=True)
    with counting_queries() as statements:
        again = client.get("/dashboard")
    assert again.status_code == 200 and again.get_data(as_text=True) == first
    assert len(statements) == 1, statements  # the session with the bell, the latest notice, the version
    factories.agreement(by=world.users[role], partners=[world.partner_a], title_fr="Accord du jour")
    db.session.commit()
    with counting_queries() as statements:
        changed = client.get("/dashboard").get_data(as_text=True)
    assert changed != first and len(statements) > 3  # rendered again: one more draft counted


def test_a_notice_read_elsewhere_changes_the_kept_page(signed_in, world, kept_pages):
    # Reading a notice writes no audit row and adds no notice: only the bell's count moves.
    reader = world.users["manager"]
    db.session.add(
        Notification(
            user_id=reader.id, kind="agreement_moved", category="agreement_activity", params={"reference": "X"}
        )
    )
    db.session.commit()
    client = signed_in("manager")
    first = client.get("/dashboard").get_data(as_text=True)
    for notice in db.session.scalars(select(Notification).where(Notification.user_id == reader.id)):
        notice.read_at = utcnow()
    db.session.commit()
    again = client.get("/dashboard").get_data(as_text=True)
    assert "notification-count" in first and "notification-count" not in again


def test_each_session_is_kept_its_own_page_whose_forms_it_may_post(signed_in, kept_pages):
    first, second = signed_in("manager"), signed_in("manager")
    page_one = first.get("/dashboard").get_data(as_text=True)
    page_two = second.get("/dashboard").get_data(as_text=True)
    assert _csrf_token(page_one) != _csrf_token(page_two)
    kept_two = second.get("/dashboard").get_data(as_text=True)
    assert kept_two == page_two
    # The language switch on the kept page is accepted from its own session.
    switched = second.http.post(
        "/language", data={"csrf_token": _csrf_token(kept_two), "language": "fr", "next": "/dashboard"}
    )
    assert switched.status_code == 302
    assert 'lang="fr"' in second.get("/dashboard").get_data(as_text=True)
    assert 'lang="en"' in first.get("/dashboard").get_data(as_text=True)


def test_a_pending_message_is_never_served_from_or_kept_with_the_page(signed_in, kept_pages):
    client = signed_in("manager")
    client.get("/dashboard")
    with client.http.session_transaction() as session:
        session["_flashes"] = [("success", "Saved.")]
    assert "Saved." in client.get("/dashboard").get_data(as_text=True)
    assert "Saved." not in client.get("/dashboard").get_data(as_text=True)
