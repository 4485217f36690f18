"""Fixtures: one migrated database per run, each test inside a rolled-back transaction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.orm import scoped_session, sessionmaker

from app import create_app
from app.extensions import db
from config import TestingConfig
from tests import factories
from tests.databases import backend, fresh_database, migrated_database


def make_test_app(database_url: str, **overrides):
    # English outside requests (services, CLI): assertions read English messages.
    overrides.setdefault("BABEL_DEFAULT_LOCALE", "en")
    config = type("RunConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    return create_app(config)


@contextmanager
def app_on_a_fresh_database(tmp_path, name: str) -> Iterator[tuple]:
    """(app, url) on a migrated database of the test's own, outside the run's shared one (a test that drops
    triggers, or holds the database from another connection), the body running in a twin's context so the
    test client's requests get contexts of their own. Dropped afterwards."""
    with migrated_database(tmp_path, name) as url:
        app = make_test_app(url, UPLOAD_DIR=str(tmp_path / "uploads"))
        body_app = make_test_app(url, UPLOAD_DIR=str(tmp_path / "uploads"))
        try:
            with body_app.app_context():
                try:
                    yield app, url
                finally:
                    db.session.remove()
                    db.engine.dispose()
        finally:
            with app.app_context():
                db.engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = make_test_app(database_url, UPLOAD_DIR=str(tmp_path_factory.mktemp("uploads")))
    with app.app_context():
        upgrade()  # the real migrations, not create_all
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def test_body_app(database_url, app):
    """A twin of `app` whose context the test body runs in.

    Flask reuses an already pushed context of the same app for a test client's
    request, which would share `g` (CSRF token, signed-in user) between requests.
    Running the test body in a twin's context keeps each request's `g` its own.
    """
    return make_test_app(database_url, UPLOAD_DIR=app.config["UPLOAD_DIR"])


def pytest_collection_modifyitems(items):
    """Mark the tests that need the database (their fixtures reach `app`): `make unit` runs the others. In the
    PostgreSQL pass, skip those marked backend_neutral: they ran in the SQLite pass and would do the same again
    (starting processes that read settings, say), a minute and a half of CI's time."""
    neutral = pytest.mark.skip(reason="does the same on every database: run in the SQLite pass")
    for item in items:
        if "app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)
        if backend() != "sqlite" and item.get_closest_marker("backend_neutral"):
            item.add_marker(neutral)


@pytest.fixture(scope="session")
def world_database(app, tmp_path_factory):
    """(app, ids) of a database of this worker's own, migrated, with `factories.build_world()` committed once:
    the tests that take `world` run in their rolled-back transaction on it, the others on `database_url`'s,
    which stays empty. Building the world for each test (eight accounts, two agreements, their audit rows
    and search entries) was a third of the suite's time, and more on PostgreSQL."""
    with fresh_database(tmp_path_factory.mktemp("world"), "world") as url:
        world_app = make_test_app(url, UPLOAD_DIR=app.config["UPLOAD_DIR"])
        with world_app.app_context():
            upgrade()
            if backend() == "postgresql":
                # The world's ids as long as those the tests make after it (PostgreSQL's sequences never go
                # back): a world agreement 1 would be the start of every agreement 1xxx, and a page that must
                # not show "/agreements/1" would seem to whenever it lists one of them.
                for sequence in db.session.scalars(text("SELECT sequence_name FROM information_schema.sequences")):
                    db.session.execute(text("SELECT setval(:sequence, 1000000)"), {"sequence": sequence})
            ids = factories.build_world().ids()
            if backend() == "postgresql":
                # The planner's statistics of the world now, not whenever autovacuum comes by during the run.
                db.session.execute(text("ANALYZE"))
                db.session.commit()
            db.session.remove()
        yield world_app, ids
        with world_app.app_context():
            db.engine.dispose()


@pytest.fixture(autouse=True)
def _transaction(request):
    """Run the test inside one outer transaction that is rolled back at the end.

    Services and routes commit as usual; with join_transaction_mode the commits
    only release savepoints, so nothing a test writes is seen by the next.
    A test that takes `world` runs on the world's database (world_database), the session bound to it.
    Browser tests talk to a server in another process and skip this.
    """
    if (
        request.node.get_closest_marker("browser")
        or request.node.get_closest_marker("live")
        or "app" not in request.fixturenames
    ):
        yield  # a database-free test (make unit) or one with a server of its own
        return
    app = request.getfixturevalue("app")
    body_app = request.getfixturevalue("test_body_app")
    holder = request.getfixturevalue("world_database")[0] if _shares_the_world(request) else app
    with holder.app_context():
        connection = db.engine.connect()
    with app.app_context():
        outer = connection.begin()
        original_session = db.session
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=original_session.registry.scopefunc,
        )
        try:
            with body_app.app_context():
                yield
        finally:
            db.session.remove()
            db.session = original_session
            outer.rollback()
            connection.close()


@pytest.fixture
def set_rates(app, test_body_app, monkeypatch):
    """set_rates({"EUR": Decimal("10.80")}): the budget's reference rates (BUDGET_RATES_TO_MAD) for this test,
    in the requests' app and the test body's."""

    def set_them(rates: dict) -> None:
        for each in (app, test_body_app):
            monkeypatch.setitem(each.config, "BUDGET_RATES_TO_MAD", rates)

    return set_them


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def _shares_the_world(request) -> bool:
    return "world" in request.fixturenames and not request.node.get_closest_marker("own_world")


@pytest.fixture
def world(request, app):
    """A small portfolio with one user of every role and two partner organisations: built once per worker and
    read in the test's own session, or built for the test (marked own_world) on the settings its fixtures
    made before it, such as other workflow definitions."""
    if not _shares_the_world(request):
        return factories.build_world()
    world = factories.World.load(request.getfixturevalue("world_database")[1])
    # Ended as build_world ended, with a commit: a savepoint left open here would take in what other sessions
    # commit on the connection (a request's, a command's), and a rollback of the body's session undo it.
    db.session.commit()
    return world


class SignedInClient:
    def __init__(self, app, user):
        self.user = user
        self.http = app.test_client()
        # Assertions read English messages; the default language would be French.
        self.http.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        self.token = None
        if user is not None:
            self.sign_in(user.email, factories.PASSWORD)

    def csrf(self, path: str = "/agreements/") -> str:
        page = self.http.get(path).get_data(as_text=True)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
            r'name="csrf_token" value="([^"]+)"', page
        )
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def sign_in(self, email: str, password: str):
        token = self.csrf("/sign-in")
        return self.http.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})

    def get(self, *args, **kwargs):
        return self.http.get(*args, **kwargs)

    def post(self, path: str, data=None, csrf_from: str | None = None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf(csrf_from or path))
        return self.http.post(path, data=data, **kwargs)


@pytest.fixture
def machine_store(app, monkeypatch, tmp_path):
    """The store the machine's workers keep pages and figures in (app/core/machine_store.py): the test's own."""
    from app.core import machine_store

    monkeypatch.setitem(app.config, "KEPT_PAGES_DIR", str(tmp_path / "kept-pages"))
    machine_store.forget(app)
    yield
    machine_store.forget(app)


@pytest.fixture
def kept_pages(app, monkeypatch, machine_store):
    """Production's setting (tests render every page: their factories write rows without the audit
    trail every change of the app leaves, which the kept page's version reads), the pages kept in a
    store of the test's own."""
    monkeypatch.setitem(app.config, "PAGES_KEPT", True)


@pytest.fixture
def kept_figures(app, monkeypatch, machine_store):
    """Production's setting for the figures over the whole portfolio (app/core/kept.py), kept in a store
    of the test's own."""
    monkeypatch.setitem(app.config, "FIGURES_KEPT", True)


@pytest.fixture
def signed_in(app, world):
    """signed_in("officer") -> a client signed in as that role's user in `world`."""

    def make(role_or_user):
        user = world.users[role_or_user] if isinstance(role_or_user, str) else role_or_user
        return SignedInClient(app, user)

    return make
