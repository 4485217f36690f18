"""The status a person sees of an occurrence (due, overdue, not yet due, not owed now...) is one rule
with an SQL twin: the deliverables list's filter, the dashboards' overdue counts and each occurrence's
page agree, at the edges of the due window, and on agreements that do not run (a draft's plan, a
suspended agreement, one past its last day) whose pending items are not owed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.core import clock
from app.deliverables.falling_due import shown_as, shown_status_of
from app.deliverables.models import STATUS_LABELS, Deliverable, Occurrence
from app.extensions import db
from tests.factories import agreement
from tests.integration.test_dashboards import plan

TODAY = date(2026, 6, 16)
WINDOW = 14


@pytest.fixture
def spread(world):
    days = [-30, -1, 0, 1, WINDOW - 1, WINDOW, WINDOW + 1, 90]
    rows = [(TODAY + timedelta(days=d), status, []) for d in days for status in ("pending", "submitted", "sent_back")]
    rows += [(TODAY - timedelta(days=3), "accepted", []), (TODAY + timedelta(days=3), "waived", [])]
    created = plan(world.agreement_a, world.partner_a, *rows)
    idle_rows = [(TODAY + timedelta(days=d), "pending", []) for d in (-30, 0, WINDOW + 1)]
    idle_rows += [(TODAY - timedelta(days=3), status, []) for status in ("submitted", "sent_back")]
    officer = world.users["officer"]
    # Not running: a draft with a plan drawn up during the talks, a suspended agreement, and one still
    # marked active the day after its last day (before the date job ends it).
    for state, expires_on in (("draft", None), ("suspended", None), ("active", TODAY - timedelta(days=1))):
        idle = agreement(by=officer, partners=[world.partner_a], state=state, expires_on=expires_on)
        created += plan(idle, world.partner_a, *idle_rows)
    db.session.commit()
    return created


@pytest.mark.parametrize("agreement_joined", [True, False])
@pytest.mark.parametrize("status", sorted(STATUS_LABELS))
def test_the_sql_twin_picks_what_each_occurrence_shows(spread, status, agreement_joined, app):
    app.config["DELIVERABLE_DUE_WINDOW_DAYS"] = WINDOW
    in_python = {o.id for o in spread if shown_status_of(o, TODAY) == status}
    query = select(Occurrence.id).join(Occurrence.deliverable)
    if agreement_joined:
        query = query.join(Deliverable.agreement)
    # Without the agreement joined, whether it runs is asked of the running agreements' ids (the
    # dashboard's organisation figures).
    in_sql = set(db.session.scalars(query.where(shown_as(status, TODAY, agreement_joined=agreement_joined))))
    assert in_python and in_sql == in_python


def test_pending_items_of_an_agreement_that_does_not_run_are_not_owed(spread):
    idle = [o for o in spread if o.deliverable.agreement.state != "active" or o.deliverable.agreement.expires_on]
    assert {shown_status_of(o, TODAY) for o in idle if o.status == "pending"} == {"not_owed"}
    # What was handed in or sent back keeps its status: the reader still sees where it stands.
    assert {shown_status_of(o, TODAY) for o in idle if o.status != "pending"} == {"submitted", "sent_back"}


def test_the_list_filters_by_what_is_shown(spread, signed_in):
    manager = signed_in("manager")
    with clock.frozen(TODAY):
        for status in STATUS_LABELS:
            page = manager.get(f"/deliverables/?status={status}").get_data(as_text=True)
            shown = {o.id for o in spread if shown_status_of(o, TODAY) == status}
            listed = {o.id for o in spread if f'href="/deliverables/{o.id}"' in page}
            assert listed == shown, status
