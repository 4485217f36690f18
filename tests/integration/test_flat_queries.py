"""Every main page and API list sends the same number of SQL statements with a few agreements
and with many, and no more than MAX_QUERIES: the cost of a page does not grow with the portfolio.

The small and the large portfolio have the same mix (every state, deliverables, hand-ins, open
approvals, history); only the number of agreements changes (30 → 150).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.api.tokens import create_token
from app.extensions import db
from tests.bulk import add_bulk_portfolio, counting_queries

# The manager's dashboard has eleven cards and the board lists each card's moves (the MAD budget
# totals of a `when:` condition among what they read): both fold their figures to stay within it.
MAX_QUERIES = 12
SMALL, LARGE = 30, 150

PAGES = {
    "officer": [
        "/dashboard",
        "/inbox",
        "/agreements/",
        "/agreements/?q=masse",
        "/agreements/?state=active",
        "/agreements/new",
        "/deliverables/",
        "/deliverables/?status=overdue",
        "/portfolio/board",
        "/portfolio/timeline",
        "/portfolio/calendar",
        "/portfolio/analytics",
        "/organizations/",
        "/events/",
        "/notifications",
        "/portfolio/budget",
        "/portfolio/budget?year=2026",
        "/api/v1/budget-totals",
        "/api/v1/agreements",
        "/api/v1/deliverables",
        "/api/v1/notifications",
        "/api/v1/organizations",
        "/api/v1/signing-events",
        "/search?q=masse",
        "/search?q=partenaire",
    ],
    "manager": [
        "/dashboard",
        "/inbox",
        "/agreements/",
        "/agreements/new",
        "/deliverables/",
        "/portfolio/board",
        "/portfolio/indicators",
        "/portfolio/timeline",
        "/portfolio/calendar",
        "/portfolio/analytics",
        "/api/v1/agreements",
        "/api/v1/deliverables",
    ],
    "legal": ["/dashboard", "/inbox", "/agreements/"],
    "auditor": [
        "/dashboard",
        "/portfolio/analytics",
        "/agreements/",
        "/audit/events",
        "/audit/events?since=2026-01-01",
    ],
    "admin": ["/dashboard", "/admin/users", "/admin/outbox"],
    "partner": [
        "/portal",
        "/agreements/",
        "/deliverables/",
        "/notifications",
        "/portfolio/indicators",
        "/api/v1/agreements",
        "/search?q=masse",
        "/api/v1/deliverables",
        "/api/v1/notifications",
        "/organizations/",
        "/events/",
    ],
}
CASES = [(role, path) for role, paths in PAGES.items() for path in paths]


# Loads bounded by the page, not the portfolio, that run only when the shown rows need them: a
# deliverable's hand-ins and files, and the frozen workflow versions (read once per request, when a
# listed agreement is pinned to one; which rows land on the first page differs between the sizes).
# Only a statement that loads those rows themselves is set aside, never a figure that reads them.
CHILD_LOADS = ("deliverable_submissions", "deliverable_files", "workflow_versions")


def _is_child_load(statement: str) -> bool:
    return " ".join(statement.split()).startswith(tuple(f"SELECT {table}." for table in CHILD_LOADS))


def _without_child_loads(statements: list[str]) -> list[str]:
    return [s for s in statements if not _is_child_load(s)]


def _get(client, path: str, bearer: str | None):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return response


@pytest.mark.parametrize(("role", "path"), CASES, ids=[f"{role}:{path}" for role, path in CASES])
def test_page_costs_the_same_queries_at_two_portfolio_sizes(signed_in, world, role, path):
    client = signed_in(role)
    bearer = None
    if path.startswith("/api/"):
        _token, bearer = create_token(world.users[role], "flat", by=None)
        db.session.commit()
    add_bulk_portfolio(world, SMALL, start=0)
    _get(client, path, bearer)  # caches warm (definitions, translations)
    with counting_queries() as small:
        _get(client, path, bearer)
    add_bulk_portfolio(world, LARGE - SMALL, start=SMALL)
    assert db.session.scalar(select(func.count()).select_from(Agreement)) >= LARGE
    with counting_queries() as large:
        _get(client, path, bearer)
    print(
        f"{role} {path}: {len(small)} queries with {SMALL} agreements, {len(large)} with {LARGE} (child loads included)"
    )
    # Everything counted, child loads included, the page stays within the bound.
    assert len(large) <= MAX_QUERIES, "\n\n".join(s[:300] for s in large)
    # The eager loads of the shown rows' own children (a deliverable's hand-ins and their files) run
    # only when the page holds such children; they are bounded by the page size, not the portfolio,
    # and which rows land on the first page differs between the two sizes.
    small, large = _without_child_loads(small), _without_child_loads(large)
    assert len(large) == len(small), "\n\n".join(
        [s[:300] for s in large if s not in small]
        + ["---- only in the small run:"]
        + [s[:300] for s in small if s not in large]
    )


def test_a_repeat_reminder_pass_reads_a_few_statements_and_writes_nothing(world):
    """A pass over a portfolio with nothing new: the same few SELECTs at two sizes, no INSERT."""
    from datetime import datetime, timezone

    from app.notifications.reminders import run_pass

    now = datetime.now(timezone.utc)
    runs = {}
    for size, start in ((SMALL, 0), (LARGE, SMALL)):
        add_bulk_portfolio(world, size - start, start=start)
        first = run_pass(now)
        assert first.created > 0 and first.errors == 0
        with counting_queries() as statements:
            again = run_pass(now)
        assert again.created == 0 and again.errors == 0 and again.already >= first.created
        assert not [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
        runs[size] = len(statements)
    assert runs[SMALL] == runs[LARGE] and runs[LARGE] <= MAX_QUERIES, runs


def test_the_partners_portal_reads_its_feedback_lines_with_their_deliverables(signed_in, world):
    """The portal's "recent feedback" lines (reviewed hand-ins, no longer in what is due) bring their
    deliverable and agreement with them: two or six such lines cost the same statements."""
    from app.deliverables import services as deliverables
    from tests.integration.test_api import PDF, plan, upload

    client = signed_in("partner")
    partner, manager = world.users["partner"], world.users["manager"]

    def reviewed(count: int) -> None:
        for _ in range(count):
            occurrence = plan(world.agreement_a, world.partner_a, manager, days=40)
            deliverables.submit(occurrence, [upload(PDF)], note=None, by=partner, expected_version=occurrence.version)
            deliverables.review(
                occurrence, decision="accept", feedback=None, by=manager, expected_version=occurrence.version
            )
        db.session.commit()
        db.session.expire_all()  # as in a new request: nothing read before is taken as known

    counts, shown = [], 0
    for count in (2, 4):
        reviewed(count)
        shown += count
        _get(client, "/portal", None)
        with counting_queries() as statements:
            page = _get(client, "/portal", None).get_data(as_text=True)
        assert page.count("feedback-item") == shown
        counts.append(len(statements))
    assert counts[0] == counts[1] and counts[1] <= MAX_QUERIES, counts


def test_amendments_under_review_cost_the_board_no_query_each(signed_in, world):
    """An amendment is judged by its parent's budget (the Minister's office step): the parents' totals
    come with the page's, in the same statement, however many amendments wait under review."""
    from datetime import date

    from app.workflow import engine
    from tests import factories

    officer = world.users["officer"]

    def under_review(count: int) -> None:
        for number in range(count):
            parent = factories.agreement(by=officer, partners=[world.partner_a], state="active", title_fr=f"P{number}")
            engine.settle_state(parent)
            changes = {"expires_on": date(2031, 1, number + 1).isoformat()}
            amendment = factories.amendment(parent, officer, partners=[world.partner_a], changes=changes)
            engine.take(amendment, "submit_for_review", by=officer, expected_version=amendment.version)
        db.session.commit()
        db.session.expire_all()

    client = signed_in("manager")
    counts = []
    for count in (1, 3):
        under_review(count)
        _get(client, "/portfolio/board", None)
        with counting_queries() as statements:
            _get(client, "/portfolio/board", None)
        counts.append(len(_without_child_loads(statements)))
    assert counts[0] == counts[1] and counts[1] <= MAX_QUERIES, counts


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_approvals_nobody_can_give_cost_the_dashboard_the_same_queries_at_two_sizes(signed_in, world, role):
    """The only legal adviser deactivated: the agreements waiting on a legal step are listed on the dashboard,
    found and counted with the other cards' agreements, whatever their number."""
    world.users["legal"].is_active_account = False
    db.session.commit()
    client = signed_in(role)
    counts = []
    for size, start in ((SMALL, 0), (LARGE, SMALL)):
        add_bulk_portfolio(world, size - start, start=start)
        _get(client, "/dashboard", None)
        with counting_queries() as statements:
            page = _get(client, "/dashboard", None).get_data(as_text=True)
        assert 'id="nobody-to-approve"' in page and "BULK-" in page[page.index('id="nobody-to-approve"') :]
        counts.append(len(_without_child_loads(statements)))
    assert counts[0] == counts[1] and counts[1] <= MAX_QUERIES, counts
