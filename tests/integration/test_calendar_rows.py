"""The calendar reads its deliverables as plain columns (deadlines.DueOccurrence), not ORM objects: each
still shows the status the deliverables' one rule gives (models.shown_status) on the ministry's day, and
deadlines that tie on a day, kind and agreement come in a stable order (their occurrence's)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from app.core import clock
from app.deliverables.falling_due import shown_status_of
from app.deliverables.models import Deliverable, Occurrence
from app.extensions import db
from tests.integration.test_calendar_bounds import plan, text_of

DUE = date(2026, 6, 15)
# 23:30 on the 15th in Rabat, then 00:30 on the 16th: either side of the ministry's midnight.
EVENING = datetime(2026, 6, 15, 22, 30, tzinfo=timezone.utc)
AFTER_MIDNIGHT = datetime(2026, 6, 15, 23, 30, tzinfo=timezone.utc)


def shown_statuses(page: str) -> dict[int, str]:
    """Occurrence id -> the status its badge shows, in the list of the month's deadlines."""
    listed = page.split('id="list-heading"', 1)[1]
    return {
        int(occurrence): status
        for occurrence, status in re.findall(r'href="/deliverables/(\d+)".*?data-status="(\w+)"', listed, re.S)
    }


@pytest.fixture
def owed(world):
    """One occurrence of each kind: pending due on the 15th, at the edge of the due window, just past it;
    handed in; sent back."""
    window = 14  # DELIVERABLE_DUE_WINDOW_DAYS' default
    occurrences = {
        "pending": plan(world, world.agreement_a, world.partner_a, DUE, "En attente"),
        "window_edge": plan(world, world.agreement_a, world.partner_a, DUE + timedelta(days=window), "Bord"),
        "past_window": plan(world, world.agreement_a, world.partner_a, DUE + timedelta(days=window + 1), "Loin"),
        "submitted": plan(world, world.agreement_a, world.partner_a, DUE, "Remis"),
        "sent_back": plan(world, world.agreement_a, world.partner_a, DUE, "Renvoyé"),
    }
    occurrences["submitted"].status = "submitted"
    occurrences["sent_back"].status = "sent_back"
    db.session.commit()
    return {kind: occurrence.id for kind, occurrence in occurrences.items()}


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (
            EVENING,
            {"pending": "due", "window_edge": "due", "past_window": "not_yet_due"},
        ),
        (
            AFTER_MIDNIGHT,
            {"pending": "overdue", "window_edge": "due", "past_window": "due"},
        ),
    ],
)
def test_each_occurrence_shows_its_status_on_the_ministrys_day(signed_in, owed, moment, expected):
    with clock.frozen(moment):
        page = text_of(signed_in("manager"), "/portfolio/calendar?month=2026-06")
        today = clock.today()
    shown = shown_statuses(page)
    assert shown == {
        owed[kind]: status for kind, status in {**expected, "submitted": "submitted", "sent_back": "sent_back"}.items()
    }
    # The one rule, asked of each occurrence loaded whole, says the same.
    for occurrence_id, status in shown.items():
        assert shown_status_of(db.session.get(Occurrence, occurrence_id), today) == status


def test_the_calendar_loads_no_deliverable_objects(signed_in, owed):
    loaded = []

    def count(target, *_context):
        loaded.append(type(target).__name__)

    # Loaded anew, or already known to the session and read again.
    hooks = [(model, name) for model in (Occurrence, Deliverable) for name in ("load", "refresh")]
    for model, name in hooks:
        event.listen(model, name, count)
    try:
        with clock.frozen(EVENING):
            page = text_of(signed_in("manager"), "/portfolio/calendar?month=2026-06")
    finally:
        for model, name in hooks:
            event.remove(model, name, count)
    assert len(shown_statuses(page)) == len(owed)
    assert loaded == []


def test_deadlines_tying_on_a_day_come_in_their_occurrences_order(signed_in, world):
    """Two reports of one agreement due the same day: the earlier planned first, in the day's box and its
    list, as the database picks a crowded day's first DAY_CAP, whatever order the rows come back in (the
    first changed after the second was made, which puts its row after the second in PostgreSQL's table)."""
    first = plan(world, world.agreement_a, world.partner_a, DUE, "Zeta")
    second = plan(world, world.agreement_a, world.partner_a, DUE, "Alpha")
    db.session.commit()
    first.status = "sent_back"
    db.session.commit()
    with clock.frozen(EVENING):
        page = text_of(signed_in("manager"), "/portfolio/calendar?month=2026-06")
    box, listed = page.split('id="list-heading"', 1)
    for part in (box, listed):
        drawn = [int(found) for found in re.findall(r'href="/deliverables/(\d+)"', part)]
        assert drawn == [first.id, second.id]
