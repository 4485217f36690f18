"""A reminder pass writes its batches on a connection of its own, in a thread, while it prepares the next
(app/notifications/reminders/writing.py), against a real database that other connections see: what it
could not write is left whole for the next pass, and what it wrote is written once."""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.notifications import reminders
from app.notifications.models import Notification, ReminderSent
from app.notifications.reminders import writing
from tests.databases import backend
from tests.integration.test_notifications_mail import CASA, mailroom, plan_reports

pytestmark = pytest.mark.live


def _told_of(room, occurrence_ids: list[int]) -> dict[int, int]:
    """How many people were told each occurrence is due (in-app notices; the admins are told of a failure too)."""
    with room.context():
        rows = db.session.execute(
            select(Notification.object_id, func.count())
            .where(Notification.kind == "deliverable_due", Notification.object_id.in_(occurrence_ids))
            .group_by(Notification.object_id)
        ).all()
    return {occurrence_id: dict(rows).get(occurrence_id, 0) for occurrence_id in occurrence_ids}


def test_batches_written_beside_the_reading_and_a_batch_that_fails_left_for_the_next_pass(tmp_path, monkeypatch):
    due = datetime.now(CASA).date() + timedelta(days=7)
    moment = datetime.combine(due - timedelta(days=7), time(9), tzinfo=CASA)
    with mailroom(tmp_path) as room:
        reports = plan_reports(room, due, [f"Rapport {n}" for n in range(5)])
        broken = reports[2]
        monkeypatch.setattr(reminders, "BATCH", 2)  # several batches: the writer runs beside the preparing
        written_by: set[str] = set()
        in_autocommit: set[bool] = set()  # PostgreSQL: each batch one statement, sent outside a transaction
        record_and_notify = writing.record_and_notify

        def write(reminders):
            written_by.add(threading.current_thread().name)
            in_autocommit.add(getattr(db.session.connection().connection.driver_connection, "autocommit", False))
            if any(made is not None and made.notification["object_id"] == broken for _key, made in reminders):
                raise RuntimeError("this report's notices cannot be written")
            return record_and_notify(reminders)

        monkeypatch.setattr(writing, "record_and_notify", write)
        with room.context():
            report = reminders.run_pass(moment)
            problems = report.problems
        assert written_by == {"sharaka-reminder-writer"}
        assert in_autocommit == {backend() == "postgresql"}
        # Partner A's user, their colleague and the owner, for each report; the broken one's alone wait.
        assert report.errors == 3
        assert {p["reference"] for p in problems} == {room.ids["agreement_a"][1]}
        assert _told_of(room, reports) == {n: (0 if n == broken else 3) for n in reports}
        recorded = room.count(ReminderSent, ReminderSent.rule == "deliverable_due", ReminderSent.object_id.in_(reports))
        assert recorded == 12  # the broken report's keys rolled back with its notices

        monkeypatch.setattr(writing, "record_and_notify", record_and_notify)
        with room.context():
            again = reminders.run_pass(moment)
        assert again.errors == 0 and again.created == 3
        assert _told_of(room, reports) == {n: 3 for n in reports}
        with room.context():
            assert reminders.run_pass(moment).created == 0  # written once
