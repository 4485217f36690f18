"""A portfolio of any size in a few INSERT statements, and a counter of the SQL a request sends.

The query-count tests build the same mix twice (a few agreements, then many) and assert the
pages send the same number of statements: a page whose cost grows with the portfolio fails CI.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timedelta

from sqlalchemy import event, insert, select

from app.agreements.models import Agreement, AgreementParty
from app.core import clock
from app.core.audit import AuditEvent
from app.core.models import utcnow
from app.deliverables.models import Deliverable, Occurrence, Submission, fill_first_hand_ins
from app.extensions import db
from app.indicators.models import Indicator, IndicatorValue
from app.notifications.models import Notification
from app.search.index import rebuild as rebuild_search
from app.workflow import engine
from app.workflow.models import ApprovalDecision, ApprovalRound
from app.workflow.stage_history import rebuild

STATES = (
    "draft",
    "internal_review",
    "negotiation",
    "signature",
    "signed",
    "active",
    "suspended",
    "expired",
    "closed",
    "cancelled",
)
# The stages an agreement of the bulk portfolio went through to reach its state (audit rows).
PATHS = {
    "draft": [],
    "internal_review": ["draft"],
    "negotiation": ["draft", "internal_review"],
    "signature": ["draft", "internal_review", "negotiation"],
    "signed": ["draft", "internal_review", "negotiation", "signature"],
}
for _state in ("active", "suspended", "expired", "closed"):
    PATHS[_state] = PATHS["signed"] + ["signed"]
PATHS["suspended"] = PATHS["active"] + ["active"]
PATHS["expired"] = PATHS["active"] + ["active"]
PATHS["cancelled"] = ["draft"]


def add_bulk_portfolio(world, count: int, start: int, today: date | None = None) -> None:
    """`count` agreements inserted in a few statements, with parties, deliverables, hand-ins, open
    approvals, audit history and notifications in proportion. Every run of ten covers every state,
    and belongs to the officer, another officer or the manager in turn: the first ten are the
    officer's, so the small portfolio already fills every card (an empty card saves the queries of
    its rows, which is not what is measured)."""
    today = today or clock.today()
    owners = [world.users["officer"].id, world.users["other_officer"].id, world.users["manager"].id]
    partners = [world.partner_a.id, world.partner_b.id]
    now = utcnow()
    # Half the agreements run on a frozen definition version, as agreements that moved once do.
    versions = {kind: engine.ensure_version(definition).id for kind, definition in engine.current_definitions().items()}
    rows = []
    for number in range(start, start + count):
        state = STATES[number % len(STATES)]
        signed = state in ("signed", "active", "suspended", "expired", "closed")
        signed_on = (
            today.replace(month=1 + number % today.month, day=1)
            if signed and number % 2
            else (date(2024, 1 + number % 12, 10) if signed else None)
        )
        rows.append(
            {
                "reference": f"BULK-{number:05d}",
                "type": ("mou", "convention", "protocol")[number % 3],
                "state": state,
                "title_fr": f"Accord de masse {number}",
                "title_en": f"Bulk agreement {number}",
                "search_text": f"bulk-{number:05d} accord de masse {number}",
                "owner_id": owners[(number // len(STATES)) % 3],
                "signed_on": signed_on,
                "effective_on": signed_on,
                "signing_event_id": world.event.id if signed and number % 3 == 0 else None,
                "expires_on": today + timedelta(days=10 + number % 200) if signed else None,
                "state_entered_at": now - timedelta(days=number % 40),
                "version": 1,
                "workflow_version_id": versions[("mou", "convention", "protocol")[number % 3]] if number % 2 else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    db.session.execute(insert(Agreement), rows)
    created = db.session.execute(
        select(Agreement.id, Agreement.reference, Agreement.state).where(
            Agreement.reference.like("BULK-%"), Agreement.id.not_in(select(AgreementParty.agreement_id))
        )
    ).all()
    db.session.execute(
        insert(AgreementParty),
        [
            {"agreement_id": row.id, "organization_id": partners[index % 2], "role": "partner"}
            for index, row in enumerate(created)
        ],
    )
    active = [row for row in created if row.state == "active"]
    # Budget lines in two currencies, two years and both kinds (the portfolio's budget totals).
    from app.budget.models import BudgetLine

    db.session.execute(
        insert(BudgetLine),
        [
            {
                "agreement_id": row.id,
                "organization_id": partners[index % 2],
                "label": f"Budget {row.reference}",
                "amount": 1000 + index,
                "currency": ("MAD", "EUR")[index % 2],
                "kind": ("cash", "in_kind")[index % 3 == 0],
                "year": 2026 + index % 2,
                "is_illustrative": False,
                "created_at": now,
            }
            for index, row in enumerate(created)
        ],
    )
    db.session.execute(
        insert(Deliverable),
        [
            {
                "agreement_id": row.id,
                "title_fr": f"Rapport {row.reference}",
                "recurrence": "quarterly",
                "responsible_organization_id": partners[index % 2],
                "first_due_on": today - timedelta(days=100),
                "created_at": now,
                "updated_at": now,
            }
            for index, row in enumerate(active)
        ],
    )
    deliverable_ids = db.session.scalars(
        select(Deliverable.id).where(Deliverable.agreement_id.in_([row.id for row in active]))
    ).all()
    occurrences = []
    for index, deliverable_id in enumerate(deliverable_ids):
        occurrences += [
            {
                "deliverable_id": deliverable_id,
                "due_on": today - timedelta(days=100),
                "status": "accepted",
                "version": 1,
            },
            {
                "deliverable_id": deliverable_id,
                "due_on": today - timedelta(days=10 + index % 5),
                "status": "pending",
                "version": 1,
            },
            {
                "deliverable_id": deliverable_id,
                "due_on": today + timedelta(days=index % 20),
                "status": "pending",
                "version": 1,
            },
        ]
    db.session.execute(insert(Occurrence), occurrences)
    handed_in = db.session.scalars(
        select(Occurrence.id).where(Occurrence.deliverable_id.in_(deliverable_ids), Occurrence.status == "accepted")
    ).all()
    db.session.execute(
        insert(Submission),
        [
            {"occurrence_id": occurrence_id, "number": 1, "submitted_at": now - timedelta(days=95 + index % 10)}
            for index, occurrence_id in enumerate(handed_in)
        ],
    )
    fill_first_hand_ins(db.session)
    # One indicator per deliverable, with the value of each hand-in (the progress pages read them).
    db.session.execute(
        insert(Indicator),
        [
            {
                "deliverable_id": deliverable_id,
                "position": 1,
                "name_fr": "Personnes formées",
                "baseline": 0,
                "target": 100,
                "target_scope": "term",
                "is_illustrative": False,
                "created_at": now,
                "updated_at": now,
            }
            for deliverable_id in deliverable_ids
        ],
    )
    indicator_of = dict(
        db.session.execute(
            select(Occurrence.id, Indicator.id)
            .join(Indicator, Indicator.deliverable_id == Occurrence.deliverable_id)
            .where(Occurrence.id.in_(handed_in))
        ).all()
    )
    db.session.execute(
        insert(IndicatorValue),
        [
            {"indicator_id": indicator_of[occurrence_id], "submission_id": submission_id, "value": 10 + index % 7}
            for index, (submission_id, occurrence_id) in enumerate(
                db.session.execute(
                    select(Submission.id, Submission.occurrence_id).where(Submission.occurrence_id.in_(handed_in))
                ).all()
            )
        ],
    )
    db.session.execute(
        insert(ApprovalRound),
        [
            {
                "agreement_id": row.id,
                "transition": "approve_review",
                "from_state": "internal_review",
                "requested_at": now - timedelta(days=15 + index % 30),
                "status": "open",
            }
            for index, row in enumerate(created)
            if row.state == "internal_review"
        ],
    )
    # The legal adviser approved half of them (the manager's approval is still awaited).
    rounds = db.session.scalars(
        select(ApprovalRound.id).where(ApprovalRound.agreement_id.in_([row.id for row in created]))
    ).all()
    legal = world.users["legal"].id
    db.session.execute(
        insert(ApprovalDecision),
        [
            {
                "round_id": round_id,
                "step": "legal_and_head",
                "approver_id": legal,
                "counted_user_id": legal,
                "decision": "approve",
                "decided_at": now - timedelta(days=5),
            }
            for index, round_id in enumerate(rounds)
            if index % 2 == 0
        ],
    )
    db.session.execute(insert(AuditEvent), list(_history(created, now)))
    rebuild(db.session.connection(), [row.id for row in created])  # bulk rows bypass the flush listener
    rebuild_search(db.session.connection())  # and the search index's too
    db.session.execute(
        insert(Notification),
        [
            {
                "user_id": user.id,
                "kind": "agreement_moved",
                "category": "agreement_activity",
                "params": {"reference": row.reference, "state": {"fr": row.state}},
                "link": f"/agreements/{row.id}",
                "object_type": "agreements",
                "object_id": row.id,
                "created_at": now,
            }
            for row in created
            for user in (world.users["officer"], world.users["partner"])
        ],
    )
    db.session.commit()


def _history(created, now: datetime):
    """A creation row and one transition row per stage each agreement went through."""
    for row in created:
        path = PATHS[row.state] + [row.state]
        moment = now - timedelta(days=30 * len(path) + row.id % 17)
        yield {
            "occurred_at": moment,
            "actor_label": "bulk",
            "object_type": "agreements",
            "object_id": row.id,
            "action": "created",
            "changes": {"after": {"state": path[0]}},
        }
        for source, target in zip(path, path[1:]):
            moment += timedelta(days=5 + row.id % 25)
            yield {
                "occurred_at": moment,
                "actor_label": "bulk",
                "object_type": "agreements",
                "object_id": row.id,
                "action": "transition",
                "changes": {"before": {"state": source}, "after": {"state": target}},
            }


@contextmanager
def captured_statements(*, skip_savepoints: bool = True):
    """Collect (statement, parameters) of the SQL sent while the block runs (savepoints aside)."""
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if not (skip_savepoints and statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))):
            statements.append((statement, parameters))

    # The tests run on one connection (see conftest._transaction): listen to the engine it came from.
    engine = db.session.get_bind().engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", keep)


@contextmanager
def counting_queries():
    """The SQL statements sent while the block runs, as text (filled when the block ends)."""
    texts: list[str] = []
    with captured_statements() as statements:
        yield texts
    texts.extend(statement for statement, _parameters in statements)
