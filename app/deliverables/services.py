"""Planning deliverables, handing them in, reviewing them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from blinker import Namespace
from dateutil.relativedelta import relativedelta
from flask import abort, current_app
from flask_babel import format_date
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import contains_eager, selectinload

from app.agreements.models import Agreement, AgreementParty, title_of
from app.core import audit, clock, stored_texts
from app.core.dates import within_calendar
from app.core.db import check_seen, check_version, flush_or_conflict
from app.core.errors import DomainError, PermissionDenied, ValidationFailed
from app.core.exports import streamed_pieces
from app.core.i18n import current_language, localized
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.pagination import first_with_total
from app.core.permissions import can, visible_agreements_clause, visible_deliverables_clause
from app.core.storage import chosen_files, clean_filename, store_each
from app.core.text import one_line, trimmed
from app.deliverables.falling_due import due_window, falling_due, shown_as, shown_status_of
from app.deliverables.models import (
    OWED_STATUSES,
    RECURRENCES,
    STATUS_LABELS,
    UNFINISHED_STATUSES,
    Deliverable,
    Occurrence,
    Submission,
    SubmissionFile,
    latest_submission_column,
    shown_status,
)
from app.deliverables.term import term_start
from app.extensions import db
from app.organizations.models import Organization, name_of
from app.workflow.engine import (
    WorkflowError,
    definition_for,
    ended_refusal,
    has_ended,
    refuse_if_ended,
    state_has,
    state_label,
)
from app.workflow.queries import in_ended_state
from app.workflow.rules import effect

# Sent inside the transaction of a hand-in, review or waiver (event: submitted,
# accepted, sent_back, waived), so whatever a receiver writes commits with it.
deliverable_changed = Namespace().signal("deliverable-changed")

STEP = {"monthly": relativedelta(months=1), "quarterly": relativedelta(months=3), "yearly": relativedelta(years=1)}
DEFAULT_MONTHS = {"once": 3, "monthly": 1, "quarterly": 3, "yearly": 12}
MAX_OCCURRENCES = 240  # twenty years of monthly reports is plenty
MAX_FILES = 10


@dataclass
class PlanData:
    title_fr: str | None
    title_ar: str | None
    title_en: str | None
    description: str | None
    responsible_organization_id: int | None
    recurrence: str
    first_due_on: date | None
    until_on: date | None = None


PLAN_FIELDS = tuple(field.name for field in dataclasses.fields(PlanData))


def due_dates(recurrence: str, first: date, until: date | None, limit: int = MAX_OCCURRENCES) -> list[date]:
    """The due dates of a plan line: one, or every month/quarter/year up to `until` (inclusive), the
    first `limit` of them."""
    if recurrence == "once" or until is None:
        return [first]
    dates, index = [], 0
    while len(dates) < limit:
        # From the first date each time, so 31 January gives 28/29 February, then 31 March.
        current = first + STEP[recurrence] * index
        if current > until:
            break
        dates.append(current)
        index += 1
    return dates


def names_too_many(dates: list[date]) -> bool:
    """Whether a plan line naming `dates` (counted up to MAX_OCCURRENCES + 1) names more than one line keeps:
    such a line is refused (_check_plan), and a default line left unplanned (apply_default_plan)."""
    return len(dates) > MAX_OCCURRENCES


def plan_refusal(agreement: Agreement, by) -> DomainError | None:
    """Why `by` may not change the agreement's plan now (add, change or remove a line), or None: its owner or a
    manager may, from the draft on, until the agreement ends (`by` None: the app itself, as activation plans the
    default lines). The one rule for the services and the page's buttons."""
    if by is not None and not can(by, "agreement.edit", agreement):
        return PermissionDenied(_("Only the agreement's owner or a manager plans its deliverables."))
    return ended_refusal(agreement)


def _require_plan_change(agreement: Agreement, by) -> None:
    refusal = plan_refusal(agreement, by)
    if refusal is not None:
        raise refusal


def plan_line_of(agreement: Agreement, deliverable_id: int) -> Deliverable:
    """One line of the agreement's plan, for the page and the API alike; 404 for any other id."""
    line = db.session.get(Deliverable, deliverable_id)
    if line is None or line.agreement_id != agreement.id:
        abort(404)
    return line


def _check_plan(agreement: Agreement, data: PlanData) -> None:
    errors: dict[str, list[str]] = {}
    for name in ("title_fr", "title_ar", "title_en", "description"):
        value = getattr(data, name)
        setattr(data, name, (one_line(value) if name.startswith("title") else trimmed(value)) or None)
    if not (data.title_fr or data.title_ar or data.title_en):
        errors["title_fr"] = [_("Give a title in at least one language.")]
    if data.recurrence not in RECURRENCES:
        errors["recurrence"] = [_("Choose how often it is due.")]
    party_ids = {p.organization_id for p in agreement.parties}
    from app.organizations.models import Organization

    responsible = db.session.get(Organization, data.responsible_organization_id or 0)
    if responsible is None or not (responsible.is_home or responsible.id in party_ids):
        errors["responsible_organization_id"] = [_("Choose the ministry or one of the agreement's parties.")]
    if not isinstance(data.first_due_on, date):
        errors["first_due_on"] = [_("Give the first due date.")]
    else:
        if not within_calendar(data.first_due_on):
            errors["first_due_on"] = [_("The first due date must lie between 1956 and 2200.")]
        if data.recurrence != "once":
            until_given = data.until_on is not None
            data.until_on = data.until_on or agreement.expires_on
            if data.until_on is None:
                errors["until_on"] = [
                    _("A recurring deliverable needs an end: give its “Until” date, or an end date to the agreement.")
                ]
            elif until_given and not within_calendar(data.until_on):
                errors["until_on"] = [_("This date is out of range.")]
            elif data.until_on < data.first_due_on:
                errors["until_on" if until_given else "first_due_on"] = [
                    _(
                        "The “Until” date (%(until)s) cannot be before the first due date: change one of them.",
                        until=format_date(data.until_on, "long"),
                    )
                    if until_given
                    else _(
                        "The first due date comes after the agreement's end (%(end)s): choose an earlier first due "
                        "date, or make it a one-off.",
                        end=format_date(data.until_on, "long"),
                    )
                ]
        else:
            data.until_on = None
        start = term_start(agreement)
        if "first_due_on" not in errors and start is not None and data.first_due_on < start:
            # Nothing is owed before the agreement starts: such a line was born overdue, and reminded at once.
            errors["first_due_on"] = [
                _("The first due date comes before the agreement starts (%(start)s).", start=format_date(start, "long"))
            ]
        dates = [] if errors else due_dates(data.recurrence, data.first_due_on, data.until_on, MAX_OCCURRENCES + 1)
        end = agreement.expires_on
        if dates and end is not None and dates[-1] > end:
            # An ended agreement owes nothing (release_owed): such a date was accepted, then waived at the end
            # before it fell due, without a word.
            field = "first_due_on" if data.recurrence == "once" or dates[0] > end else "until_on"
            errors[field] = [
                _(
                    "A due date falls after the agreement's end (%(end)s), when nothing is owed any more: "
                    "choose dates up to its end.",
                    end=format_date(end, "long"),
                )
            ]
        if names_too_many(dates):
            # Said, not cut short: a plan line keeps every due date it names.
            errors["until_on"] = [
                _(
                    "At most %(n)s due dates for one line: choose an earlier “Until” date or a longer interval.",
                    n=MAX_OCCURRENCES,
                )
            ]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)


def plan_deliverable(agreement: Agreement, data: PlanData, *, by) -> Deliverable:
    """Add a line to the agreement's plan and create its occurrences."""
    _require_plan_change(agreement, by)
    _check_plan(agreement, data)
    deliverable = Deliverable(
        agreement=agreement,
        title_fr=data.title_fr,
        title_ar=data.title_ar,
        title_en=data.title_en,
        description=data.description,
        responsible_organization_id=data.responsible_organization_id,
        recurrence=data.recurrence,
        first_due_on=data.first_due_on,
        until_on=data.until_on,
        created_by_id=getattr(by, "id", None),
    )
    for due_on in due_dates(data.recurrence, data.first_due_on, data.until_on):
        deliverable.occurrences.append(Occurrence(due_on=due_on))
    db.session.add(deliverable)
    db.session.flush()
    audit.record(
        "deliverable_planned",
        agreement,
        actor=by,
        changes={
            "deliverable": deliverable.id,
            "title": deliverable.title,
            "recurrence": deliverable.recurrence,
            "occurrences": len(deliverable.occurrences),
        },
    )
    return deliverable


def update_plan(deliverable: Deliverable, data: PlanData, *, by, seen: str | None = None) -> Deliverable:
    """Change a plan line. Occurrences already handed in, accepted or waived are kept as they are;
    open ones follow the new dates. `seen`: the line as its form showed it (a stale tab re-derived the
    occurrences from dates a colleague had changed meanwhile)."""
    _require_plan_change(deliverable.agreement, by)
    check_seen(deliverable, PLAN_FIELDS, seen)
    _check_plan(deliverable.agreement, data)
    wanted = set(due_dates(data.recurrence, data.first_due_on, data.until_on))
    before = _plan_snapshot(deliverable)
    for name in PLAN_FIELDS:
        setattr(deliverable, name, getattr(data, name))
    same_periods = before["recurrence"] == deliverable.recurrence
    moved, dropped = follow_new_dates(deliverable, sorted(wanted), by=by, by_period=same_periods)
    changes = audit.diff(before, _plan_snapshot(deliverable))
    if moved or dropped:  # said in the history: what each open period became
        changes["after"] |= {"occurrences_moved": moved, "occurrences_dropped": dropped}
    if not changes["after"]:  # sent again as it stands: nothing to say in the history
        return deliverable
    db.session.flush()
    audit.record("deliverable_replanned", deliverable.agreement, actor=by, changes=changes)
    return deliverable


def removal_refusal(deliverable: Deliverable, by) -> DomainError | None:
    """Why `by` may not remove the line now, or None: as for any change of the plan (plan_refusal), and only
    while nothing was handed in for it nor written about one of its due dates, which stay on record (messages
    are never deleted)."""
    refusal = plan_refusal(deliverable.agreement, by)
    if refusal is not None:
        return refusal
    from app.discussions.models import DiscussionMessage

    kept = (
        (
            Submission,
            _(
                "Something was handed in for “%(title)s”: the line stays in the plan with it. Change its dates "
                "instead, or have a manager waive what is no longer owed.",
                title=deliverable.title,
            ),
        ),
        (
            DiscussionMessage,
            _(
                "Messages were written about “%(title)s”: the line stays in the plan with them. Change its dates "
                "instead, or have a manager waive what is no longer owed.",
                title=deliverable.title,
            ),
        ),
    )
    for record, reason in kept:
        about_the_line = select(record.id).join(Occurrence).where(Occurrence.deliverable_id == deliverable.id)
        if db.session.scalar(about_the_line.limit(1)) is not None:
            return WorkflowError(reason)
    return None


def remove_plan_line(deliverable: Deliverable, *, by) -> None:
    """Take a line entered by mistake out of the plan, with its due dates and indicators (removal_refusal says
    when not); the agreement's history keeps what it was."""
    refusal = removal_refusal(deliverable, by)
    if refusal is not None:
        raise refusal
    audit.record(
        "deliverable_removed",
        deliverable.agreement,
        actor=by,
        changes={
            "deliverable": deliverable.id,
            "title": deliverable.title,
            "before": _plan_snapshot(deliverable),
            "due_dates": [o.due_on.isoformat() for o in deliverable.occurrences],
        },
    )
    # The database would remove them with the line; the ORM, told of them, would first empty their key.
    for indicator in list(getattr(deliverable, "indicators", [])):
        db.session.delete(indicator)
    db.session.delete(deliverable)
    db.session.flush()


def _plan_snapshot(deliverable: Deliverable) -> dict:
    """A plan line's fields as the audit trail compares them (plain values)."""
    return {name: getattr(deliverable, name) for name in PLAN_FIELDS}


def follow_new_dates(deliverable: Deliverable, dates: list[date], *, by, by_period: bool = True) -> tuple[list, list]:
    """Match a line's occurrences to its new due dates. `by_period` (the same recurrence: a line moved, or run
    to another end): period by period, in order, the k-th occurrence being the k-th period whatever its date;
    otherwise (another recurrence, other periods) by date. One handed in, accepted or waived keeps its date and
    stands for its period; an open one moves to its period's new date, keeping its thread and history. Periods
    no longer in the plan end: an open occurrence nobody wrote about is removed, one with a thread is waived
    with the reason. A line moved by one day had deleted every open period with the partner's messages, and
    brought back as overdue the quarters already handed in and accepted.
    Returns ([[id, from, to]], [[id, due, "removed"|"waived"]])."""
    occurrences = sorted(deliverable.occurrences, key=lambda o: (o.due_on, o.id))
    moved: list = []
    if by_period:
        for occurrence, due_on in zip(occurrences, dates, strict=False):
            if occurrence.status == "pending" and not occurrence.submissions and occurrence.due_on != due_on:
                moved.append([occurrence.id, occurrence.due_on.isoformat(), due_on.isoformat()])
                occurrence.due_on = due_on
        beyond, missing = occurrences[len(dates) :], dates[len(occurrences) :]
    else:
        wanted, held = set(dates), {o.due_on for o in occurrences}
        beyond, missing = [o for o in occurrences if o.due_on not in wanted], sorted(wanted - held)
    dropped = [_drop(deliverable, occurrence, by) for occurrence in beyond if _open(occurrence)]
    for due_on in missing:
        deliverable.occurrences.append(Occurrence(due_on=due_on))
    return moved, dropped


def _open(occurrence: Occurrence) -> bool:
    """Still owed and nothing handed in for it (what a changed plan may take away)."""
    return occurrence.status in OWED_STATUSES and not occurrence.submissions


def _drop(deliverable: Deliverable, occurrence: Occurrence, by) -> list:
    """A period the plan no longer has: removed, or waived (with the reason) when someone wrote about it."""
    from app.discussions.models import DiscussionMessage

    written = db.session.scalar(
        select(DiscussionMessage.id).where(DiscussionMessage.occurrence_id == occurrence.id).limit(1)
    )
    if written is None:
        deliverable.occurrences.remove(occurrence)
        return [occurrence.id, occurrence.due_on.isoformat(), "removed"]
    occurrence.status, occurrence.waived_reason = "waived", stored_texts.NO_LONGER_PLANNED
    occurrence.decided_by_id, occurrence.decided_at = getattr(by, "id", None), utcnow()
    return [occurrence.id, occurrence.due_on.isoformat(), "waived"]


@effect("plan_default_deliverables")
def _plan_default_deliverables(agreement, by) -> None:
    """Coming into force, an agreement with no plan of its own owes what its type's definition lists (e.g.
    quarterly reports). One planned already (the text often names its reports) keeps its plan alone: the
    default added beside it had a partner owe two quarterly reports each quarter."""
    if has_own_plan(agreement):
        return
    apply_default_plan(agreement, list(definition_for(agreement).default_deliverables), by=by)


def has_own_plan(agreement) -> bool:
    """Whether deliverables were planned on the agreement before it came into force."""
    planned = select(Deliverable.id).where(Deliverable.agreement_id == agreement.id).limit(1)
    return db.session.scalar(planned) is not None


def apply_default_plan(agreement: Agreement, plan: list[dict], *, by) -> list[Deliverable]:
    """The workflow definition's default deliverables for this type (e.g. a quarterly progress report)."""
    # A line a partner owes is owed by each partner party: each hands in its own, and is reminded of it.
    partners = agreement.partner_organization_ids or [None]
    start = agreement.effective_on or clock.today()
    end = agreement.expires_on
    created, skipped, trimmed = [], [], []
    for line in plan:
        for responsible in partners if line.get("responsible", "partner") == "partner" else [_home_id()]:
            _plan_default_line(agreement, line, responsible, start, end, by, created, skipped, trimmed)
    if skipped or trimmed:
        audit.record(
            "default_plan_adjusted",
            agreement,
            actor=by,
            changes={
                "skipped": skipped,
                "trimmed": trimmed,
                "term": {"from": start.isoformat(), "to": end.isoformat() if end else None},
            },
        )
    return created


def fitted_first_due(line: dict, start: date, end: date | None) -> tuple[date, date | None]:
    """(planned, first) for a default line of a term from `start` to `end`: the date its type plans, and the date
    it is first due within the term. A short term, the planned date falling after the end: a one-off is still
    owed, by the last day; a recurring line has no occurrence inside the term (first None). Without an end, a
    recurring line is left to the officer to plan by hand rather than we invent one (first None). The one rule
    for planning the line (apply_default_plan) and for foreseeing its dates (default_plan_dates)."""
    planned = start + relativedelta(months=line.get("months_after", DEFAULT_MONTHS[line["recurrence"]]))
    if line["recurrence"] != "once" and end is None:
        return planned, None
    if end is not None and planned > end:
        return planned, end if line["recurrence"] == "once" and end >= start else None
    return planned, planned


def default_plan_dates(agreement: Agreement, start: date, end: date | None) -> list[date]:
    """The due dates, soonest first, that the type's default plan would give `agreement` in force from `start` to
    `end` (apply_default_plan), one for each party that owes it, before anything is planned. A line naming more
    dates than a line keeps is not planned (names_too_many), so none of its dates is said."""
    partners = agreement.partner_organization_ids or [None]
    dates: list[date] = []
    for line in definition_for(agreement).default_deliverables:
        first = fitted_first_due(line, start, end)[1]
        named = due_dates(line["recurrence"], first, end, MAX_OCCURRENCES + 1) if first is not None else []
        if named and not names_too_many(named):
            owing = len(partners) if line.get("responsible", "partner") == "partner" else 1
            dates.extend(named * owing)
    return sorted(dates)


def _plan_default_line(
    agreement,
    line: dict,
    responsible: int | None,
    start: date,
    end: date | None,
    by,
    created: list,
    skipped: list,
    trimmed: list,
) -> None:
    """One default line for one responsible party, fitted to the term (see apply_default_plan)."""
    if any(
        d.title_en == line["title"]["en"] and d.responsible_organization_id == responsible
        for d in getattr(agreement, "deliverables", [])
    ):
        return  # already planned (activation retried, or planned by hand)
    planned, first = fitted_first_due(line, start, end)
    if first is None:
        if end is not None and not any(entry["title"] == line["title"]["en"] for entry in skipped):
            skipped.append({"title": line["title"]["en"], "first_due_on": planned.isoformat()})
        return
    if first != planned and not any(entry["title"] == line["title"]["en"] for entry in trimmed):
        trimmed.append({"title": line["title"]["en"], "due_on": first.isoformat(), "planned_on": planned.isoformat()})
    data = PlanData(
        title_fr=line["title"]["fr"],
        title_ar=line["title"]["ar"],
        title_en=line["title"]["en"],
        description=None,
        responsible_organization_id=responsible,
        recurrence=line["recurrence"],
        first_due_on=first,
        until_on=end,
    )
    try:
        with db.session.begin_nested():
            created.append(plan_deliverable(agreement, data, by=by))
    except ValidationFailed as error:
        # Never stop a move on a plan line: the line is left for the officer, with the reason.
        skipped.append(
            {
                "title": line["title"]["en"],
                "first_due_on": first.isoformat(),
                "reason": " ".join(str(m) for ms in error.field_errors.values() for m in ms) or error.message,
            }
        )


def _home_id() -> int | None:
    from app.organizations.models import Organization

    return db.session.scalar(select(Organization.id).where(Organization.is_home.is_(True)))


# --- handing in and reviewing ----------------------------------------------------------


def takes_hand_ins(agreement) -> bool:
    """Whether anything can be handed in under `agreement`: signed, and not ended (submit says why not)."""
    return state_has(agreement, "after_signing") and not has_ended(agreement)


def _refuse_before_signing(agreement) -> None:
    """Nothing is owed before the agreement is signed: a plan may be drawn up during the talks, but a
    hand-in on a draft was announced to its owner as work to review."""
    if not state_has(agreement, "after_signing"):
        raise WorkflowError(
            _(
                "Nothing is handed in before the agreement is signed (it is at the stage “%(state)s”).",
                state=state_label(agreement),
            )
        )


def submit(
    occurrence: Occurrence,
    uploads: list,
    *,
    note: str | None,
    by,
    expected_version: int,
    indicator_values=None,
    on_kept_once: Callable[[str, str], None] | None = None,
) -> Submission:
    """Hand in files, a note and the values achieved for the deliverable's indicators (`indicator_<id>`
    fields); allowed while pending or after a send-back. Earlier versions stay. A file whose bytes were
    already sent in this hand-in is kept once; `on_kept_once(name, name_kept)` is told of each, for the
    caller to say so (the API's answer names them: a script believed both handed in)."""
    from app.indicators.services import parse_values, record_values

    _check_version(occurrence, expected_version)
    if not can(by, "deliverable.submit", occurrence):
        raise PermissionDenied(_("Only the responsible organisation hands this in."))
    refuse_if_ended(occurrence.deliverable.agreement)
    _refuse_before_signing(occurrence.deliverable.agreement)
    if occurrence.status not in OWED_STATUSES:
        raise ValidationFailed(
            _(
                "This deliverable cannot be handed in now (it is %(status)s).",
                status=occurrence_status_label(occurrence),
            )
        )
    uploads = chosen_files(uploads)
    if not uploads:
        message = _("Choose at least one file.")
        raise ValidationFailed(message, {"files": [message]})
    if len(uploads) > MAX_FILES:
        message = _("At most %(n)s files at a time.", n=MAX_FILES)
        raise ValidationFailed(message, {"files": [message]})
    values = parse_values(occurrence.deliverable, indicator_values or {})
    number = (occurrence.latest_submission.number if occurrence.latest_submission else 0) + 1
    submission = Submission(number=number, note=trimmed(note or "")[:20000] or None, submitted_by_id=by.id)
    kept = {}  # stored file id -> the name it is kept under
    for upload, stored in store_each(uploads, field="files"):
        name = clean_filename(upload.filename, content_type=stored.content_type)
        if stored.id in kept:  # the same file twice in one hand-in is kept once
            if on_kept_once is not None:
                on_kept_once(name, kept[stored.id])
            continue
        kept[stored.id] = name
        submission.files.append(SubmissionFile(stored_file=stored, original_name=name))
    occurrence.submissions.append(submission)
    record_values(submission, values)
    occurrence.status = "submitted"
    flush_or_conflict()
    audit.record(
        "deliverable_submitted",
        occurrence,
        actor=by,
        object_type="deliverable_occurrences",
        changes={
            "submission": number,
            "files": [f.original_name for f in submission.files],
            "sha256": [f.stored_file.sha256 for f in submission.files],
        },
    )
    deliverable_changed.send(
        current_app._get_current_object(), occurrence=occurrence, event="submitted", by=by, comment=submission.note
    )
    return submission


def review(occurrence: Occurrence, *, decision: str, feedback: str | None, by, expected_version: int) -> None:
    """Accept the latest hand-in, or send it back with feedback the partner sees."""
    _check_version(occurrence, expected_version)
    if not can(by, "deliverable.review", occurrence):
        raise PermissionDenied(_("Only the agreement's owner or a manager reviews deliverables."))
    if occurrence.status != "submitted":
        raise ValidationFailed(_("There is nothing waiting for review."))
    feedback = trimmed(feedback or "")[:20000] or None
    if decision not in ("accept", "send_back"):
        raise ValidationFailed(_("Unknown decision."))
    if decision == "send_back" and not feedback:
        message = _("Say what must change: the partner will read it.")
        raise ValidationFailed(message, {"feedback": [message]})
    submission = occurrence.latest_submission
    submission.decision, submission.feedback = decision, feedback
    submission.reviewed_by_id, submission.reviewed_at = by.id, utcnow()
    occurrence.status = "accepted" if decision == "accept" else "sent_back"
    occurrence.decided_by_id, occurrence.decided_at = by.id, utcnow()
    flush_or_conflict()
    audit.record(
        f"deliverable_{'accepted' if decision == 'accept' else 'sent_back'}",
        occurrence,
        actor=by,
        object_type="deliverable_occurrences",
        comment=feedback,
        changes={"submission": submission.number},
    )
    deliverable_changed.send(
        current_app._get_current_object(),
        occurrence=occurrence,
        event="accepted" if decision == "accept" else "sent_back",
        by=by,
        comment=feedback,
    )


def waive(occurrence: Occurrence, *, reason: str | None, by, expected_version: int) -> None:
    """A manager releases the responsible party from one occurrence, with a reason."""
    _check_version(occurrence, expected_version)
    if not can(by, "deliverable.waive", occurrence):
        raise PermissionDenied(_("Only a manager can waive a deliverable."))
    if occurrence.status in ("accepted", "waived"):
        raise ValidationFailed(_("This deliverable is already settled."))
    reason = trimmed(reason or "")[:2000]
    if not reason:
        message = _("Give the reason for the waiver.")
        raise ValidationFailed(message, {"reason": [message]})
    occurrence.status, occurrence.waived_reason = "waived", reason
    occurrence.decided_by_id, occurrence.decided_at = by.id, utcnow()
    flush_or_conflict()
    audit.record("deliverable_waived", occurrence, actor=by, object_type="deliverable_occurrences", comment=reason)
    deliverable_changed.send(
        current_app._get_current_object(), occurrence=occurrence, event="waived", by=by, comment=reason
    )


def release_owed_on_end(app, *, agreement, target, by, **_ignored) -> None:
    """Receiver of engine.agreement_moved: see release_owed."""
    release_owed(agreement, by=by)


def release_owed_of_ended_agreements() -> int:
    """release_owed for every ended agreement that still owes something (agreements that ended before
    the rule existed, or placed in a final state by the demo or an import); the hourly date job runs it.
    Flushes; the caller commits."""
    ended = db.session.scalars(
        select(Agreement).where(
            in_ended_state(),
            Agreement.id.in_(
                select(Deliverable.agreement_id)
                .join(Occurrence, Occurrence.deliverable_id == Deliverable.id)
                .where(Occurrence.status.in_(OWED_STATUSES))
            ),
        )
    ).all()
    return sum(release_owed(agreement, by=None) for agreement in ended)


def owed_count(agreement: Agreement) -> int:
    """How many of `agreement`'s due dates are still to hand in (what its end would waive: release_owed)."""
    return db.session.scalar(
        select(func.count(Occurrence.id))
        .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
        .where(Deliverable.agreement_id == agreement.id, Occurrence.status.in_(OWED_STATUSES))
    )


def release_owed(agreement: Agreement, *, by) -> int:
    """An agreement that has ended (expired, terminated, closed, cancelled) owes nothing more: what was
    still to hand in (pending or sent back) is waived with the reason, so it no longer shows as due or
    overdue to the partner, in the lists or in reminders, and no hand-in could settle it
    (engine.refuse_if_ended). A hand-in waiting for review is still reviewed. How many were waived."""
    if not has_ended(agreement):
        return 0
    owed = db.session.scalars(
        select(Occurrence)
        .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
        .where(Deliverable.agreement_id == agreement.id, Occurrence.status.in_(OWED_STATUSES))
        .order_by(Occurrence.due_on, Occurrence.id)
    ).all()
    if not owed:
        return 0
    waive_all(owed, stored_texts.AGREEMENT_ENDED, by=by)
    audit.record(
        "deliverables_released",
        agreement,
        actor=by,
        changes={"state": agreement.state, "waived": len(owed), "occurrences": [o.id for o in owed]},
    )
    return len(owed)


def waive_all(occurrences: list[Occurrence], reason: str, *, by) -> None:
    """Waive many occurrences at once for one reason the app writes (a stored text), decided by `by` (None: the
    app itself) now; the caller writes the one audit row that says why (release_owed, settle_before_sharaka)."""
    now = utcnow()
    for occurrence in occurrences:
        occurrence.status, occurrence.waived_reason = "waived", reason
        occurrence.decided_by_id, occurrence.decided_at = getattr(by, "id", None), now


def _check_version(occurrence: Occurrence, expected_version) -> None:
    check_version(
        occurrence,
        expected_version,
        _("This deliverable has changed since you opened it. Check what it shows now and try again."),
    )


def occurrence_status_label(occurrence: Occurrence, today: date | None = None) -> str:
    from app.deliverables.models import STATUS_LABELS

    return str(STATUS_LABELS[shown_status_of(occurrence, today or clock.today())])


# --- lists -----------------------------------------------------------------------------


@dataclass
class OccurrenceFilters:
    status: str | None = None
    agreement_id: int | None = None
    partner_id: int | None = None
    due_before: date | None = None
    due_after: date | None = None
    owner_id: int | None = None  # only the agreements this person owns ("Only my agreements")


def status_filters() -> dict[str, str]:
    """The list's status filter: its own groupings, then each shown status."""
    from app.deliverables.models import STATUS_LABELS

    return {
        "open": _("To act on now"),
        "unfinished": _("Not yet accepted or waived"),
        "pending": _("Not handed in yet"),
        **{key: str(label) for key, label in STATUS_LABELS.items()},
    }


def filters_described(filters: OccurrenceFilters) -> list[tuple[str, str | None]]:
    """The filters of a list as its form names them ((label, value): "Status", "Overdue"), for the
    spreadsheet written of it."""
    described: list[tuple[str, str | None]] = []
    if filters.status:
        described.append((_("Status"), status_filters().get(filters.status, filters.status)))
    if filters.agreement_id and (agreement := db.session.get(Agreement, filters.agreement_id)):
        described.append((_("Agreement"), agreement.reference))
    if filters.partner_id and (organization := db.session.get(Organization, filters.partner_id)):
        described.append((_("Responsible"), organization.name))
    if filters.due_after:
        described.append((_("Due from"), format_date(filters.due_after)))
    if filters.due_before:
        described.append((_("Due by"), format_date(filters.due_before)))
    if filters.owner_id:
        described.append((_("Only my agreements"), None))
    return described


def filters_as_arguments(filters: OccurrenceFilters) -> dict:
    """The list page's query string for `filters` (the inverse of its form)."""
    return {
        key: value
        for key, value in {
            "status": filters.status,
            "agreement": filters.agreement_id,
            "partner": filters.partner_id,
            "due_after": filters.due_after.isoformat() if filters.due_after else None,
            "due_before": filters.due_before.isoformat() if filters.due_before else None,
            "mine": "y" if filters.owner_id else None,
        }.items()
        if value
    }


def occurrences_query(user, filters: OccurrenceFilters, today: date):
    """Occurrences on agreements `user` may see, filtered; the shown status is computed from today. Loaded
    with what the list draws of each (deliverable, agreement, responsible organisation, submissions)."""
    return _listed(user, filters, today).options(
        # The joins of _listed carry the deliverable and its agreement: no query of their own.
        contains_eager(Occurrence.deliverable).contains_eager(Deliverable.agreement),
        contains_eager(Occurrence.deliverable).joinedload(Deliverable.responsible_organization),
        selectinload(Occurrence.submissions),
    )


def _listed(user, filters: OccurrenceFilters, today: date):
    """The occurrences `user` may see, narrowed by `filters`, soonest first: the list's rows and the export's."""
    # Outer joins, though every occurrence has its deliverable and agreement (the keys are NOT NULL, so the
    # rows are the same): when no condition names them, PostgreSQL leaves them out of the list's count,
    # which then reads the occurrences alone (110,000 at 10,000 agreements: 35 → 6 ms).
    query = (
        select(Occurrence)
        .outerjoin(Deliverable, Deliverable.id == Occurrence.deliverable_id)
        .outerjoin(Agreement, Agreement.id == Deliverable.agreement_id)
        .where(visible_agreements_clause(user), visible_deliverables_clause(user))
    )
    status = filters.status
    if status == "unfinished":  # not yet accepted or waived, as the calendar counts them
        query = query.where(Occurrence.status.in_(UNFINISHED_STATUSES))
    elif status == "pending":  # not handed in yet, whatever its date (the dashboard's "to hand in by")
        query = query.where(Occurrence.status == "pending")
    elif status == "open":  # what the responsible party must act on now
        query = query.where(
            or_(
                and_(Occurrence.status == "sent_back", falling_due(today)),
                shown_as("overdue", today),
                shown_as("due", today),
            )
        )
    elif status in STATUS_LABELS:
        query = query.where(shown_as(status, today))
    if filters.agreement_id:
        query = query.where(Deliverable.agreement_id == filters.agreement_id)
    if filters.partner_id:
        query = query.where(Deliverable.responsible_organization_id == filters.partner_id)
    if filters.owner_id:
        query = query.where(Agreement.owner_id == filters.owner_id)
    if filters.due_before:
        query = query.where(Occurrence.due_on <= filters.due_before)
    if filters.due_after:
        query = query.where(Occurrence.due_on >= filters.due_after)
    return query.order_by(Occurrence.due_on, Occurrence.id)


def export_table(user, filters: OccurrenceFilters, today: date) -> tuple[list[str], Iterator[list]]:
    """Every occurrence of the list as filtered (no pages): headings and rows, in the reader's language,
    read as they are written out. Moments are given as dates in the reader's time zone.

    The rows are plain columns, in one statement read a piece at a time: loading each occurrence as an
    object with its deliverable, agreement, organisation and submissions for eight cells a row cost 13-19 s
    of CPU for 110,000 occurrences (10,000 agreements), the columns 2.7-3.0 s."""
    headings = [
        _("Agreement"),
        _("Agreement title"),
        _("Deliverable"),
        _("Responsible"),
        _("Due on"),
        _("Status"),
        _("Last handed in"),
        _("Decided on"),
    ]
    listed = (
        _listed(user, filters, today)
        .with_only_columns(
            Occurrence.due_on,
            Occurrence.status,
            Occurrence.decided_at,
            *Agreement.naming_columns()[1:],  # its reference and titles (title_of)
            *Deliverable.naming_columns(),
            *Organization.naming_columns()[1:],  # the responsible organisation's names (name_of)
            falling_due(today).label("falls_due"),
            latest_submission_column(Submission.submitted_at).label("last_handed_in_at"),
        )
        .join(Organization, Organization.id == Deliverable.responsible_organization_id)
    )

    def local_date(moment):
        return clock.day_of(moment) if moment else None

    def rows() -> Iterator[list]:
        # Asked once, as the rows start to be read: in the context they are written in (the streamed
        # response's, or the scheduler's for a long list), as each row's own calls were.
        language, window = current_language(), due_window()
        status_labels = {status: str(label) for status, label in STATUS_LABELS.items()}
        for piece in streamed_pieces(listed):
            for row in piece:
                yield [
                    row.reference,
                    title_of(row, language),
                    localized(row, "deliverable_title", language) or "",  # as Deliverable.title
                    name_of(row, language),
                    row.due_on,
                    status_labels[shown_status(row.status, row.due_on, today, window, bool(row.falls_due))],
                    local_date(row.last_handed_in_at),
                    local_date(row.decided_at),
                ]

    return headings, rows()


# Rows each list of the partner's first page shows; the rest are in the full lists it links to.
PORTAL_LISTED = 20
PORTAL_COMING = 5  # what falls due after the window: the next few, the whole schedule a link away
PORTAL_HANDED_IN = 5  # handed in, awaiting review: the latest few, the rest in the list filtered to them


def partner_home(user, today: date) -> dict:
    """A partner's first page: their agreements and what is due, overdue or sent back, soonest first:
    the first PORTAL_LISTED of each and how many in all (a partner of hundreds of agreements too)."""
    agreements, agreements_total = first_with_total(
        select(Agreement)
        .where(visible_agreements_clause(user))
        .order_by(Agreement.signed_on.desc().nulls_first(), Agreement.id.desc())
        .options(selectinload(Agreement.parties).selectinload(AgreementParty.organization)),
        PORTAL_LISTED,
    )
    waiting, waiting_total = first_with_total(
        occurrences_query(user, OccurrenceFilters(status="open"), today).where(
            Deliverable.responsible_organization_id == user.organization_id
        ),
        PORTAL_LISTED,
    )
    # Past the window: "nothing is due" alone had read as nothing owed, with reports due in five weeks.
    coming = db.session.scalars(
        occurrences_query(user, OccurrenceFilters(status="not_yet_due"), today)
        .where(Deliverable.responsible_organization_id == user.organization_id)
        .limit(PORTAL_COMING)
    ).all()
    handed_in, handed_in_total = _awaiting_review(user, today)
    feedback = db.session.scalars(
        select(Submission)
        .join(Occurrence)
        .join(Deliverable)
        .join(Agreement, Agreement.id == Deliverable.agreement_id)
        .where(
            visible_agreements_clause(user),
            visible_deliverables_clause(user),
            Submission.reviewed_at.is_not(None),
            # The ministry's word on what this organisation handed in: not on what a co-partner of a shared
            # agreement did (shown here, it read as feedback to the reader's own organisation).
            Deliverable.responsible_organization_id == user.organization_id,
        )
        # The joins carry what each line shows (the deliverable's title, the agreement's reference).
        .options(
            contains_eager(Submission.occurrence)
            .contains_eager(Occurrence.deliverable)
            .contains_eager(Deliverable.agreement)
        )
        .order_by(Submission.reviewed_at.desc())
        .limit(10)
    ).all()
    return {
        "agreements": agreements,
        "agreements_total": agreements_total,
        "waiting": waiting,
        "waiting_total": waiting_total,
        "coming": coming,
        "handed_in": handed_in,
        "handed_in_total": handed_in_total,
        "feedback": feedback,
    }


def _awaiting_review(user, today: date) -> tuple[list[tuple[Occurrence, object]], int]:
    """What the partner's organisation handed in that the ministry has not reviewed yet, latest hand-in
    first: the first PORTAL_HANDED_IN as (occurrence, when it was handed in), and how many in all, in one
    statement. Handed in, a report left "what is due" and reached "recent reviews" only once reviewed: the
    partner could not see it waiting without opening the whole schedule."""
    handed_in_at = latest_submission_column(Submission.submitted_at)
    return first_with_total(
        _listed(user, OccurrenceFilters(status="submitted"), today)
        .where(Deliverable.responsible_organization_id == user.organization_id)
        .add_columns(handed_in_at.label("handed_in_at"))
        .options(contains_eager(Occurrence.deliverable).contains_eager(Deliverable.agreement))
        .order_by(None)
        .order_by(handed_in_at.desc().nulls_last(), Occurrence.id.desc()),
        PORTAL_HANDED_IN,
    )
