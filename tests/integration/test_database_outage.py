"""While the database cannot be reached, people get a clear answer that asks nothing of it: 503 with
Retry-After, the page in the browser's language, problem+json for the API; and the app serves again as
soon as the database is back, without a restart. The outage is real: on SQLite the file is out of reach,
on PostgreSQL the database refuses connections and its sessions are ended."""

import os
from contextlib import contextmanager
from pathlib import Path

import psycopg
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


def test_while_the_database_is_out_of_reach_pages_and_the_api_answer_503_and_recover(tmp_path):
    with app_on_a_fresh_database(tmp_path, "outage") as (app, url):
        world = factories.build_world()
        db.session.commit()
        officer = SignedInClient(app, world.users["officer"])
        officer.http.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
        assert officer.get("/agreements/").status_code == 200
        db.session.remove()
        with app.app_context():
            db.engine.dispose()
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
