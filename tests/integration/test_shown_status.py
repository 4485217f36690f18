"""The status a person sees of an occurrence (due, overdue, not yet due...) is one rule with an SQL
twin: the deliverables list's filter, the dashboards' overdue counts and each occurrence's page agree,
at the edges of the due window."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.deliverables.models import STATUS_LABELS, Occurrence
from app.extensions import db
from tests.integration.test_dashboards import plan

TODAY = date(2026, 6, 16)
WINDOW = 14


@pytest.fixture
def spread(world):
    days = [-30, -1, 0, 1, WINDOW - 1, WINDOW, WINDOW + 1, 90]
    rows = [(TODAY + timedelta(days=d), status, []) for d in days for status in ("pending", "submitted", "sent_back")]
    rows += [(TODAY - timedelta(days=3), "accepted", []), (TODAY + timedelta(days=3), "waived", [])]
    created = plan(world.agreement_a, world.partner_a, *rows)
    db.session.commit()
    return created


@pytest.mark.parametrize("status", sorted(STATUS_LABELS))
def test_the_sql_twin_picks_what_each_occurrence_shows(spread, status):
    in_python = {o.id for o in spread if o.status_on(TODAY, WINDOW) == status}
    in_sql = set(db.session.scalars(select(Occurrence.id).where(Occurrence.shown_as(status, TODAY, WINDOW))))
    assert in_python and in_sql == in_python


def test_the_list_filters_by_what_is_shown(spread, signed_in):
    from app.core import clock

    manager = signed_in("manager")
    with clock.frozen(TODAY):
        for status in STATUS_LABELS:
            page = manager.get(f"/deliverables/?status={status}").get_data(as_text=True)
            shown = {o.id for o in spread if o.status_on(TODAY) == status}
            listed = {o.id for o in spread if f'href="/deliverables/{o.id}"' in page}
            assert listed == shown, status
