"""Operations: health and readiness, Prometheus metrics behind a token or a network,
request ids and JSON logs, each job's last run, and files kept in the database."""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from app.core import storage
from app.core.logs import JsonFormatter, RequestIdFilter
from app.core.storage_backends import CHUNK, StoredFileChunk
from app.extensions import db
from app.notifications import services as notifications
from app.operations.services import job_statuses, track_job


def test_health_answers_without_the_database_and_readiness_checks_everything(client):
    assert client.get("/healthz").get_json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "migrations": "ok", "storage": "ok"}


@pytest.mark.parametrize("backend", ["folder", "database"])
def test_readiness_fails_when_storage_cannot_be_written(client, app, tmp_path, monkeypatch, backend):
    """Uploads go through UPLOAD_DIR's temporary files with either backend: with STORAGE=database an unusable
    folder had left /readyz at 200 while every upload failed ("Files cannot be stored just now")."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the upload folder should be")
    monkeypatch.setitem(app.config, "STORAGE", backend)
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(blocker))
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["storage"] == "failed" and answer.get_json()["status"] == "unavailable"
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    assert client.get("/readyz").status_code == 200


def test_readiness_fails_when_the_schema_is_behind(client, app, monkeypatch):
    monkeypatch.setitem(app.extensions, "sharaka.migration_head", "9999")
    assert client.get("/readyz").status_code == 503


def test_metrics_need_the_token_or_an_allowed_network(client, app, world, monkeypatch):
    notifications.queue_mail(
        world.users["officer"],
        notifications.Notice(
            kind="agreement_ending",
            category="agreement_ending",
            params={"reference": "MTNRA-M", "title": {"en": "A"}, "days": 30, "expires_on": "2027-01-31"},
            link="/agreements/",
        ),
    )
    db.session.commit()
    with track_job("outbox") as counts:
        counts["sent"] = 0
    client.get("/healthz")
    assert client.get("/metrics").status_code == 404
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "s3cret-token-for-tests")
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    answer = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token-for-tests"})
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain")
    text = answer.get_data(as_text=True)
    assert 'sharaka_http_requests_total{endpoint="operations.health",method="GET",status="200"}' in text
    assert "sharaka_http_request_duration_seconds_bucket" in text
    assert 'sharaka_outbox_messages{status="pending"} 1.0' in text
    assert "sharaka_outbox_oldest_pending_age_seconds" in text
    assert 'sharaka_job_runs_total{job="outbox"} 1.0' in text and 'sharaka_job_failures_total{job="outbox"} 0.0' in text
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "")
    monkeypatch.setitem(app.config, "METRICS_ALLOW_NETWORKS", (ipaddress.ip_network("127.0.0.0/8"),))
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404


def test_each_request_has_an_id_kept_from_the_proxy_when_it_looks_like_one(client):
    assert client.get("/healthz", headers={"X-Request-ID": "edge-42.a"}).headers["X-Request-ID"] == "edge-42.a"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id <script>" + "x" * 200}).headers["X-Request-ID"]
    assert len(generated) == 32 and "<" not in generated


def test_json_log_lines_carry_the_request_id(app):
    handler_output = io.StringIO()
    handler = logging.StreamHandler(handler_output)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sharaka.request")
    logger.addHandler(handler)
    old_level, old_disabled = logger.level, logger.disabled
    # Alembic's logging set-up (the migrations the suite ran) switches existing loggers off.
    logger.setLevel(logging.INFO)
    logger.disabled = False
    try:
        app.test_client().get("/healthz", headers={"X-Request-ID": "trace-7"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.disabled = old_disabled
    entry = json.loads(handler_output.getvalue().strip().splitlines()[-1])
    assert entry["request_id"] == "trace-7" and entry["status"] == 200 and entry["path"] == "/healthz"
    assert entry["level"] == "INFO" and "time" in entry


def test_jobs_record_runs_counts_and_the_last_error(app, signed_in, world):
    # Before any job ran, the page says the scheduler never did (mail waits in the outbox meanwhile).
    fresh = signed_in("auditor").get("/admin/jobs").get_data(as_text=True)
    assert "data-scheduler-never-ran" in fresh and "The scheduler has never run here." in fresh
    with track_job("reminders") as counts:
        counts.update(created=3, already=1)
    with pytest.raises(RuntimeError):
        with track_job("reminders"):
            raise RuntimeError("relay on fire")
    reminders = next(job for job in job_statuses() if job.name == "reminders")
    assert (reminders.runs, reminders.failures) == (2, 1)
    assert reminders.last_counts == {} and "relay on fire" in reminders.last_error
    assert reminders.last_duration_ms is not None and reminders.last_success_at is not None
    output = app.test_cli_runner().invoke(args=["jobs", "status"]).output
    assert "reminders" in output and "runs 2, failures 1" in output and "relay on fire" in output
    assert "date-transitions  never ran" in output
    page = signed_in("auditor").get("/admin/jobs").get_data(as_text=True)
    assert "relay on fire" in page and "date-transitions" in page and "data-scheduler-never-ran" not in page
    with track_job("outbox") as counts:
        counts.update(sent=4, retried=0, failed=0, withdrawn=0, unreachable=True, no_server=False, paused=False)
    page = signed_in("auditor").get("/admin/jobs").get_data(as_text=True)
    # Counts in words; a yes/no shown only when yes, by its own words (never "True" or "False").
    assert "4 sent" in page and "0 to try again" in page and "mail server unreachable" in page
    assert "mail paused" not in page and "False" not in page and "unreachable True" not in page
    assert "no mail server" not in page
    assert "withdrawn" not in page  # what seldom happens, only when it did
    with track_job("outbox") as counts:
        counts.update(sent=1, withdrawn=2, no_server=True, paused=False)
    page = signed_in("auditor").get("/admin/jobs").get_data(as_text=True)
    assert "2 withdrawn" in page and "no mail server configured" in page and "mail paused" not in page
    assert signed_in("officer").get("/admin/jobs").status_code == 403


def test_a_run_left_under_way_by_a_process_now_gone_is_counted_once_as_cut_short(app, world):
    from datetime import timedelta

    from app.core.models import utcnow
    from app.core.processes import process_name
    from app.operations.models import JobStatus
    from app.operations.services import note_interrupted_runs

    started = utcnow() - timedelta(minutes=5)
    for name, host in (
        ("reminders", "sharaka-other-machine:4242"),  # another machine, recent: maybe still at work
        ("outbox", process_name()),  # this very name, yet not at work here: a restarted container
        ("exports", "sharaka-other-machine:4243"),
    ):
        db.session.add(JobStatus(name=name, runs=0, failures=0, running_since=started, running_host=host))
    db.session.commit()
    db.session.get(JobStatus, "exports").running_since = utcnow() - timedelta(hours=7)  # long abandoned
    db.session.commit()
    assert note_interrupted_runs() == 2
    db.session.expire_all()
    kept = db.session.get(JobStatus, "reminders")
    assert (kept.running_host, kept.failures) == ("sharaka-other-machine:4242", 0)
    for name in ("outbox", "exports"):
        counted = db.session.get(JobStatus, name)
        assert (counted.running_since, counted.failures) == (None, 1)
        assert counted.last_error.startswith("Cut short:")
    assert note_interrupted_runs() == 0
    # A run here meanwhile leaves the other machine's mark alone (overwritten, a scheduler killed there
    # would never be counted), and its own end does not clear it.
    with track_job("reminders"):
        pass
    db.session.expire_all()
    kept = db.session.get(JobStatus, "reminders")
    assert (kept.running_host, kept.failures, kept.runs) == ("sharaka-other-machine:4242", 0, 1)


# --- files kept in the database -----------------------------------------------------------------

PDF = b"%PDF-1.4\n" + os.urandom(CHUNK * 2 + 12345)  # three chunks, the last one short


def test_the_database_backend_stores_in_chunks_and_streams_back_the_same_bytes(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "STORAGE", "database")
    with app.test_request_context():
        stored = storage.store(io.BytesIO(PDF))
        sha = hashlib.sha256(PDF).hexdigest()
        assert stored.sha256 == sha and not storage.path_for(sha).exists()
        sizes = list(
            db.session.scalars(
                select(func.length(StoredFileChunk.data))
                .where(StoredFileChunk.sha256 == sha)
                .order_by(StoredFileChunk.position)
            )
        )
        assert sizes == [CHUNK, CHUNK, len(PDF) - 2 * CHUNK]
        # The same bytes again: the same row, no new chunks.
        assert storage.store(io.BytesIO(PDF)).id == stored.id
        assert db.session.scalar(select(func.count()).select_from(StoredFileChunk)) == 3
        response = storage.send_stored(stored, "rapport annuel.pdf")
        assert response.content_length == len(PDF) and "attachment" in response.headers["Content-Disposition"]
        assert b"".join(response.response) == PDF
        response.close()


@pytest.mark.parametrize(
    "asked, start, end",
    [
        ("bytes=0-99", 0, 100),
        (f"bytes={CHUNK * 2 + 7}-", CHUNK * 2 + 7, None),  # resumed in the last chunk
        (f"bytes={CHUNK - 10}-{CHUNK + 9}", CHUNK - 10, CHUNK + 10),  # across two chunks
        ("bytes=-50", len(PDF) - 50, None),
    ],
)
def test_a_file_kept_in_the_database_is_sent_by_ranges_reading_only_their_chunks(
    app, world, monkeypatch, asked, start, end
):
    """A download resumed (a Range request) gets the bytes asked for, as from a folder; the reader starts at
    the chunk holding the first of them instead of reading the file up to there."""
    from tests.bulk import counting_queries

    monkeypatch.setitem(app.config, "STORAGE", "database")
    with app.test_request_context(headers={"Range": asked}):
        stored = storage.store(io.BytesIO(PDF))
        response = storage.send_stored(stored, "rapport annuel.pdf")
        with counting_queries() as statements:
            sent = b"".join(response.response)
        response.close()
    assert response.status_code == 206 and response.headers["Accept-Ranges"] == "bytes"
    assert sent == PDF[start:end] and response.content_length == len(sent)
    assert response.headers["Content-Range"] == f"bytes {start}-{start + len(sent) - 1}/{len(PDF)}"
    first_chunk, last_chunk = start // CHUNK, (start + len(sent) - 1) // CHUNK
    assert len(statements) <= last_chunk - first_chunk + 2, statements  # its chunks, and the end found


def test_a_range_beyond_a_database_file_is_refused_as_unsatisfiable(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "STORAGE", "database")
    with app.test_request_context(headers={"Range": f"bytes={len(PDF) + 5}-"}):
        stored = storage.store(io.BytesIO(PDF))
        with pytest.raises(RequestedRangeNotSatisfiable):
            storage.send_stored(stored, "rapport.pdf")


def test_storage_migrate_moves_files_both_ways_and_verify_finds_damage(app, world, monkeypatch):
    runner = app.test_cli_runner()
    with app.test_request_context():
        stored = storage.store(io.BytesIO(PDF))
        db.session.commit()
        sha = stored.sha256
    result = runner.invoke(args=["storage", "migrate", "--from", "folder", "--to", "database"])
    assert result.exit_code == 0 and "copied 1" in result.output, result.output
    assert (
        runner.invoke(args=["storage", "migrate", "--from", "folder", "--to", "database"]).output.count("already 1")
        == 1
    )
    assert runner.invoke(args=["storage", "verify", "--backend", "database"]).exit_code == 0
    # Lose the folder copy: verify says so, and migrating back restores it from the database.
    storage.path_for(sha).unlink()
    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 1 and f"{sha}: missing" in result.output
    assert runner.invoke(args=["storage", "migrate", "--from", "database", "--to", "folder"]).exit_code == 0
    assert storage.path_for(sha).read_bytes() == PDF
    # Damage one byte on disk: the SHA-256 no longer matches.
    path = storage.path_for(sha)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 1 and "corrupt" in result.output
    path.write_bytes(PDF)
    assert runner.invoke(args=["storage", "migrate", "--from", "folder", "--to", "folder"]).exit_code == 2


def test_what_killed_processes_left_is_counted_by_verify_and_swept_after_a_day(app, world):
    """A request killed mid-upload leaves its temporary file; one killed between moving the file into place
    and its commit leaves a stored file no row refers to. Both are counted by `storage verify` and removed
    by the scheduler's sweep once a day old; fresh ones (work still under way) and kept files stay."""
    import hashlib
    import os
    import time

    from app.scheduler import storage_sweep_job

    root = Path(app.config["UPLOAD_DIR"])
    with app.test_request_context():
        kept_sha = storage.store(io.BytesIO(PDF + b"kept")).sha256
        db.session.commit()
    a_day_ago = time.time() - storage.LEFTOVER_AGE_SECONDS - 60
    orphan_sha = hashlib.sha256(b"orphan").hexdigest()
    files = {
        "old temporary": root / ".upload-killed",
        "old export": root / ".export-killed.xlsx",
        "old sheet": root / "openpyxl.killed",
        "fresh temporary": root / ".upload-under-way",
        "old orphan": root / orphan_sha[:2] / orphan_sha,
    }
    for name, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left over")
        if name.startswith("old"):
            os.utime(path, (a_day_ago, a_day_ago))
    os.utime(storage.path_for(kept_sha), (a_day_ago, a_day_ago))  # old, but a row refers to it
    output = app.test_cli_runner().invoke(args=["storage", "verify"]).output
    assert "3 temporary files, 1 stored files no row refers to" in output, output
    storage_sweep_job(app)
    assert {name for name, path in files.items() if path.exists()} == {"fresh temporary"}
    assert storage.path_for(kept_sha).read_bytes() == PDF + b"kept"
    assert "Left by interrupted work" not in app.test_cli_runner().invoke(args=["storage", "verify"]).output


def test_a_workbooks_sheet_is_written_where_the_sweep_finds_what_a_kill_leaves(app, tmp_path):
    """openpyxl keeps a sheet's rows in a temporary file until the workbook is saved: a writer killed
    meanwhile left it in the system's temporary folder, for good (an outside probe found four, 12-23 MB of
    audit rows, after SIGKILLs of the scheduler). It is made in UPLOAD_DIR, and swept daily from there."""
    import glob
    import tempfile

    from app.core.exports import WIDTH_SAMPLE, write_xlsx

    root = Path(app.config["UPLOAD_DIR"])
    system_before = set(glob.glob(os.path.join(tempfile.gettempdir(), "openpyxl.*")))
    seen_while_writing = []

    def rows():
        for number in range(WIDTH_SAMPLE + 3):
            if number == WIDTH_SAMPLE + 2:  # past the rows read ahead for the widths: the sheet's file is open
                seen_while_writing.extend(root.glob("openpyxl.*"))
            yield [number, f"row {number}"]

    with app.test_request_context():
        write_xlsx(tmp_path / "out.xlsx", ["n", "text"], rows(), title="Test")
    assert len(seen_while_writing) == 1 and not list(root.glob("openpyxl.*"))  # saved: removed
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "openpyxl.*"))) <= system_before
    assert tempfile.tempdir != str(root)  # the process's setting given back


def test_an_unknown_storage_setting_stops_the_app_from_starting(database_url):
    from tests.conftest import make_test_app

    with pytest.raises(RuntimeError, match="unknown STORAGE"):
        make_test_app(database_url, STORAGE="s3")


def test_the_jobs_page_lists_every_scheduled_job_and_the_audit_anchor_is_recorded(app, world, signed_in):
    from app.operations.services import JOB_LABELS, JOBS
    from app.scheduler import audit_anchor_job, build_scheduler

    scheduled = {job.id for job in build_scheduler(app).get_jobs()}
    assert scheduled == set(JOBS) and set(JOBS) <= set(JOB_LABELS)
    page = signed_in("auditor").get("/admin/jobs").get_data(as_text=True)
    assert all(f">{name}</code>" in page for name in JOBS)  # before their first run too
    audit_anchor_job(app)
    anchor = next(job for job in job_statuses() if job.name == "audit-anchor")
    assert anchor.runs == 1 and anchor.last_counts["failed"] == 0 and anchor.last_counts["chain_rows"] > 0


def test_the_jobs_page_says_when_the_scheduler_seems_stopped(app, world, signed_in):
    """Its jobs run every few seconds: minutes without any run mean no scheduler, and exports wait
    "for their turn" while mail piles up. The page says so; a scheduler that runs, or never ran here, not."""
    from datetime import timedelta

    from app.core.models import utcnow
    from app.operations.models import JobStatus

    assert "data-scheduler-silent" not in signed_in("admin").get("/admin/jobs").get_data(as_text=True)
    with track_job("exports"):
        pass
    assert "data-scheduler-silent" not in signed_in("admin").get("/admin/jobs").get_data(as_text=True)
    row = db.session.get(JobStatus, "exports")
    row.last_started_at = row.last_finished_at = row.last_success_at = utcnow() - timedelta(minutes=20)
    db.session.commit()
    page = signed_in("admin").get("/admin/jobs").get_data(as_text=True)
    assert "data-scheduler-silent" in page and "The scheduler seems stopped" in page


def test_a_writer_lock_held_past_the_wait_is_a_503_to_try_again(app):
    """Another process held SQLite's one writer's lock for the whole wait: the request had been told
    "someone else saved at the same moment" (409), which nobody had; it is told the database is busy."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    locked = OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
    with app.test_request_context("/api/v1/agreements", method="POST", headers={"Accept": "application/json"}):
        response = app.make_response(app.handle_user_exception(locked))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "busy" in response.get_json()["detail"]
