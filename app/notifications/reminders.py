"""Reminder rules: one pass scans the database for what is due at a given moment.

Each rule yields candidates with a natural key (rule, object, recipient,
occurrence); a pass inserts the key and, only if it was new, notifies. So a
pass run twice, a pass after downtime, or two schedulers at once send each
reminder exactly once. The thresholds come from each agreement type's
`reminders:` section in workflows/ (defaults in ReminderPolicy).
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import selectinload

from app.core.db import is_lock_conflict
from app.core.errors import ConcurrentChange
from app.core.i18n import localized
from app.extensions import db
from app.notifications.services import Notice, app_path, already_recorded, notify_once

log = logging.getLogger("sharaka.reminders")
LOCK_RETRIES = 5


@dataclass
class Candidate:
    rule: str
    occurrence_key: str
    recipient: object
    notice: Notice

    @property
    def key(self) -> tuple:
        return (self.rule, self.notice.object_type, self.notice.object_id, self.recipient.id, self.occurrence_key)


@dataclass
class PassReport:
    created: int = 0
    already: int = 0
    errors: int = 0


def texts(obj, name: str) -> dict[str, str]:
    """{ar, fr, en} of a multilingual field, each falling back as the pages do."""
    return {lang: localized(obj, name, lang) or "" for lang in ("ar", "fr", "en")}


def _users_with_role(role: str) -> list:
    from app.auth.models import User

    return list(db.session.scalars(select(User).where(User.role == role, User.is_active_account.is_(True))
                                   .order_by(User.id)))


def _partner_users(organization) -> list:
    from app.auth.models import User

    if organization is None or organization.is_home:
        return []
    return list(db.session.scalars(select(User).where(
        User.organization_id == organization.id, User.role == "partner", User.is_active_account.is_(True))
        .order_by(User.id)))


def _people(*groups) -> list:
    """Distinct active people, in order."""
    seen, people = set(), []
    for group in groups:
        for person in group:
            if person is not None and person.is_active_account and person.id not in seen:
                seen.add(person.id)
                people.append(person)
    return people


def local_date(moment: datetime) -> date:
    from app.scheduler import CASABLANCA

    return moment.astimezone(CASABLANCA).date()


def local_midnight(day: date) -> datetime:
    """The moment `day` begins in Casablanca: local_date(m) < day exactly when m < local_midnight(day)."""
    from app.scheduler import CASABLANCA

    return datetime.combine(day, datetime.min.time(), tzinfo=CASABLANCA)


def _threshold(days_left: int, thresholds: tuple[int, ...]) -> int | None:
    """The smallest threshold not below days_left: 7 for 5 days left with (7, 1); None if too early."""
    fitting = [t for t in thresholds if days_left <= t]
    return min(fitting) if fitting else None


def agreement_params(agreement) -> dict:
    return {"reference": agreement.reference, "title": texts(agreement, "title")}


# --- the rules -------------------------------------------------------------------------

def deliverable_candidates(today: date, managers: list) -> list[Candidate]:
    from app.agreements.models import Agreement
    from app.deliverables.models import Deliverable, Occurrence
    from app.workflow.engine import definition_for

    definitions_by_agreement = {}
    horizon = max((max(p.deliverable_due_days or (0,)) for p in _policies_in_use()), default=0)
    occurrences = db.session.scalars(
        select(Occurrence).join(Deliverable).join(Agreement, Deliverable.agreement_id == Agreement.id)
        .where(Occurrence.status.in_(("pending", "sent_back")), Agreement.state == "active",
               Occurrence.due_on <= today + timedelta(days=horizon))
        .options(selectinload(Occurrence.deliverable).selectinload(Deliverable.agreement))
        .order_by(Occurrence.due_on, Occurrence.id)).all()
    candidates = []
    for occurrence in occurrences:
        deliverable = occurrence.deliverable
        agreement = deliverable.agreement
        if agreement.id not in definitions_by_agreement:
            definitions_by_agreement[agreement.id] = definition_for(agreement).reminders
        policy = definitions_by_agreement[agreement.id]
        days_left = (occurrence.due_on - today).days
        params = {**agreement_params(agreement), "deliverable": texts(deliverable, "title"),
                  "due_on": occurrence.due_on.isoformat(),
                  "responsible": texts(deliverable.responsible_organization, "name")}
        link = app_path("deliverables.view_occurrence", occurrence_id=occurrence.id)
        people = _people(_partner_users(deliverable.responsible_organization), [agreement.owner])
        common = {"object_type": "deliverable_occurrences", "object_id": occurrence.id, "link": link}
        if days_left >= 0:
            threshold = _threshold(days_left, policy.deliverable_due_days)
            if threshold is None:
                continue
            notice = Notice(kind="deliverable_due", category="deliverable_due",
                            params={**params, "days": days_left}, **common)
            candidates += [Candidate("deliverable_due", f"{occurrence.due_on}:{threshold}d", person, notice)
                           for person in people]
            continue
        overdue = -days_left
        week = (overdue - 1) // policy.deliverable_overdue_every_days
        notice = Notice(kind="deliverable_overdue", category="deliverable_overdue",
                        params={**params, "days": overdue}, **common)
        candidates += [Candidate("deliverable_overdue", f"{occurrence.due_on}:w{week}", person, notice)
                       for person in people]
        if overdue > policy.deliverable_escalate_after_days:
            notice = Notice(kind="deliverable_escalated", category="deliverable_overdue",
                            params={**params, "days": overdue}, **common)
            candidates += [Candidate("deliverable_escalated", f"{occurrence.due_on}:w{week}", person, notice)
                           for person in _people(managers)]
    return candidates


def approval_candidates(today: date, managers: list) -> list[Candidate]:
    from app.agreements.models import Agreement
    from app.workflow.models import ApprovalRound

    rounds = db.session.scalars(
        select(ApprovalRound).join(Agreement, ApprovalRound.agreement_id == Agreement.id)
        .where(ApprovalRound.status == "open", ApprovalRound.from_state == Agreement.state)
        .options(selectinload(ApprovalRound.decisions)).order_by(ApprovalRound.id)).all()
    candidates = []
    for round_ in rounds:
        waiting = waiting_approval(round_)
        if waiting is None or waiting[3] is None:  # no deadline on this step
            continue
        agreement, step, started, sla, approvers = waiting
        waited = (today - local_date(started)).days
        if waited <= sla:
            continue
        policy_factor = _policy(agreement).approval_escalate_after_slas
        params = {**agreement_params(agreement), "days": waited, "sla": sla,
                  "waiting": ", ".join(person.full_name for person in approvers)}
        common = {"object_type": "approval_rounds", "object_id": round_.id,
                  "link": app_path("agreements.view_agreement", agreement_id=agreement.id)}
        notice = Notice(kind="approval_overdue", category="approval_overdue", params=params, **common)
        candidates += [Candidate("approval_overdue", f"{step.name}:sla", person, notice) for person in approvers]
        if waited > sla * policy_factor:
            notice = Notice(kind="approval_escalated", category="approval_overdue", params=params, **common)
            candidates += [Candidate("approval_escalated", f"{step.name}:sla{policy_factor}", person, notice)
                           for person in _people(managers)]
    return candidates


def waiting_approval(round_):
    """(agreement, current step, since when it waits, its SLA in days or None, who may approve it now),
    or None when the round has no step left to decide."""
    from app.auth.models import User
    from app.workflow.engine import _eligibility, current_step, definition_for

    agreement = _agreement_of(round_)
    definition = definition_for(agreement)
    transition = definition.transition(round_.transition)
    if transition is None or transition.approval is None:
        return None
    step = current_step(transition, round_)
    if step is None:
        return None
    state = definition.states.get(round_.from_state)
    sla = step.sla_days or (state.sla_days if state else None)
    earlier_steps = {s.name for s in transition.approval.steps[:transition.approval.steps.index(step)]}
    decided = [d.decided_at for d in round_.decisions if d.step in earlier_steps]
    started = max(decided) if decided else round_.requested_at
    candidates = db.session.scalars(select(User).where(
        User.is_active_account.is_(True), User.role != "partner",
        or_(User.role.in_(step.roles or ("-",)), func.lower(User.email).in_(step.users or ("-",))))
        .order_by(User.id)).all()
    approvers = [person for person in candidates if _eligibility(step, round_, person, person) is None]
    return agreement, step, started, sla, approvers


def _agreement_of(round_):
    from app.agreements.models import Agreement

    return db.session.get(Agreement, round_.agreement_id)


def _policy(agreement):
    from app.workflow.engine import definition_for

    return definition_for(agreement).reminders


def ending_candidates(today: date, managers: list) -> list[Candidate]:
    from app.agreements.models import Agreement

    horizon = max((max(p.ending_days or (0,)) for p in _policies_in_use()), default=0)
    agreements = db.session.scalars(select(Agreement).where(
        Agreement.state.in_(("active", "signed", "suspended")), Agreement.expires_on.is_not(None),
        Agreement.expires_on >= today, Agreement.expires_on <= today + timedelta(days=horizon))
        .order_by(Agreement.expires_on, Agreement.id)).all()
    candidates = []
    for agreement in agreements:
        days_left = (agreement.expires_on - today).days
        threshold = _threshold(days_left, _policy(agreement).ending_days)
        if threshold is None:
            continue
        notice = Notice(kind="agreement_ending", category="agreement_ending",
                        params={**agreement_params(agreement), "days": days_left,
                                "expires_on": agreement.expires_on.isoformat()},
                        link=app_path("agreements.view_agreement", agreement_id=agreement.id),
                        object_type="agreements", object_id=agreement.id)
        # The end date is in the key: an amendment that extends it re-arms the reminders.
        candidates += [Candidate("agreement_ending", f"{agreement.expires_on}:{threshold}d", person, notice)
                       for person in _people([agreement.owner], managers)]
    return candidates


def _definitions():
    from app.workflow.engine import current_definitions

    return current_definitions().values()


def _policies_in_use() -> list:
    """Today's reminder policies and those of every definition version an agreement is pinned to
    (an agreement keeps its version's thresholds, which may reach further ahead than today's)."""
    from app.agreements.models import Agreement
    from app.workflow.engine import definition_for

    one_per_version = select(func.min(Agreement.id)).group_by(Agreement.workflow_version_id)
    pinned = db.session.scalars(select(Agreement).where(Agreement.id.in_(one_per_version)))
    return [d.reminders for d in _definitions()] + [definition_for(a).reminders for a in pinned]


def stalled_candidates(today: date, managers: list) -> list[Candidate]:
    """Agreements idle in a working state past its SLA (states waiting for approvals have their own rule)."""
    from app.agreements.models import Agreement
    from app.workflow.engine import definition_for
    from app.workflow.models import NegotiationRound

    states_with_sla = {name for d in _definitions() for name, state in d.states.items()
                       if state.sla_days and state.kind != "final"}
    if not states_with_sla:
        return []
    last_round = (select(NegotiationRound.agreement_id, func.max(NegotiationRound.sent_at).label("sent_at"))
                  .group_by(NegotiationRound.agreement_id).subquery())
    rows = db.session.execute(
        select(Agreement, last_round.c.sent_at).outerjoin(last_round, last_round.c.agreement_id == Agreement.id)
        .where(Agreement.state.in_(states_with_sla)).order_by(Agreement.id)).all()
    candidates = []
    for agreement, last_round_at in rows:
        definition = definition_for(agreement)
        if not definition.reminders.stalled:
            continue
        state = definition.states.get(agreement.state)
        if state is None or not state.sla_days or state.kind == "final":
            continue
        if any(t.approval is not None for t in definition.transitions_from(agreement.state)):
            continue
        moments = [m for m in (agreement.state_entered_at, agreement.updated_at, last_round_at) if m is not None]
        if not moments:
            continue
        last_activity = local_date(max(moments))
        idle = (today - last_activity).days
        if idle <= state.sla_days:
            continue
        periods = idle // state.sla_days
        notice = Notice(kind="agreement_stalled", category="agreement_stalled",
                        params={**agreement_params(agreement), "days": idle, "sla": state.sla_days,
                                "state": dict(state.label)},
                        link=app_path("agreements.view_agreement", agreement_id=agreement.id),
                        object_type="agreements", object_id=agreement.id)
        recipients = _people([agreement.owner]) or _people(managers)
        candidates += [Candidate("agreement_stalled", f"{agreement.state}:{last_activity}:{periods}", person,
                                 notice) for person in recipients]
    return candidates


def digest_candidates(now: datetime, today: date, managers: list) -> list[Candidate]:
    """Monday 08:00 (Casablanca) onwards, once per ISO week, to each manager."""
    from app.scheduler import CASABLANCA

    local = now.astimezone(CASABLANCA)
    monday = local.date() - timedelta(days=local.weekday())
    if local.weekday() == 0 and local.hour < 8:
        return []
    if not managers:
        return []
    summary = portfolio_summary(today)
    iso_year, iso_week, _ = monday.isocalendar()
    notice = Notice(kind="weekly_digest", category="weekly_digest",
                    params={"week_of": monday.isoformat(), "approvals_count": len(summary["approvals"]),
                            "overdue_count": len(summary["overdue"]), "ending_count": len(summary["ending"])},
                    link=app_path("main.home"), object_type="digest", object_id=0, extra=summary)
    return [Candidate("weekly_digest", f"{iso_year}-W{iso_week:02d}", person, notice) for person in managers]


def portfolio_summary(today: date) -> dict:
    """What the weekly digest lists: pending approvals, overdue deliverables, endings, counts by stage."""
    from app.agreements.models import Agreement
    from app.deliverables.models import Deliverable, Occurrence
    from app.workflow.models import ApprovalRound

    approvals = []
    for round_ in db.session.scalars(select(ApprovalRound).join(Agreement, ApprovalRound.agreement_id == Agreement.id)
                                     .where(ApprovalRound.status == "open",
                                            ApprovalRound.from_state == Agreement.state)
                                     .order_by(ApprovalRound.requested_at)):
        agreement = _agreement_of(round_)
        approvals.append({"reference": agreement.reference, "title": texts(agreement, "title"),
                          "since": local_date(round_.requested_at).isoformat(),
                          "days": (today - local_date(round_.requested_at)).days,
                          "url": app_path("agreements.view_agreement", agreement_id=agreement.id)})
    overdue = []
    for occurrence in db.session.scalars(
            select(Occurrence).join(Deliverable).join(Agreement, Deliverable.agreement_id == Agreement.id)
            .where(Occurrence.status.in_(("pending", "sent_back")), Occurrence.due_on < today,
                   Agreement.state == "active").order_by(Occurrence.due_on)):
        deliverable = occurrence.deliverable
        overdue.append({"reference": deliverable.agreement.reference, "deliverable": texts(deliverable, "title"),
                        "responsible": texts(deliverable.responsible_organization, "name"),
                        "due_on": occurrence.due_on.isoformat(), "days": (today - occurrence.due_on).days,
                        "url": app_path("deliverables.view_occurrence", occurrence_id=occurrence.id)})
    ending = []
    for agreement in db.session.scalars(select(Agreement).where(
            Agreement.state.in_(("active", "signed", "suspended")), Agreement.expires_on >= today,
            Agreement.expires_on <= today + timedelta(days=90)).order_by(Agreement.expires_on)):
        ending.append({"reference": agreement.reference, "title": texts(agreement, "title"),
                       "expires_on": agreement.expires_on.isoformat(), "days": (agreement.expires_on - today).days,
                       "url": app_path("agreements.view_agreement", agreement_id=agreement.id)})
    by_stage = Counter()
    labels = {}
    for agreement_type, state, count in db.session.execute(
            select(Agreement.type, Agreement.state, func.count()).group_by(Agreement.type, Agreement.state)):
        by_stage[state] += count
        for definition in _definitions():
            if state in definition.states and state not in labels:
                labels[state] = dict(definition.states[state].label)
    stages = [{"state": state, "label": labels.get(state, {"ar": state, "fr": state, "en": state}), "count": count}
              for state, count in sorted(by_stage.items(), key=lambda item: -item[1])]
    return {"approvals": approvals, "overdue": overdue, "ending": ending, "stages": stages}


# --- a pass ----------------------------------------------------------------------------

def candidates_at(now: datetime) -> list[Candidate]:
    today = local_date(now)
    managers = _users_with_role("manager")
    found = (deliverable_candidates(today, managers) + approval_candidates(today, managers)
             + ending_candidates(today, managers) + stalled_candidates(today, managers)
             + digest_candidates(now, today, managers))
    # A fixed order: two processes inserting the same keys take their locks in the same order.
    return sorted(found, key=lambda c: tuple(str(part) for part in c.key))


def preview(now: datetime) -> list[Candidate]:
    """What a pass at `now` would send, without sending or recording anything."""
    return [c for c in candidates_at(now)
            if not already_recorded(c.rule, c.notice.object_type, c.notice.object_id, c.recipient.id,
                                    c.occurrence_key)]


def run_pass(now: datetime) -> PassReport:
    """Record and notify every reminder due at `now`; each in its own transaction."""
    report = PassReport()
    candidates = candidates_at(now)
    db.session.commit()  # end the reading transaction before writing, one reminder at a time
    for candidate in candidates:
        for attempt in range(LOCK_RETRIES):
            try:
                if notify_once(candidate.recipient, candidate.notice, rule=candidate.rule,
                               occurrence_key=candidate.occurrence_key):
                    report.created += 1
                else:
                    report.already += 1
                db.session.commit()
                break
            except (ConcurrentChange, OperationalError) as error:
                # Another process wrote at the same moment (SQLite allows one writer):
                # try again; the natural key still prevents a second copy.
                db.session.rollback()
                if isinstance(error, OperationalError) and not is_lock_conflict(error):
                    report.errors += 1
                    log.exception("reminder %s failed", candidate.key)
                    break
                if attempt == LOCK_RETRIES - 1:
                    report.errors += 1
                    log.error("reminder %s: database busy, left for the next pass", candidate.key)
                time.sleep(0.05 * (attempt + 1))
            except Exception:
                db.session.rollback()
                report.errors += 1
                log.exception("reminder %s failed", candidate.key)
                break
    return report
