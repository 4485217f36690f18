"""Two people (or one double-click) taking the same move at once: exactly one wins.

Real concurrent HTTP requests against a threaded server, on SQLite and PostgreSQL.
"""

import threading

import pytest
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.core.audit import AuditEvent
from app.extensions import db
from tests import factories
from tests.live import Browser, live_app

pytestmark = pytest.mark.live


@pytest.fixture
def served(tmp_path):
    with live_app(tmp_path) as (app, base):
        with app.app_context():
            world = factories.build_world()
            ids = {
                "agreement": factories.agreement(by=world.users["officer"], partners=[world.partner_a]).id,
                "officer": world.users["officer"].email,
                "manager": world.users["manager"].email,
            }
            db.session.commit()
        yield app, base, ids


def _race(calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("attempts", [2, 6])
def test_simultaneous_moves_exactly_one_wins(served, attempts):
    app, base, ids = served
    agreement_id = ids["agreement"]
    people = []
    for index in range(attempts):
        browser = Browser(base)
        browser.sign_in(ids["officer"] if index % 2 == 0 else ids["manager"], factories.PASSWORD)
        people.append(browser)
    with app.app_context():
        version = db.session.get(Agreement, agreement_id).version
    forms = [(b, {"csrf_token": b.token(f"/agreements/{agreement_id}"), "version": str(version)}) for b in people]
    results = _race(
        [
            (lambda b=b, f=f: b.post(f"/agreements/{agreement_id}/actions/submit_for_review", f, json=True))
            for b, f in forms
        ]
    )
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1, results
    assert statuses.count(409) == attempts - 1, results
    loser = next(body for status, body in results if status == 409)
    assert "changed" in loser or "moved on" in loser
    with app.app_context():
        agreement = db.session.get(Agreement, agreement_id)
        assert agreement.state == "internal_review"
        moves = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_id == agreement_id, AuditEvent.action == "transition")
        )
        assert moves == 1
        assert len([r for r in agreement.approval_rounds if r.status == "open"]) == 1


def test_a_double_click_in_html_gets_a_clear_message(served):
    app, base, ids = served
    agreement_id = ids["agreement"]
    browser = Browser(base)
    browser.sign_in(ids["officer"], factories.PASSWORD)
    with app.app_context():
        version = db.session.get(Agreement, agreement_id).version
    form = {"csrf_token": browser.token(f"/agreements/{agreement_id}"), "version": str(version)}
    first, second = _race(
        [
            lambda: browser.post(f"/agreements/{agreement_id}/actions/submit_for_review", form),
            lambda: browser.post(f"/agreements/{agreement_id}/actions/submit_for_review", form),
        ]
    )
    assert sorted([first[0], second[0]]) == [303, 303]  # both go back to the page, neither fails
    _, page = browser.get(f"/agreements/{agreement_id}")
    # Both answers share one cookie session: whichever flash survives, it is one of the two honest ones.
    assert any(text in page for text in ("has changed since you opened it", "no longer possible", "Done:"))
    with app.app_context():
        assert db.session.get(Agreement, agreement_id).state == "internal_review"
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.object_id == agreement_id, AuditEvent.action == "transition")
            )
            == 1
        )
