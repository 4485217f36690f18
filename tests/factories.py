"""Test data built through the real services, so the rules hold for fixtures too."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta

from app.agreements import services as agreement_services
from app.agreements.models import Agreement, SigningEvent
from app.auth.models import User
from app.auth.services import create_user
from app.extensions import db
from app.organizations.models import Organization
from app.workflow import engine

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def organization(slug: str | None = None, *, kind: str = "company", is_home: bool = False, **names) -> Organization:
    slug = slug or f"org-{next(_counter)}"
    names = names or {"name_fr": f"Organisation {slug}", "name_en": f"Organization {slug}"}
    org = Organization(slug=slug, kind=kind, is_home=is_home, country="MA", **names)
    db.session.add(org)
    db.session.flush()
    return org


def user(role: str, organization: Organization, *, email: str | None = None, language: str = "en") -> User:
    email = email or f"{role}{next(_counter)}@example.org"
    return create_user(
        email=email,
        full_name=f"{role.title()} {email.split('@')[0]}",
        role=role,
        password=PASSWORD,
        organization=organization,
        language=language,
    )


def agreement(
    *,
    by: User,
    partners: list[Organization],
    type: str = "mou",
    title_fr: str | None = None,
    state: str = "draft",
    **values,
) -> Agreement:
    data = agreement_services.AgreementData(
        type=type,
        title_fr=title_fr if title_fr is not None or values.get("title_ar") else f"Accord {next(_counter)}",
        parties=[(org.id, "partner") for org in partners],
        **values,
    )
    created = agreement_services.create_agreement(data, by=by)
    created.state = state
    engine.note_shared(created)  # placed past the ministry's own stages: shown to its partners, as a move would
    db.session.flush()
    return created


def shown_to_partners(*agreements: Agreement) -> None:
    """As if each had left the ministry's internal stages once (a negotiation sent back to the draft): its
    partners see it. Tests of what a partner reads of a draft start here."""
    from sqlalchemy import update

    from app.core.models import utcnow

    db.session.flush()
    for agreement in agreements:
        # Written beside the ORM: the agreement's version (which forms and API calls send back) stays.
        unshown = (Agreement.id == agreement.id) & Agreement.shared_at.is_(None)
        db.session.execute(update(Agreement).where(unshown).values(shared_at=utcnow()))
        db.session.expire(agreement, ["shared_at"])


def amendment(parent, by, *, partners, changes: dict | None = None, title: str = "Avenant") -> Agreement:
    """An amendment of `parent` in draft, saying what it changes when `changes` is given (committed)."""
    from app.agreements import amendments

    created = agreement(by=by, partners=partners, type="amendment", parent_id=parent.id, title_fr=title)
    if changes is not None:
        amendments.set_changes(created, changes, by=by, expected_version=created.version)
    db.session.commit()
    return created


def plan_line(agreement, by, *, responsible, recurrence="once", first=None, until=None, title="Rapport"):
    """A plan line on `agreement` as an officer writes it (a French title), due in five days unless `first`."""
    from app.core import clock
    from app.deliverables import services as deliverable_services

    return deliverable_services.plan_deliverable(
        agreement,
        deliverable_services.PlanData(
            title_fr=title,
            title_ar=None,
            title_en=None,
            description=None,
            responsible_organization_id=responsible.id,
            recurrence=recurrence,
            first_due_on=first or clock.today() + timedelta(days=5),
            until_on=until,
        ),
        by=by,
    )


def budget_line(agreement, organization, amount, *, currency="MAD", label="Ligne", kind="cash", year=2026):
    """A budget line written straight to the table, whatever the agreement's state (a signed agreement's
    budget changes through the services only by amendment; a fixture may need one anyway)."""
    from decimal import Decimal

    from app.budget.models import BudgetLine

    line = BudgetLine(
        agreement_id=agreement.id,
        organization_id=organization.id,
        label=label,
        amount=Decimal(str(amount)),
        currency=currency,
        kind=kind,
        year=year,
    )
    db.session.add(line)
    db.session.flush()
    return line


def event(name_fr: str = "Cérémonie", held_on: date = date(2025, 7, 1)) -> SigningEvent:
    ceremony = SigningEvent(name_fr=name_fr, held_on=held_on, place="Rabat")
    db.session.add(ceremony)
    db.session.flush()
    return ceremony


@dataclass
class World:
    ministry: Organization
    partner_a: Organization
    partner_b: Organization
    users: dict[str, User] = field(default_factory=dict)
    agreement_a: Agreement | None = None
    agreement_b: Agreement | None = None
    event: SigningEvent | None = None

    def ids(self) -> dict:
        """What `load` needs to read this world again in another session."""
        return {
            "organizations": {name: getattr(self, name).id for name in ("ministry", "partner_a", "partner_b")},
            "users": {role: user.id for role, user in self.users.items()},
            "agreements": {name: getattr(self, name).id for name in ("agreement_a", "agreement_b")},
            "event": self.event.id,
        }

    @classmethod
    def load(cls, ids: dict) -> World:
        get = db.session.get
        world = cls(**{name: get(Organization, row_id) for name, row_id in ids["organizations"].items()})
        world.users = {role: get(User, row_id) for role, row_id in ids["users"].items()}
        for name, row_id in ids["agreements"].items():
            setattr(world, name, get(Agreement, row_id))
        world.event = get(SigningEvent, ids["event"])
        return world


def build_world() -> World:
    """One user per role, partners A and B each with an agreement, one signing event."""
    ministry = organization(
        "ministry",
        kind="ministry",
        is_home=True,
        name_fr="Ministère de la Transition numérique",
        name_ar="وزارة الانتقال الرقمي",
    )
    partner_a = organization("partner-a", name_fr="Partenaire A", name_en="Partner A")
    partner_b = organization("partner-b", name_fr="Partenaire B", name_en="Partner B")
    world = World(ministry=ministry, partner_a=partner_a, partner_b=partner_b)
    for role in ("admin", "officer", "manager", "legal", "finance", "auditor"):
        world.users[role] = user(role, ministry)
    world.users["other_officer"] = user("officer", ministry)
    world.users["partner"] = user("partner", partner_a)
    world.users["partner_b"] = user("partner", partner_b)
    world.event = event()
    officer = world.users["officer"]
    world.agreement_a = agreement(
        by=officer,
        partners=[partner_a],
        title_fr="Accord avec A",
        signing_event_id=world.event.id,
        signed_on=date(2025, 7, 1),
        state="active",
    )
    world.agreement_b = agreement(
        by=officer,
        partners=[partner_b],
        title_fr="Accord avec B",
        signing_event_id=world.event.id,
        signed_on=date(2025, 7, 2),
        state="active",
    )
    db.session.commit()
    return world
