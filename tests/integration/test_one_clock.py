"""Pages, the API, the calendar feed and the scheduler's jobs share one "today": the ministry's.

On a server whose clock runs in UTC, the hour before midnight UTC is already the next day in Rabat;
a deliverable due on the 15th is overdue there at 23:30 UTC on the 15th, through every door.
"""

import re
from datetime import date, datetime, timezone

import pytest

from app.core import clock
from app.deliverables import services as deliverables
from app.deliverables.falling_due import shown_status_of
from app.extensions import db
from tests import factories
from tests.integration.test_api import api, tokens  # noqa: F401 (fixtures)

DUE = date(2026, 6, 15)
LATE_EVENING_UTC = datetime(2026, 6, 15, 23, 30, tzinfo=timezone.utc)  # 00:30 on the 16th in Rabat


@pytest.fixture
def owed(world):
    deliverable = deliverables.plan_deliverable(
        world.agreement_a,
        deliverables.PlanData(
            title_fr="Rapport",
            title_ar=None,
            title_en="Report",
            description=None,
            responsible_organization_id=world.partner_a.id,
            recurrence="once",
            first_due_on=DUE,
        ),
        by=world.users["officer"],
    )
    db.session.commit()
    return deliverable.occurrences[0]


def test_every_door_says_overdue_after_the_ministrys_midnight(owed, signed_in, api):
    with clock.frozen(LATE_EVENING_UTC):
        page = signed_in("partner").get(f"/deliverables/{owed.id}").get_data(as_text=True)
        answer = api("partner").get(f"/api/v1/deliverables/{owed.id}").get_json()
    assert "Overdue" in page
    assert answer["shown_status"] == "overdue"


def test_an_hour_earlier_it_is_still_due_today_everywhere(owed, signed_in, api):
    with clock.frozen(datetime(2026, 6, 15, 22, 30, tzinfo=timezone.utc)):  # 23:30 on the 15th in Rabat
        page = signed_in("partner").get(f"/deliverables/{owed.id}").get_data(as_text=True)
        answer = api("partner").get(f"/api/v1/deliverables/{owed.id}").get_json()
    assert "Overdue" not in page
    assert answer["shown_status"] == "due"


def test_days_in_a_stage_are_the_ministrys_days_on_every_page(world, signed_in):
    # Entered at 23:00 on 8 June in Rabat (22:00 UTC); at 00:30 on the 16th it has been there 8 of
    # the ministry's days, one more than a convention draft's SLA of 7, though only 7 UTC dates apart.
    draft = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], type="convention", title_fr="Convention tardive"
    )
    draft.state_entered_at = datetime(2026, 6, 8, 22, 0, tzinfo=timezone.utc)
    db.session.commit()
    manager = signed_in("manager")
    with clock.frozen(LATE_EVENING_UTC):
        page = manager.get(f"/agreements/{draft.id}").get_data(as_text=True)
        board = manager.get("/portfolio/board").get_data(as_text=True)
        analytics = manager.get("/portfolio/analytics").get_data(as_text=True)
    assert "8 days in this stage" in page
    card = board[board.index(f'id="card-{draft.id}"') :]
    card = card[: card.index("</article>")]
    assert "8 days in this stage" in card and "Over the SLA" in card
    # The over-SLA list is chosen by the database (clock.start_of) and its days counted in Python.
    late = analytics[analytics.index('id="late-heading"') :]
    row = late[late.index(f"/agreements/{draft.id}") :]
    assert draft.reference in late and re.search(r'data-days="8"', row)


def test_the_time_zone_is_configurable(owed):
    from flask import current_app as app

    app.config["MINISTRY_TIMEZONE"] = "UTC"
    try:
        with clock.frozen(LATE_EVENING_UTC):
            assert clock.today() == DUE
            assert shown_status_of(owed, clock.today()) == "due"
    finally:
        app.config["MINISTRY_TIMEZONE"] = "Africa/Casablanca"


def test_an_unknown_time_zone_stops_the_start_with_its_name(database_url):
    from tests.conftest import make_test_app

    with pytest.raises(RuntimeError, match="Mars/Olympus"):
        make_test_app(database_url, MINISTRY_TIMEZONE="Mars/Olympus")
