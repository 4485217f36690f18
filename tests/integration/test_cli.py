import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from tests import factories
from tests.databases import backend

ROOT = Path(__file__).resolve().parents[2]


def test_users_create_command(app, world):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "New.Officer@Example.org",
            "--name",
            "New Officer",
            "--role",
            "officer",
            "--password",
            "a long enough password",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "new.officer@example.org"))
    assert user is not None and user.organization.is_home


def test_users_create_names_the_organisations_it_would_accept(app, world):
    """--organization takes the identifier an organisation's form calls "Short name (identifier)": the help says
    so, and a wrong one is refused in one line naming some that exist, the command failing."""
    runner = app.test_cli_runner()
    helped = runner.invoke(args=["users", "create", "--help"])
    assert "Short name (identifier)" in " ".join(helped.output.split())
    result = runner.invoke(
        args=["users", "create", "p@example.org", "--name", "P", "--role", "partner", "--organization", "Partner A"]
        + ["--password", "a long enough password"]
    )
    assert result.exit_code != 0
    (line,) = result.output.strip().splitlines()
    assert "'Partner A'" in line and "partner-a" in line and "partner-b" in line, line
    assert db.session.scalar(select(User).where(User.email == "p@example.org")) is None


def test_users_create_refuses_bad_input_clearly(app, world):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "p@example.org",
            "--name",
            "P",
            "--role",
            "partner",
            "--password",
            "a long enough password",
        ]
    )
    assert result.exit_code != 0
    assert "organization_id:" in result.output  # the field at fault is named
    result = runner.invoke(
        args=[
            "users",
            "create",
            world.users["officer"].email,
            "--name",
            "Dup",
            "--role",
            "officer",
            "--password",
            "a long enough password",
        ]
    )
    assert result.exit_code != 0 and "email:" in result.output
    # In English on the operator's terminal, whatever the install's language, and said once.
    assert result.output.count("An account with this e-mail address already exists.") == 1
    app.config["BABEL_DEFAULT_LOCALE"] = "ar"
    try:
        taken = world.users["officer"].email
        arguments = ["users", "create", taken, "--name", "D", "--role", "officer", "--password", "x"]
        arabic_install = runner.invoke(args=arguments)
    finally:
        app.config["BABEL_DEFAULT_LOCALE"] = "en"
    assert "An account with this e-mail address already exists." in arabic_install.output
    result = runner.invoke(
        args=["users", "create", "short@example.org", "--name", "S", "--role", "officer", "--password", "short"]
    )
    assert result.exit_code != 0 and "password:" in result.output


def test_users_create_checks_the_account_before_asking_for_the_password(app, world):
    runner = app.test_cli_runner()
    taken = runner.invoke(
        args=["users", "create", world.users["officer"].email, "--name", "Dup", "--role", "officer"], input=""
    )
    assert taken.exit_code != 0 and "email:" in taken.output
    assert "Password" not in taken.output  # refused before the prompt

    asked = runner.invoke(
        args=["users", "create", "asked@example.org", "--name", "Asked", "--role", "officer"],
        input="a long enough password\na long enough password\n",
    )
    assert asked.exit_code == 0, asked.output
    assert "Password" in asked.output and "Repeat" in asked.output
    assert db.session.scalar(select(User).where(User.email == "asked@example.org")).check_password(
        "a long enough password"
    )


def test_a_new_install_creates_the_ministrys_organisation_once(app):
    """Without the demo, nothing made the ministry's own organisation: staff had none, and no MoU could
    get past its negotiation (the ministry sends the first text)."""
    from app.organizations.models import Organization

    runner = app.test_cli_runner()
    made = runner.invoke(
        args=["organizations", "create-home", "--name-fr", "Ministère de la Transition Numérique", "--acronym", "MTNRA"]
    )
    assert made.exit_code == 0, made.output
    home = db.session.scalar(select(Organization).where(Organization.is_home.is_(True)))
    assert (home.slug, home.kind, home.country) == ("mtnra", "ministry", "MA")
    again = runner.invoke(args=["organizations", "create-home", "--name-fr", "Autre ministère"])
    assert again.exit_code != 0 and "exists already: mtnra" in again.output
    officer = runner.invoke(
        args=["users", "create", "first.officer@example.org", "--name", "First Officer", "--role", "officer"]
        + ["--password", "a long enough password"]
    )
    assert officer.exit_code == 0, officer.output
    assert db.session.scalar(select(User).where(User.email == "first.officer@example.org")).organization_id == home.id


def test_an_older_install_marks_its_existing_ministry_organisation_as_its_own(app):
    """An install older than `create-home` had entered the ministry as an ordinary organisation: create-home
    refused (the name was taken) and nothing could mark it, so no negotiation could start."""
    from app.organizations.models import Organization
    from tests import factories

    ministry = factories.organization("ministere", name_fr="Ministère")
    ministry.is_home = False
    partner = factories.organization("partenaire", name_fr="Partenaire")
    factories.user("partner", partner)
    db.session.commit()
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["organizations", "create-home", "--existing", "partenaire"])
    assert refused.exit_code != 0 and "partner accounts" in refused.output
    assert runner.invoke(args=["organizations", "create-home", "--existing", "nowhere"]).exit_code != 0
    made = runner.invoke(args=["organizations", "create-home", "--existing", "ministere"])
    assert made.exit_code == 0, made.output
    db.session.expire_all()
    assert db.session.scalar(select(Organization.slug).where(Organization.is_home.is_(True))) == "ministere"


def test_exports_run_takes_only_a_positive_limit(app):
    refused = app.test_cli_runner().invoke(args=["exports", "run", "--limit", "-3"])
    assert refused.exit_code == 2 and "-3" in refused.output


def _rows_in_every_table() -> dict[str, int]:
    from sqlalchemy import func

    return {
        table.name: db.session.scalar(select(func.count()).select_from(table)) for table in db.metadata.sorted_tables
    }


def test_a_reminder_pass_refuses_a_moment_still_to_come(app, world):
    """An outside probe ran `reminders run --at` three months ahead: the pass mailed then ("48 days overdue", next
    quarter's digest) and recorded those reminders as sent, so on the day itself nothing went. A preview of that
    moment stays allowed: it writes nothing. A moment already past catches up."""
    from datetime import timedelta

    from app.core import clock

    runner = app.test_cli_runner()
    later = (clock.now() + timedelta(days=84)).strftime("%Y-%m-%dT%H:%M")
    before = _rows_in_every_table()
    result = runner.invoke(args=["reminders", "run", "--at", later, "--no-send"])
    assert result.exit_code == 2, result.output
    assert "--at" in result.output and f"{later} is after now" in result.output and "preview" in result.output
    assert _rows_in_every_table() == before

    result = runner.invoke(args=["reminders", "preview", "--at", later])
    assert result.exit_code == 0 and "reminders would be sent." in result.output, result.output
    assert _rows_in_every_table() == before

    earlier = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    result = runner.invoke(args=["reminders", "run", "--at", earlier, "--no-send"])
    assert result.exit_code == 0 and "Reminders:" in result.output, result.output


@pytest.mark.parametrize("command", [["reminders", "run"], ["reminders", "preview"], ["outbox", "send"]])
@pytest.mark.parametrize("moment", ["9999-12-31T23:59", "0001-01-01T00:00", "9999-12-31"])
def test_a_moment_outside_the_calendar_is_refused_without_a_traceback(app, world, command, moment):
    """Year 9999 and year 1 left Python's calendar once moved to UTC or given a retry's backoff (an
    OverflowError traceback); they are refused as the forms refuse such dates."""
    result = app.test_cli_runner().invoke(args=[*command, "--at", moment])
    assert result.exit_code == 2, result.output
    assert "--at" in result.output and "out of range" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@contextmanager
def _another_writer(url: str):
    """A second connection to the SQLite file, as the web server's is: `hold()` takes the write lock (a write
    not committed yet), `release()` commits it."""
    import sqlite3

    connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)

    class Writer:
        def hold(self) -> None:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("UPDATE organizations SET country = country")

        def release(self) -> None:
            if connection.in_transaction:
                connection.execute("COMMIT")

    writer = Writer()
    try:
        yield writer
    finally:
        writer.release()
        connection.close()


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's one writer at a time")
def test_a_command_that_writes_waits_its_turn_behind_another_writer(tmp_path):
    """`users create-token` while the server wrote ended in a traceback ("database is locked"): the command had
    read the account in a read transaction, which SQLite refuses to turn into a writer at once, whatever the
    busy timeout, once another connection holds the lock. Here the other connection takes the lock just after
    that read and keeps it a second: the command waits its turn, as a request that writes does."""
    from sqlalchemy import event

    from app.api.tokens import ApiToken
    from tests.conftest import app_on_a_fresh_database

    with app_on_a_fresh_database(tmp_path, "busy") as (app, url), _another_writer(url) as writer:
        email = factories.build_world().users["manager"].email
        db.session.commit()
        db.session.remove()

        def hold_after_the_account_is_read(connection, cursor, statement, *args):
            if statement.lstrip().startswith("SELECT") and "FROM users" in statement and not writer_held:
                writer_held.append(True)
                writer.hold()
                threading.Timer(1.0, writer.release).start()

        writer_held: list[bool] = []
        # The command runs in the test body's app context (the one pushed): its engine is this one.
        event.listen(db.engine, "after_cursor_execute", hold_after_the_account_is_read)
        try:
            result = app.test_cli_runner().invoke(args=["users", "create-token", email, "--name", "busy"])
        finally:
            event.remove(db.engine, "after_cursor_execute", hold_after_the_account_is_read)
        assert writer_held and result.exit_code == 0, (result.output, result.exception)
        db.session.rollback()
        assert db.session.scalar(select(ApiToken.name).where(ApiToken.name == "busy")) == "busy"


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's one writer at a time")
def test_a_command_that_waited_in_vain_says_so_in_one_line(tmp_path):
    """Another connection that keeps the lock past the busy timeout: the command ends with one line and exit 1,
    not some 60 lines of traceback ending in sqlite3.OperationalError."""
    from tests.conftest import app_on_a_fresh_database

    with app_on_a_fresh_database(tmp_path, "locked") as (app, url), _another_writer(url) as writer:
        email = factories.build_world().users["manager"].email
        db.session.commit()
        db.session.remove()
        writer.hold()
        ran = subprocess.run(
            [sys.executable, "-m", "flask", "users", "create-token", email],
            cwd=ROOT,
            env={**os.environ, "FLASK_APP": "app", "DATABASE_URL": url, "SHARAKA_INSTANCE_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert ran.returncode == 1 and "Traceback" not in ran.stderr, ran.stderr[-3000:]
    assert ran.stderr.strip().count("\n") == 0 and "busy" in ran.stderr, ran.stderr
    assert "shk_" not in ran.stdout
