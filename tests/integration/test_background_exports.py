"""Spreadsheets of long lists are written by the scheduler, not in the request: the person follows the
progress, downloads the file when told, and nobody else ever sees it.

Real commits on a fresh database (the writer reports progress on a connection of its own)."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from flask import current_app
from sqlalchemy import func, select

from app.core.models import utcnow
from app.core.storage import StoredFile, backend
from app.exports import services
from app.exports.models import ExportJob
from app.extensions import db
from app.notifications.models import Notification
from tests import factories
from tests.conftest import SignedInClient, make_test_app
from tests.live import live_app

pytestmark = pytest.mark.live


@pytest.fixture
def setting(tmp_path):
    """A fresh database with the test world, a few more agreements, and exports past 2 rows in background."""
    with live_app(tmp_path) as (app, _base):
        app.config["EXPORT_INLINE_MAX_ROWS"] = 2
        # The test body runs in a twin app's context, so each request keeps its own `g` (tests/conftest.py).
        body = make_test_app(app.config["SQLALCHEMY_DATABASE_URI"], UPLOAD_DIR=app.config["UPLOAD_DIR"])
        with body.app_context():
            world = factories.build_world()
            for number in range(3):
                factories.agreement(
                    by=world.users["officer"], partners=[world.partner_a], title_fr=f"Accord supplémentaire {number}"
                )
            db.session.commit()
            yield app, world
            db.session.remove()


def _client(app, world, role):
    return SignedInClient(app, world.users[role])


def _sheet(response):
    return openpyxl.load_workbook(io.BytesIO(response.get_data())).active


def test_a_long_list_is_written_in_the_background_then_downloaded(setting):
    app, world = setting
    manager = _client(app, world, "manager")
    asked = manager.post("/agreements/export.xlsx", follow_redirects=False)
    assert asked.status_code == 303
    location = asked.headers["Location"]
    assert re.fullmatch(r"/exports/\d+", location)
    waiting = manager.get(location).get_data(as_text=True)
    assert "Waiting" in waiting and 'http-equiv="refresh"' in waiting
    # The same export asked again (a reload, a double click) is the same job.
    assert manager.post("/agreements/export.xlsx", follow_redirects=False).headers["Location"] == location
    db.session.rollback()  # read what the requests committed, not this session's old snapshot
    assert db.session.scalar(select(func.count()).select_from(ExportJob)) == 1
    # Not ready yet: the download says so instead of sending nothing.
    assert manager.get(location + "/download").status_code == 409

    counts = services.run_due()
    assert counts["done"] == 1 and counts["failed"] == 0

    ready = manager.get(location).get_data(as_text=True)
    assert "Ready" in ready and 'http-equiv="refresh"' not in ready
    download = manager.get(location + "/download")
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "no-store" in download.headers["Cache-Control"]
    sheet = _sheet(download)
    assert [cell.value for cell in sheet[1]][:2] == ["Reference", "Type"]
    assert sheet.freeze_panes == "A2"
    references = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert len(references) == 5 and world.agreement_b.reference in references
    # The person is told, in the app (and by mail if they want it).
    db.session.rollback()
    notice = db.session.scalar(
        select(Notification).where(
            Notification.user_id == world.users["manager"].id, Notification.kind == "export_ready"
        )
    )
    assert notice is not None and notice.link == location
    assert "Agreements" in manager.get("/exports/").get_data(as_text=True)
    # Written, the same export asked again is written again: a finished one reused had missed what was
    # created meanwhile, though the page said "being prepared".
    again = manager.post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    assert again != location


def test_a_long_list_as_csv_is_written_in_the_background_with_its_byte_order_mark(setting):
    app, world = setting
    manager = _client(app, world, "manager")
    asked = manager.post("/agreements/export.csv", follow_redirects=False)
    assert asked.status_code == 303
    location = asked.headers["Location"]
    # The CSV and the spreadsheet of one list are two files.
    assert manager.post("/agreements/export.xlsx", follow_redirects=False).headers["Location"] != location
    assert services.run_due()["done"] == 2
    listed = manager.get("/exports/").get_data(as_text=True)
    assert 'export-format">CSV<' in listed and 'export-format">XLSX<' in listed
    download = manager.get(location + "/download")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.search(r'filename="?sharaka-agreements-\d{4}-\d{2}-\d{2}\.csv', download.headers["Content-Disposition"])
    body = download.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads the Arabic right
    lines = body[3:].decode("utf-8").split("\r\n")
    assert lines[0].startswith("Reference,Type,Title") and len([line for line in lines if line]) == 1 + 5


def test_only_the_requester_opens_an_export(setting):
    app, world = setting
    officer = _client(app, world, "officer")
    location = officer.post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    services.run_due()
    for role in ("other_officer", "admin", "auditor", "partner"):
        other = _client(app, world, role)
        assert other.get(location).status_code == 404, role
        assert other.get(location + "/download").status_code == 404, role
    assert _client(app, world, "officer").get(location + "/download").status_code == 200
    for probe in ("/exports/0", "/exports/abc", "/exports/99999999999", "/exports/-1/download"):
        assert officer.get(probe).status_code == 404, probe


def test_partners_export_only_their_own_agreements(setting):
    app, world = setting
    app.config["EXPORT_INLINE_MAX_ROWS"] = 0
    partner = _client(app, world, "partner_b")
    location = partner.post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    services.run_due()
    sheet = _sheet(partner.get(location + "/download"))
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [world.agreement_b.reference]


def test_failures_are_told_and_never_stop_the_next_export(setting):
    app, world = setting
    first = _client(app, world, "officer").post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    second = _client(app, world, "manager").post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    # The first one's requester leaves before it is written.
    db.session.rollback()
    world.users["officer"].is_active_account = False
    db.session.commit()
    counts = services.run_due()
    assert counts == {"done": 1, "failed": 1, "interrupted": 0, "expired": 0}
    db.session.rollback()
    failed = db.session.get(ExportJob, int(first.rsplit("/", 1)[1]))
    assert failed.status == "failed" and "no longer active" in failed.error
    assert db.session.get(ExportJob, int(second.rsplit("/", 1)[1])).status == "done"


def test_a_writer_that_died_is_taken_over_and_old_exports_are_forgotten(setting):
    app, world = setting
    manager = _client(app, world, "manager")
    location = manager.post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    db.session.rollback()
    job = db.session.get(ExportJob, int(location.rsplit("/", 1)[1]))
    # A scheduler claimed it, then was killed: its lease runs out and the next run writes it.
    job.status, job.worker, job.lease_until = "running", "dead:1", utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert services.run_due()["done"] == 1
    db.session.refresh(job)
    assert job.status == "done" and job.worker != "dead:1"
    sha = job.stored_file.sha256
    assert backend().has(sha)
    # Kept EXPORT_KEEP_HOURS, then forgotten with its file (nothing else refers to it).
    job.finished_at = utcnow() - timedelta(hours=app.config["EXPORT_KEEP_HOURS"] + 1)
    db.session.commit()
    job_id = job.id
    assert services.expire_old() == 1
    db.session.expunge_all()
    assert db.session.get(ExportJob, job_id) is None
    assert db.session.scalar(select(StoredFile).where(StoredFile.sha256 == sha)) is None
    assert not backend().has(sha)
    assert manager.get(location).status_code == 404


def test_an_export_whose_writing_was_cut_short_too_often_fails_saying_why(setting):
    """Each writer killed mid-sheet (the sheet running the process out of memory, say) left the export to be
    taken and killed again, at every restart, for ever (an outside probe): past EXPORT_MAX_WRITES it fails."""
    app, world = setting
    manager = _client(app, world, "manager")
    location = manager.post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    db.session.rollback()
    job = db.session.get(ExportJob, int(location.rsplit("/", 1)[1]))
    most = app.config["EXPORT_MAX_WRITES"]
    # Cut short once less than the most: taken again and written.
    job.status, job.worker, job.lease_until = "running", "dead:1", utcnow() - timedelta(seconds=1)
    job.writes = most - 1
    db.session.commit()
    assert services.run_due()["done"] == 1
    db.session.refresh(job)
    assert (job.status, job.writes) == ("done", most)
    # Cut short the most times: failed, its page saying why, and nothing taken again.
    again = manager.post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    db.session.rollback()
    worn = db.session.get(ExportJob, int(again.rsplit("/", 1)[1]))
    worn.status, worn.worker, worn.lease_until = "running", "dead:1", utcnow() - timedelta(seconds=1)
    worn.writes = most
    db.session.commit()
    counts = services.run_due()
    assert counts["failed"] == 1 and counts["done"] == 0
    db.session.refresh(worn)
    assert worn.status == "failed" and f"cut short {most} times" in worn.error
    assert f"cut short {most} times" in manager.get(again).get_data(as_text=True)


def test_an_export_under_way_goes_back_to_the_queue_when_the_process_stops(setting):
    app, world = setting
    location = (
        _client(app, world, "manager").post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    )
    job_id = int(location.rsplit("/", 1)[1])
    looks = []

    def stopping():  # asked to stop once the file is under way (the first look is before claiming it)
        looks.append(True)
        return len(looks) > 1

    counts = services.run_due(stopping=stopping)
    assert counts["interrupted"] == 1 and counts["done"] == counts["failed"] == 0
    db.session.rollback()
    job = db.session.get(ExportJob, job_id)
    # Queued again at once, for whoever runs next: not left "running" under a lease nobody renews.
    given_back = (job.status, job.worker, job.lease_until, job.rows_done, job.stored_file_id, job.writes)
    assert given_back == ("queued", None, None, 0, None, 0)  # a stop is not a writing cut short
    assert not list(Path(app.config["UPLOAD_DIR"]).glob(".export-*"))
    # A process asked to stop takes nothing new.
    assert services.run_due(stopping=lambda: True)["interrupted"] == 0
    db.session.rollback()
    assert db.session.get(ExportJob, job_id).status == "queued"
    assert services.run_due()["done"] == 1
    db.session.rollback()
    assert db.session.get(ExportJob, job_id).status == "done"


def test_an_export_whose_writer_on_this_machine_is_gone_is_written_at_once(setting):
    """Its lease still runs for minutes, but its process is gone (killed, the machine restarted): the next
    run takes it at once instead of leaving the page at "being written" until the lease ends."""
    import socket
    import subprocess
    import sys

    app, world = setting
    location = (
        _client(app, world, "manager").post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    )
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = f"{socket.gethostname()[:80]}:{ended.stdout.strip()}"
    db.session.rollback()
    job = db.session.get(ExportJob, int(location.rsplit("/", 1)[1]))
    job.status, job.worker, job.lease_until = "running", gone, utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert services.run_due()["done"] == 1
    db.session.refresh(job)
    assert job.status == "done" and job.worker != gone
    # A writer on another machine keeps its lease: it may well be at work.
    officer = _client(app, world, "officer")
    elsewhere = officer.post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    db.session.rollback()
    other = db.session.get(ExportJob, int(elsewhere.rsplit("/", 1)[1]))
    other.status, other.worker, other.lease_until = "running", "another-machine:4242", utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert services.run_due()["done"] == 0
    db.session.refresh(other)
    assert (other.status, other.worker) == ("running", "another-machine:4242")


def test_an_export_left_running_by_this_process_is_taken_back_at_its_next_run(setting):
    """A run whose ending could not be written (the database out of reach) left its export "running" under
    this very process: exports are written one after the other here, so the next run takes it back at once."""
    from app.core.processes import process_name

    app, world = setting
    location = (
        _client(app, world, "manager").post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    )
    db.session.rollback()
    job = db.session.get(ExportJob, int(location.rsplit("/", 1)[1]))
    job.status, job.worker, job.lease_until = "running", process_name(), utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert services.run_due()["done"] == 1
    db.session.refresh(job)
    assert job.status == "done"


def test_storage_that_takes_no_file_fails_the_export_in_its_requesters_language(setting):
    """UPLOAD_DIR that cannot hold the file being written (here a plain file where the folder should be):
    the export is failed and its requester told, in their language, instead of staying "being written" and
    taken again at every lease's end; the next export is written once storage is back."""
    from pathlib import Path

    app, world = setting
    manager = _client(app, world, "manager")
    manager.http.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    manager.post("/language", data={"language": "fr", "next": "/dashboard"})
    location = manager.post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    writer = current_app  # the app whose context runs the exports here
    uploads = writer.config["UPLOAD_DIR"]
    blocked = Path(uploads) / "not-a-folder"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the folder should be")
    writer.config["UPLOAD_DIR"] = str(blocked)
    try:
        assert services.run_due()["failed"] == 1
    finally:
        writer.config["UPLOAD_DIR"] = uploads
    db.session.rollback()
    job = db.session.get(ExportJob, int(location.rsplit("/", 1)[1]))
    assert job.status == "failed" and "Demandez-le à nouveau" in job.error, job.error
    # Told, as its being ready would have been (the confirmation said they would hear), in their bell and mail.
    told = db.session.scalars(
        select(Notification).where(Notification.object_type == "export_jobs", Notification.object_id == job.id)
    ).all()
    assert [(n.user_id, n.kind) for n in told] == [(world.users["manager"].id, "export_failed")]
    assert "Votre tableur n’a pas pu être écrit" in manager.get("/notifications").get_data(as_text=True)
    assert services.run_due()["done"] == 0 and job.status == "failed"  # not taken again


def test_an_export_whose_database_was_lost_midway_goes_back_to_the_queue(setting):
    """The writer's connection cut while it read the list (a database restart, a probe ending its sessions):
    the export had failed for good, its requester never told. Nothing was wrong with it: it is queued again,
    not counted as a writing cut short, and written by the next run."""
    import psycopg
    from sqlalchemy.engine import make_url

    app, world = setting
    if db.engine.dialect.name != "postgresql":
        pytest.skip("an SQLite file has no connection to cut")
    location = (
        _client(app, world, "manager").post("/agreements/export.xlsx", follow_redirects=False).headers["Location"]
    )
    job_id = int(location.rsplit("/", 1)[1])
    parsed = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    looks = []

    def stopping():  # the first look is before claiming it; at the second the sheet is under way
        looks.append(True)
        if len(looks) == 2:
            reader = db.session.connection().connection.dbapi_connection.info.backend_pid
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute("SELECT pg_terminate_backend(%s)", (reader,))
        return False

    counts = services.run_due(stopping=stopping)
    assert counts["interrupted"] == 1 and counts["failed"] == counts["done"] == 0, counts
    db.session.rollback()
    job = db.session.get(ExportJob, job_id)
    assert (job.status, job.worker, job.writes, job.error) == ("queued", None, 0, None)
    assert services.run_due()["done"] == 1
    db.session.rollback()
    assert db.session.get(ExportJob, job_id).status == "done"


def test_the_scheduler_runs_exports_as_a_job(setting):
    app, _world = setting
    from app.scheduler import build_scheduler

    assert "exports" in {job.id for job in build_scheduler(app).get_jobs()}


def test_the_audit_trail_as_filtered_is_written_in_the_background_for_its_readers_alone(setting):
    app, world = setting
    from app.core import audit

    for number in range(4):
        audit.record("retired", world.partner_b, actor=world.users["admin"], comment=f"retrait-{number}")
    audit.record("updated", world.agreement_a, actor=world.users["officer"])
    db.session.commit()
    auditor = _client(app, world, "auditor")
    # Asked by a link (a GET), the long trail asks to confirm first: nothing is queued by a page viewed.
    confirm = auditor.get("/audit/events.csv?action=retired").get_data(as_text=True)
    assert "Write the spreadsheet" in confirm and "Organisation retired" in confirm  # the filter, named
    assert 'href="/audit/events?action=retired"' in confirm
    asked = auditor.post("/audit/events.csv?action=retired", follow_redirects=False)
    assert asked.status_code == 303
    location = asked.headers["Location"]
    # The auditor loses the role before it is written: the file is refused, saying why.
    second = auditor.post("/audit/events.xlsx?action=retired", follow_redirects=False).headers["Location"]
    assert services.run_due()["done"] == 2
    lines = auditor.get(location + "/download").get_data()[3:].decode("utf-8").split("\r\n")
    assert lines[0] == "Row,When,Who,What,Action code,About,Its number,Comment,What changed"
    assert [line.split(",")[7] for line in lines[1:] if line] == [f"retrait-{n}" for n in (3, 2, 1, 0)]
    assert all(",Organisation retired,retired,Organisation," in line for line in lines[1:] if line)
    db.session.rollback()
    world.users["auditor"].role = "officer"
    db.session.commit()
    third = auditor.post("/audit/events.csv?action=retired", follow_redirects=False)
    assert third.status_code == 403
    db.session.rollback()
    world.users["auditor"].role = "auditor"
    db.session.commit()
    again = _client(app, world, "auditor").post("/audit/events.csv?action=retired&who=", follow_redirects=False)
    db.session.rollback()
    world.users["auditor"].role = "officer"
    db.session.commit()
    assert services.run_due()["failed"] == 1
    db.session.rollback()
    refused = db.session.get(ExportJob, int(again.headers["Location"].rsplit("/", 1)[1]))
    assert refused.status == "failed" and "may no longer read this list" in refused.error
    assert db.session.get(ExportJob, int(second.rsplit("/", 1)[1])).status == "done"
