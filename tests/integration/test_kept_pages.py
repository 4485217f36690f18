"""The summary pages kept for their session while nothing they show has changed
(app/auth/kept_pages.py): served again without rendering, never stale after a change (the reader's
own, made through the pages, included), never another session's or another page's."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from tests import factories
from tests.bulk import counting_queries

SUMMARIES = ["/dashboard", "/portfolio/board", "/portfolio/timeline", "/portfolio/calendar", "/portfolio/analytics"]
LISTS = ["/inbox", "/agreements/", "/deliverables/"]
PARTNERS = ["/portal", "/agreements/", "/deliverables/"]
EVERY_KEPT_PAGE = [
    *((role, path) for role in ("officer", "manager") for path in SUMMARIES + LISTS),
    *(("partner", path) for path in PARTNERS),
]


def _column(page: str, stage: str) -> str:
    start = page.index(f'data-stage="{stage}">')
    return page[start : page.find("</section>", start)]


def _csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize(("role", "path"), EVERY_KEPT_PAGE)
def test_an_unchanged_page_is_served_as_kept_for_one_statement(signed_in, world, kept_pages, role, path):
    client = signed_in(role)
    first = client.get(path)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    with counting_queries() as statements:
        again = client.get(path)
    assert again.status_code == 200 and again.get_data() == first.get_data()
    # The session's own statement: its user, the bell, the latest notice and the trail's version.
    assert len(statements) == 1, statements
    with counting_queries() as statements:
        revalidated = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert revalidated.status_code == 304 and not revalidated.get_data() and len(statements) == 1


def test_the_readers_own_move_through_the_pages_shows_on_the_kept_board_at_once(signed_in, world, kept_pages):
    officer = signed_in("officer")
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Accord suivi")
    db.session.commit()
    before = officer.get("/portfolio/board").get_data(as_text=True)
    assert agreement.reference in _column(before, "draft")
    assert officer.get("/portfolio/board").get_data(as_text=True) == before  # kept
    moved = officer.post(
        f"/agreements/{agreement.id}/actions/submit_for_review",
        data={"version": str(agreement.version)},
        csrf_from=f"/agreements/{agreement.id}",
    )
    assert moved.status_code == 303
    after = officer.get("/portfolio/board").get_data(as_text=True)
    assert agreement.reference not in _column(after, "draft")
    assert agreement.reference in _column(after, "internal_review")


@pytest.mark.parametrize(("role", "path"), [pair for pair in EVERY_KEPT_PAGE if pair[0] != "officer"])
def test_another_persons_change_draws_the_kept_page_again(signed_in, world, kept_pages, role, path):
    reader = signed_in(role)
    reader.get(path)
    # Another person's change, written as the app writes it (with its audit row).
    factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Accord d'un autre")
    db.session.commit()
    with counting_queries() as statements:
        assert reader.get(path).status_code == 200
    assert len(statements) > 1, statements  # drawn again, not served as kept


def test_each_path_is_its_own_page_and_its_own_etag(signed_in, world, kept_pages):
    client = signed_in("manager")
    board = client.get("/portfolio/board")
    filtered = client.get("/portfolio/board?type=mou")
    assert board.headers["ETag"] != filtered.headers["ETag"]
    # An ETag of one page never answers for another.
    other = client.get("/portfolio/calendar", headers={"If-None-Match": board.headers["ETag"]})
    assert other.status_code == 200 and b'id="month-heading"' in other.get_data()
    next_month = client.get("/portfolio/calendar?month=2031-02").get_data(as_text=True)
    assert "February 2031" in next_month and "February 2031" not in other.get_data(as_text=True)


def test_each_session_is_kept_its_own_page_whose_forms_it_may_post(signed_in, kept_pages):
    first, second = signed_in("manager"), signed_in("manager")
    page_one = first.get("/portfolio/board").get_data(as_text=True)
    page_two = second.get("/portfolio/board").get_data(as_text=True)
    assert _csrf_token(page_one) != _csrf_token(page_two)
    assert second.get("/portfolio/board").get_data(as_text=True) == page_two
    assert first.get("/portfolio/board").get_data(as_text=True) == page_one


def test_another_reader_never_gets_a_kept_page(signed_in, world, kept_pages):
    manager, auditor = signed_in("manager"), signed_in("auditor")
    managers = manager.get("/portfolio/board")
    auditors = auditor.get("/portfolio/board", headers={"If-None-Match": managers.headers["ETag"]})
    assert auditors.status_code == 200 and auditors.headers["ETag"] != managers.headers["ETag"]


def test_a_filter_warning_stays_on_its_kept_page_and_a_pending_message_is_never_kept(signed_in, kept_pages):
    client = signed_in("manager")
    warned = client.get("/portfolio/board?type=%3Cscript%3E").get_data(as_text=True)
    assert "Some filters were not valid and were ignored." in warned
    assert client.get("/portfolio/board?type=%3Cscript%3E").get_data(as_text=True) == warned
    assert "Some filters were not valid" not in client.get("/portfolio/board").get_data(as_text=True)
    with client.http.session_transaction() as session:
        session["_flashes"] = [("success", "Saved.")]
    assert "Saved." in client.get("/portfolio/board").get_data(as_text=True)
    assert "Saved." not in client.get("/portfolio/board").get_data(as_text=True)


def test_a_partner_is_still_sent_to_the_portal_and_kept_nothing(signed_in, kept_pages):
    partner = signed_in("partner")
    for _ in range(2):
        answer = partner.get("/dashboard")
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/portal")
        assert partner.get("/portfolio/analytics").status_code in (403, 404)


def test_only_the_pages_own_etag_answers_304_never_a_star(signed_in, kept_pages):
    manager, partner = signed_in("manager"), signed_in("partner")
    assert manager.get("/portfolio/board", headers={"If-None-Match": "*"}).status_code == 200
    # A page the reader may not see stays refused, and a partner's dashboard still sends them home.
    assert partner.get("/portfolio/analytics", headers={"If-None-Match": "*"}).status_code in (403, 404)
    assert partner.get("/dashboard", headers={"If-None-Match": "*"}).status_code == 302


def test_two_sessions_of_one_reader_have_their_own_etags(signed_in, kept_pages):
    first, second = signed_in("manager"), signed_in("manager")
    etag = first.get("/portfolio/board").headers["ETag"]
    assert second.get("/portfolio/board").headers["ETag"] != etag
    # The other session's copy carries forms only that session may post: not "unchanged" here.
    assert second.get("/portfolio/board", headers={"If-None-Match": etag}).status_code == 200


def test_the_etag_is_keyed_so_it_tells_nothing_of_the_trail(app, world, monkeypatch):
    # Unkeyed, a partner recovered the ministry's count of changes from an ETag by trying small numbers.
    from app.auth import kept_pages

    monkeypatch.setattr(kept_pages, "request_trail_version", lambda: 243)
    monkeypatch.setattr(kept_pages, "latest_notice_id", lambda user: None)
    monkeypatch.setattr(kept_pages, "unread_count", lambda user: 0)
    reader = world.users["partner"]
    with app.test_request_context("/portal"):
        one = kept_pages.page_version(reader, "/portal?")
        monkeypatch.setitem(app.config, "SECRET_KEY", "another key, as long as a real one should be")
        assert kept_pages.page_version(reader, "/portal?") != one


@pytest.mark.parametrize(
    ("command", "path"),
    [(["search", "reindex"], "/agreements/?q=accord"), (["deliverables", "refill-hand-in-days"], "/dashboard")],
)
def test_a_maintenance_command_that_rewrites_what_pages_show_draws_them_again(
    app, signed_in, kept_pages, command, path
):
    from sqlalchemy import select

    from app.core.audit import AuditEvent

    manager = signed_in("manager")
    manager.get(path)
    result = app.test_cli_runner().invoke(args=command)
    assert result.exit_code == 0, result.output
    with counting_queries() as statements:
        assert manager.get(path).status_code == 200
    assert len(statements) > 1, statements  # drawn again: the command is on record, the trail moved
    recorded = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "settings")).all()
    assert recorded[-1] in ("search_reindexed", "hand_in_days_refilled")
