"""The scheduler as its own process: it applies due date-driven moves, and stops on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.agreements.models import Agreement
from app.auth.models import User
from app.core import clock
from app.extensions import db
from app.workflow.engine import settle_state
from tests import factories
from tests.conftest import SignedInClient, make_test_app
from tests.databases import backend, migrated_database

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]


def _scheduler(url: str, instance: Path, **settings: str) -> subprocess.Popen:
    """`flask scheduler run` on database `url`, as the service runs it, its output kept."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SHARAKA_CONFIG": "development",
        "FLASK_APP": "app",
        "SHARAKA_INSTANCE_DIR": str(instance),
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "scheduler", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _signed(world, *, starts_in_days: int) -> Agreement:
    """A signed agreement taking effect that many days from today (past: due to become active)."""
    agreement = factories.agreement(
        by=world.users["officer"],
        partners=[world.partner_a],
        state="signed",
        signed_on=clock.today() - timedelta(days=10),
        effective_on=clock.today() + timedelta(days=starts_in_days),
    )
    settle_state(agreement)
    return agreement


def test_scheduler_process_activates_due_agreements(tmp_path):
    with migrated_database(tmp_path, "sched") as url:
        app = make_test_app(url)
        with app.app_context():
            world = factories.build_world()
            due, later = _signed(world, starts_in_days=-1), _signed(world, starts_in_days=30)
            db.session.commit()
            due_id, later_id = due.id, later.id
            db.session.remove()
            db.engine.dispose()
        process = _scheduler(url, tmp_path)
        try:
            # As long as the process lives: on a busy machine its start-up alone may take many seconds.
            deadline = time.time() + 300
            state = None
            while time.time() < deadline and process.poll() is None:
                with app.app_context():
                    state = db.session.get(Agreement, due_id).state
                    db.session.remove()
                if state == "active":
                    break
                time.sleep(0.3)
            assert state == "active"
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=20)
        assert process.returncode == 0, output
        with app.app_context():
            assert db.session.get(Agreement, later_id).state == "signed"
            db.session.remove()
            db.engine.dispose()
        assert "date transitions" in output
        if backend() == "sqlite":
            assert "Traceback" not in output


@pytest.mark.parametrize("signals", [1, 2], ids=["once", "twice"])
def test_a_scheduler_stopped_as_it_starts_exits_cleanly(tmp_path, signals):
    """SIGTERM the moment the scheduler says it runs, as `make run` stopped at once sends it: its first jobs
    are being handed to their threads then. The signal raised SystemExit wherever the main thread was: before
    the scheduler counted as started, the shutdown failed with a traceback and exit 1; inside a job's hand-over,
    APScheduler logged it as a failed submission and ran on, and the process never stopped."""
    with migrated_database(tmp_path, "stop_at_start") as url:
        app = make_test_app(url)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        process = _scheduler(url, tmp_path)
        lines: list[str] = []
        try:
            for line in process.stdout:  # a state, not a time: the line it prints as it starts its jobs
                lines.append(line)
                if "Scheduler running" in line:
                    for _ in range(signals):
                        process.send_signal(signal.SIGTERM)
                    break
            rest, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        output = "".join(lines) + rest
        assert process.returncode == 0, output[-3000:]
        assert "Traceback" not in output and "Error submitting" not in output, output[-3000:]


EXPORT_ROWS = 30_000


@contextmanager
def _mid_export(tmp_path):
    """A scheduler process writing a sheet of EXPORT_ROWS rows, yielded once the sheet is under way
    (progress recorded): (app, scheduler process, export job id). The process is killed at the end."""
    from sqlalchemy import insert

    from app.deliverables.models import Deliverable, Occurrence
    from app.deliverables.services import OccurrenceFilters
    from app.exports import services as exports
    from app.exports.models import ExportJob

    with migrated_database(tmp_path, "export") as url:
        app = make_test_app(url, UPLOAD_DIR=str(tmp_path / "uploads"))
        with app.app_context():
            world = factories.build_world()
            owner = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
            first = clock.today() + timedelta(days=400)  # far ahead: no reminder is due for any of them
            deliverable = Deliverable(
                agreement=owner,
                title_en="Daily figures",
                responsible_organization_id=world.partner_a.id,
                recurrence="once",
                first_due_on=first,
            )
            db.session.add(deliverable)
            db.session.flush()
            db.session.execute(
                insert(Occurrence),
                [
                    {"deliverable_id": deliverable.id, "due_on": first + timedelta(days=day), "status": "pending"}
                    for day in range(EXPORT_ROWS)
                ],
            )
            job = exports.request_export(world.users["manager"], "deliverables", OccurrenceFilters(), language="en")
            db.session.commit()
            job_id = job.id
            db.session.remove()
        process = _scheduler(url, tmp_path, UPLOAD_DIR=str(tmp_path / "uploads"), EXPORT_INTERVAL_SECONDS="1")
        try:
            # Until the writer has recorded progress (the sheet is under way), as long as the process lives.
            job = None
            while process.poll() is None:
                with app.app_context():
                    job = db.session.get(ExportJob, job_id)
                    db.session.expunge_all()
                    db.session.remove()
                if job.status != "queued" and job.rows_done:
                    break
                time.sleep(0.1)
            assert job.status == "running" and 0 < job.rows_done < EXPORT_ROWS, (job.status, job.rows_done)
            yield app, process, job_id
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def test_a_scheduler_stopped_mid_export_gives_the_file_back_and_exits(tmp_path):
    """SIGTERM while a long sheet is being written: the process ends without finishing the sheet (a
    restart waited for it, 31 s for 57,000 rows), and the export is queued again, not left to a lease."""
    from app.exports.models import ExportJob
    from app.operations.models import JobStatus

    with _mid_export(tmp_path) as (app, process, job_id):
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
        assert "given back to the queue" in output
        with app.app_context():
            job = db.session.get(ExportJob, job_id)
            assert (job.status, job.worker, job.lease_until, job.stored_file_id) == ("queued", None, None, None)
            assert not list((tmp_path / "uploads").glob(".export-*"))
            # A run that ended (given back is an end): not under way, not a failure.
            record = db.session.get(JobStatus, "exports")
            assert (record.running_since, record.failures) == (None, 0)
            db.session.remove()


def test_a_scheduler_killed_mid_run_leaves_a_trace_and_the_run_is_counted_as_failed(tmp_path):
    """SIGKILL mid-export: nothing gets to record the end of the run. The jobs page shows it under way,
    and the next scheduler on the machine counts it as a failed run, with an error that says why."""
    from app.operations.models import JobStatus
    from app.operations.services import note_interrupted_runs

    with _mid_export(tmp_path) as (app, process, _job_id):
        killed = f"{socket.gethostname()[:80]}:{process.pid}"
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=120)
        web = make_test_app(app.config["SQLALCHEMY_DATABASE_URI"])  # requests get contexts of their own
        with app.app_context():
            record = db.session.get(JobStatus, "exports")
            assert (record.running_host, record.failures) == (killed, 0) and record.running_since is not None
            admin = SignedInClient(web, db.session.scalar(select(User).where(User.role == "admin")))
            page = admin.get("/admin/jobs")
            assert "Under way since" in page.get_data(as_text=True) and killed in page.get_data(as_text=True)
            assert note_interrupted_runs() == 1
            db.session.expire_all()
            record = db.session.get(JobStatus, "exports")
            assert (record.running_since, record.running_host, record.failures) == (None, None, 1)
            assert record.last_error.startswith("Cut short:") and killed in record.last_error
            assert note_interrupted_runs() == 0  # counted once
            page = admin.get("/admin/jobs")
            assert "Cut short:" in page.get_data(as_text=True)
            db.session.remove()


def test_two_schedulers_started_together_move_each_agreement_once_and_neither_fails(tmp_path):
    """A second scheduler (started by mistake, or one per machine) runs the same date moves at the same
    moment: one waits for the other and finds nothing left, instead of failing on SQLite's lock."""
    from sqlalchemy import func, select

    from app.core.audit import AuditEvent
    from app.operations.models import JobStatus

    with migrated_database(tmp_path, "two") as url:
        app = make_test_app(url)
        with app.app_context():
            world = factories.build_world()
            due = [_signed(world, starts_in_days=-1) for _number in range(120)]
            db.session.commit()
            due_ids = [agreement.id for agreement in due]
            db.session.remove()
        processes = [_scheduler(url, tmp_path / f"instance-{number}") for number in (1, 2)]
        try:
            status = None
            while all(process.poll() is None for process in processes):
                with app.app_context():
                    status = db.session.get(JobStatus, "date-transitions")
                    db.session.expunge_all()
                    db.session.remove()
                if status is not None and status.runs >= 2:
                    break
                time.sleep(0.2)
            assert status is not None and status.runs >= 2, [process.poll() for process in processes]
        finally:
            outputs = []
            for process in processes:
                process.send_signal(signal.SIGTERM)
                outputs.append(process.communicate(timeout=60)[0])
        assert [process.returncode for process in processes] == [0, 0], outputs
        assert (status.failures, status.last_error) == (0, None), outputs
        with app.app_context():
            assert {db.session.get(Agreement, number).state for number in due_ids} == {"active"}
            activations = db.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.object_type == "agreements",
                    AuditEvent.object_id.in_(due_ids),
                    AuditEvent.action == "transition",
                )
            )
            db.session.remove()
            db.engine.dispose()
        assert activations == len(due_ids), outputs


@pytest.mark.parametrize(
    "host, cause",
    [
        (None, "connection failed"),
        # a host name that does not resolve (.invalid never does): it logged a traceback each run (a probe's find)
        ("sharaka-no-such-host.invalid", "failed to resolve host"),
    ],
)
def test_with_the_database_out_of_reach_each_job_says_so_in_one_line(tmp_path, host, cause):
    """A mistyped DATABASE_URL or a database outage: every job run fails, and each says so in one line
    (which job, and why), not the driver's chained traceback every few seconds (5,000 lines in 24 s)."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    process = _scheduler(
        f"postgresql+psycopg://nobody@{host or '127.0.0.1'}:{closed_port}/sharaka",
        tmp_path,
        OUTBOX_INTERVAL_SECONDS="1",
        EXPORT_INTERVAL_SECONDS="1",
    )
    lines: list[str] = []
    try:
        # Read until several runs have failed (a state, not a time): the outbox and exports jobs run each second.
        while sum(" failed" in line for line in lines) < 6:
            line = process.stdout.readline()
            if not line:
                break  # the process ended: its output says why
            lines.append(line)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            rest, _ = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate()
        lines += rest.splitlines()
    output = "".join(lines)
    assert sum("out of reach" in line for line in lines) >= 6, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert any(f"failed: the database is out of reach ({cause}" in line for line in lines), output[-3000:]


def test_a_run_skipped_while_the_last_one_runs_is_not_a_warning(app, caplog):
    """The outbox and exports run every few seconds: a long send wrote APScheduler's "skipped: maximum
    number of running instances" at every interval (dozens a drain, found by an outside probe)."""
    import logging

    from app.scheduler import build_scheduler

    build_scheduler(app)
    apscheduler_log = logging.getLogger("apscheduler.scheduler")
    with caplog.at_level(logging.INFO):
        apscheduler_log.warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)', "outbox", 1
        )
        apscheduler_log.warning("Run time of job %s was missed", "reminders")
    assert "maximum number of running instances" not in caplog.text
    assert "was missed" in caplog.text
