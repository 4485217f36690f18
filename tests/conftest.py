"""Fixtures: one migrated database per run, each test inside a rolled-back transaction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask_migrate import upgrade
from sqlalchemy.orm import scoped_session, sessionmaker

from app import create_app
from app.extensions import db
from config import TestingConfig
from tests import factories
from tests.databases import fresh_database


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
    with fresh_database(tmp_path, name) as url:
        app = make_test_app(url, UPLOAD_DIR=str(tmp_path / "uploads"))
        body_app = make_test_app(url, UPLOAD_DIR=str(tmp_path / "uploads"))
        with app.app_context():
            upgrade()
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
    """Mark the tests that need the database (their fixtures reach `app`): `make unit` runs the others."""
    for item in items:
        if "app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)


@pytest.fixture(autouse=True)
def _transaction(request):
    """Run the test inside one outer transaction that is rolled back at the end.

    Services and routes commit as usual; with join_transaction_mode the commits
    only release savepoints, so nothing a test writes is seen by the next.
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
    with app.app_context():
        connection = db.engine.connect()
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


@pytest.fixture
def world(app):
    """A small portfolio with one user of every role and two partner organisations."""
    return factories.build_world()


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
def kept_pages(app, monkeypatch):
    """Production's setting (tests render every page: their factories write rows without the audit
    trail every change of the app leaves, which the kept page's version reads)."""
    from app.auth.kept_pages import forget_kept_pages

    monkeypatch.setitem(app.config, "PAGES_KEPT", True)
    forget_kept_pages()
    yield
    forget_kept_pages()


@pytest.fixture
def signed_in(app, world):
    """signed_in("officer") -> a client signed in as that role's user in `world`."""

    def make(role_or_user):
        user = world.users[role_or_user] if isinstance(role_or_user, str) else role_or_user
        return SignedInClient(app, user)

    return make
