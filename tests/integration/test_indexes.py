"""The statements the pages really send use the indexes made for them (PostgreSQL's EXPLAIN).

Each page is requested, its statements captured with their parameters, and the one that
reads the growing table explained with sequential scans discouraged: the plan must name
the index. A test portfolio is too small for the planner to prefer an index on its own;
what is checked is that the index fits the statement (columns, order), so a change to a
query or an index that breaks the fit fails here.
"""

from __future__ import annotations

import pytest

from app.extensions import db
from tests.bulk import add_bulk_portfolio, captured_statements
from tests.databases import backend

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="EXPLAIN plans are checked on PostgreSQL")

CASES = [
    ("manager", "/deliverables/", "ORDER BY deliverable_occurrences.due_on", "ix_deliverable_occurrences_due"),
    ("manager", "/portfolio/board", "UNION ALL", "ix_agreements_state_entered"),
    ("manager", "/agreements/", "ORDER BY agreements.signed_on DESC", "ix_agreements_signed_id"),
    # The reader's notices newest first: by (user, created_at), or, on a table this small, by (user, id) and a
    # sort of the reader's few rows (the planner's choice varies with the statistics of the moment).
    (
        "officer",
        "/notifications",
        "ORDER BY notifications.created_at DESC",
        ("ix_notifications_user_created", "ix_notifications_user_latest"),
    ),
    ("officer", "/dashboard", "agreements.owner_id = ", "ix_agreements_owner_state"),
    # The timeline's agreements in force without a signature date, newest reference first, up to its cap.
    ("manager", "/portfolio/timeline", "agreements.effective_on IS NOT NULL", "ix_agreements_undated_in_force"),
    # Stage analytics' years start at the first stay on record: the index's first entry, not a scan.
    ("manager", "/portfolio/analytics", "ORDER BY stage_visits.entered_at", "ix_stage_visits_entered"),
    # Its figures per (type, stage) read the finished stays in group order from the index, not joined to agreements.
    ("manager", "/portfolio/analytics", "GROUP BY stage_visits.agreement_type", "ix_stage_visits_finished"),
    # The calendar picks the first open deliverables of each day of one month: by due date, or by
    # status and due date (both fit; which one the planner takes depends on the table's statistics).
    (
        "manager",
        "/portfolio/calendar",
        "row_number() OVER",
        ("ix_deliverable_occurrences_due", "ix_deliverable_occurrences_status_due"),
    ),
]


def plan_of(statement: str, parameters) -> str:
    # Sequential scans, bitmap scans and sorts discouraged: an index that only finds the rows (any index that
    # starts with the reader's id, then a sort) does not fit a statement that also wants them in order, however
    # the statistics of the moment rate a sort of a few rows.
    discouraged = ("enable_seqscan", "enable_bitmapscan", "enable_sort")
    connection = db.session.connection()
    for setting in discouraged:
        connection.exec_driver_sql(f"SET LOCAL {setting} = off")
    try:
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    finally:
        for setting in discouraged:
            connection.exec_driver_sql(f"SET LOCAL {setting} = on")
    return "\n".join(row[0] for row in rows)


@pytest.mark.parametrize(("role", "path", "marker", "index"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_page_statement_uses_its_index(signed_in, world, role, path, marker, index):
    client = signed_in(role)
    add_bulk_portfolio(world, 30, start=0)
    with captured_statements() as statements:
        assert client.get(path).status_code == 200
    matching = [(s, p) for s, p in statements if marker in s]
    assert matching, f"no statement of {path} contains {marker!r}"
    plans = [plan_of(s, p) for s, p in matching]
    fitting = (index,) if isinstance(index, str) else index
    assert any(name in plan for plan in plans for name in fitting), "\n\n".join(plans)


def test_reminder_pass_reads_recorded_keys_by_key(world):
    from app.notifications import reminders

    add_bulk_portfolio(world, 30, start=0)
    candidates = [
        reminders.Candidate(
            "deliverable_overdue",
            "2026-01-01:w0",
            world.users["officer"],
            lambda: None,
            object_type="deliverable_occurrences",
            object_id=1,
        )
    ]
    with captured_statements() as statements:
        reminders.unsent(candidates)
    ((statement, parameters),) = [(s, p) for s, p in statements if "FROM reminders_sent" in s]
    assert "ix_reminders_sent_key" in plan_of(statement, parameters)


def test_the_approval_rules_run_once_per_round_after_the_join(signed_in, world):
    """The rounds waiting on a manager: PostgreSQL must not copy the per-definition rule onto its scan
    of the rounds (queries.approvals._open_rounds_where), where every definition's subqueries ran a
    second time, some hashed over every decision ever made. (Nor onto its scan of the agreements, where
    every agreement's budget was summed before the join found the few with an open round: at a test
    portfolio's size both forms of the rule get the same plan, so that one is shown by
    `bench/page_cpu.py explain` at 10,000 agreements, not here.)"""
    client = signed_in("manager")
    add_bulk_portfolio(world, 30, start=0)
    with captured_statements() as statements:
        assert client.get("/inbox").status_code == 200
    ((statement, parameters),) = [(s, p) for s, p in statements if "FROM approval_rounds" in s and "UNION ALL" in s]
    connection = db.session.connection()
    plan = "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters).all())
    lines = plan.splitlines()

    def filters_under(index: int) -> list[str]:
        depth = len(lines[index]) - len(lines[index].lstrip())
        details = []
        for line in lines[index + 1 :]:
            if len(line) - len(line.lstrip()) <= depth or line.lstrip().startswith("->"):
                break
            details.append(line)
        return [line for line in details if "Filter:" in line and "SubPlan" in line]

    scans = [i for i, line in enumerate(lines) if "Scan" in line]
    round_scans = [i for i in scans if " on approval_rounds" in lines[i]]
    assert round_scans, plan
    for index in round_scans:
        assert not filters_under(index), plan


def test_dashboard_cards_are_not_costed_as_if_they_could_stop_early(signed_in, world):
    """A card's first few rows and its total come from one statement (pagination.firsts_with_totals).
    With ORDER BY … LIMIT, PostgreSQL costed it as if it could stop after a few rows and walked the
    due-date index through the whole portfolio's occurrences for an officer's overdue card (51 ms at
    10,000 agreements); the count needs every row anyway, so the rows are numbered and filtered, and
    no Limit node is left to mislead the planner."""
    client = signed_in("officer")
    add_bulk_portfolio(world, 30, start=0)
    with captured_statements() as statements:
        assert client.get("/dashboard").status_code == 200
    ((statement, parameters),) = [
        (s, p) for s, p in statements if "FROM deliverable_occurrences" in s and "row_number() OVER" in s
    ]
    plan = "\n".join(row[0] for row in db.session.connection().exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "Limit" not in plan, plan
    assert "Run Condition" in plan, plan  # the numbering stops once past the rows kept


def test_the_deliverables_list_counts_the_occurrences_alone_when_nothing_else_is_asked(signed_in, world):
    """The list joins each occurrence's deliverable and agreement by outer joins (their keys are NOT NULL):
    unfiltered, for a reader who sees every agreement, PostgreSQL then leaves both out of the count."""
    client = signed_in("manager")
    add_bulk_portfolio(world, 30, start=0)
    with captured_statements() as statements:
        assert client.get("/deliverables/").status_code == 200
    ((statement, parameters),) = [(s, p) for s, p in statements if s.lstrip().startswith("SELECT count(*)")]
    plan = "\n".join(row[0] for row in db.session.connection().exec_driver_sql("EXPLAIN " + statement, parameters))
    assert " on agreements" not in plan and " on deliverables " not in plan, plan


def test_the_bell_is_counted_for_the_reader_not_an_average_reader(signed_in, world):
    """Every request's session statement counts the reader's unread notices and finds their latest one
    (auth/sessions._session_lookup). Correlated to the joined user row, PostgreSQL planned both counts
    for an average reader: with one officer holding every notice, each other reader's request scanned
    the whole table (0.9 ms of every page at 10,000 agreements in bench/). Counted for the cookie's
    user id as a value, they are planned for this reader, and the index finds their few rows."""
    from sqlalchemy import insert

    from app.notifications.models import Notification

    officer = world.users["officer"]
    rows = [
        {
            "user_id": officer.id,
            "kind": "agreement_moved",
            "category": "agreement_activity",
            "params": {"reference": f"#{n}"},
            "link": "/dashboard",
        }
        for n in range(2000)
    ]
    db.session.execute(insert(Notification), rows)
    db.session.connection().exec_driver_sql("ANALYZE notifications")
    client = signed_in("manager")
    with captured_statements() as statements:
        assert client.get("/notifications").status_code == 200
    ((statement, parameters),) = [(s, p) for s, p in statements if "FROM user_sessions JOIN users" in s]
    plan = "\n".join(row[0] for row in db.session.connection().exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "Seq Scan on notifications" not in plan, plan


def test_the_team_page_reads_its_invitations_mail_by_what_it_is_about(signed_in, world):
    """Whether each listed invitation's latest mail was refused: read from the outbox's index on
    (kind, object_id), not by scanning every message ever sent."""
    from app.auth import invitations

    admin = world.users["admin"]
    invitations.invite(
        email="new@partner-a.example", role="partner", organization=world.partner_a, language="en", by=admin
    )
    db.session.commit()
    client = signed_in("admin")
    with captured_statements() as statements:
        assert client.get("/team").status_code == 200
    matching = [(s, p) for s, p in statements if "max(outbox_messages.id)" in s]
    assert matching, "the team page did not read its invitations' mail"
    assert all("ix_outbox_messages_about" in plan_of(s, p) for s, p in matching)
