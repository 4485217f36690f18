"""Several machines on one PostgreSQL: two gunicorn servers (each with its own, unshared
upload folder, files kept in the database) and two schedulers. A file handed in on one
server downloads from the other, a move made on one is seen on the other, and the
reminders and mail go out once."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.api.tokens import create_token
from app.core import clock
from app.deliverables import services as deliverable_services
from app.extensions import db
from app.notifications.models import OutboxMessage, ReminderSent
from app.operations.models import JobStatus
from tests import factories
from tests.conftest import make_test_app
from tests.databases import backend, migrated_database
from tests.integration.test_notifications_mail import ROOT, SENDER, WAIT, Inbox, free_port

pytestmark = pytest.mark.live
PDF = b"%PDF-1.4\n" + os.urandom(3 * 1024 * 1024 + 17)  # more than one database chunk


def call(
    base: str, path: str, *, token: str, method: str = "GET", body: bytes | None = None, content_type: str | None = None
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(base + path, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for field, filename, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def wait_ready(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        assert process.poll() is None, process.communicate()[0]
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{base} never became ready"
        time.sleep(0.1)


def test_two_web_servers_and_two_schedulers_share_one_database(tmp_path):
    if backend() != "postgresql":
        pytest.skip("several machines share a PostgreSQL database, not an SQLite file")
    mail_port = free_port()
    with migrated_database(tmp_path, "multi") as url, Inbox(mail_port) as inbox:
        app = make_test_app(url, UPLOAD_DIR=str(tmp_path / "setup-uploads"))
        with app.app_context():
            world = factories.build_world()
            officer, partner = world.users["officer"], world.users["partner"]
            occurrence = deliverable_services.plan_deliverable(
                world.agreement_a,
                deliverable_services.PlanData(
                    title_fr="Rapport",
                    title_ar=None,
                    title_en="Report",
                    description=None,
                    responsible_organization_id=world.partner_a.id,
                    recurrence="once",
                    first_due_on=clock.today() + timedelta(days=7),
                ),
                by=officer,
            ).occurrences[0]
            officer_token = create_token(officer, "multi", by=None)[1]
            partner_token = create_token(partner, "multi", by=None)[1]
            db.session.commit()
            agreement_id, occurrence_id = world.agreement_a.id, occurrence.id
            db.session.remove()

        def env(name: str, **extra) -> dict:
            return {
                **os.environ,
                "DATABASE_URL": url,
                "SHARAKA_CONFIG": "development",
                "FLASK_APP": "app",
                "FLASK_SKIP_DOTENV": "1",
                "SHARAKA_INSTANCE_DIR": str(tmp_path / name),
                "UPLOAD_DIR": str(tmp_path / name / "uploads"),
                "STORAGE": "database",
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": str(mail_port),
                "MAIL_DEFAULT_SENDER": SENDER,
                "OUTBOX_INTERVAL_SECONDS": "1",
                "BASE_URL": "http://sharaka.test",
                **extra,
            }

        processes, ports = [], [free_port(), free_port()]
        try:
            for name, port in zip(("web-a", "web-b"), ports):
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
                        cwd=ROOT,
                        env=env(name),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
            for name in ("scheduler-a", "scheduler-b"):
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "flask", "scheduler", "run"],
                        cwd=ROOT,
                        env=env(name),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
            server_a, server_b = (f"http://127.0.0.1:{port}" for port in ports)
            wait_ready(server_a, processes[0])
            wait_ready(server_b, processes[1])

            # Both schedulers' first reminder pass (at their start, then on the hour) is over before the hand-in
            # and the move below: started on a busy machine, a scheduler came to its first pass after them and
            # found nothing to remind (the report handed in, the agreement suspended), and none came before the
            # hour. The reminders' mail is still being sent, or withdrawn, as the hand-in lands.
            deadline = time.monotonic() + WAIT
            while True:
                with app.app_context():
                    passes = db.session.scalar(select(JobStatus.runs).where(JobStatus.name == "reminders")) or 0
                    db.session.remove()
                if passes >= 2:
                    break
                assert time.monotonic() < deadline, f"{passes} of the two schedulers' first reminder passes"
                time.sleep(0.2)

            # A file handed in on A downloads, byte for byte, from B (which has no copy on its disk).
            body, content_type = multipart({"note": "Q1"}, [("files", "rapport T1.pdf", PDF)])
            status, answer = call(
                server_a,
                f"/api/v1/deliverables/{occurrence_id}/submissions",
                token=partner_token,
                method="POST",
                body=body,
                content_type=content_type,
            )
            assert status == 201, answer
            file = json.loads(answer)["submissions"][0]["files"][0]
            assert file["sha256"] == hashlib.sha256(PDF).hexdigest()
            status, downloaded = call(server_b, file["download_url"], token=officer_token)
            assert status == 200 and downloaded == PDF
            assert not [path for name in ("web-a", "web-b") for path in (tmp_path / name / "uploads").glob("??/*")]

            # A move made on A is what B shows next.
            status, answer = call(
                server_a,
                f"/api/v1/agreements/{agreement_id}/transitions",
                token=officer_token,
                method="POST",
                body=json.dumps({"transition": "suspend", "comment": "Audit en cours"}).encode(),
                content_type="application/json",
            )
            assert status == 200, answer
            status, answer = call(server_b, f"/api/v1/agreements/{agreement_id}", token=officer_token)
            assert status == 200 and json.loads(answer)["state"] == "suspended"

            # Both schedulers ran the reminder pass: each reminder, and each e-mail, once. A reminder about
            # the deliverable handed in above is withdrawn instead when the hand-in came first.
            deadline = time.monotonic() + WAIT
            while True:
                with app.app_context():
                    by_status = dict(
                        db.session.execute(
                            select(OutboxMessage.status, db.func.count()).group_by(OutboxMessage.status)
                        ).all()
                    )
                    reminders = db.session.scalar(select(db.func.count()).select_from(ReminderSent))
                    db.session.remove()
                sent = by_status.get("sent", 0)
                if reminders and by_status and set(by_status) <= {"sent", "withdrawn"} and len(inbox) >= sent:
                    break
                assert time.monotonic() < deadline, (reminders, by_status, len(inbox))
                time.sleep(0.2)
            arrived = Counter(message["Message-ID"] for _rcpt, message in inbox.received)
            assert len(arrived) == sent and set(arrived.values()) == {1}
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            outputs = [process.communicate(timeout=60)[0] for process in processes]
        assert all("Traceback" not in output for output in outputs), outputs
        with app.app_context():
            db.engine.dispose()
