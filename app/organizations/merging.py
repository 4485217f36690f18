"""Merging an organisation entered twice into the one that stays: everything that names the duplicate
(its parties to agreements, the signatories and acceptances it gave, the deliverables it answers for, the
budget lines it funds, its notices of non-renewal, the terms amendments propose for it, its accounts and
invitations, the spreadsheets of its agreements asked for and not written yet) names the one that stays,
and the duplicate is retired (retirement.py) with the trail saying where it went. Its past is not
rewritten: the audit trail and the notices already sent keep the name they had.

Refused where one agreement names both (a party twice over is not one party: take one out first)."""

from __future__ import annotations

from sqlalchemy import select, update

from app.agreements.amendments import keep_changes
from app.agreements.models import Agreement, AgreementParty
from app.auth.models import Invitation, User
from app.budget.models import BudgetLine
from app.core import audit
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.i18n import names_listed, ngettext
from app.deliverables.models import Deliverable
from app.exports.models import ExportJob
from app.extensions import db
from app.organizations import retirement
from app.organizations.models import Organization
from app.search.models import SearchEntry
from app.workflow.models import NegotiationAcceptance, Signatory


def _refuse(message: str, field: str = "into"):
    raise ValidationFailed(message, {field: [message]})


def shared_agreements(one: Organization, other: Organization) -> list[str]:
    """The references of the agreements both are parties to, in order."""
    both = select(AgreementParty.agreement_id).where(AgreementParty.organization_id == other.id)
    return list(
        db.session.scalars(
            select(Agreement.reference)
            .where(Agreement.id.in_(both), Agreement.parties.any(AgreementParty.organization_id == one.id))
            .order_by(Agreement.reference)
        )
    )


def merge(duplicate: Organization, into: Organization, *, by: User, reason: str | None = None) -> dict:
    """Move everything of `duplicate` to `into`, then retire `duplicate`; returns what moved, by kind."""
    if into is None or into.id == duplicate.id:
        _refuse(_("Choose the organisation it is merged into: another one."))
    # Both rows held until this commits, in one order (two merges crossing would otherwise deadlock): someone
    # naming either as a party meanwhile waits (agreements.services reads a new party FOR SHARE).
    for organization in sorted((duplicate, into), key=lambda o: o.id):
        db.session.refresh(organization, with_for_update=True)
    if duplicate.is_home or into.is_home:
        _refuse(_("The ministry's own organisation is never merged."))
    for organization in (duplicate, into):
        if organization.is_retired:
            _refuse(_("%(name)s is retired already.", name=organization.name))
    both = shared_agreements(duplicate, into)
    if both:
        _refuse(
            ngettext(
                "Both are parties to %(num)s agreement (%(references)s): take one of them out of it first.",
                "Both are parties to %(num)s agreements (%(references)s): take one of them out of each first.",
                len(both),
                references=names_listed(both, retirement.NAMED),
            )
        )
    moved = _move(duplicate.id, into.id)
    retirement.retire(duplicate, by=by, reason=reason)
    duplicate.merged_into_id = into.id  # its page sends whoever lands on it (an old link) to the one that stays
    # Each side's trail names the other: "merged_into" on the duplicate, "merged_from" on the one that stays.
    for side, other, direction in ((duplicate, into, "into"), (into, duplicate, "from")):
        changes = {direction: {"id": other.id, "slug": other.slug}, "moved": moved}
        audit.record(f"merged_{direction}", side, actor=by, changes=changes, comment=reason or None)
    return moved


def _move(old: int, new: int) -> dict:
    """Every reference to organisation `old` made to `new`, through the ORM where a listener keeps something
    in step (the search index follows parties and deliverables); how many of each kind moved."""
    moved: dict[str, int] = {}

    def each(model, column: str) -> None:
        rows = list(db.session.scalars(select(model).where(getattr(model, column) == old)))
        for row in rows:
            setattr(row, column, new)
        if rows:
            moved[model.__tablename__ if column == "organization_id" else f"{model.__tablename__}.{column}"] = len(rows)

    each(AgreementParty, "organization_id")
    each(Signatory, "organization_id")
    each(NegotiationAcceptance, "organization_id")
    each(Deliverable, "responsible_organization_id")
    each(BudgetLine, "organization_id")
    each(Agreement, "non_renewal_organization_id")
    each(User, "organization_id")
    each(Invitation, "organization_id")
    # A spreadsheet asked for the duplicate's agreements and not written yet: the one that stays's, as its list
    # now shows them (the lists' filters name a partner `partner_id`).
    queued = 0
    for job in db.session.scalars(select(ExportJob).where(ExportJob.status == "queued")):
        if isinstance(job.filters, dict) and job.filters.get("partner_id") == old:
            job.filters = {**job.filters, "partner_id": new}
            queued += 1
    if queued:
        moved["export_jobs"] = queued
    proposed = 0
    for amendment in db.session.scalars(select(Agreement).where(Agreement.amendment_changes.is_not(None))):
        changed = _proposed_with(amendment.amendment_changes, old, new)
        if changed is not None:
            # Through keep_changes: what approval conditions read of it (a foreign partner) follows the one that
            # stays, whose country may differ from the duplicate's.
            keep_changes(amendment, changed)
            proposed += 1
    if proposed:
        moved["amendment_changes"] = proposed
    db.session.flush()
    # What a reader may see of a file or a deliverable is scoped by it too (written again as they change); the
    # duplicate's own entry stays its own, seen by whoever saw it.
    db.session.execute(
        update(SearchEntry)
        .where(SearchEntry.organization_id == old, SearchEntry.kind != "organization")
        .values(organization_id=new),
        execution_options={"synchronize_session": False},
    )
    return moved


def _proposed_with(changes: dict, old: int, new: int) -> dict | None:
    """An amendment's proposed terms with `old` named `new` (its parties, its budget lines' funders), or
    None when it names `old` nowhere."""
    renamed = dict(changes)
    if isinstance(changes.get("parties"), list):
        renamed["parties"] = [
            [new, *party[1:]] if isinstance(party, list) and party and party[0] == old else party
            for party in changes["parties"]
        ]
    if isinstance(changes.get("budget_lines"), list):
        renamed["budget_lines"] = [
            {**line, "organization_id": new} if isinstance(line, dict) and line.get("organization_id") == old else line
            for line in changes["budget_lines"]
        ]
    return renamed if renamed != changes else None
