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
