"""Real test databases: a temporary SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url


def backend() -> str:
    return "postgresql" if os.environ.get("SHARAKA_TEST_DB") == "postgresql" else "sqlite"


@contextmanager
def fresh_database(tmp_dir: Path, name: str = "sharaka", *, template: str | None = None):
    """Yield the URL of a new, empty database (on PostgreSQL, a copy of `template`'s when given) and drop it
    afterwards."""
    if backend() == "sqlite":
        path = tmp_dir / f"{name}-{uuid.uuid4().hex[:8]}.sqlite"
        yield f"sqlite:///{path}"
        return
    database = f"{name}_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = _create(database, template)
    try:
        yield url
    finally:
        _drop(database)


def _server_url():
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        raise RuntimeError("SHARAKA_TEST_DB=postgresql needs TEST_DATABASE_URL")
    return make_url(base)


def _admin_dsn() -> str:
    url = _server_url()
    return url.set(drivername="postgresql", database=url.database or "postgres").render_as_string(hide_password=False)


def _create(database: str, template: str | None = None) -> str:
    import psycopg

    with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"' + (f' TEMPLATE "{template}"' if template else ""))
    return _server_url().set(drivername="postgresql+psycopg", database=database).render_as_string(hide_password=False)


def _drop(database: str) -> None:
    import psycopg

    with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def migrated_database(tmp_dir: Path, name: str = "sharaka"):
    """Yield the URL of a new database already migrated to head, dropped afterwards: a copy of this process's
    migrated template (SQLite: its file; PostgreSQL: CREATE DATABASE … TEMPLATE), made once. Running the
    migrations was a second or more for each test that starts servers on a database of its own."""
    template = _migrated_template()
    if backend() == "sqlite":
        path = tmp_dir / f"{name}-{uuid.uuid4().hex[:8]}.sqlite"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    with fresh_database(tmp_dir, name, template=template) as url:
        yield url


_templates: dict[str, str] = {}


def _migrated_template() -> str:
    """This process's database at head, never connected to again once built (PostgreSQL copies a template
    only while no one is connected to it): a file path on SQLite, a database name on PostgreSQL."""
    kind = backend()
    if kind in _templates:
        return _templates[kind]
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app.extensions import db
    from tests.conftest import make_test_app

    folder = Path(tempfile.mkdtemp(prefix="sharaka-template-"))
    atexit.register(shutil.rmtree, folder, True)
    if kind == "sqlite":
        url, template = f"sqlite:///{folder / 'template.sqlite'}", str(folder / "template.sqlite")
    else:
        template = f"sharaka_template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        url = _create(template)
        atexit.register(_drop, template)
    app = make_test_app(url, UPLOAD_DIR=str(folder / "uploads"))
    with app.app_context():
        upgrade()
        if kind == "sqlite":
            db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))  # all of it in the file copied
        db.session.remove()
        db.engine.dispose()
    _templates[kind] = template
    return template


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
