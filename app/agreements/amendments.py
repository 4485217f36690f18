"""Amendments of any term: what an amendment proposes to change in its parent, side by side with
the parent's current terms, checks for two amendments changing the same term, and the change
itself, applied atomically when the amendment comes into force.

An amendment's proposed changes live in `Agreement.amendment_changes`, a dict of term → new
value: titles and summaries (per language), the start and end dates, the full list of parties
after the amendment ([[organization_id, role], ...]) and the whole budget after it (a list of
budget lines, amounts as decimal strings). Only what changes is stored. A moved end date also
moves the recurring deliverables that ran to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.agreements import renewals
from app.agreements.models import PARTY_ROLES, Agreement, AgreementParty, is_partner_party, notice_deadline_for
from app.budget.reckoning import total_in_mad
from app.core import audit, clock
from app.core.dates import within_calendar
from app.core.db import check_version, flush_or_conflict
from app.core.errors import PermissionDenied, ValidationFailed
from app.core.i18n import gettext as _
from app.core.i18n import list_of, localized, names_listed, written_amount
from app.core.models import utcnow
from app.core.permissions import can
from app.core.text import one_line, trimmed
from app.extensions import db
from app.organizations.models import Organization
from app.organizations.rules import retired_said
from app.workflow.children import children_ending_after, latest_end_under_parent
from app.workflow.conditions import is_foreign
from app.workflow.engine import WorkflowError, has_ended, is_final, is_initial, state_label
from app.workflow.rules import effect, guard

TEXT_TERMS = ("title_fr", "title_ar", "title_en", "summary_fr", "summary_ar", "summary_en")
DATE_TERMS = ("effective_on", "expires_on")
TERMS = (*TEXT_TERMS, *DATE_TERMS, "parties", "budget_lines", "renewal")
TEXT_LIMITS = {"title": 500, "summary": 20000}

TERM_LABELS = {
    "title_fr": _l("Title (French)"),
    "title_ar": _l("Title (Arabic)"),
    "title_en": _l("Title (English)"),
    "summary_fr": _l("Summary (French)"),
    "summary_ar": _l("Summary (Arabic)"),
    "summary_en": _l("Summary (English)"),
    "effective_on": _l("Effective on"),
    "expires_on": _l("Ends on"),
    "parties": _l("Parties"),
    "budget_lines": _l("Budget"),
    "renewal": _l("Renewal terms"),
}


def term_label(name: str) -> str:
    return str(TERM_LABELS.get(name, name))


# --- checking what an amendment proposes -------------------------------------------------


def clean_changes(raw: dict, parent: Agreement) -> dict:
    """Check proposed changes against the parent; return them cleaned, keeping only real changes.
    Raise ValidationFailed naming each wrong field; nothing is stored on error."""
    if not isinstance(raw, dict):
        raise ValidationFailed(_("Say what the amendment changes."))
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(raw) - set(TERMS))
    if unknown:
        errors["changes"] = [_("These terms cannot be amended: %(names)s.", names=", ".join(map(str, unknown)))]
    cleaned: dict = {}
    for name in TEXT_TERMS:
        if raw.get(name) is None:
            continue
        if not isinstance(raw[name], str):
            errors[name] = [_("Give a text.")]
            continue
        value = one_line(raw[name]) if name.startswith("title") else trimmed(raw[name])
        limit = TEXT_LIMITS[name.split("_")[0]]
        if len(value) > limit:
            errors[name] = [_("At most %(n)s characters.", n=limit)]
        elif value and value != (getattr(parent, name) or ""):
            cleaned[name] = value
    for name in DATE_TERMS:
        value = raw.get(name)
        if value is None or value == "":
            continue
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            errors[name] = [_("Give a date as YYYY-MM-DD.")]
            continue
        if not within_calendar(day):
            errors[name] = [_("This date is out of range.")]
        elif day != getattr(parent, name):
            cleaned[name] = day.isoformat()
    start = _as_date(cleaned.get("effective_on")) or parent.effective_on or parent.signed_on
    end = _as_date(cleaned.get("expires_on")) or parent.expires_on
    if "expires_on" not in errors and "effective_on" not in errors and start and end and end <= start:
        errors["expires_on"] = [_("The end date must come after the effective date.")]
    if "expires_on" in cleaned and "expires_on" not in errors:
        later = children_ending_after(parent, _as_date(cleaned["expires_on"]))
        if later:
            errors["expires_on"] = [
                _(
                    "%(refs)s, under this agreement, would end after it: end it earlier, or move this end later.",
                    refs=names_listed(child.reference for child in later),
                )
            ]
    if "expires_on" in cleaned and "expires_on" not in errors and _as_date(cleaned["expires_on"]) < clock.today():
        # An end already past would end the agreement at the next date job, waiving what it owes.
        errors["expires_on"] = [
            _("The new end date is already past: an agreement that has ended is closed, not amended.")
        ]
    if "expires_on" in cleaned and "expires_on" not in errors:
        # The amended agreement's own parent may refuse a child ending after it, as it refused one created so.
        limit = latest_end_under_parent(parent)
        if limit is not None and _as_date(cleaned["expires_on"]) > limit:
            errors["expires_on"] = [
                _(
                    "The end date cannot be after the end of the parent agreement %(ref)s (%(date)s): choose an "
                    "earlier end date, or amend the parent first.",
                    ref=parent.parent.reference,
                    date=format_date(limit),
                )
            ]
    if "effective_on" in cleaned and parent.signed_on and _as_date(cleaned["effective_on"]) < parent.signed_on:
        errors["effective_on"] = [_("The effective date cannot be before the signature date.")]
    elif (
        "effective_on" in cleaned
        and parent.effective_on is not None
        and parent.effective_on <= clock.today()
        and _as_date(cleaned["effective_on"]) > parent.effective_on
    ):
        # In force since then, it owed what fell due meanwhile: a later start would leave those due dates
        # before it, owed by an agreement not yet in force (and shown overdue).
        errors["effective_on"] = [
            _(
                "This agreement has been in force since %(date)s: an amendment may move its start earlier, not later.",
                date=format_date(parent.effective_on),
            )
        ]
    if raw.get("parties") is not None:
        parties = _clean_parties(raw["parties"], errors)
        if parties is not None and parties != current_parties(parent):
            cleaned["parties"] = parties
            if problem := _left_behind(parent, parties, budget_changes=raw.get("budget_lines") is not None):
                errors["parties"] = [problem]
    if raw.get("budget_lines") is not None:
        parties = cleaned.get("parties") or current_parties(parent)
        lines = _clean_budget(raw["budget_lines"], parties, errors)
        if lines is not None and lines != current_budget(parent):
            cleaned["budget_lines"] = lines
    if raw.get("renewal") is not None:
        renewal = _clean_renewal(raw["renewal"], errors)
        if renewal is not None and renewal != renewals.current_terms(parent):
            cleaned["renewal"] = renewal
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    return cleaned


def _notice_taken_away(parent, cleaned: dict) -> str | None:
    """Why the amendment's renewal terms or end date (cleaned) are refused when, under them, the last day to
    give notice of non-renewal is already past though it was not before: the agreement would renew by itself
    at its end, and neither side could decline any more (no reminder asks for a deadline gone by)."""
    if not {"renewal", "expires_on"} & cleaned.keys():
        return None
    if parent.non_renewal_on is not None:  # notice given: it ends at its end whatever the terms say
        return None
    terms = cleaned.get("renewal") or renewals.current_terms(parent)
    end = _as_date(cleaned.get("expires_on")) or parent.expires_on
    deadline = notice_deadline_for(terms["renewal_terms"], end, terms["notice_period"], terms["notice_unit"])
    today = clock.today()
    if terms["renewal_terms"] != "tacit" or deadline is None or deadline >= today:
        return None
    if parent.renewal_terms == "tacit" and parent.notice_deadline is not None and parent.notice_deadline < today:
        return None  # already past before this amendment: it takes nothing away
    return _(
        "Under these terms the last day to give notice of non-renewal, %(date)s, is already past: the agreement "
        "would renew by itself at its end with no way left to decline. Give a shorter notice period or a later "
        "end date.",
        date=format_date(deadline),
    )


def _clean_renewal(value, errors: dict) -> dict | None:
    """The renewal terms after the amendment (renewal_terms, renewal_months, notice_period, notice_unit)."""
    if not isinstance(value, dict) or set(value) - set(renewals.RENEWAL_FIELDS):
        errors["renewal"] = [_("Give the renewal terms: renewal_terms, renewal_months, notice_period, notice_unit.")]
        return None
    try:
        return renewals.clean_terms(value)
    except ValidationFailed as error:
        errors["renewal"] = [f"{name}: {' '.join(map(str, messages))}" for name, messages in error.field_errors.items()]
        return None


def _clean_budget(value, parties, errors: dict) -> list[dict] | None:
    """The whole budget after the amendment, each line checked as a budget line is; the
    contributing party must be the ministry or a party after the amendment."""
    from types import SimpleNamespace

    from app.budget.services import MAX_LINES, LineData, clean_line, too_many_lines

    if not isinstance(value, list):
        errors["budget_lines"] = [_("List the budget lines after the amendment.")]
        return None
    if len(value) > MAX_LINES:
        errors["budget_lines"] = [too_many_lines()]
        return None
    after = SimpleNamespace(parties=[SimpleNamespace(organization_id=int(org)) for org, _role in parties])
    lines = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(item) - set(BUDGET_KEYS):
            errors["budget_lines"] = [_("Budget line %(n)s is not a budget line.", n=index)]
            return None
        try:
            values = clean_line(after, LineData(**{key: item.get(key) for key in BUDGET_KEYS}))
        except ValidationFailed as error:
            details = " ".join(" ".join(map(str, m)) for m in error.field_errors.values())
            errors["budget_lines"] = [_("Budget line %(n)s: %(details)s", n=index, details=details)]
            return None
        lines.append(_budget_plain(values))
    return sorted(lines, key=_budget_key)


BUDGET_KEYS = ("organization_id", "label", "amount", "currency", "kind", "year", "period")


def _budget_plain(values) -> dict:
    get = values.get if isinstance(values, dict) else lambda key: getattr(values, key)
    return {
        "organization_id": get("organization_id"),
        "label": get("label"),
        "amount": str(get("amount")),
        "currency": get("currency"),
        "kind": get("kind"),
        "year": get("year"),
        "period": get("period"),
    }


def _budget_key(line: dict) -> tuple:
    return (
        line["year"] or 0,
        line["label"],
        line["organization_id"],
        line["currency"],
        line["amount"],
        line["kind"],
        line["period"] or "",
    )


def current_budget(agreement: Agreement) -> list[dict]:
    from app.budget.services import lines_of

    return sorted((_budget_plain(line) for line in lines_of(agreement)), key=_budget_key)


def _clean_parties(value, errors: dict) -> list[list] | None:
    if not isinstance(value, list):
        errors["parties"] = [_("List the parties after the amendment.")]
        return None
    pairs, seen, partners = [], set(), 0
    for item in value:
        try:
            organization_id, role = int(item[0]), str(item[1])
        except (TypeError, ValueError, IndexError, KeyError):
            errors["parties"] = [_("Each party is an organisation and a role.")]
            return None
        organization = db.session.get(Organization, organization_id)
        if organization is None:
            errors["parties"] = [_("Unknown organisation.")]
            return None
        if organization.is_retired:  # (an agreement amended has not ended: none of its parties is retired)
            errors["parties"] = [retired_said(organization)]
            return None
        if role not in PARTY_ROLES:
            errors["parties"] = [_("Unknown party role.")]
            return None
        if organization_id in seen:
            errors["parties"] = [_("%(name)s is listed twice.", name=organization.name)]
            return None
        if is_partner_party(role) and organization.is_home:
            errors["parties"] = [_("The ministry itself cannot be its own partner.")]
            return None
        seen.add(organization_id)
        partners += is_partner_party(role)
        pairs.append([organization_id, role])
    if not partners:
        errors["parties"] = [_("Name at least one partner organisation.")]
        return None
    return sorted(pairs)


def _left_behind(parent: Agreement, parties: list[list], *, budget_changes: bool) -> str | None:
    """What an organisation the amendment removes would leave behind on the agreement: the deliverables it
    still owes (nobody else may hand them in, and it would go on being reminded of an agreement it can no
    longer open) and, unless the amendment replaces the budget, the lines it contributes."""
    from app.deliverables.models import UNFINISHED_STATUSES, Deliverable, Occurrence

    staying = {int(org) for org, _role in parties}
    leaving = {p.organization_id for p in parent.parties} - staying
    if not leaving:
        return None
    owed = db.session.execute(
        select(
            Deliverable.responsible_organization_id, Deliverable.title_fr, Deliverable.title_en, Deliverable.title_ar
        )
        .where(
            Deliverable.agreement_id == parent.id,
            Deliverable.responsible_organization_id.in_(leaving),
            Deliverable.id.in_(select(Occurrence.deliverable_id).where(Occurrence.status.in_(UNFINISHED_STATUSES))),
        )
        .order_by(Deliverable.id)
    ).all()
    if owed:
        names = organization_names([[row.responsible_organization_id, ""] for row in owed], parent)
        return _(
            "Deliverables are still owed by %(org)s under this agreement (%(items)s): waive what is still owed, or "
            "plan it for a party that stays, before the amendment removes that organisation.",
            org=list_of(sorted({names.get(row.responsible_organization_id, "") for row in owed})),
            items=list_of(localized(row, "title") or "" for row in owed),
        )
    if not budget_changes:
        contributing = {line["organization_id"] for line in current_budget(parent)} & leaving
        if contributing:
            names = organization_names([[org, ""] for org in contributing], parent)
            return _(
                "Budget lines are contributed by %(org)s: change the budget in this amendment too.",
                org=list_of(sorted(names.get(org, "") for org in contributing)),
            )
    return None


def current_parties(agreement: Agreement) -> list[list]:
    return sorted([p.organization_id, p.role] for p in agreement.parties)


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def set_amendment_changes(amendment, *, new_expires_on: date, by, expected_version: int) -> None:
    """Set only the parent's new end date, keeping the amendment's other proposed changes
    (the API's end-date call; set_changes says any term)."""
    changes = {**(amendment.amendment_changes or {}), "expires_on": new_expires_on}
    set_changes(amendment, changes, by=by, expected_version=expected_version)


def set_changes(amendment: Agreement, raw: dict, *, by, expected_version: int) -> dict:
    """Say what an amendment will change in its parent (any term); only while it is a draft."""
    check_version(amendment, expected_version)
    if not can(by, "agreement.edit", amendment):
        raise PermissionDenied(_("Only the amendment's owner or a manager says what it changes."))
    if amendment.type != "amendment":
        raise ValidationFailed(_("Only amendments change another agreement."))
    if not is_initial(amendment):
        raise WorkflowError(_("What an amendment changes can be edited only while it is a draft."))
    if amendment.parent is None:
        raise ValidationFailed(_("An amendment must name the agreement it amends (parent agreement)."))
    cleaned = clean_changes(raw, amendment.parent)
    # Said to whoever drafts the terms, not checked again when a signed amendment comes into force (apply):
    # the text signed is what applies, its deadline come and gone meanwhile or not.
    if problem := _notice_taken_away(amendment.parent, cleaned):
        raise ValidationFailed(problem, {"renewal" if "renewal" in cleaned else "expires_on": [problem]})
    before = amendment.amendment_changes
    keep_changes(amendment, cleaned)
    amendment.updated_at = utcnow()
    audit.record(
        "amendment_changes_set",
        amendment,
        actor=by,
        changes={"before": {"amendment_changes": before}, "after": {"amendment_changes": amendment.amendment_changes}},
    )
    flush_or_conflict()
    return cleaned


def keep_changes(amendment: Agreement, changes: dict | None) -> None:
    """Store what the amendment changes (checked already), with what approval conditions read of the
    agreement it leaves (conditions.py): its MAD budget and whether a partner is foreign, when it changes them."""
    amendment.amendment_changes = changes or None
    changes = changes or {}
    lines = changes.get("budget_lines")
    # Reckoned at today's reference rates when the amendment is saved (a rate changed later counts when it
    # is saved again).
    amendment.proposed_mad_budget = (
        None if lines is None else total_in_mad((Decimal(line["amount"]), line["currency"]) for line in lines)
    )
    pairs = changes.get("parties")
    amendment.proposed_foreign_partner = (
        None
        if pairs is None
        else any(
            is_partner_party(role) and is_foreign(db.session.get(Organization, organization_id).country)
            for organization_id, role in pairs
        )
    )


# --- two amendments changing the same term ------------------------------------------------


def in_flight_siblings(amendment: Agreement) -> list[Agreement]:
    """Other amendments of the same parent that are not in a final state."""
    if amendment.parent_id is None:
        return []
    siblings = db.session.scalars(
        select(Agreement)
        .where(Agreement.parent_id == amendment.parent_id, Agreement.type == "amendment", Agreement.id != amendment.id)
        .order_by(Agreement.reference)
    ).all()
    return [s for s in siblings if not is_final(s)]


def overlaps(amendment: Agreement) -> list[tuple[Agreement, list[str]]]:
    """In-flight amendments of the same parent that change a term this one changes too."""
    mine = set(amendment.amendment_changes or {})
    if not mine or is_final(amendment):
        return []
    found = []
    for sibling in in_flight_siblings(amendment):
        shared = sorted(mine & set(sibling.amendment_changes or {}), key=TERMS.index)
        if shared:
            found.append((sibling, shared))
    return found


@guard("no_overlapping_amendment")
def _no_overlapping_amendment(agreement) -> str | None:
    return overlap_blocking(agreement)


def overlap_blocking(amendment: Agreement) -> str | None:
    """Only one amendment changing a given term may travel through review and signature at a time."""
    for sibling, shared in overlaps(amendment):
        if not is_initial(sibling):
            return _(
                "%(reference)s, already under way, changes the same terms (%(terms)s): finish or cancel it "
                "first, or change other terms.",
                reference=sibling.reference,
                terms=list_of(term_label(n) for n in shared),
            )
    return None


# --- side by side ----------------------------------------------------------------------


@dataclass
class AmendmentView:
    """What one person is shown of an amendment beside its parent (pages and API alike)."""

    parent_id: int | None
    rows: list[TermRow]
    plan: list[dict]
    overlaps: list[tuple[Agreement, list[str]]]


def shown_to(amendment: Agreement, user) -> AmendmentView:
    """The amendment's changes as `user` may see them. The parent's current terms, what a new end does to
    its plan, and the parent itself are shown only to who may see the parent; the other amendments
    changing the same terms only to who may see each. A partner party to an amendment but not to the
    agreement it amends had read that agreement's budget and plan through it."""
    parent = amendment.parent
    parent_seen = parent is not None and can(user, "agreement.view", parent)
    rows = comparison(amendment)
    if not parent_seen:
        rows = [TermRow(row.name, row.label, [] if row.is_list else None, row.proposed, row.is_list) for row in rows]
    return AmendmentView(
        parent_id=amendment.parent_id if parent_seen else None,
        rows=rows,
        plan=plan_effects(amendment) if parent_seen else [],
        overlaps=[(sibling, terms) for sibling, terms in overlaps(amendment) if can(user, "agreement.view", sibling)],
    )


@dataclass
class TermRow:
    name: str
    label: str
    current: object
    proposed: object
    is_list: bool = False


def comparison(amendment: Agreement) -> list[TermRow]:
    """One row per changed term: the parent's current value and the proposed one."""
    parent = amendment.parent
    changes = amendment.amendment_changes or {}
    if parent is None:
        return []
    rows = []
    # Every organisation either budget names (the ministry contributes without being a party: it read "1").
    current_lines = current_budget(parent) if "budget_lines" in changes else []
    names = organization_names(changes.get("parties", []), parent, [*changes.get("budget_lines", []), *current_lines])
    for name in TERMS:
        if name not in changes:
            continue
        if name == "parties":
            rows.append(
                TermRow(
                    name,
                    term_label(name),
                    _party_labels(current_parties(parent), names),
                    _party_labels(changes[name], names),
                    is_list=True,
                )
            )
        elif name == "budget_lines":
            rows.append(
                TermRow(
                    name,
                    term_label(name),
                    _budget_labels(current_lines, names),
                    _budget_labels(changes[name], names),
                    is_list=True,
                )
            )
        elif name in DATE_TERMS:
            rows.append(TermRow(name, term_label(name), getattr(parent, name), _as_date(changes[name])))
        elif name == "renewal":
            rows.append(
                TermRow(
                    name,
                    term_label(name),
                    renewals.describe(renewals.current_terms(parent)),
                    renewals.describe(changes[name]),
                )
            )
        else:
            rows.append(TermRow(name, term_label(name), getattr(parent, name), changes[name]))
    return rows


def organization_names(pairs, parent: Agreement, lines=()) -> dict[int, str]:
    ids = {int(p[0]) for p in pairs} | {p.organization_id for p in parent.parties}
    ids |= {int(line["organization_id"]) for line in lines}
    if not ids:
        return {}
    return {o.id: o.name for o in db.session.scalars(select(Organization).where(Organization.id.in_(ids)))}


def _party_labels(pairs, names: dict[int, str]) -> list[str]:
    return [f"{names.get(int(org), org)} ({PARTY_ROLES.get(role, role)})" for org, role in pairs]


def _budget_labels(lines, names: dict[int, str]) -> list[str]:
    from app.budget.models import AMOUNT_DECIMALS, KINDS

    def amount(line) -> str:
        return written_amount(Decimal(line["amount"]), line["currency"], most_decimals=AMOUNT_DECIMALS)

    return [
        f"{line['label']}: {amount(line)} — "
        + list_of(
            (
                names.get(int(line["organization_id"]), line["organization_id"]),
                KINDS.get(line["kind"], line["kind"]),
                line["period"] or line["year"] or "—",
            )
        )
        for line in lines
    ]


def plan_effects(amendment: Agreement) -> list[dict]:
    """What a moved end date does to the parent's recurring deliverables: occurrences added and
    cancelled per plan line (handed-in ones are never touched)."""
    parent, changes = amendment.parent, amendment.amendment_changes or {}
    if parent is None or "expires_on" not in changes:
        return []
    return [
        effect
        for effect in (
            _follow_end(d, parent.expires_on, _as_date(changes["expires_on"]), dry_run=True)
            for d in _deliverables(parent)
        )
        if effect
    ]


def _deliverables(agreement: Agreement) -> list:
    from app.deliverables.models import Deliverable

    return db.session.scalars(
        select(Deliverable).where(Deliverable.agreement_id == agreement.id).order_by(Deliverable.id)
    ).all()


def _follow_end(deliverable, old_end: date | None, new_end: date, *, dry_run: bool) -> dict | None:
    """A recurring line that ran to the old end date (to its last period before it: a quarterly report
    until 30 June in an agreement ending on 1 July), or past the new one, follows the new end. Ended
    before its first due date, it keeps nothing due (its end is then its first date: a line cannot end
    before it starts)."""
    from app.deliverables.services import STEP, due_dates, follow_new_dates

    if deliverable.recurrence == "once" or deliverable.until_on is None:
        return None
    ran_to_the_end = old_end is not None and old_end - STEP[deliverable.recurrence] < deliverable.until_on <= old_end
    if not (ran_to_the_end or deliverable.until_on > new_end):
        return None
    wanted = set(due_dates(deliverable.recurrence, deliverable.first_due_on, new_end))
    existing = {o.due_on: o for o in deliverable.occurrences}
    cancelled = [o for day, o in existing.items() if day not in wanted and o.status == "pending" and not o.submissions]
    kept = [o for day, o in existing.items() if day not in wanted and o not in cancelled]
    added = sorted(wanted - set(existing))
    if not dry_run:
        deliverable.until_on = max(new_end, deliverable.first_due_on)
        # Periods past the new end: removed, or waived when someone wrote about them (follow_new_dates).
        follow_new_dates(deliverable, sorted(wanted), by=None)
    if not (added or cancelled) and deliverable.until_on == new_end:
        return None
    return {
        "deliverable": deliverable.id,
        "title": deliverable.title,
        "added": [d.isoformat() for d in added],
        "cancelled": sorted(o.due_on.isoformat() for o in cancelled),
        "kept": sorted(o.due_on.isoformat() for o in kept),
    }


# --- coming into force ------------------------------------------------------------------


@effect("apply_amendment_to_parent")
def _apply_amendment_to_parent(agreement, by) -> None:
    """An amendment coming into force changes its parent (any term); both histories say so."""
    apply(agreement, by=by)


def apply(amendment: Agreement, *, by) -> None:
    """Apply every proposed change to the parent at once; the parent's history shows each one.
    The changes are checked again against the parent as it is now; any problem refuses the whole."""
    parent = amendment.parent
    if parent is None or not amendment.amendment_changes:
        return
    if has_ended(parent):
        raise WorkflowError(
            _(
                "The agreement it amends has ended (%(state)s): this amendment can no longer change it. "
                "Cancel the amendment.",
                state=state_label(parent),
            )
        )
    try:
        changes = clean_changes(dict(amendment.amendment_changes), parent)
    except ValidationFailed as error:
        details = "; ".join(f"{term_label(k)}: {' '.join(map(str, v))}" for k, v in error.field_errors.items())
        raise WorkflowError(
            _(
                "This amendment no longer fits its parent agreement (%(details)s). Send it back to "
                "draft and correct it.",
                details=details or error.message,
            )
        ) from error
    old_end = parent.expires_on
    for name in TERMS:
        if name not in changes:
            continue
        before = _plain(
            current_parties(parent)
            if name == "parties"
            else current_budget(parent)
            if name == "budget_lines"
            else renewals.current_terms(parent)
            if name == "renewal"
            else getattr(parent, name)
        )
        after = changes[name]
        if name == "parties":  # as the history shows parties elsewhere: "organisation:role"
            before, after = [f"{org}:{role}" for org, role in before], [f"{org}:{role}" for org, role in after]
        if name == "parties":
            _replace_parties(parent, changes[name])
        elif name == "budget_lines":
            _replace_budget(parent, changes[name], by)
        elif name in DATE_TERMS:
            setattr(parent, name, _as_date(changes[name]))
        elif name == "renewal":
            for field_name, value in changes[name].items():
                setattr(parent, field_name, value)
        else:
            setattr(parent, name, changes[name])
        audit.record(
            "amended",
            parent,
            actor=by,
            comment=amendment.reference,
            changes={"before": {name: before}, "after": {name: after}, "amendment": amendment.reference, "term": name},
        )
    if "expires_on" in changes:
        follow_end_date(parent, old_end, by=by, comment=amendment.reference)
    parent.updated_at = utcnow()
    db.session.flush()


def follow_end_date(agreement: Agreement, old_end: date | None, *, by, comment: str | None) -> None:
    """The end date moved (an amendment, a tacit renewal): recurring deliverables that ran to the old
    end follow the new one; each replanned line is in the history. `comment`: the amendment's reference."""
    for deliverable in _deliverables(agreement):
        effect = _follow_end(deliverable, old_end, agreement.expires_on, dry_run=False)
        if effect:
            audit.record(
                "deliverable_replanned",
                agreement,
                actor=by,
                comment=comment,
                changes={**effect, **({"amendment": comment} if comment else {})},
            )


def _plain(value):
    return value.isoformat() if isinstance(value, date) else value


def _replace_budget(agreement: Agreement, lines: list[dict], by) -> None:
    from app.budget.models import BudgetLine
    from app.budget.services import lines_of

    for line in lines_of(agreement):
        db.session.delete(line)
    for line in lines:
        db.session.add(
            BudgetLine(
                agreement_id=agreement.id,
                created_by_id=getattr(by, "id", None),
                **{**line, "amount": Decimal(line["amount"])},
            )
        )
    db.session.flush()


def _replace_parties(agreement: Agreement, pairs) -> None:
    wanted = {int(org): role for org, role in pairs}
    for party in list(agreement.parties):
        if party.organization_id not in wanted:
            agreement.parties.remove(party)
        else:
            party.role = wanted.pop(party.organization_id)
    for organization_id, role in wanted.items():
        agreement.parties.append(AgreementParty(organization_id=organization_id, role=role))
