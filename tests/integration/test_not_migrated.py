"""A database never migrated, or behind this code: pages answer 503 saying so and the log holds one line for
each, not a traceback; a command says it in one line and exits 1 (each had been a traceback, pages a 500)."""

import logging
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from flask_migrate import downgrade

from app.extensions import db
from tests import factories
from tests.conftest import SignedInClient, make_test_app
from tests.databases import fresh_database, migrated_database

ROOT = Path(__file__).resolve().parents[2]
SAID = "flask db upgrade"


@contextmanager
def _errors_logged(app, count: int):
    """The app logs `count` errors meanwhile, each one line saying to migrate, no traceback. Read from its own
    logger: the migrations' logging configuration (alembic.ini) leaves the root's handlers out of it."""
    handler = logging.Handler(logging.ERROR)
    said: list[logging.LogRecord] = []
    handler.emit = said.append  # type: ignore[method-assign]
    app.logger.addHandler(handler)
    try:
        yield
    finally:
        app.logger.removeHandler(handler)
    assert len(said) == count, [record.getMessage() for record in said]
    for record in said:
        assert record.exc_info is None and "run `flask db upgrade`" in record.getMessage()


def test_pages_on_a_database_never_migrated_answer_503_saying_to_migrate(tmp_path):
    with fresh_database(tmp_path, "empty") as url:
        app = make_test_app(url, UPLOAD_DIR=str(tmp_path / "uploads"))
        try:
            client = SignedInClient(app, None)
            with _errors_logged(app, 1):
                signing_in = client.sign_in("someone@example.ma", factories.PASSWORD)
            assert signing_in.status_code == 503 and SAID in signing_in.get_data(as_text=True)
        finally:
            with app.app_context():
                db.engine.dispose()


def test_pages_on_a_database_behind_this_code_answer_503_saying_to_migrate(tmp_path):
    with migrated_database(tmp_path, "behind") as url:
        app = make_test_app(url, UPLOAD_DIR=str(tmp_path / "uploads"))
        try:
            with app.app_context():
                officer = factories.user("officer", factories.organization("ministere", is_home=True))
                db.session.commit()
                email = officer.email
                db.session.remove()
                # A database behind this code: the columns 0040 added gone. Named, not "-1": a last migration that
                # adds no column (0041, a role's check) leaves a database whose every page still works.
                downgrade(revision="0039_cancelled_drafts_unshown")
                db.session.remove()
                db.engine.dispose()
            client = SignedInClient(app, None)
            assert client.sign_in(email, factories.PASSWORD).status_code == 302
            with _errors_logged(app, 2):
                for path in ("/agreements/", "/deliverables/"):
                    page = client.get(path)
                    assert page.status_code == 503 and SAID in page.get_data(as_text=True), (path, page.status_code)
            assert client.get("/readyz").status_code == 503
        finally:
            with app.app_context():
                db.engine.dispose()


def test_a_command_on_a_database_never_migrated_says_so_in_a_line(tmp_path):
    with fresh_database(tmp_path, "empty_cli") as url:
        done = subprocess.run(
            [sys.executable, "-m", "flask", "users", "create-token", "someone@example.ma"],
            cwd=ROOT,
            env={**os.environ, "FLASK_APP": "app", "SHARAKA_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr[-2000:]
    said = [line for line in done.stderr.splitlines() if "WARNING" not in line]
    assert len(said) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert said[0].startswith("The database is not ready (DATABASE_URL ") and said[0].endswith(
        "run `flask db upgrade`."
    ), said
