"""A pooled connection the server closed while it sat idle is replaced before anyone uses it.

The pool asks the server about a connection only when it was idle for PING_AFTER_IDLE_SECONDS
(app/extensions.py), not on every checkout. These tests close the connection from the server's side,
as a restart or an idle timeout would, and take it out of the pool again.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app import extensions
from tests.databases import backend

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="a server closes the connection")


def _closed_by_the_server(database_url: str):
    """An engine of one pooled connection that the server has just closed, and that connection's pid."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    with engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    url = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]:
            pass  # wait until the server has let it go
    return engine, pid


def test_an_idle_connection_the_server_closed_is_replaced(app, database_url, monkeypatch):
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0.0)  # idle long enough to be asked
    engine, pid = _closed_by_the_server(database_url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_asked(app, database_url, monkeypatch):
    """The other side of the trade: within the second the pool trusts the connection, so the
    closed one is handed out and its first statement fails (the pool then drops it)."""
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine, _pid = _closed_by_the_server(database_url)
    try:
        with pytest.raises(OperationalError), engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        with engine.connect() as connection:  # replaced once found closed
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


def test_the_applications_connections_carry_its_session_settings(app, database_url):
    """Every connection the app opens is set as app/extensions.POSTGRESQL_SESSION says: JIT off (stage
    analytics' statement was compiled at every request, half of its time) and random reads priced for
    data in memory (the planner read whole tables where an index gave a few rows)."""
    from app.extensions import POSTGRESQL_SESSION, db

    with app.app_context():
        db.engine.dispose()  # connections opened from here on
        shown = {name: db.session.execute(text(f"SHOW {name}")).scalar() for name in POSTGRESQL_SESSION}
        db.session.rollback()
    assert shown == {"jit": "off", "random_page_cost": "1.1"}
