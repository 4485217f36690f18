"""The names of what a page's audit rows refer to by id (people, agreements, signing events, organisations)
and the workflows of the agreements they moved: looked up once for the whole page, in a few queries, for
app/audit/changes.py to write each id as the pages name it."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as member
from typing import Any

from sqlalchemy import or_, select

from app.agreements.models import Agreement, SigningEvent
from app.audit.fields import field
from app.auth.models import User
from app.budget.models import BudgetLine
from app.extensions import db
from app.organizations.models import Organization
from app.workflow.engine import definition_for

# The sorts of field (app/audit/fields.py) that hold an id, and where Names keeps their names.
ID_SORTS = {"person": "people", "agreement": "agreements", "event": "events", "organization": "organizations"}


@dataclass
class Names:
    """The names of what a page's rows refer to by id (people, agreements, signing events, organisations)."""

    people: dict[int, str] = member(default_factory=dict)
    agreements: dict[int, str] = member(default_factory=dict)
    events: dict[int, str] = member(default_factory=dict)
    organizations: dict[int, str] = member(default_factory=dict)
    organization_slugs: dict[str, str] = member(default_factory=dict)
    # The workflow each agreement a row moved or approved runs on: its moves and steps are named there.
    definitions: dict[int, Any] = member(default_factory=dict)
    # The currency of each budget line a row changed without recording it (rows written before it was).
    line_currencies: dict[int, str] = member(default_factory=dict)


def names_for(events) -> Names:
    """The names of every person, agreement, signing event and organisation the rows `events` refer to by id,
    and the workflows of the agreements they moved, in six queries at most (none for a kind no row names)."""
    wanted: dict[str, set] = {"people": set(), "agreements": set(), "events": set(), "organizations": set()}
    slugs: set[str] = set()
    moved: set[int] = set()  # agreements whose rows name a workflow move or approval step
    lines: set[int] = set()  # budget lines whose changes were recorded without their currency
    for event in events:
        if isinstance(event.changes, dict):
            _collect(event.changes, event.action, event.object_type, wanted, slugs)
            if ("transition" in event.changes or "step" in event.changes) and agreement_of(event) is not None:
                moved.add(agreement_of(event))
            line = event.changes.get("line")
            if event.action == "budget_line_changed" and "currency" not in event.changes and isinstance(line, int):
                lines.add(line)
    names = Names()
    if lines:
        names.line_currencies = dict(
            db.session.execute(select(BudgetLine.id, BudgetLine.currency).where(BudgetLine.id.in_(lines))).all()
        )
    if moved:
        names.definitions = {
            agreement.id: definition_for(agreement)
            for agreement in db.session.scalars(select(Agreement).where(Agreement.id.in_(moved)))
        }
    if wanted["people"]:
        names.people = {
            user.id: user.full_name for user in db.session.scalars(select(User).where(User.id.in_(wanted["people"])))
        }
    if wanted["agreements"]:
        names.agreements = {
            row.id: row.reference
            for row in db.session.execute(
                select(Agreement.id, Agreement.reference).where(Agreement.id.in_(wanted["agreements"]))
            )
        }
    if wanted["events"]:
        names.events = {
            e.id: e.name for e in db.session.scalars(select(SigningEvent).where(SigningEvent.id.in_(wanted["events"])))
        }
    if wanted["organizations"] or slugs:
        for organization in db.session.scalars(
            select(Organization).where(or_(Organization.id.in_(wanted["organizations"]), Organization.slug.in_(slugs)))
        ):
            names.organizations[organization.id] = organization.name
            names.organization_slugs[organization.slug] = organization.name
    return names


def _collect(value, action: str, object_type: str, wanted: dict[str, set], slugs: set[str], key: str = "") -> None:
    """Every id `value` (under `key`) refers to, by the kind of thing it names."""
    if isinstance(value, dict):
        for inner_key, inner in value.items():
            if inner_key in ("before", "after") and not key:
                _collect(inner, action, object_type, wanted, slugs)
            else:
                _collect(inner, action, object_type, wanted, slugs, str(inner_key))
        return
    sort = field(key, action=action, object_type=object_type).sort if key else ""
    if isinstance(value, list):
        if sort == "parties":
            wanted["organizations"].update(
                int(organization_id)
                for organization_id in (party_of(entry)[0] for entry in value)
                if organization_id.isdecimal()
            )
            return
        for item in value:
            _collect(item, action, object_type, wanted, slugs, key)
        return
    if sort == "agreements":
        sort = "agreement"
    if sort in ID_SORTS:
        if isinstance(value, int) and not isinstance(value, bool):
            wanted[ID_SORTS[sort]].add(value)
        elif sort == "organization" and isinstance(value, str):
            if value.isdecimal():
                wanted["organizations"].add(int(value))
            else:
                slugs.add(value)


def party_of(entry) -> tuple[str, str]:
    """A recorded party as (organisation id, role): "12:partner" as an amended agreement's row writes it, or
    [12, "partner"] as an amendment's proposed terms keep it (and amended rows did before e6e3bf0)."""
    if isinstance(entry, list | tuple) and len(entry) == 2:
        return str(entry[0]), str(entry[1] or "")
    organization_id, _colon, role = str(entry).partition(":")
    return organization_id, role


def agreement_of(event) -> int | None:
    """The agreement a row is about: its object, or the one its changes name (an approval link's)."""
    if event.object_type == "agreements":
        return event.object_id
    changes = event.changes if isinstance(event.changes, dict) else {}
    agreement_id = changes.get("agreement_id")
    return agreement_id if isinstance(agreement_id, int) else None
