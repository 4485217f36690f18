"""Flask extensions, created unbound and bound to an app in create_app."""

from __future__ import annotations

import sqlite3
import time
from typing import cast

import psycopg
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import Pool

# Fixed constraint names, so that Alembic migrations are the same on SQLite and
# PostgreSQL and constraints can be dropped by name later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record):  # pragma: no cover - trivial
    """WAL and foreign keys for SQLite, and hand transaction control to SQLAlchemy.

    pysqlite's own implicit BEGIN handling breaks SAVEPOINTs and delays locks in
    surprising ways; with isolation_level=None we emit BEGIN ourselves below.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


# Settings of every PostgreSQL connection the application opens (scheduler and commands included):
# - jit off: PostgreSQL compiles a statement whose estimated cost passes jit_above_cost. The only one
#   of Sharaka's pages that did (stage analytics' approval waits, at 10,000 agreements) spent 41 ms of
#   its 80 compiling, at every request. JIT pays for long analytical queries, not pages.
# - random_page_cost 1.1 (default 4, priced for spinning disks): Sharaka's data is small beside a
#   server's memory (10,000 agreements and a million audit rows are some hundreds of MB), so a page
#   read at random costs about what a sequential one does, as PostgreSQL's documentation advises for
#   data cached in memory or on SSDs. At 4 the planner read whole tables (13,766 deliverables for one
#   officer's 338) where an index gave the rows: the board's statements 22 -> 11 ms, the officer's
#   dashboard 17 -> 12 ms, the partner's portal 39 -> 29 ms at 10,000 agreements.
POSTGRESQL_SESSION = {"jit": "off", "random_page_cost": "1.1"}


@event.listens_for(Engine, "connect")
def _configure_postgresql(dbapi_connection, connection_record):
    """POSTGRESQL_SESSION on each new PostgreSQL connection, once: a connection is reused by many requests."""
    if not isinstance(dbapi_connection, psycopg.Connection):
        return
    with dbapi_connection.cursor() as cursor:
        for name, value in POSTGRESQL_SESSION.items():
            cursor.execute(f"SET {name} = {value}")
    dbapi_connection.commit()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):  # pragma: no cover - trivial
    if conn.dialect.name == "sqlite":
        # A writer asks for the write lock up front (see app/core/db.write_transaction):
        # a deferred transaction that read first cannot upgrade once another writer
        # has committed, and fails at once with "database is locked".
        # So does every request that may change something (any method but GET, HEAD, OPTIONS): a sign-in
        # or a form read before it writes, and two at once made the second fail ("this has changed").
        immediate = conn.get_execution_options().get("sqlite_immediate") or _request_may_write()
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        # Whether the transaction has written since (core.db.unit_of_work): the connection's count of rows changed.
        conn.info[SQLITE_CHANGES_AT_BEGIN] = sqlite_rows_changed(conn)


def sqlite_rows_changed(conn) -> int:
    """The rows a SQLite connection (SQLAlchemy's) has changed since it opened."""
    return cast(sqlite3.Connection, conn.connection.dbapi_connection).total_changes


SQLITE_CHANGES_AT_BEGIN = "sharaka.changes_at_begin"  # in a SQLite connection's info

# Methods that change nothing by HTTP's rules; some still write (app/core/db.py: run_again_as_writer).
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# In a request's WSGI environ: this run of it is a writer's from its first statement (db.run_again_as_writer).
AS_WRITER = "sharaka.as_writer"


def _request_may_write() -> bool:
    from flask import has_request_context, request

    return has_request_context() and (request.method not in SAFE_METHODS or bool(request.environ.get(AS_WRITER)))


# A server connection used within this many seconds is handed out as it is; one idle for longer is
# first asked whether the server still answers, and replaced if not (a restarted server, a connection
# closed by a firewall or an idle timeout). SQLAlchemy's pool_pre_ping asks every time: one more round
# trip per request, a fifth of what a kept dashboard's reload costs. A server that dies between two
# requests less than a second apart fails the second one, as it fails the requests under way.
PING_AFTER_IDLE_SECONDS = 1.0


@event.listens_for(Pool, "checkin")
def _note_idle_since(dbapi_connection, connection_record):
    connection_record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, connection_record, connection_proxy):
    idle_since = connection_record.info.get("idle_since")  # none yet: a connection just opened
    if isinstance(dbapi_connection, sqlite3.Connection) or idle_since is None:
        return
    if time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # handed out as it came back: no transaction open
    except Exception as error:
        # The pool drops this connection and hands out a new one (SQLAlchemy's documented recipe).
        raise DisconnectionError(str(error)) from error
