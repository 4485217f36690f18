"""While the database cannot be reached, people get a clear answer that asks nothing of it: 503 with
Retry-After, the page in the browser's language, problem+json for the API; and the app serves again as
soon as the database is back, without a restart. The outage is real: on SQLite the file is out of reach,
on PostgreSQL the database refuses connections and its sessions are ended."""

import os
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from app.extensions import db
from tests import factories
from tests.conftest import SignedInClient, app_on_a_fresh_database


@contextmanager
def out_of_reach(app, url: str):
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database)
        os.rename(path, path.with_suffix(".away"))
        path.mkdir()  # a directory where the file was: "unable to open database file"
    else:
        admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'ALTER DATABASE "{parsed.database}" ALLOW_CONNECTIONS false')
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (parsed.database,)
            )
    for each in (app,):
        with each.app_context():
            db.engine.dispose()
    try:
        yield
    finally:
        if parsed.get_backend_name() == "sqlite":
            path.rmdir()
            os.rename(path.with_suffix(".away"), path)
        else:
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'ALTER DATABASE "{parsed.database}" ALLOW_CONNECTIONS true')


@contextmanager
def officer_in_french(tmp_path, name: str):
    """(app, url, the officer signed in, reading French) on a fresh database, its connections closed."""
    with app_on_a_fresh_database(tmp_path, name) as (app, url):
        world = factories.build_world()
        db.session.commit()
        officer = SignedInClient(app, world.users["officer"])
        officer.http.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
        assert officer.get("/agreements/").status_code == 200
        db.session.remove()
        with app.app_context():
            db.engine.dispose()
        yield app, url, officer


def test_while_the_database_is_out_of_reach_pages_and_the_api_answer_503_and_recover(tmp_path):
    with officer_in_french(tmp_path, "outage") as (app, url, officer):
        with out_of_reach(app, url):
            page = officer.get("/agreements/")
            assert page.status_code == 503 and page.headers["Retry-After"] == "30"
            text = page.get_data(as_text=True)
            assert "Temporairement indisponible" in text and 'lang="fr"' in text
            api = officer.get("/api/v1/agreements", headers={"Authorization": "Bearer shk_not_checked_while_down"})
            assert api.status_code == 503 and api.mimetype == "application/problem+json"
            assert api.get_json()["status"] == 503
        with app.app_context():
            db.engine.dispose()
        assert officer.get("/agreements/").status_code == 200  # back, without a restart


def test_the_database_lost_at_the_requests_commit_is_a_503_not_a_500(tmp_path):
    """A connection cut while the request commits (after its view answered) was Flask's 500 for an
    after-request failure, whose error page asked the lost database again (a probe cut connections under
    load: 47 answers of 500 with tracebacks). It is the outage's 503, and the next request is served."""
    from flask import has_request_context
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    with app_on_a_fresh_database(tmp_path, "lost_at_commit") as (app, url):
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            pytest.skip("an SQLite file has no connection to cut")
        world = factories.build_world()
        db.session.commit()
        officer = SignedInClient(app, world.users["officer"])
        officer.http.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
        from app.api.tokens import create_token

        token = create_token(world.users["officer"], "script", by=world.users["officer"])[1]
        db.session.commit()
        db.session.remove()
        admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        cuts = []

        def cut_at_commit(session):
            """At the commit of the request's own work (the after-request hook's), not an earlier one."""
            from flask import request

            if has_request_context() and request.path not in cuts and _in_the_requests_commit():
                cuts.append(request.path)
                with psycopg.connect(admin, autocommit=True) as connection:
                    connection.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (parsed.database,)
                    )

        event.listen(Session, "before_commit", cut_at_commit)
        try:
            page = officer.get("/agreements/")
            api = officer.get("/api/v1/agreements", headers={"Authorization": f"Bearer {token}"})
        finally:
            event.remove(Session, "before_commit", cut_at_commit)
        assert cuts == ["/agreements/", "/api/v1/agreements"]
        assert page.status_code == 503 and page.headers["Retry-After"] == "30"
        assert "Temporairement indisponible" in page.get_data(as_text=True)
        assert api.status_code == 503 and api.mimetype == "application/problem+json"
        assert officer.get("/agreements/").status_code == 200  # served again, without a restart


def _in_the_requests_commit() -> bool:
    import inspect

    return any(frame.function == "commit_the_request" for frame in inspect.stack(context=0))


def test_an_error_answered_while_the_database_is_out_of_reach_is_its_503_not_a_bare_500(tmp_path):
    """An answer that is itself an error (an address that is none, the API asked with the session's cookie
    and no token, a form whose security token is gone) reads the signed-in person from the session for its
    language and page: during an outage that read failed inside the error handler, and gunicorn answered a
    bare "Internal Server Error" with a traceback (a probe stopping PostgreSQL: 38 of them). It is the
    outage's 503 too."""
    with officer_in_french(tmp_path, "outage_errors") as (app, url, officer):
        with out_of_reach(app, url):
            for answer in (
                officer.get("/no-such-page"),
                officer.get("/api/v1/agreements"),
                officer.http.post("/agreements/new", data={"title_fr": "x"}),
            ):
                assert answer.status_code == 503 and answer.headers["Retry-After"] == "30", answer.status_code
            assert "Temporairement indisponible" in officer.get("/no-such-page").get_data(as_text=True)
            api = officer.get("/api/v1/agreements")
            assert api.mimetype == "application/problem+json" and api.get_json()["status"] == 503
        with app.app_context():
            db.engine.dispose()
        assert officer.get("/no-such-page").status_code == 404  # back, without a restart
