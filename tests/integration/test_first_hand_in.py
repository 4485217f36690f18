"""The day of each occurrence's first hand-in (Occurrence.first_handed_in_on): kept by every way of
handing in, filled by the migration from existing submissions, and read by the dashboard's on-time
rate on the ministry's calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from app.core import clock
from app.extensions import db
from tests.integration.test_api import _submit, api, tokens  # noqa: F401 (fixtures)
from tests.integration.test_dashboards import plan
from tests.integration.test_deliverables import PDF, _files, _post
from tests.integration.test_one_clock import DUE, LATE_EVENING_UTC, owed  # noqa: F401 (a fixture)

EVENING_UTC = datetime(2026, 6, 15, 22, 30, tzinfo=timezone.utc)  # 23:30 on the 15th in Rabat, the due date


def test_a_page_hand_in_notes_the_ministrys_day_and_a_resubmission_keeps_the_first(owed, signed_in):
    occurrence = owed
    partner, officer = signed_in("partner"), signed_in("officer")
    with clock.frozen(LATE_EVENING_UTC):
        assert _post(partner, occurrence, "submissions", _files((PDF, "rapport.pdf"))).status_code == 303
    db.session.refresh(occurrence)
    assert occurrence.first_handed_in_on == date(2026, 6, 16)  # 15 June in UTC, 16 June in Rabat
    assert not occurrence.was_handed_in_on_time
    feedback = {"decision": "send_back", "feedback": "Ajoutez les annexes"}
    assert _post(officer, occurrence, "review", feedback).status_code == 303
    with clock.frozen(datetime(2026, 6, 20, 10, 0, tzinfo=timezone.utc)):
        assert _post(partner, occurrence, "submissions", _files((PDF + b"v2", "rapport v2.pdf"))).status_code == 303
    db.session.refresh(occurrence)
    assert len(occurrence.submissions) == 2
    assert occurrence.first_handed_in_on == date(2026, 6, 16)
    # The lateness stays in view once handed in: for the review, and after it.
    with clock.frozen(datetime(2026, 6, 25, 10, 0, tzinfo=timezone.utc)):
        page = officer.get(f"/deliverables/{occurrence.id}").get_data(as_text=True)
    assert "handed in 1 day late" in page


def test_an_api_hand_in_notes_the_ministrys_day(owed, api):
    occurrence = owed
    with clock.frozen(EVENING_UTC):
        response = _submit(api("partner"), occurrence.id, [(PDF, "rapport.pdf")])
    assert response.status_code == 201, response.get_data(as_text=True)
    db.session.refresh(occurrence)
    assert occurrence.first_handed_in_on == DUE
    assert occurrence.was_handed_in_on_time


def test_the_dashboard_judges_on_time_on_the_ministrys_calendar(world, signed_in):
    """Two reports due on the 15th, handed in an hour apart around midnight in Rabat (both on the 15th
    in UTC): the first is on time, the second late."""
    plan(world.agreement_a, world.partner_a, (DUE, "accepted", [EVENING_UTC]), (DUE, "accepted", [LATE_EVENING_UTC]))
    db.session.commit()
    with clock.frozen(date(2026, 7, 1)):
        page = signed_in("manager").get("/dashboard").get_data(as_text=True)
    on_time = page[page.index('id="on-time"') :]
    assert f"{world.partner_a.name}</bdi></a>" in on_time
    assert "1 of 2 on time" in on_time[: on_time.index("</section>")]


@pytest.mark.live  # its own database: the rolled-back test transaction would capture db.session
def test_upgrading_fills_the_first_hand_in_day_and_downgrading_drops_it(tmp_path):
    """Existing hand-ins give their occurrence the ministry's day of the earliest one (not the latest,
    not its UTC date); an occurrence never handed in stays empty."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    from tests.conftest import make_test_app
    from tests.databases import fresh_database
    from tests.integration.test_migrations import _agreement_with_partners

    with fresh_database(tmp_path, "first_hand_in_upgrade") as url:
        app = make_test_app(url)
        with app.app_context():
            upgrade(revision="0014_folded_names")
            _agreement_with_partners("active", {"p": "false"})
            db.session.execute(
                text(
                    "INSERT INTO deliverables (agreement_id, responsible_organization_id, recurrence, first_due_on, "
                    "created_at, updated_at) SELECT a.id, o.id, 'once', :due, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
                    "FROM agreements a, organizations o"
                ),
                {"due": DUE},
            )
            for due_on in (DUE, DUE + timedelta(days=30)):
                db.session.execute(
                    text(
                        "INSERT INTO deliverable_occurrences (deliverable_id, due_on, status, version) "
                        "SELECT id, :due, 'pending', 1 FROM deliverables"
                    ),
                    {"due": due_on},
                )
            for number, moment in ((2, datetime(2026, 6, 20, 9, 0)), (1, LATE_EVENING_UTC.replace(tzinfo=None))):
                db.session.execute(
                    text(
                        "INSERT INTO deliverable_submissions (occurrence_id, number, submitted_at) "
                        "SELECT id, :number, :at FROM deliverable_occurrences WHERE due_on = :due"
                    ),
                    {"number": number, "at": moment, "due": DUE},
                )
            db.session.commit()
            upgrade()
            rows = db.session.execute(
                text("SELECT due_on, first_handed_in_on FROM deliverable_occurrences ORDER BY due_on")
            ).all()
            assert [tuple(map(_as_date, row)) for row in rows] == [
                (DUE, date(2026, 6, 16)),
                (DUE + timedelta(days=30), None),
            ]
            db.session.commit()
            downgrade(revision="0014_folded_names")
            columns = {c["name"] for c in inspect(db.engine).get_columns("deliverable_occurrences")}
            assert "first_handed_in_on" not in columns and "due_on" in columns
            db.session.remove()
            db.engine.dispose()


def _as_date(value):
    """SQLite answers a raw SELECT's dates as text."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def test_a_changed_time_zone_has_the_days_worked_out_again(owed, signed_in):
    from flask import current_app as app

    with clock.frozen(LATE_EVENING_UTC):
        assert _post(signed_in("partner"), owed, "submissions", _files((PDF, "rapport.pdf"))).status_code == 303
    app.config["MINISTRY_TIMEZONE"] = "UTC"
    try:
        result = app.test_cli_runner().invoke(args=["deliverables", "refill-hand-in-days"])
        assert result.exit_code == 0 and "1 occurrences" in result.output
        db.session.rollback()  # end this session's read: the command committed in its own
        assert db.session.get(type(owed), owed.id).first_handed_in_on == DUE  # 23:30 UTC on the 15th
    finally:
        app.config["MINISTRY_TIMEZONE"] = "Africa/Casablanca"
