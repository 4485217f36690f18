"""Business rules for agreements: creation, edits, references, search."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from flask_babel import format_date
from sqlalchemy import extract, func, inspect, or_, select, update
from sqlalchemy.orm import joinedload, selectinload

from app.agreements import renewals
from app.agreements.models import (
    AGREEMENT_TYPES,
    PARTY_ROLES,
    Agreement,
    AgreementParty,
    ReferenceCounter,
    SigningEvent,
    is_partner_party,
    title_of,
    type_label_of,
)
from app.auth.models import User
from app.core import audit, clock
from app.core.dates import within_calendar
from app.core.db import check_version, flush_or_conflict, insert_ignoring_conflicts
from app.core.errors import ValidationFailed
from app.core.exports import streamed_pieces
from app.core.i18n import gettext as _
from app.core.i18n import localized
from app.core.kept import kept_while_unchanged
from app.core.models import utcnow
from app.core.permissions import can, edits_own_agreements_only, may_own_agreements, visible_agreements_clause
from app.core.text import fold, like_pattern, one_line, trimmed
from app.extensions import db
from app.organizations.models import Organization, name_of
from app.organizations.rules import retired_said
from app.search.services import matching_agreement_ids
from app.workflow.engine import (
    approval_under_way,
    current_definitions,
    definition_for,
    ensure_version,
    is_initial,
    note_shared,
    pin_definition,
    refuse_steps_not_asked,
    state_has,
    state_label,
    state_labels,
)
from app.workflow.queries import in_ended_state, in_state_tagged

TEXT_LIMITS = {"title": 500, "summary": 20000, "notes": 20000}


@dataclass
class AgreementData:
    """Plain values for creating or editing an agreement (from a form or the API)."""

    type: str
    title_ar: str | None = None
    title_fr: str | None = None
    title_en: str | None = None
    summary_ar: str | None = None
    summary_fr: str | None = None
    summary_en: str | None = None
    notes: str | None = None
    owner_id: int | None = None
    parent_id: int | None = None
    signing_event_id: int | None = None
    signed_on: date | None = None
    effective_on: date | None = None
    expires_on: date | None = None
    # (organization_id, role) pairs
    parties: list[tuple[int, str]] = field(default_factory=list)
    # Renewal terms (app/agreements/renewals.py): checked and completed by validate_data.
    renewal_terms: str = "none"
    renewal_months: int | None = None
    notice_period: int | None = None
    notice_unit: str | None = None


def next_reference(year: int) -> str:
    """Hand out the next MTNRA-YYYY-NNN atomically, even with concurrent creators."""
    prefix = current_app.config["AGREEMENT_REF_PREFIX"]
    db.session.execute(insert_ignoring_conflicts(ReferenceCounter).values(year=year, last_number=0))
    number = db.session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)
        .values(last_number=ReferenceCounter.last_number + 1)
        .returning(ReferenceCounter.last_number)
    ).scalar_one()
    return f"{prefix}-{year}-{number:03d}"


def create_agreement(data: AgreementData, *, by: User, today: date | None = None) -> Agreement:
    """Create a draft agreement owned by `data.owner_id` (or its creator)."""
    validate_data(data, agreement=None, by=by)
    today = today or clock.today()
    agreement = Agreement(reference=next_reference(today.year))
    if data.owner_id is None and edits_own_agreements_only(by):
        data.owner_id = by.id
    apply_data(agreement, data)
    # New agreements run on today's definition of their type, frozen from now on.
    pin_definition(agreement)
    agreement.state = definition_for(agreement).initial_state
    agreement.state_entered_at = utcnow()
    note_shared(agreement)  # a workflow whose first stage is not the ministry's own shows it at once
    db.session.add(agreement)
    db.session.flush()
    audit.record("created", agreement, actor=by, changes={"after": snapshot(agreement)})
    return agreement


def update_agreement(agreement: Agreement, data: AgreementData, *, by: User, expected_version: int) -> Agreement:
    """Edit an agreement's details; refuse if someone else saved it since `expected_version`."""
    check_version(agreement, expected_version)
    validate_data(data, agreement=agreement, by=by)
    _check_locked_fields(agreement, data)
    before = snapshot(agreement)
    type_changed = data.type != agreement.type
    apply_data(agreement, data)
    if type_changed:
        # Still a draft (checked above): it now runs on its new type's workflow.
        agreement.workflow_version = ensure_version(current_definitions()[agreement.type])
    changes = audit.diff(before, snapshot(agreement))
    if not changes["after"]:
        return agreement
    # Touch the row even when only parties changed, so the version always moves.
    agreement.updated_at = utcnow()
    flush_or_conflict()
    refuse_steps_not_asked(agreement)  # a foreign partner added after the review, say
    audit.record("updated", agreement, actor=by, changes=changes)
    return agreement


# Before signature (states tagged `editable`) everything may be edited; from then on, what was
# signed changes only through the workflow (signature records, activation) or an amendment.
SIGNED_FIELDS = ("type", "signed_on", "effective_on", "expires_on", *renewals.RENEWAL_FIELDS)


def owned_under_way(user: User) -> int:
    """How many agreements `user` owns that have not ended (cancelled, expired, terminated...)."""
    return db.session.scalar(
        select(func.count()).select_from(Agreement).where(Agreement.owner_id == user.id, ~in_ended_state())
    )


def owner_refusal(person: User | None) -> str | None:
    """Why `person` may not be an agreement's owner, or None: the one rule for the edit form and a handover."""
    if person is None or not may_own_agreements(person) or not person.is_active:
        return _("The owner must be an active ministry officer or manager.")
    return None


def hand_over(leaver: User, successor: User | None, *, by: User) -> int:
    """Give every agreement `leaver` owns under way to `successor` at once (a leaver's handover had taken one
    edit page per agreement); each change is recorded on its agreement as an edit of its owner. Returns how
    many were handed over."""
    if successor is not None and successor.id == leaver.id:
        successor = None  # the leaver keeps nothing by handing it to themselves
    if refusal := owner_refusal(successor):
        raise ValidationFailed(refusal, {"successor_id": [refusal]})
    owned = db.session.scalars(
        select(Agreement)
        .where(Agreement.owner_id == leaver.id, ~in_ended_state())
        .order_by(Agreement.id)
        .with_for_update(of=Agreement)  # the agreements alone (in_ended_state joins their workflow's versions)
    ).all()
    for agreement in owned:
        agreement.owner_id, agreement.updated_at = successor.id, utcnow()
        changes = {"before": {"owner_id": leaver.id}, "after": {"owner_id": successor.id}}
        audit.record("updated", agreement, actor=by, changes=changes)
    flush_or_conflict()
    return len(owned)


def locked_fields(agreement: Agreement | None) -> set[str]:
    """What the edit form may no longer change ("parties" for the three party lists): the type after the
    draft; the signed terms once past the editable states. The form shows them as read, not as inputs."""
    if agreement is None:
        return set()
    locked = set() if is_initial(agreement) else {"type"}
    if not is_initial(agreement) and agreement.type == "amendment":
        # What an amendment amends was approved with it: moved to another agreement, it would bring
        # terms approved for one into force on the other.
        locked.add("parent_id")
    if not state_has(agreement, "editable"):
        locked.add("parent_id")  # a signed agreement's place is part of what was signed
    if not state_has(agreement, "editable") or approval_under_way(agreement):
        # Under approval, the parties hold still: a step may apply for a foreign partner (conditions.py).
        locked |= {"parties"} if state_has(agreement, "editable") else {*SIGNED_FIELDS, "parties"}
    return locked


def _check_locked_fields(agreement: Agreement, data: AgreementData) -> None:
    errors: dict[str, list[str]] = {}
    locked = locked_fields(agreement)
    if "type" in locked and data.type != agreement.type:
        errors["type"] = [_("The type can be changed only while the agreement is a draft.")]
    if "parent_id" in locked and data.parent_id != agreement.parent_id:
        errors["parent_id"] = [
            _("An amendment stays with the agreement it amends once it has left the draft.")
            if agreement.type == "amendment"
            else _("Signed terms change only through the workflow or an amendment.")
        ]
    for name in SIGNED_FIELDS[1:]:
        if name in locked and getattr(data, name) != getattr(agreement, name):
            errors[name] = [_("Signed terms change only through the workflow or an amendment.")]
    current = sorted((p.organization_id, p.role) for p in agreement.parties)
    if "parties" in locked and sorted(data.parties) != current:
        errors["partners"] = [
            _("The parties are under approval: they change once the approval is given or the agreement sent back.")
            if state_has(agreement, "editable")
            else _("Signed terms change only through the workflow or an amendment.")
        ]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)


def snapshot(agreement: Agreement) -> dict:
    """The fields the audit trail compares, as plain values."""
    return {
        "type": agreement.type,
        "state": agreement.state,
        "title_ar": agreement.title_ar,
        "title_fr": agreement.title_fr,
        "title_en": agreement.title_en,
        "summary_ar": agreement.summary_ar,
        "summary_fr": agreement.summary_fr,
        "summary_en": agreement.summary_en,
        "notes": agreement.notes,
        "owner_id": agreement.owner_id,
        "parent_id": agreement.parent_id,
        "signing_event_id": agreement.signing_event_id,
        "signed_on": agreement.signed_on.isoformat() if agreement.signed_on else None,
        "effective_on": agreement.effective_on.isoformat() if agreement.effective_on else None,
        "expires_on": agreement.expires_on.isoformat() if agreement.expires_on else None,
        "parties": sorted(f"{p.organization_id}:{p.role}" for p in agreement.parties),
        **renewals.current_terms(agreement),
    }


def _clean(value: str | None, single_line: bool = False) -> str | None:
    if value is None:
        return None
    value = one_line(value) if single_line else trimmed(value)
    return value or None


def validate_data(data: AgreementData, agreement: Agreement | None, *, by: User | None) -> None:
    """Check (and clean) agreement values sent by `by` (None: the system); raise ValidationFailed with field
    errors."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name in ("title_ar", "title_fr", "title_en", "summary_ar", "summary_fr", "summary_en", "notes"):
        setattr(data, name, _clean(getattr(data, name), single_line=name.startswith("title")))
        limit = TEXT_LIMITS[name.split("_")[0]]
        if getattr(data, name) and len(getattr(data, name)) > limit:
            add(name, _("At most %(n)s characters.", n=limit))
    if data.type not in AGREEMENT_TYPES:
        add("type", _("Choose a type from the list."))
    if not (data.title_ar or data.title_fr or data.title_en):
        add("title_fr", _("Give a title in at least one language."))
    if data.signed_on and data.signed_on > clock.today():
        add("signed_on", _("A signature date cannot be in the future."))
    if data.signed_on and data.effective_on and data.effective_on < data.signed_on:
        add("effective_on", _("The effective date cannot be before the signature date."))
    start = data.effective_on or data.signed_on
    if data.expires_on and start and data.expires_on <= start:
        add("expires_on", _("The end date must come after the effective date."))
    for name in ("signed_on", "effective_on", "expires_on"):
        value = getattr(data, name)
        if value and not within_calendar(value):
            add(name, _("This date is out of range."))

    try:
        for name, value in renewals.clean_terms(
            {name: getattr(data, name) for name in renewals.RENEWAL_FIELDS}
        ).items():
            setattr(data, name, value)
    except ValidationFailed as error:
        for name, messages in error.field_errors.items():
            for message in messages:
                add(name, message)
    if data.owner_id is None and agreement is not None and agreement.owner_id is not None:
        # Nobody would get its reminders, and an officer who cleared it could no longer edit it.
        add("owner_id", _("An agreement keeps an owner: choose who takes it over."))
    if data.owner_id is not None and (refusal := owner_refusal(db.session.get(User, data.owner_id))):
        add("owner_id", refusal)
    if data.signing_event_id is not None and db.session.get(SigningEvent, data.signing_event_id) is None:
        add("signing_event_id", _("Unknown signing event."))
    if data.parent_id is not None:
        for name, messages in parent_refusals(data, agreement=agreement, by=by).items():
            for message in messages:
                add(name, message)

    seen: set[int] = set()
    partner_count = 0
    parties_before = {party.organization_id for party in agreement.parties} if agreement is not None else set()
    for organization_id, role in data.parties:
        if role not in PARTY_ROLES:
            add("partners", _("Unknown party role."))
            continue
        # A new party's row is held (FOR SHARE) until this commits: an admin retiring it meanwhile waits, then
        # finds it a party (retirement.retire takes the row FOR UPDATE before it looks).
        held = organization_id not in parties_before
        organization = db.session.get(
            Organization, organization_id, with_for_update={"read": True} if held else None, populate_existing=held
        )
        if organization is None:
            add("partners", _("Unknown organisation."))
            continue
        if organization.is_retired and organization_id not in parties_before:
            add("partners", retired_said(organization))
        if organization_id in seen:
            add("partners", _("%(name)s is listed twice.", name=organization.name))
        seen.add(organization_id)
        if is_partner_party(role):
            partner_count += 1
            if organization.is_home:
                add("partners", _("The ministry itself cannot be its own partner."))
    if partner_count == 0:
        add("partners", _("Name at least one partner organisation."))
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)


def parent_refusals(data: AgreementData, *, agreement: Agreement | None, by: User | None) -> dict[str, list[str]]:
    """Why `data.parent_id` cannot be the parent of `agreement` (None: one being created) with `data`'s type
    and end, as field errors, or {}. A parent `by` may not see is unknown to them in the very words of one that
    does not exist, so ids cannot be probed (`by` None: the system, which sees every agreement)."""
    parent = db.session.get(Agreement, data.parent_id)
    if parent is None or (by is not None and not can(by, "agreement.view", parent)):
        return {"parent_id": [_("Unknown parent agreement.")]}
    if agreement is not None and _would_cycle(agreement, parent):
        return {"parent_id": [_("An agreement cannot be its own parent or descendant.")]}
    from app.workflow.children import parent_problems

    new_parent = agreement is None or agreement.parent_id != parent.id
    return {
        name: messages
        for name, messages in parent_problems(parent, child_type=data.type, expires_on=data.expires_on).items()
        if new_parent or (name == "expires_on" and agreement.expires_on != data.expires_on)
    }


def _would_cycle(agreement: Agreement, parent: Agreement) -> bool:
    node, steps = parent, 0
    while node is not None and steps < 1000:
        if node.id == agreement.id:
            return True
        node, steps = node.parent, steps + 1
    return False


# The agreement's own terms (parties apart): what a form or an API call sets, and what it keeps when a
# partial update leaves them out.
TERM_FIELDS = (
    "type",
    "title_ar",
    "title_fr",
    "title_en",
    "summary_ar",
    "summary_fr",
    "summary_en",
    "notes",
    "owner_id",
    "parent_id",
    "signing_event_id",
    "signed_on",
    "effective_on",
    "expires_on",
    *renewals.RENEWAL_FIELDS,
)


def apply_data(agreement: Agreement, data: AgreementData) -> None:
    """Copy checked values onto the agreement, sync its parties and search text."""
    for name in TERM_FIELDS:
        setattr(agreement, name, getattr(data, name))
    # The objects behind the ids just set are read again when next asked: a loaded owner (say) would
    # otherwise still be the former one until the session ends (the API's answer showed it).
    stale = [name for name in ("owner", "parent", "signing_event") if name in agreement.__dict__]
    if stale and inspect(agreement).persistent:
        db.session.expire(agreement, stale)
    wanted = {organization_id: role for organization_id, role in data.parties}
    for party in list(agreement.parties):
        if party.organization_id not in wanted:
            agreement.parties.remove(party)
        else:
            party.role = wanted.pop(party.organization_id)
    for organization_id, role in wanted.items():
        agreement.parties.append(AgreementParty(organization_id=organization_id, role=role))


# --- listing -------------------------------------------------------------------


# The list's state filter value for every state tagged in_force (state names are identifiers: no clash).
IN_FORCE_CHOICE = "in-force"
# In force and ending for good (not renewing by itself): what the calendar counts as ending on a day.
ENDING_CHOICE = "ending-for-good"
# The choices that cover several states, beside each state's own name (the page's and the API's filter).
OVER_SEVERAL_STATES = (IN_FORCE_CHOICE, ENDING_CHOICE)


@dataclass
class AgreementFilters:
    state: str | None = None
    type: str | None = None
    partner_id: int | None = None
    year: int | None = None
    q: str | None = None
    signed_after: date | None = None
    signed_before: date | None = None
    ends_after: date | None = None
    ends_before: date | None = None
    in_force: bool = False  # any state tagged in_force in the agreement's own workflow
    ending: bool = False  # in force, with an end date it does not renew by itself at (renewals.ending_for_good)


def in_force_label() -> str:
    return _("In force (any stage)")


def ending_label() -> str:
    return _("In force, ending (not renewing by itself)")


def state_choice(filters: AgreementFilters) -> str | None:
    """The list's "State" choice that gives `filters`' state: a state, or one of the choices over several."""
    return IN_FORCE_CHOICE if filters.in_force else ENDING_CHOICE if filters.ending else filters.state


def state_filters(choice: str | None) -> dict:
    """The AgreementFilters fields of the list's "State" choice `choice` (state_choice's inverse)."""
    return {
        "state": None if choice in OVER_SEVERAL_STATES else choice,
        "in_force": choice == IN_FORCE_CHOICE,
        "ending": choice == ENDING_CHOICE,
    }


def filters_described(filters: AgreementFilters) -> list[tuple[str, str | None]]:
    """The filters of the list as its form names them ((label, value): "State", "Signed"), for the
    spreadsheet written of it."""
    described: list[tuple[str, str | None]] = []
    if filters.q:
        described.append((_("Search"), filters.q))
    if filters.in_force:
        described.append((_("State"), in_force_label()))
    elif filters.ending:
        described.append((_("State"), ending_label()))
    elif filters.state:
        described.append((_("State"), state_labels().get(filters.state, filters.state)))
    if filters.type:
        described.append((_("Type"), type_label_of(filters.type)))
    if filters.partner_id and (organization := db.session.get(Organization, filters.partner_id)):
        described.append((_("Partner"), organization.name))
    if filters.year:
        described.append((_("Year"), str(filters.year)))
    for label, day in (
        (_("Signed from"), filters.signed_after),
        (_("Signed by"), filters.signed_before),
        (_("Ends from"), filters.ends_after),
        (_("Ends by"), filters.ends_before),
    ):
        if day:
            described.append((label, format_date(day)))
    return described


def filters_as_arguments(filters: AgreementFilters) -> dict:
    """The list page's query string for `filters` (the inverse of its form)."""
    arguments = {
        "q": filters.q,
        "state": state_choice(filters),
        "type": filters.type,
        "partner": filters.partner_id,
        "year": filters.year,
        **{
            name: day.isoformat()
            for name, day in (
                ("signed_after", filters.signed_after),
                ("signed_before", filters.signed_before),
                ("ends_after", filters.ends_after),
                ("ends_before", filters.ends_before),
            )
            if day
        },
    }
    return {key: value for key, value in arguments.items() if value}


def agreements_query(user: User, filters: AgreementFilters):
    """A SELECT of the agreements `user` may see, narrowed by `filters`, newest first, with what the list
    draws of each loaded with them."""
    return _listed(user, filters).options(selectinload(Agreement.parties), joinedload(Agreement.signing_event))


def _listed(user: User, filters: AgreementFilters):
    """The agreements `user` may see, narrowed by `filters`, newest first: the list's rows and the export's."""
    query = select(Agreement).where(visible_agreements_clause(user))
    if filters.state in state_labels():
        query = query.where(Agreement.state == filters.state)
    if filters.in_force:
        query = query.where(in_state_tagged("in_force"))
    if filters.ending:
        query = query.where(renewals.ending_for_good())
    if filters.type in AGREEMENT_TYPES:
        query = query.where(Agreement.type == filters.type)
    if filters.partner_id:
        query = query.where(Agreement.parties.any(AgreementParty.organization_id == filters.partner_id))
    if filters.year:
        query = query.where(
            or_(
                extract("year", Agreement.signed_on) == filters.year,
                (Agreement.signed_on.is_(None)) & (extract("year", Agreement.created_at) == filters.year),
            )
        )
    # Date bounds are inclusive; an agreement without the date does not match a bound on it.
    if filters.signed_after:
        query = query.where(Agreement.signed_on >= filters.signed_after)
    if filters.signed_before:
        query = query.where(Agreement.signed_on <= filters.signed_before)
    if filters.ends_after:
        query = query.where(Agreement.expires_on >= filters.ends_after)
    if filters.ends_before:
        query = query.where(Agreement.expires_on <= filters.ends_before)
    term = fold(filters.q)[:200]
    if term:
        # The folded text as typed, or every word by its stem (Arabic clitics, partners' names: app/search).
        by_words = matching_agreement_ids(filters.q)
        typed = Agreement.search_text.like(like_pattern(term), escape="\\")
        query = query.where(typed if by_words is None else or_(typed, Agreement.id.in_(by_words)))
    # Newest first: by signature, then by creation (references compare as text: 999 came before 6638).
    return query.order_by(Agreement.signed_on.desc().nulls_first(), Agreement.id.desc())


def export_table(user: User, filters: AgreementFilters) -> tuple[list[str], Iterator[list]]:
    """Every agreement of the list as filtered (no pages): headings and rows, in the reader's language.
    The rows are read as they are written out (a streamed download), as plain columns: an export of
    the whole portfolio loaded tens of thousands of agreements as objects, each with its parties, for
    ten cells a row."""
    headings = [
        _("Reference"),
        _("Type"),
        _("Title"),
        _("State"),
        _("Partners"),
        _("Owner"),
        _("Signed on"),
        _("Effective on"),
        _("Ends on"),
        _("Signing event"),
    ]
    listed = (
        _listed(user, filters)
        .with_only_columns(
            *Agreement.naming_columns(),
            Agreement.type,
            Agreement.state,
            Agreement.workflow_version_id,
            Agreement.signed_on,
            Agreement.effective_on,
            Agreement.expires_on,
            User.full_name.label("owner_name"),
            SigningEvent.id.label("event_id"),
            SigningEvent.name_ar,
            SigningEvent.name_fr,
            SigningEvent.name_en,
        )
        .outerjoin(User, User.id == Agreement.owner_id)
        .outerjoin(SigningEvent, SigningEvent.id == Agreement.signing_event_id)
    )
    type_labels: dict[str, str] = {}
    state_labels_of: dict[tuple, str] = {}

    def type_label(row) -> str:
        if row.type not in type_labels:
            type_labels[row.type] = type_label_of(row.type)
        return type_labels[row.type]

    def state_label_of(row) -> str:
        key = (row.type, row.state, row.workflow_version_id)
        if key not in state_labels_of:
            state_labels_of[key] = state_label(_StateOf(row.type, row.state, row.workflow_version_id))
        return state_labels_of[key]

    def rows() -> Iterator[list]:
        for piece in streamed_pieces(listed):
            partners = _partner_names([row.id for row in piece])
            for row in piece:
                yield [
                    row.reference,
                    type_label(row),
                    title_of(row),
                    state_label_of(row),
                    "; ".join(partners.get(row.id, ())),
                    row.owner_name,
                    row.signed_on,
                    row.effective_on,
                    row.expires_on,
                    (localized(row, "name") or "") if row.event_id is not None else None,
                ]

    return headings, rows()


@dataclass(frozen=True)
class _StateOf:
    """What the engine reads to name an agreement's state (its definition and state), of an exported row."""

    type: str
    state: str
    workflow_version_id: int | None


def _partner_names(agreement_ids: list[int]) -> dict[int, list[str]]:
    """The partner organisations' names of each agreement, in the order of its parties (Agreement.parties)."""
    names: dict[int, list[str]] = {}
    for row in db.session.execute(
        select(AgreementParty.agreement_id, *Organization.naming_columns())
        .join(Organization, Organization.id == AgreementParty.organization_id)
        .where(AgreementParty.agreement_id.in_(agreement_ids), is_partner_party(AgreementParty.role))
        .order_by(AgreementParty.agreement_id, AgreementParty.id)
    ):
        names.setdefault(row.agreement_id, []).append(name_of(row))
    return names


def year_choices() -> list[int]:
    """Years with at least one agreement, newest first. Every signed agreement is read for them, so they
    are kept while nothing changes (app/core/kept.py); the same for every reader."""
    years = kept_while_unchanged(
        ("signature years",),
        lambda: tuple(
            db.session.scalars(
                select(extract("year", Agreement.signed_on)).where(Agreement.signed_on.is_not(None)).distinct()
            )
        ),
    )
    return sorted({int(y) for y in years if y is not None} | {clock.today().year}, reverse=True)
