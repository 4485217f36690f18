"""What the last complete pass saw of the rules' inputs, so that a repeat pass the same day over the same
inputs skips those rules: the deliverable rules scan every owed occurrence (thousands overdue at a
government's scale) and ask, per recipient, whether this period's reminder was sent; the agreement
rules (late approvals, endings, notice deadlines, stalled agreements) walk every open round's steps and
every agreement's dates and activity. With nothing new the answers are known already. Each group has its
own fingerprint: a new occurrence does not make the agreement rules run, nor a decision the deliverable
rules. (The weekly digest always runs: it depends on the hour, and costs nothing once sent.)

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

The agreement rules' inputs are every row a late approval may depend on (a step's `when:` reads the
budget lines, the partners and their countries; its approvers are roles, e-mail addresses and earlier
decisions), so the fingerprint takes them whole rather than guessing: each agreement (its version and
updated_at, which every write changes, and the columns the rules read: state, dates, owner, definition,
notice deadline), each approval round (open or not, requested when and by whom), decision, negotiation
round, budget line, party, organisation (home, country at home) and account (active, role, organisation,
named in a step by address), beside the day and the checksums of the definitions in use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import BigInteger, case, cast, func, literal, select, union_all

from app.core.db import dialect_insert
from app.extensions import db

SETTING = "reminders.deliverables_last_pass"
MODULUS = 2147483647  # a prime below 2**31: a row's mix squared stays within 64-bit integers
STEP = 1000003


@dataclass(frozen=True)
class Inputs:
    """The day of a pass and the fingerprints of what its deliverable rules and its agreement rules read."""

    day: date
    fingerprint: str
    agreements: str = ""


@dataclass(frozen=True)
class Told:
    """How many reminders of each group the last complete pass found due over the same inputs (all of them
    recorded), or None for a group whose inputs changed since (its rules run)."""

    deliverables: int | None
    agreements: int | None


def read_inputs(today: date) -> Inputs:
    """The fingerprints at `today`: the definitions' hash, then each set's count and sum (a change keeps
    both with a chance of about one in two thousand million)."""
    from app.notifications.reminders.rules import horizon_of_deliverables

    horizon = horizon_of_deliverables()
    deliverable_sets = (_occurrence_rows(today, today + timedelta(days=horizon)), _account_rows(), _grant_rows())
    sets = deliverable_sets + _agreement_sets(today)
    # One statement, each set of rows read once: (which, count, sum of each row's mix squared).
    parts = sorted(db.session.execute(union_all(*(_count_and_sum(index, rows) for index, rows in enumerate(sets)))))
    counted = [f"{count}.{total}" for _index, count, total in parts]
    return Inputs(
        today,
        f"{_policies()}:{':'.join(counted[: len(deliverable_sets)])}",
        f"{_definitions()}:{':'.join(counted[len(deliverable_sets) :])}",
    )


def told(inputs: Inputs) -> Told:
    """What the last complete pass found due, per group, if it ran the same day over the same inputs."""
    from app.notifications.models import Setting

    # Read from the database, not the session's identity map: another pass may have written it since.
    value = db.session.scalar(select(Setting.value).where(Setting.key == SETTING))
    value = value if isinstance(value, dict) else {}
    if value.get("day") != inputs.day.isoformat():
        return Told(None, None)
    return Told(
        int(value.get("due", 0)) if value.get("fingerprint") == inputs.fingerprint else None,
        int(value.get("agreements_due", 0)) if value.get("agreements") == inputs.agreements else None,
    )


def told_before(inputs: Inputs) -> int | None:
    """How many deliverable reminders the last complete pass found due, if it ran the same day over the
    same inputs (every one of them is recorded); None otherwise."""
    return told(inputs).deliverables


def remember(inputs: Inputs, due: int, agreements_due: int = 0) -> None:
    """Record, for the next pass, that every one of the `due` deliverable reminders and `agreements_due`
    agreement reminders of `inputs` is sent. Two passes at once: the last to finish writes (each wrote
    what it saw; an older fingerprint only makes the next pass run in full)."""
    from app.core.models import utcnow
    from app.notifications.models import Setting

    value = {
        "day": inputs.day.isoformat(),
        "fingerprint": inputs.fingerprint,
        "due": due,
        "agreements": inputs.agreements,
        "agreements_due": agreements_due,
    }
    statement = dialect_insert(Setting).values(key=SETTING, value=value, updated_at=utcnow())
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
    return (
        _owed_occurrences((mixed.label("mixed"),), today).order_by(None).where(Occurrence.due_on <= furthest).subquery()
    )


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


def _definitions() -> str:
    """The definitions in use, whole (states, SLAs, approval steps and their conditions, policies: the
    agreement rules read them all), by checksum; who hears of escalations; and the reference rates a budget
    condition reckons with."""
    from app.budget.reckoning import rates
    from app.core.permissions import GRANTS
    from app.workflow.engine import current_definitions, version_definitions

    described = [(name, definition.checksum) for name, definition in sorted(current_definitions().items())]
    described += [(version_id, definition.checksum) for version_id, definition in sorted(version_definitions().items())]
    described.append(sorted(GRANTS["escalation.receive"]))
    described.append(sorted((code, str(rate)) for code, rate in rates().items()))
    return hashlib.sha256(repr(described).encode()).hexdigest()[:32]


def _milliseconds(column):
    """A UTC datetime column as whole milliseconds since 1970, counted by the database."""
    if db.engine.dialect.name == "postgresql":
        return cast(func.extract("epoch", column) * 1000, BigInteger)
    return cast((func.julianday(column) - 2440587.5) * 86400000, BigInteger)


def _index_of(column, names) -> object:
    """A text column as the position of its value among `names` (len(names) for any other, -1 for NULL)."""
    names = sorted(set(names))
    if not names:
        return literal(0)
    return case(*[(column == name, index) for index, name in enumerate(names)], else_=len(names))


def _agreement_sets(today: date) -> tuple:
    """The rows the agreement rules may depend on, each as its mix (the module's docstring)."""
    from app.agreements.models import RENEWAL_TERMS, Agreement, AgreementParty, is_partner_party
    from app.auth.models import User
    from app.budget.models import BudgetLine
    from app.budget.reckoning import rates
    from app.core.permissions import ALL_ROLES, holders_of_roles_clause
    from app.notifications.reminders.gates import days_from
    from app.organizations.models import Organization
    from app.workflow.conditions import HOME_COUNTRY
    from app.workflow.engine import current_definitions, version_definitions
    from app.workflow.models import ApprovalDecision, ApprovalRound, NegotiationRound

    definitions = list(current_definitions().values()) + list(version_definitions().values())
    states = {name for definition in definitions for name in definition.states}
    named = {
        email.lower()
        for definition in definitions
        for transition in definition.transitions
        if transition.approval is not None
        for step in transition.approval.steps
        for email in step.users
    }
    role = case(*[(holders_of_roles_clause((name,), User), index) for index, name in enumerate(sorted(ALL_ROLES))])
    agreements = _mixed(
        Agreement.id,
        Agreement.version,
        _milliseconds(Agreement.updated_at),
        _milliseconds(Agreement.state_entered_at),
        _index_of(Agreement.state, states),
        _index_of(Agreement.type, current_definitions()),
        Agreement.workflow_version_id,
        Agreement.owner_id,
        days_from(Agreement.expires_on, today) + 100000,
        days_from(Agreement.notice_deadline, today) + 100000,
        days_from(Agreement.non_renewal_on, today) + 100000,
        _index_of(Agreement.renewal_terms, RENEWAL_TERMS),
    )
    rounds = _mixed(
        ApprovalRound.id,
        ApprovalRound.agreement_id,
        _flag(ApprovalRound.status == "open"),
        _milliseconds(ApprovalRound.requested_at),
        ApprovalRound.requested_by_id,
        _milliseconds(ApprovalRound.closed_at),
    )
    decisions = _mixed(
        ApprovalDecision.id,
        ApprovalDecision.round_id,
        ApprovalDecision.counted_user_id,
        _flag(ApprovalDecision.decision == "approve"),
        _milliseconds(ApprovalDecision.decided_at),
    )
    negotiations = _mixed(NegotiationRound.id, NegotiationRound.agreement_id, _milliseconds(NegotiationRound.sent_at))
    budget = _mixed(
        BudgetLine.id,
        BudgetLine.agreement_id,
        _index_of(BudgetLine.currency, rates()),  # in dirhams at its rate, or not reckoned (budget.reckoning)
        cast(BudgetLine.amount * 100, BigInteger),
    )
    parties = _mixed(
        AgreementParty.id,
        AgreementParty.agreement_id,
        AgreementParty.organization_id,
        _flag(is_partner_party(AgreementParty.role)),
    )
    organizations = _mixed(
        Organization.id,
        _flag(Organization.is_home.is_(True)),
        _flag(Organization.country.is_(None)),
        _flag(func.upper(Organization.country) == HOME_COUNTRY),
    )
    accounts = _mixed(
        User.id,
        _flag(User.is_active_account.is_(True)),
        role,
        User.organization_id,
        _index_of(func.lower(User.email), named),
    )
    return tuple(
        select(mixed.label("mixed")).subquery()
        for mixed in (agreements, rounds, decisions, negotiations, budget, parties, organizations, accounts)
    )
