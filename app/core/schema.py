"""Whether the database's schema is the one this code was written for: the check /readyz makes, and the one
a request or a command asks after the database said a table or a column is missing."""

from __future__ import annotations

from pathlib import Path

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.extensions import db

UPGRADE = "run `flask db upgrade`"

# What the drivers say of a statement naming a table or a column the database does not have: SQLite's
# messages, PostgreSQL's SQLSTATEs undefined_table and undefined_column.
_MISSING_WORDS = ("no such table", "no such column")
_MISSING_STATES = ("42P01", "42703")


def names_what_is_missing(error: BaseException) -> bool:
    """The database refused a statement for a table or column it does not have (never migrated, or behind)."""
    if not isinstance(error, DBAPIError):
        return False
    orig = getattr(error, "orig", None)
    return getattr(orig, "sqlstate", None) in _MISSING_STATES or any(
        words in str(orig if orig is not None else error).lower() for words in _MISSING_WORDS
    )


def schema_checks() -> dict[str, str]:
    """ "database" and "migrations", each "ok" or what is wrong: the database answers, and its schema is at the
    head migration."""
    checks: dict[str, str] = {}
    try:
        current = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        checks["database"] = "ok"
        head = migration_head()
        checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
    except Exception as error:  # any failure to talk to the database is "not ready", never a 500
        db.session.rollback()
        checks["database"] = f"{type(error).__name__}: {str(error)[:200]}"
        checks["migrations"] = "unknown"
    return checks


def not_migrated(error: BaseException) -> str | None:
    """After `error`: why the schema is not the code's, in one line, when a missing table or column is the reason
    (the database was never migrated, or is behind this code); None otherwise (a real fault, told in full). Asks
    the database only after such an error, never on the way of a request that went well."""
    if not names_what_is_missing(error):
        return None
    db.session.rollback()  # PostgreSQL answers nothing more in the transaction the refused statement ended
    checks = schema_checks()
    if checks["migrations"] == "ok":
        return None
    said = checks["migrations"] if checks["database"] == "ok" else "no migration applied"
    return f"its schema is not this version's ({said}): {UPGRADE}"


def migration_head() -> str | None:
    """The newest revision in migrations/ (read once per process)."""
    head = current_app.extensions.get("sharaka.migration_head")
    if head is None:
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        directory = Path(current_app.root_path).parent / "migrations"
        config = Config()
        config.set_main_option("script_location", str(directory))
        head = ScriptDirectory.from_config(config).get_current_head()
        current_app.extensions["sharaka.migration_head"] = head
    return head
