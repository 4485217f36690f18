"""Flask commands: users, demo data."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import func, select

from app.core import clock
from app.core.db import log_failure, unit_of_work
from app.core.permissions import ROLE_NAMES
from app.extensions import db

users_cli = AppGroup("users", help="Manage user accounts.")
demo_cli = AppGroup("demo", help="Demo portfolio.")
workflows_cli = AppGroup("workflows", help="Workflow definitions and date-driven moves.")
scheduler_cli = AppGroup("scheduler", help="The scheduler process.")
reminders_cli = AppGroup("reminders", help="Reminder rules: one pass by hand, or a preview.")
outbox_cli = AppGroup("outbox", help="The mail outbox.")
audit_cli = AppGroup("audit", help="The audit trail's hash chain.")
jobs_cli = AppGroup("jobs", help="The scheduler's jobs.")
storage_cli = AppGroup("storage", help="Stored files: move them between backends, check them.")
exports_cli = AppGroup("exports", help="Spreadsheets of long lists, written off the request.")


class AsIf(click.ParamType):
    """When a command runs as if it were: a moment (`--at 2026-03-01T08:00`, on the ministry's wall clock unless
    an offset is given; a date alone is its midnight) or a day (`--today 2026-03-01`).

    Either is refused outside the calendar Sharaka keeps (app.core.dates.within_calendar): year 9999 or year 1
    moved to UTC, or given a retry's backoff, leaves Python's calendar (an OverflowError traceback). Given
    `refuse_later_because`, a moment or day still to come is refused too, saying why: for a command whose run
    is for good, which tells people now what is due only then and records it as done, so the genuine run of
    that moment finds nothing left to do (a typo, 2072 for 2027, or a rehearsal of next month's reminders)."""

    def __init__(self, unit: str, *, refuse_later_because: str = ""):
        self.unit, self.refuse_later_because = unit, refuse_later_because  # unit: "moment" or "day"
        self.name = "datetime" if unit == "moment" else "date"

    def convert(self, value, param, ctx):
        from datetime import date, datetime

        from app.core.dates import FIRST_DAY, LAST_DAY, within_calendar

        if isinstance(value, date):
            return value
        written = str(value).strip()
        try:
            parsed = datetime.fromisoformat(written) if self.unit == "moment" else date.fromisoformat(written)
        except ValueError:
            example = "a date and time like 2026-03-01T08:00" if self.unit == "moment" else "a date like 2026-03-01"
            self.fail(f"{value!r} is not {example}", param, ctx)
        # The day as written, before any time zone is applied: moving year 9999 to UTC is what overflows.
        if not within_calendar(parsed.date() if isinstance(parsed, datetime) else parsed):
            self.fail(f"{written} is out of range ({FIRST_DAY} to {LAST_DAY}).", param, ctx)
        is_day = self.unit == "day"
        when = parsed if is_day else clock.as_ministry_time(parsed)
        now = clock.today() if is_day else clock.now()
        if self.refuse_later_because and when > now:
            named = f"today ({now})" if is_day else f"now ({now:%Y-%m-%dT%H:%M})"
            self.fail(f"{written} is after {named}: {self.refuse_later_because}", param, ctx)
        return when


def _now(at):
    from datetime import timezone

    return at.astimezone(timezone.utc) if at is not None else clock.utcnow()


@reminders_cli.command("run")
@click.option(
    "--at",
    type=AsIf(
        "moment",
        refuse_later_because="a pass would send now what is due only then, and record it as sent; "
        "`flask reminders preview --at` lists it without sending anything.",
    ),
    default=None,
    help="Run as if it were this earlier moment (Casablanca time), e.g. 2026-03-01T08:00; never later than now.",
)
@click.option("--send/--no-send", default=True, help="Also send the outbox afterwards (default: yes).")
def run_reminders_command(at, send):
    """Generate the reminders due now (each at most once) and send the mail waiting in the outbox.

    Exit status: 0 done (or mail held), 1 some reminders failed, 3 the SMTP server was unreachable,
    143 (130 after Ctrl-C) the sending stopped by SIGTERM, the rest given back.
    """
    from app.notifications.outbox import EXIT_ERROR
    from app.notifications.reminders import run_pass

    report = run_pass(_now(at))
    click.echo(f"Reminders: {report.created} new, {report.already} already sent before, {report.errors} errors.")
    code = EXIT_ERROR if report.errors else 0
    if send:
        sending = _send_outbox(None)
        code = code or sending
    if code:
        raise SystemExit(code)


@reminders_cli.command("preview")
@click.option(
    "--at", type=AsIf("moment"), default=None, help="As if it were this moment (Casablanca time), later ones too."
)
def preview_reminders_command(at):
    """List the reminders a pass would send now, without sending or recording anything."""

    from app.notifications.messages import headline
    from app.notifications.reminders import preview

    candidates = preview(_now(at))
    for candidate in candidates:
        with force_locale(candidate.recipient.language or "fr"):
            text = headline(candidate.notice.kind, candidate.notice.params)
        click.echo(f"{candidate.rule:<22} {candidate.occurrence_key:<24} {candidate.recipient.email:<36} {text}")
    click.echo(f"{len(candidates)} reminders would be sent.")
    db.session.rollback()


@outbox_cli.command("send")
@click.option(
    "--at",
    type=AsIf("moment"),
    default=None,
    help="Treat messages as due at this moment (to send retries without waiting).",
)
def send_outbox_command(at):
    """Send every message due in the outbox, batch after batch.

    Exit status: 0 everything due was sent, retried later or held (paused, no MAIL_SERVER);
    3 the SMTP server was unreachable (the messages wait); 1 an error; 143 (130 after Ctrl-C) stopped
    by SIGTERM between two messages, the rest given back.
    """
    code = _send_outbox(_now(at) if at else None)
    if code:
        raise SystemExit(code)


def _send_outbox(now) -> int:
    """Send what is due in the outbox, saying how it went; SIGTERM or Ctrl-C stops it between two messages
    (processes.stop_signals). Returns the exit status: the report's, or 128 plus the signal's number."""
    from app.core.processes import stop_signals
    from app.notifications.outbox import send_due

    with stop_signals() as stop_requested:
        report = send_due(now=now, stopping=stop_requested)
        click.echo(f"Outbox: {report}")
    return stop_requested.status or report.exit_code


@outbox_cli.command("status")
def outbox_status_command():
    """Count messages by status."""
    from app.notifications.outbox import outbox_counts
    from app.notifications.services import mail_paused

    counts = outbox_counts()
    click.echo(
        ", ".join(f"{status} {count}" for status, count in counts.items())
        + (" — mail paused" if mail_paused() else "")
        + ("" if current_app.config.get("MAIL_SERVER") else " — MAIL_SERVER not set")
    )


@jobs_cli.command("status")
def jobs_status_command():
    """Each job's last run (when, where, how long, counts) and last error, from every scheduler."""
    from app.operations.services import job_statuses

    for job in job_statuses():
        if job.runs:
            counts = ", ".join(f"{key} {value}" for key, value in (job.last_counts or {}).items())
            click.echo(
                f"{job.name:<17} runs {job.runs}, failures {job.failures}; "
                f"last {job.last_started_at:%Y-%m-%d %H:%M:%S}Z on {job.last_host}, {job.last_duration_ms} ms"
                + (f" ({counts})" if counts else "")
            )
        elif job.failures or job.running_since:
            click.echo(f"{job.name:<17} no run finished, failures {job.failures}")
        else:
            click.echo(f"{job.name:<17} never ran")
        if job.running_since:
            click.echo(f"{'':<17} under way since {job.running_since:%Y-%m-%d %H:%M:%S}Z on {job.running_host}")
        if job.last_error:
            click.echo(f"{'':<17} last error {job.last_error_at:%Y-%m-%d %H:%M:%S}Z: {job.last_error}")
        for problem in job.last_problems or ():
            click.echo(
                f"{'':<17} failed alone: {problem.get('reference') or problem.get('object_type')} "
                f"{problem.get('step')}: {problem.get('error')}"
            )


@storage_cli.command("migrate")
@click.option("--from", "source", type=click.Choice(["folder", "database"]), required=True)
@click.option("--to", "target", type=click.Choice(["folder", "database"]), required=True)
def storage_migrate_command(source, target):
    """Copy every stored file from one backend to the other (resumable; then set STORAGE=<to>)."""
    from app.core.storage import copy_files

    if source == target:
        raise click.UsageError("--from and --to must differ")
    counts = copy_files(source, target)
    click.echo("Storage: " + ", ".join(f"{key} {value}" for key, value in counts.items()))
    if counts["missing"] or counts["corrupt"]:
        raise SystemExit(1)


@storage_cli.command("verify")
@click.option(
    "--backend",
    "name",
    type=click.Choice(["folder", "database"]),
    default=None,
    help="Check this backend instead of the configured one (STORAGE).",
)
def storage_verify_command(name):
    """Re-read every stored file and check its SHA-256; exit 1 listing each missing or corrupt file."""
    from app.core.storage import find_leftovers, verify_files

    checked, problems = verify_files(name)
    for sha, problem in problems:
        click.echo(f"{sha}: {problem}", err=True)
    click.echo(f"{checked} files checked, {len(problems)} problems.")
    leftovers = find_leftovers()
    if any(leftovers.values()):
        # Not damage: what killed processes left, removed by the scheduler's daily sweep.
        click.echo(
            f"Left by interrupted work, a day old or more: {len(leftovers['temporary'])} temporary files, "
            f"{len(leftovers['unreferenced'])} stored files no row refers to (the scheduler removes them daily)."
        )
    db.session.rollback()
    if problems:
        raise SystemExit(1)


@scheduler_cli.command("run")
def run_scheduler_command():
    """Run the periodic jobs in this process until stopped (Ctrl-C / SIGTERM)."""
    import time

    from app.core.logs import configure_logging
    from app.core.processes import stop_signals
    from app.scheduler import STOPPING, build_scheduler

    configure_logging(current_app.config["LOG_FORMAT"])

    scheduler = build_scheduler(current_app._get_current_object())
    # Runs this machine's previous scheduler left unfinished (killed, the machine lost) are counted.
    from app.operations.services import note_interrupted_runs

    try:
        note_interrupted_runs()
    except Exception:  # bookkeeping never keeps the scheduler from starting
        log_failure(current_app.logger, "could not look for interrupted runs")
    finally:
        db.session.remove()

    with stop_signals() as stop_requested:
        click.echo(f"Scheduler running ({current_app.config['MINISTRY_TIMEZONE']}); Ctrl-C stops it.")
        scheduler.start()
        while not stop_requested():
            time.sleep(0.2)  # the nap resumes after a handler: stopping starts at most this long after a signal
        # Told here, in the main thread (not by the handler), and still within the block: a second signal
        # while the jobs under way end their current step changes nothing.
        STOPPING.set()
        scheduler.shutdown(wait=True)


@workflows_cli.command("check")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Check another folder (e.g. edited definitions before deploying them).",
)
def check_workflows_command(directory):
    """Validate workflow definitions; exit 1 listing every problem with its file."""
    from pathlib import Path

    from app.workflow.definitions import DefinitionError, load_workflows

    try:
        definitions = load_workflows(Path(directory or current_app.config["WORKFLOWS_DIR"]))
    except DefinitionError as error:
        for file_name, message in error.problems:
            click.echo(f"{file_name}: {message}", err=True)
        raise SystemExit(1) from None
    for definition in definitions.values():
        click.echo(
            f"{definition.type}: {len(definition.states)} states, {len(definition.transitions)} transitions, "
            f"checksum {definition.checksum[:12]} — ok"
        )
    from app.workflow.checks import account_warnings

    try:
        warnings = account_warnings(definitions)
    except Exception as error:  # no database yet (checked before deploying): the definitions are still fine
        db.session.rollback()
        click.echo(f"warning: today's accounts not checked ({type(error).__name__})", err=True)
        return
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@workflows_cli.command("simulate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A YAML scenario: people per role, facts, dates and moves (see app/workflow/simulator.py).",
)
def simulate_workflow_command(file, scenario_file):
    """Walk a workflow definition (shipped or edited) through a scenario, writing nothing; say who is
    asked, what blocks, which reminders and SLA breaches would fire, and what an edit changes for
    the agreements in flight. Exit 1 when the definition or the scenario is wrong, 2 when a move blocks."""

    with force_locale("en"):  # the operator's console, as `flask workflows check`
        _simulate_workflow(file, scenario_file)


def _simulate_workflow(file, scenario_file):
    from pathlib import Path

    from app.workflow import simulator
    from app.workflow.definitions import DefinitionError

    try:
        definition, heirs = simulator.load_edited_with_heirs(
            Path(file).read_text(encoding="utf-8"), Path(current_app.config["WORKFLOWS_DIR"]), Path(file).name
        )
        scenario = simulator.parse_scenario(Path(scenario_file).read_text(encoding="utf-8") if scenario_file else None)
        result = simulator.run_in_use(definition, scenario, current_app.extensions["sharaka.workflows"], heirs)
    except DefinitionError as error:
        for file_name, message in error.problems:
            click.echo(f"{file_name}: {message}", err=True)
        raise SystemExit(1) from None
    except simulator.ScenarioError as error:
        click.echo(f"scenario: {error}", err=True)
        raise SystemExit(1) from None
    finally:
        db.session.rollback()
    for line in simulator.render_text(result):
        click.echo(line)
    if any(step.blocked for step in result.steps):
        raise SystemExit(2)


@workflows_cli.command("tick")
@click.option(
    "--today",
    type=AsIf(
        "day",
        refuse_later_because="the moves are for good (expired is final) and told at once to owners, "
        "managers and partners.",
    ),
    default=None,
    help="Catch up as if today were this earlier date (YYYY-MM-DD); never later than today.",
)
def tick_command(today):
    """Apply date-driven moves due today (signed → active, active → expired). Safe to run twice."""
    from app.workflow.date_moves import apply_date_moves

    day = today or clock.today()
    run = apply_date_moves(day)
    for reference, transition, outcome in run.results:
        click.echo(f"{reference}: {transition}: {outcome}")
    click.echo(f"{run.moved} moved, {run.failed} failed, {len(run.results)} looked at.")
    if run.failed:
        raise SystemExit(1)


@users_cli.command("create")
@click.argument("email")
@click.option("--name", "full_name", required=True, help="Full name.")
@click.option("--role", type=click.Choice(ROLE_NAMES), required=True)
@click.option(
    "--organization",
    "organization_slug",
    default=None,
    metavar="IDENTIFIER",
    help="The organisation's identifier, its form's 'Short name (identifier)' (lower-case letters, digits and "
    "dashes: um6p); required for partners, ministry staff default to the ministry.",
)
@click.option(
    "--language",
    type=click.Choice(["ar", "fr", "en"]),
    default=None,
    help="The account's language (default: the install's DEFAULT_LANGUAGE).",
)
@click.option("--password", default=None, help="Password (asked for, twice, once the rest is checked).")
def create_user_command(email, full_name, role, organization_slug, language, password):
    """Create a user account."""
    from app.auth.services import check_new_account, create_user
    from app.core.errors import ValidationFailed

    organization = _organization_named(organization_slug) if organization_slug else None
    account = dict(email=email, full_name=full_name, role=role, organization=organization, language=language)
    try:
        # The operator's terminal reads English, as the command's own words do (not the install's language).
        with force_locale("en"):
            if password is None:
                check_new_account(**account)
                password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
            with unit_of_work(as_writer=True):
                user = create_user(password=password, **account)
    except ValidationFailed as error:
        raise click.ClickException(_refusal(error)) from None
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")
    if user.is_directory_account:
        click.echo(
            "Directory sign-in is on and this role signs in there only: the password will not be used. The account "
            "is linked to the directory entry with this address at its first sign-in."
        )


def _organization_named(slug: str):
    """The organisation whose identifier (its form's "Short name (identifier)") is `slug`; else the command
    fails in one line naming some that would do."""
    from app.organizations.models import Organization

    found = db.session.scalar(select(Organization).where(Organization.slug == slug))
    if found is not None:
        return found
    total = db.session.scalar(select(func.count(Organization.id)))
    some = list(db.session.scalars(select(Organization.slug).order_by(Organization.slug).limit(SLUGS_NAMED)))
    if not some:
        raise click.ClickException(f"no organisation has the identifier {slug!r}: there are no organisations yet")
    more = f" ({total} in all)" if total > len(some) else ""
    raise click.ClickException(
        f"no organisation has the identifier {slug!r}; the identifiers are such as: {', '.join(some)}{more}"
    )


# How many organisations' identifiers a refused --organization names.
SLUGS_NAMED = 8


@users_cli.command("directory-sync")
def directory_sync_command():
    """Look every directory-linked account up again now (the scheduler does it every 15 minutes): those gone,
    disabled or in no Sharaka group lose access, changed groups change roles. Exit 1 if it held back."""
    from app.auth.directory import DirectoryUnavailable, sweep

    try:
        with unit_of_work():  # not as a writer from the start: it waits on the directory meanwhile
            report = sweep()
    except DirectoryUnavailable as error:
        raise click.ClickException(f"the directory cannot be reached: {error}") from None
    click.echo(f"{report.looked_at} looked up, {report.closed} closed, {report.role_changed} role changed.")
    if report.held:
        raise click.ClickException(
            "held back: more than half of the accounts would have lost access at once; check the LDAP_* settings"
        )


def _refusal(error) -> str:
    """A refusal on one line: each field with its messages; the general message only when it adds to them."""
    said = {message for messages in error.field_errors.values() for message in messages}
    details = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.field_errors.items())
    general = "" if error.message in said else error.message
    return f"{general} {details}".strip()


@users_cli.command("create-token")
@click.argument("email")
@click.option("--name", default="command line", show_default=True, help="What will use the token.")
@click.option(
    "--days",
    type=int,
    default=None,
    help="How many days it works (default 90, at most API_TOKEN_MAX_DAYS; 0: no end date, where that is 0).",
)
def create_token_command(email, name, days):
    """Create a personal API token for EMAIL and print it once (only its hash is kept)."""
    from app.api.tokens import create_token
    from app.auth.models import User, normalize_email
    from app.core.errors import ValidationFailed

    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None or not user.is_active_account:
        raise click.ClickException(f"no active account {email!r}")
    try:
        with force_locale("en"), unit_of_work(as_writer=True):  # kept before the secret is shown
            token, secret = create_token(user, name, by=None, days=days)
    except ValidationFailed as error:
        raise click.ClickException(_refusal(error)) from None
    until = f"until {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "with no end date"
    click.echo(f"Token {token.name!r} for {user.email}, {until} (shown once, keep it secret):")
    click.echo(secret)


@demo_cli.command("load")
def load_demo_command():
    """Load (or refresh) the demo portfolio; safe to run again."""
    from app.demo.loader import load_demo

    _refuse_in_production()
    with unit_of_work(as_writer=True):
        counts = load_demo()
    click.echo("Demo portfolio: " + ", ".join(f"{key} {value}" for key, value in counts.items()))


@demo_cli.command("load-if-empty")
def load_if_empty_command():
    """Load the demo portfolio only when the database has no agreements yet."""
    from app.agreements.models import Agreement
    from app.demo.loader import load_demo

    _refuse_in_production()
    if db.session.scalar(select(Agreement.id).limit(1)) is not None:
        click.echo("Database already has agreements; demo data not loaded.")
        return
    with unit_of_work(as_writer=True):
        counts = load_demo()
    click.echo("Demo portfolio: " + ", ".join(f"{key} {value}" for key, value in counts.items()))


@demo_cli.command("sign-ins")
def sign_ins_command():
    """Print the demo accounts and their passwords (development only)."""
    from app.demo.loader import demo_sign_ins

    if not current_app.config.get("SHOW_DEMO_PASSWORDS"):
        raise click.ClickException("demo passwords are shown only in development")
    rows = demo_sign_ins()
    width = max(len(row["email"]) for row in rows)
    click.echo("Demo sign-ins (illustrative accounts, development only):")
    for row in rows:
        click.echo(f"  {row['email']:<{width}}  {row['password']:<18}  {row['role']:<8}  {row['organization']}")


@demo_cli.command("prepare")
@click.pass_context
def prepare_demo_command(ctx):
    """What `make run` does before it starts: migrate the database, load the demo portfolio when it has no
    agreements, print the demo sign-ins. One process instead of three: each start of the app costs seconds."""
    from flask_migrate import upgrade

    _refuse_in_production()
    upgrade()
    ctx.invoke(load_if_empty_command)
    ctx.invoke(sign_ins_command)


def _refuse_in_production() -> None:
    # Demo accounts have published passwords: they must never reach a real database.
    if not current_app.config.get("SHOW_DEMO_PASSWORDS") and not current_app.config.get("TESTING"):
        raise click.ClickException("the demo portfolio is for development only (SHARAKA_CONFIG=development)")


@audit_cli.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    metavar="SEQ:HASH|FILE",
    help="An anchor published earlier (or a file holding one, such as the saved anchor e-mail); repeatable.",
)
def verify_audit_command(anchors):
    """Walk the hash chain; exit 1 and name the first broken link if the trail was tampered with."""
    from app.core.audit_chain import parse_anchors, verify

    try:
        wanted = parse_anchors(list(anchors))
    except (ValueError, OSError) as error:
        raise click.BadParameter(str(error), param_hint="--anchor") from None
    result = verify(wanted)
    if result.is_intact:
        click.echo(
            f"Audit trail intact: {result.checked} rows, head {result.head_seq}:{result.head_hash}"
            + (f", {result.anchors_checked} anchor(s) match." if wanted else ".")
        )
        return
    click.echo(f"Audit trail BROKEN: {result.first_problem}", err=True)
    for problem in result.problems[1:20]:
        click.echo(f"  also: {problem}", err=True)
    raise SystemExit(1)


@audit_cli.command("anchor")
def anchor_audit_command():
    """Verify the chain and publish its head now (log, auditors' mail); the scheduler does it daily."""
    from app.audit.services import publish_anchor

    with unit_of_work(as_writer=True):
        anchor = publish_anchor()
    click.echo(f"Anchor {anchor.chain_seq}:{anchor.row_hash} ({anchor.verification})")


@exports_cli.command("run")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(min=1), help="At most this many exports in this run."
)
def run_exports_command(limit: int):
    """Write the exports waiting now (the scheduler does it every EXPORT_INTERVAL_SECONDS)."""
    from app.exports.services import run_due

    counts = run_due(limit=limit)
    click.echo(f"Exports: {counts['done']} written, {counts['failed']} failed, {counts['expired']} expired.")
    if counts["failed"]:
        raise SystemExit(1)


search_cli = AppGroup("search", help="The search index.")


@search_cli.command("reindex")
def reindex_command():
    """Rebuild every search entry (agreements, organisations, deliverables, documents)."""
    from app.search.index import rebuild

    with unit_of_work(as_writer=True):
        count = rebuild(db.session.connection())
        _recorded_maintenance("search_reindexed", count)
    click.echo(f"Search index rebuilt: {count} objects.")


def _recorded_maintenance(action: str, count: int) -> None:
    """An audit row for a maintenance command that rewrites what pages show (the search's results, the
    on-time rates): who ran it is on record, and the trail's version moves, so no page or figure kept
    under the earlier version (app/auth/kept_pages.py, app/core/kept.py) is served again."""
    from types import SimpleNamespace

    from app.core import audit

    audit.record(action, SimpleNamespace(id=0), object_type="settings", changes={"count": count})


deliverables_cli = AppGroup("deliverables", help="Deliverables' kept figures.")


@deliverables_cli.command("refill-hand-in-days")
def refill_hand_in_days_command():
    """Work out again each occurrence's first hand-in day on the ministry's calendar: after
    MINISTRY_TIMEZONE changes, since the days were kept in the zone of their time."""
    from sqlalchemy import update

    from app.deliverables.models import Occurrence, fill_first_hand_ins

    with unit_of_work(as_writer=True):
        db.session.execute(update(Occurrence).values(first_handed_in_on=None))
        count = fill_first_hand_ins(db.session)
        _recorded_maintenance("hand_in_days_refilled", count)
    click.echo(f"First hand-in days worked out again: {count} occurrences.")


organizations_cli = AppGroup("organizations", help="Organisations: the ministry's own, on a new install.")


@organizations_cli.command("create-home")
@click.option("--name-fr", default=None, help="The ministry's name in French.")
@click.option("--name-ar", default=None, help="The ministry's name in Arabic.")
@click.option("--name-en", default=None, help="The ministry's name in English.")
@click.option("--acronym", default=None, help="Its acronym (MTNRA); the short name is made from it if not given.")
@click.option("--slug", default=None, help="Its short name (lower-case letters, digits and dashes).")
@click.option("--country", default="MA", show_default=True, help="Its two-letter country code.")
@click.option(
    "--existing",
    default=None,
    metavar="IDENTIFIER",
    help="Instead: make this existing organisation (its identifier) the ministry's own.",
)
def create_home_command(name_fr, name_ar, name_en, acronym, slug, country, existing):
    """Create the ministry's own organisation (once, on an install without the demo), or mark an existing one."""
    from app.core.errors import ValidationFailed
    from app.organizations.services import create_home, mark_home

    values = dict(name_fr=name_fr, name_ar=name_ar, name_en=name_en, acronym=acronym, slug=slug, country=country)
    try:
        with force_locale("en"), unit_of_work(as_writer=True):
            if existing:
                home = mark_home(_organization_named(existing))
            else:
                home = create_home(values)
    except ValidationFailed as error:
        raise click.ClickException(_refusal(error)) from None
    click.echo(f"The ministry's organisation is {home.slug} (id {home.id}).")


def register_cli(app: Flask) -> None:
    if click.get_current_context(silent=True) is not None:  # loaded by the `flask` command
        _say_database_trouble_in_one_line(app)
    app.cli.add_command(users_cli)
    app.cli.add_command(organizations_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(workflows_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(reminders_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(storage_cli)
    app.cli.add_command(exports_cli)
    app.cli.add_command(search_cli)
    app.cli.add_command(deliverables_cli)


def _say_database_trouble_in_one_line(app: Flask) -> None:
    """A command that cannot connect (server down, database missing, DATABASE_URL wrong), that waited the
    whole busy timeout for SQLite's write lock while another process kept it, or that met a table or column
    missing from a database never migrated or behind this code, ends with one line naming the database,
    password hidden, and exit 1, rather than some 150 lines of driver traceback. Only where nothing caught it:
    the scheduler and the outbox wait for the database by themselves."""
    import sys

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError, OperationalError

    from app.core import schema
    from app.core.db import is_writer_lock_timeout

    shown = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
    earlier_hook = sys.excepthook

    def say_it(kind, error, traceback):
        # No statement: the error came while connecting, not from a query on a connection made.
        if isinstance(error, DBAPIError) and error.statement is None:
            said = str(error.orig if error.orig is not None else error).strip().splitlines() or [kind.__name__]
            print(f"Cannot reach the database (DATABASE_URL {shown}): {said[0]}", file=sys.stderr)
            return
        if schema.names_what_is_missing(error):
            with app.app_context():
                why = schema.not_migrated(error)
            if why is not None:
                print(f"The database is not ready (DATABASE_URL {shown}): {why}.", file=sys.stderr)
                return
        cause = error
        while cause is not None and not isinstance(cause, OperationalError):
            cause = cause.__cause__  # a lost race at the commit: ConcurrentChange from the driver's refusal
        if cause is not None and is_writer_lock_timeout(cause):
            print(
                f"The database is busy (DATABASE_URL {shown}): another process held its write lock; "
                "this command's last change was not written. Run it again.",
                file=sys.stderr,
            )
            return
        earlier_hook(kind, error, traceback)

    sys.excepthook = say_it
