"""The stays of each agreement in each stage, kept in `stage_visits` as the audit trail grows.

Stage analytics used to rebuild every stay from the whole audit trail on each request
(hundreds of thousands of rows at a government's scale). The trail stays the evidence;
this table is derived from it: whenever creation or transition rows of some agreements
are flushed, those agreements' stays are worked out again from their own rows (one indexed
query), so rows written out of order (imports, backdated demo history) still come out right.
Bulk loads that bypass the ORM call `rebuild`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, has_app_context
from sqlalchemy import delete, event, insert, inspect, select
from sqlalchemy.orm import Session

from app.core.audit import AuditEvent
from app.workflow.models import StageVisit

SECONDS_PER_DAY = 86400
STAGE_ACTIONS = ("created", "transition")
REBUILD_CHUNK = 500


@dataclass(frozen=True)
class StageEvent:
    """One audit row that changes an agreement's stage: its creation or a transition."""

    agreement_id: int
    occurred_at: datetime
    action: str  # "created" | "transition"
    before: str | None  # the stage left (transitions only)
    after: str | None  # the stage entered


@dataclass(frozen=True)
class Visit:
    """A stay of one agreement in one stage; `left_at` is None while it is still there."""

    agreement_id: int
    state: str
    entered_at: datetime
    left_at: datetime | None

    @property
    def days(self) -> float | None:
        return None if self.left_at is None else days_between(self.entered_at, self.left_at)


def days_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / SECONDS_PER_DAY


def stage_visits(events: Iterable[StageEvent]) -> list[Visit]:
    """Each agreement's stays in a stage, from the event that entered the stage to the one that left it.

    A creation row opens the first stage unless a stage is already open (data placed in a
    stage with a history dated before its creation row). A transition closes the open stay
    only when it leaves that very stage; a stay whose start is unknown (an agreement put in
    a state by hand, then moved) is not a visit. Stays not yet left come last, with left_at None.
    """
    per_agreement: dict[int, list[tuple[datetime, int, StageEvent]]] = defaultdict(list)
    for index, audit_event in enumerate(events):
        per_agreement[audit_event.agreement_id].append((audit_event.occurred_at, index, audit_event))
    visits: list[Visit] = []
    for agreement_id, rows in per_agreement.items():
        rows.sort(key=lambda row: (row[0], row[1]))
        open_stay: tuple[str, datetime] | None = None  # (the stage, entered at)
        for occurred_at, _index, audit_event in rows:
            if audit_event.action == "created":
                if open_stay is None and audit_event.after:
                    open_stay = (audit_event.after, occurred_at)
                continue
            if open_stay is not None and open_stay[0] == audit_event.before:
                visits.append(Visit(agreement_id, *open_stay, occurred_at))
            open_stay = (audit_event.after, occurred_at) if audit_event.after else None
        if open_stay is not None:
            visits.append(Visit(agreement_id, *open_stay, None))
    return visits


def stage_event(
    agreement_id: int, occurred_at: datetime, action: str, changes, agreement_type: str, initial_states: dict[str, str]
) -> StageEvent:
    """A creation or transition audit row as a StageEvent. A creation row that does not say its
    state starts the type's initial state."""
    changes = changes if isinstance(changes, dict) else {}
    before = changes.get("before") if isinstance(changes.get("before"), dict) else {}
    after = changes.get("after") if isinstance(changes.get("after"), dict) else {}
    entered = after.get("state")
    if action == "created" and not entered:
        entered = initial_states.get(agreement_type)
    return StageEvent(agreement_id, occurred_at, action, before.get("state"), entered)


def initial_states() -> dict[str, str]:
    if not has_app_context():
        return {}
    return {kind: definition.initial_state for kind, definition in current_app.extensions["sharaka.workflows"].items()}


def rebuild(connection, agreement_ids: Iterable[int]) -> int:
    """Work out again the stays of these agreements from their audit rows; return how many were written."""
    from app.agreements.models import Agreement

    ids = sorted(set(agreement_ids))
    starts = initial_states()
    written = 0
    for start in range(0, len(ids), REBUILD_CHUNK):
        chunk = ids[start : start + REBUILD_CHUNK]
        rows = connection.execute(
            select(AuditEvent.object_id, AuditEvent.occurred_at, AuditEvent.action, AuditEvent.changes, Agreement.type)
            .join(Agreement, Agreement.id == AuditEvent.object_id)
            .where(
                AuditEvent.object_type == "agreements",
                AuditEvent.object_id.in_(chunk),
                AuditEvent.action.in_(STAGE_ACTIONS),
            )
            .order_by(AuditEvent.object_id, AuditEvent.occurred_at, AuditEvent.id)
        ).all()
        types = {object_id: agreement_type for object_id, _at, _action, _changes, agreement_type in rows}
        visits = stage_visits(
            stage_event(object_id, occurred_at, action, changes, agreement_type, starts)
            for object_id, occurred_at, action, changes, agreement_type in rows
        )
        connection.execute(delete(StageVisit).where(StageVisit.agreement_id.in_(chunk)))
        if visits:
            connection.execute(
                insert(StageVisit),
                [
                    {
                        "agreement_id": v.agreement_id,
                        "agreement_type": types[v.agreement_id],
                        "state": v.state,
                        "entered_at": v.entered_at,
                        "left_at": v.left_at,
                        "days": v.days,
                    }
                    for v in visits
                ],
            )
        written += len(visits)
    return written


@event.listens_for(Session, "after_flush")
def _keep_stage_visits(session, flush_context):
    """Stage rows just written, or a draft's type changed: the stays of their agreements follow (each
    stay carries its agreement's type), in the same transaction."""
    from app.agreements.models import Agreement

    touched = {
        obj.object_id
        for obj in session.new
        if isinstance(obj, AuditEvent) and obj.object_type == "agreements" and obj.action in STAGE_ACTIONS
    } | {
        obj.id for obj in session.dirty if isinstance(obj, Agreement) and inspect(obj).attrs.type.history.has_changes()
    }
    if touched:
        rebuild(session.connection(), touched)
