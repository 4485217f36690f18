"""Real test databases: a temporary SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url


def backend() -> str:
    return "postgresql" if os.environ.get("SHARAKA_TEST_DB") == "postgresql" else "sqlite"


@contextmanager
def fresh_database(tmp_dir: Path, name: str = "sharaka"):
    """Yield the URL of a new, empty database and drop it afterwards."""
    if backend() == "sqlite":
        path = tmp_dir / f"{name}-{uuid.uuid4().hex[:8]}.sqlite"
        yield f"sqlite:///{path}"
        return
    import psycopg

    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        raise RuntimeError("SHARAKA_TEST_DB=postgresql needs TEST_DATABASE_URL")
    url = make_url(base)
    database = f"{name}_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_dsn = url.set(drivername="postgresql", database=url.database or "postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    try:
        yield url.set(drivername="postgresql+psycopg", database=database).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def check_server() -> str | None:
    """Why the PostgreSQL run could not start (TEST_DATABASE_URL unreachable, or its role may not
    create a database), or None: `make test` asks before the SQLite run, not twenty minutes later."""
    import psycopg

    os.environ["SHARAKA_TEST_DB"] = "postgresql"
    try:
        with fresh_database(Path("."), "sharaka_check") as url:
            psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)).close()
    except Exception as error:  # any: reported as it is, with what to do
        return f"{type(error).__name__}: {error}".strip()
    return None


if __name__ == "__main__":
    import sys

    problem = check_server()
    if problem:
        try:
            shown = make_url(os.environ["TEST_DATABASE_URL"]).render_as_string(hide_password=True)
        except Exception:  # not a URL at all: the problem says so
            shown = "not a database URL"
        sys.exit(
            f"TEST_DATABASE_URL ({shown}) cannot be used for the PostgreSQL run: {problem}\n"
            "Start PostgreSQL (see the README's PostgreSQL section), or unset TEST_DATABASE_URL to test on SQLite only."
        )
