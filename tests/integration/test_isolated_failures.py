"""One agreement's failure in a job is rolled back alone, recorded once (audit, admins' notice,
the jobs page), and never stops the others: date-driven moves and reminders alike."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.core import clock
from app.core.audit import AuditEvent
from app.extensions import db
from app.notifications.models import Notification
from app.operations.models import JobStatus
from app.workflow import engine, rules
from tests import factories


def _settled(world, count, state, started_days_ago, ends_in_days):
    agreements = []
    for _ in range(count):
        agreement = factories.agreement(
            by=world.users["officer"],
            partners=[world.partner_a],
            state=state,
            signed_on=clock.today() - timedelta(days=started_days_ago + 1),
            effective_on=clock.today() - timedelta(days=started_days_ago),
            expires_on=clock.today() + timedelta(days=ends_in_days),
        )
        engine.settle_state(agreement)
        agreements.append(agreement)
    db.session.commit()
    return agreements


def _signed(world, count):
    return _settled(world, count, "signed", 1, 700)


@pytest.fixture
def broken_effect(monkeypatch):
    """Activation of the agreement whose reference is put in `broken` raises, as a bug or bad data would."""
    broken: set[str] = set()
    original = rules.EFFECTS["plan_default_deliverables"]

    def effect(agreement, by):
        if agreement.reference in broken:
            raise RuntimeError("the plan of this agreement is corrupt")
        return original(agreement, by)

    monkeypatch.setitem(rules.EFFECTS, "plan_default_deliverables", effect)
    return broken


def _job_failures(agreement):
    return db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.object_type == "agreements",
            AuditEvent.object_id == agreement.id,
            AuditEvent.action == "job_failed",
        )
    )


def test_one_broken_agreement_in_a_tick_does_not_stop_the_others(app, world, broken_effect):
    agreements = _signed(world, 5)
    broken = agreements[2]
    broken_effect.add(broken.reference)
    result = app.test_cli_runner().invoke(args=["workflows", "tick"])
    assert result.exit_code == 1, result.output  # says something failed
    assert "4 moved, 1 failed" in result.output
    assert f"{broken.reference}: activate: failed: RuntimeError: the plan of this agreement is corrupt" in result.output
    db.session.expire_all()
    assert [a.state for a in agreements] == ["active", "active", "signed", "active", "active"]
    assert not broken.deliverables  # nothing of the failed move stayed
    # Recorded once: an audit row on the agreement, a notice to the admin.
    assert _job_failures(broken) == 1
    notices = db.session.scalars(
        select(Notification).where(Notification.user_id == world.users["admin"].id, Notification.kind == "job_failed")
    ).all()
    assert len(notices) == 1 and notices[0].params["reference"] == broken.reference
    # The next hour meets the same error: not recorded again; the broken one still waits.
    result = app.test_cli_runner().invoke(args=["workflows", "tick"])
    assert "0 moved, 1 failed" in result.output
    assert _job_failures(broken) == 1
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "job_failed")) == 1
    # Mended, it moves at the next tick.
    broken_effect.clear()
    result = app.test_cli_runner().invoke(args=["workflows", "tick"])
    assert result.exit_code == 0 and "1 moved, 0 failed" in result.output
    db.session.expire_all()
    assert broken.state == "active"


def test_the_hourly_job_records_moved_and_failed_counts_and_which_agreement(app, world, broken_effect, signed_in):
    from app.scheduler import date_transitions_job

    agreements = _signed(world, 3)
    broken_effect.add(agreements[0].reference)
    date_transitions_job(app)  # never raises for one agreement
    status = db.session.get(JobStatus, "date-transitions")
    assert status.last_counts["moved"] == 2 and status.last_counts["failed"] == 1
    assert status.last_error is None  # the job itself did not fail
    assert status.last_problems[0]["reference"] == agreements[0].reference
    assert "corrupt" in status.last_problems[0]["error"]
    page = signed_in("admin").get("/admin/jobs").get_data(as_text=True)
    assert agreements[0].reference in page and "the plan of this agreement is corrupt" in page
    # Its counts in words, the failure marked: not the keys the log and `flask jobs status` use.
    assert "2 moved" in page and "1 failed" in page and "3 looked at" in page and "looked_at" not in page
    assert f"/agreements/{agreements[0].id}" in page
    assert signed_in("officer").get("/admin/jobs").status_code in (403, 404)
    # Its history says so too.
    history = signed_in("admin").get(f"/agreements/{agreements[0].id}").get_data(as_text=True)
    assert "Scheduled job failed" in history


def test_one_failing_reminder_does_not_stop_the_others(app, world, monkeypatch):
    from app.notifications import services as notification_services
    from app.notifications.reminders import run_pass

    officer = world.users["officer"]
    ending = _settled(world, 3, "active", 300, 5)
    broken = ending[1]
    original = notification_services._notification_values

    def values(recipient, notice):  # the rows of one agreement's notice cannot be written
        if notice.kind == "agreement_ending" and notice.object_id == broken.id:
            raise RuntimeError("cannot word this reminder")
        return original(recipient, notice)

    monkeypatch.setattr(notification_services, "_notification_values", values)
    report = run_pass(datetime.now(timezone.utc))
    assert report.errors >= 1 and report.created >= 2
    reminded = set(
        db.session.scalars(
            select(Notification.object_id).where(
                Notification.kind == "agreement_ending", Notification.user_id == officer.id
            )
        )
    )
    assert {ending[0].id, ending[2].id} <= reminded and broken.id not in reminded
    assert report.problems and all(p["reference"] == broken.reference for p in report.problems)
    assert _job_failures(broken) == 1
    assert (
        db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.kind == "job_failed", Notification.user_id == world.users["admin"].id
            )
        )
        == 1
    )


def test_a_tick_by_hand_refuses_a_day_still_to_come_or_out_of_range(app, world):
    """A typo (2072 for 2027) had expired and renewed agreements years early and told their partners;
    year 1 ended in a traceback. A day past catches up."""
    from datetime import timedelta

    from app.core import clock

    agreements = _signed(world, 1)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    for day in (tomorrow, "9999-12-31", "0001-01-01"):
        result = app.test_cli_runner().invoke(args=["workflows", "tick", "--today", day])
        assert result.exit_code == 2 and "--today" in result.output, result.output
        assert "Traceback" not in result.output
    db.session.expire_all()
    assert agreements[0].state == "signed"
    result = app.test_cli_runner().invoke(args=["workflows", "tick", "--today", clock.today().isoformat()])
    assert result.exit_code == 0 and "1 moved" in result.output
