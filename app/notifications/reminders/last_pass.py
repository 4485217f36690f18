"""What the last complete pass saw of the deliverable rules' inputs, so that a repeat pass the same day
over the same inputs skips those rules: they scan every owed occurrence (thousands overdue at a
government's scale) and ask, per recipient, whether this period's reminder was sent; with nothing new
the answer is known already.

The inputs are the rules' own rows, fingerprinted by the database in one statement: the owed occurrences
on running agreements up to the furthest threshold (id, due date, status, deliverable, responsible
partner and whether it is the ministry, agreement, owner, definition), the accounts (active, partner or
not, manager or not, organisation, restricted) and the deliverable grants; beside them the day and the
reminder policies and running states of the definitions in use. A moved date, a new or handed-back
occurrence, an agreement that starts or stops running, a new or changed account or grant, a new
definition version or a new day: the fingerprint differs and the rules run in full. The fingerprint is
of the state itself, not of a clock or a sequence, so a change committed by another process at any
moment is seen; it is read before the rules read, so what a pass remembers is never newer than what it
sent. Only a pass without errors is remembered (a pass killed half-way, or one with a failed reminder,
leaves the next one to run in full).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import BigInteger, case, cast, func, literal, select, union_all

from app.extensions import db

SETTING = "reminders.deliverables_last_pass"
MODULUS = 2147483647  # a prime below 2**31: a row's mix squared stays within 64-bit integers
STEP = 1000003


@dataclass(frozen=True)
class Inputs:
    """The day of a pass and the fingerprint of what its deliverable rules read."""

    day: date
    fingerprint: str


def read_inputs(today: date) -> Inputs:
    """The fingerprint at `today`: the policies' hash, then each set's count and sum (a change keeps both
    with a chance of about one in two thousand million)."""
    from app.notifications.reminders.rules import horizon_of_deliverables

    horizon = horizon_of_deliverables()
    sets = (_occurrence_rows(today, today + timedelta(days=horizon)), _account_rows(), _grant_rows())
    # One statement, each set of rows read once: (which, count, sum of each row's mix squared).
    parts = sorted(db.session.execute(union_all(*(_count_and_sum(index, rows) for index, rows in enumerate(sets)))))
    return Inputs(today, f"{_policies()}:{':'.join(f'{count}.{total}' for _index, count, total in parts)}")


def told_before(inputs: Inputs) -> int | None:
    """How many deliverable reminders the last complete pass found due, if it ran the same day over the
    same inputs (every one of them is recorded); None otherwise."""
    from app.notifications.models import Setting

    # Read from the database, not the session's identity map: another pass may have written it since.
    value = db.session.scalar(select(Setting.value).where(Setting.key == SETTING))
    value = value if isinstance(value, dict) else {}
    if value.get("day") == inputs.day.isoformat() and value.get("fingerprint") == inputs.fingerprint:
        return int(value.get("due", 0))
    return None


def remember(inputs: Inputs, due: int) -> None:
    """Record, for the next pass, that every one of the `due` deliverable reminders of `inputs` is sent.
    Two passes at once: the last to finish writes (each wrote what it saw; an older fingerprint only
    makes the next pass run in full)."""
    from app.core.models import utcnow
    from app.notifications.models import Setting

    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    value = {"day": inputs.day.isoformat(), "fingerprint": inputs.fingerprint, "due": due}
    statement = upsert(Setting).values(key=SETTING, value=value, updated_at=utcnow())
    fresh = statement.excluded
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["key"], set_={"value": fresh.value, "updated_at": fresh.updated_at}
        )
    )


def _policies() -> str:
    """The reminder policies and running states of the definitions in use, and who hears of escalations."""
    from app.core.permissions import GRANTS
    from app.workflow.engine import current_definitions, version_definitions

    described = [
        (name, definition.reminders, definition.states_tagged("running"))
        for name, definition in sorted(current_definitions().items())
    ] + [
        (version_id, definition.reminders, definition.states_tagged("running"))
        for version_id, definition in sorted(version_definitions().items())
    ]
    described.append(sorted(GRANTS["escalation.receive"]))
    return hashlib.sha256(repr(described).encode()).hexdigest()[:32]


def _mixed(*values):
    """One integer below MODULUS from a row's values, each as an integer (NULL: -1), in order."""
    mixed = cast(literal(17), BigInteger)
    for value in values:
        mixed = (mixed * STEP + cast(func.coalesce(value, -1), BigInteger) + 2) % MODULUS
    return mixed


def _flag(condition):
    return case((condition, 1), else_=0)


def _count_and_sum(index: int, rows):
    """A rows' subquery (one column, `mixed`) as its count and the sum of each row's mix squared: the
    square makes two rows that swap a value (two due dates exchanged) change the sum."""
    return select(
        literal(index).label("which"),
        func.count().label("count"),
        func.coalesce(func.sum(rows.c.mixed * rows.c.mixed % MODULUS), 0).label("total"),
    ).select_from(rows)


def _occurrence_rows(today: date, furthest: date):
    from app.agreements.models import Agreement
    from app.deliverables.models import Deliverable, Occurrence
    from app.notifications.reminders.gates import days_from
    from app.notifications.reminders.rules import _owed_occurrences
    from app.organizations.models import Organization
    from app.workflow.engine import current_definitions

    types = sorted(current_definitions())
    kind = case(*[(Agreement.type == name, index) for index, name in enumerate(types)], else_=len(types))
    mixed = _mixed(
        Occurrence.id,
        days_from(Occurrence.due_on, today) + 100000,
        _flag(Occurrence.status == "sent_back"),
        Occurrence.deliverable_id,
        Deliverable.responsible_organization_id,
        _flag(Organization.is_home.is_(True)),
        Agreement.id,
        Agreement.owner_id,
        Agreement.workflow_version_id,
        kind,
    )
    return _owed_occurrences((mixed.label("mixed"),)).order_by(None).where(Occurrence.due_on <= furthest).subquery()


def _account_rows():
    from app.auth.models import User
    from app.core.permissions import holders_clause, partner_accounts_clause

    mixed = _mixed(
        User.id,
        _flag(User.is_active_account.is_(True)),
        _flag(partner_accounts_clause(User)),
        _flag(holders_clause("escalation.receive", User)),
        User.organization_id,
        _flag(User.deliverables_restricted.is_(True)),
    )
    return select(mixed.label("mixed")).subquery()


def _grant_rows():
    from app.auth.models import DeliverableGrant

    return select(_mixed(DeliverableGrant.user_id, DeliverableGrant.agreement_id).label("mixed")).subquery()
