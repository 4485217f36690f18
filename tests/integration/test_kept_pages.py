"""The summary pages kept for their session while nothing they show has changed
(app/auth/kept_pages.py): served again without rendering, never stale after a change (the reader's
own, made through the pages, included), never another session's or another page's."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from app.extensions import db
from tests import factories
from tests.bulk import counting_queries
from tests.conftest import make_test_app

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


def _worker_like(app, **settings):
    """Another worker of the same server: an app of its own on the same database and settings (`settings`
    changed), reading the store of the machine (kept pages and figures) where `app` keeps it."""
    other = make_test_app(app.config["SQLALCHEMY_DATABASE_URI"], UPLOAD_DIR=app.config["UPLOAD_DIR"])
    other.config.update({"PAGES_KEPT": True, "KEPT_PAGES_DIR": app.config["KEPT_PAGES_DIR"], **settings})
    return other


def _same_session(client, app):
    """A test client of `app` holding `client`'s cookies: the same browser, its request sent to another worker."""
    other = app.test_client()
    other.environ_base.update(client.http.environ_base)
    for name in ("session", "remember_token"):
        cookie = client.http.get_cookie(name)
        if cookie is not None:
            other.set_cookie(name, cookie.value)
    return other


@pytest.mark.live
def test_a_page_drawn_by_one_server_process_is_served_as_kept_by_another(tmp_path):
    """Two gunicorn processes of one machine (as two workers of one server are): a page one drew is what the
    other serves, until something changes. The proof is a row changed by hand, which no version names (as
    the README says of data changed outside the app): the second process still serves the first's page."""
    from sqlalchemy import text

    from tests.databases import migrated_database
    from tests.integration.test_multi_server import wait_ready
    from tests.integration.test_notifications_mail import ROOT, free_port
    from tests.live import Browser

    with migrated_database(tmp_path, "kept") as url:
        setup = make_test_app(url, UPLOAD_DIR=str(tmp_path / "uploads"))
        with setup.app_context():
            world = factories.build_world()
            db.session.commit()
            manager, agreement_id = world.users["manager"].email, world.agreement_a.id
            title = world.agreement_a.title_fr
            db.session.remove()
        ports, processes = [free_port(), free_port()], []
        try:
            environment = {
                **os.environ,
                "DATABASE_URL": url,
                "SHARAKA_CONFIG": "development",
                "FLASK_SKIP_DOTENV": "1",
                "SHARAKA_INSTANCE_DIR": str(tmp_path / "instance"),  # the pages kept in it, by default
                "PAGES_KEPT": "true",
                "WEB_CONCURRENCY": "1",
            }
            for port in ports:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "wsgi:app"],
                        cwd=ROOT,
                        env=environment,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            server_a, server_b = (f"http://127.0.0.1:{port}" for port in ports)
            wait_ready(server_a, processes[0])
            wait_ready(server_b, processes[1])
            browser = Browser(server_a)
            browser.sign_in(manager, factories.PASSWORD)
            status, drawn = browser.get("/agreements/")
            assert status == 200 and title in drawn

            with setup.app_context():
                db.session.execute(
                    text("UPDATE agreements SET title_fr = :title WHERE id = :id"),
                    {"title": "Retitré à la main", "id": agreement_id},
                )
                db.session.commit()
                db.session.remove()
            # The same cookies (a cookie does not name its port): the session's next request, on the other.
            browser.base = server_b
            status, kept = browser.get("/agreements/")
            assert status == 200 and kept == drawn
            status, drawn_by_b = browser.get(f"/agreements/{agreement_id}")  # not a kept page: read now
            assert status == 200 and "Retitré à la main" in drawn_by_b
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
            with setup.app_context():
                db.engine.dispose()


def test_a_worker_with_other_settings_or_code_draws_its_pages_anew(app, signed_in, kept_pages):
    manager = signed_in("manager")
    first = manager.get("/dashboard")
    # Started after a setting changed (here the references' prefix): nothing drawn before is served.
    elsewhere = _same_session(manager, _worker_like(app, AGREEMENT_REF_PREFIX="OTHER"))
    with counting_queries() as statements:
        again = elsewhere.get("/dashboard", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and again.headers["ETag"] != first.headers["ETag"] and len(statements) > 1


def test_the_code_a_page_is_drawn_with_is_named_by_its_files_times_and_sizes(tmp_path):
    from app.core.machine_store import files_digest

    (tmp_path / "templates").mkdir()
    template = tmp_path / "templates" / "page.html"
    template.write_text("<p>{{ one }}</p>")
    (tmp_path / "__pycache__").mkdir()
    folders = (str(tmp_path),)
    before = files_digest.__wrapped__(folders)
    (tmp_path / "__pycache__" / "page.pyc").write_bytes(b"written as the process runs")
    assert files_digest.__wrapped__(folders) == before
    template.write_text("<p>{{ two }}</p>")  # the same size, a later time: a deployment
    os.utime(template, ns=(template.stat().st_atime_ns, template.stat().st_mtime_ns + 1_000_000_000))
    assert files_digest.__wrapped__(folders) != before


def test_an_upgraded_package_is_named_in_what_pages_are_drawn_with(app, monkeypatch):
    from app.core import machine_store

    listed = machine_store.installed()
    assert any(name.startswith(("Flask-3", "flask-3")) for name in listed), listed
    before = machine_store.drawn_with(app)
    upgraded = tuple(name.replace("Flask-3", "Flask-4").replace("flask-3", "flask-4") for name in listed)
    monkeypatch.setattr(machine_store, "installed", lambda: upgraded)
    app.extensions.pop("machine_store.drawn_with")
    assert machine_store.drawn_with(app) != before
    app.extensions.pop("machine_store.drawn_with")


def test_a_store_that_cannot_be_written_only_means_drawing_the_page(app, signed_in, kept_pages, tmp_path, monkeypatch):
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    monkeypatch.setitem(app.config, "KEPT_PAGES_DIR", str(not_a_directory))
    manager = signed_in("manager")
    first = manager.get("/dashboard")
    with counting_queries() as statements:
        again = manager.get("/dashboard")
    assert first.status_code == again.status_code == 200 and len(statements) > 1


def test_a_busy_store_means_drawing_the_page_and_one_line_in_the_log(app, signed_in, kept_pages, monkeypatch, caplog):
    """Under load many workers keep pages at once and the store's lock may not come within its wait: the
    page is drawn, and the log says so in a line, not a traceback for each (an outside probe's log held
    eight under a crawl)."""
    import logging

    import diskcache

    def busy(*args, **kwargs):
        raise diskcache.Timeout("busy")

    manager = signed_in("manager")
    monkeypatch.setattr(diskcache.Cache, "get", busy)
    monkeypatch.setattr(diskcache.Cache, "set", busy)
    with caplog.at_level(logging.INFO, logger="app.core.machine_store"):
        first, again = manager.get("/dashboard"), manager.get("/dashboard")
    assert first.status_code == again.status_code == 200
    said = [r for r in caplog.records if r.name == "app.core.machine_store"]
    assert said and all(r.levelno == logging.INFO and r.exc_info is None for r in said)
