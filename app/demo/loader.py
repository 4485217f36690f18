"""The demo portfolio: load app/demo/portfolio.yaml into the database, idempotently.

The file holds partnerships reported in the press plus clearly marked
illustrative data (owners, end dates, users, pipeline agreements). Objects are
found by natural keys (organisation and event slugs, agreement references, user
e-mails), so a second run creates nothing and puts edited demo objects back as
the file describes them. The loader flushes; the caller (the CLI) commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from flask import current_app
from sqlalchemy import select

from app.agreements import services as agreement_services
from app.agreements.models import PARTY_ROLES, Agreement, ReferenceCounter, SigningEvent
from app.auth import services as auth_services
from app.auth.models import User, normalize_email
from app.auth.sessions import end_all as end_all_sessions
from app.core import audit, stored_texts
from app.core.errors import ValidationFailed
from app.core.models import utcnow
from app.deliverables.services import release_owed
from app.events.services import FIELDS as EVENT_FIELDS
from app.events.services import save_event
from app.extensions import db
from app.organizations.models import Organization
from app.organizations.retirement import reinstate
from app.organizations.services import FIELDS as ORGANIZATION_FIELDS
from app.organizations.services import save_organization

PORTFOLIO_PATH = Path(__file__).with_name("portfolio.yaml")
TEXT_LANGUAGES = ("en", "fr", "ar")
# Written on the audit row of every agreement the loader creates, so that it
# later refreshes only its own agreements.
DEMO_COMMENT = stored_texts.DEMO_LOADED
REFERENCE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*-(\d{4})-(\d{3,})$")

# What an agreement's `illustrative:` list may name, and how the notes say it.
ILLUSTRATIVE_ITEMS = {
    "signed_on": {"en": "the signature date", "fr": "la date de signature", "ar": "تاريخ التوقيع"},
    "effective_on": {
        "en": "the entry-into-force date",
        "fr": "la date d'entrée en vigueur",
        "ar": "تاريخ دخول حيز التنفيذ",
    },
    "expires_on": {"en": "the end date", "fr": "la date de fin", "ar": "تاريخ الانتهاء"},
    "state": {"en": "the current state", "fr": "l'état actuel", "ar": "الحالة الراهنة"},
    "parties": {"en": "the parties", "fr": "les parties", "ar": "الأطراف"},
    "owner": {"en": "the owner", "fr": "le responsable", "ar": "المسؤول عن الملف"},
    "renewal": {"en": "the renewal terms", "fr": "les conditions de renouvellement", "ar": "شروط التجديد"},
}
ILLUSTRATIVE_SENTENCE = {  # (sentence, list separator, last separator)
    "en": ("Illustrative demo data: {listed} {verb} invented.", ", ", " and "),
    "fr": (
        "Données de démonstration illustratives (inventées, non rapportées par la presse) : {listed}.",
        ", ",
        " et ",
    ),
    "ar": ("بيانات عرض توضيحية (مختلَقة، لم تنشرها الصحافة): {listed}.", "، ", " و"),
}
INVENTED_AGREEMENT = {
    "en": "Illustrative demo data: this agreement is invented. The project is part of the ministry's strategy, "
    "but no such agreement was reported; its parties, content, state and owner are invented.",
    "fr": "Données de démonstration illustratives : cet accord est inventé. Le projet figure dans la stratégie "
    "du ministère, mais aucun accord de ce type n'a été rapporté ; ses parties, son contenu, son état et "
    "son responsable sont inventés.",
    "ar": "بيانات عرض توضيحية: هذه الاتفاقية مختلَقة. المشروع وارد في استراتيجية الوزارة، لكن لم يُنشر أي خبر "
    "عن اتفاقية من هذا القبيل؛ أطرافها ومضمونها وحالتها والمسؤول عنها مختلَقة.",
}

ORGANIZATION_KEYS = {*ORGANIZATION_FIELDS, "is_home"}
EVENT_KEYS = {*EVENT_FIELDS, "slug"}
USER_KEYS = {"email", "full_name", "role", "organization", "language", "password"}
AGREEMENT_KEYS = {
    "reference",
    "type",
    "state",
    "state_since",
    "amendment_changes",
    "budget",
    "deliverables",
    "event",
    "parent",
    "signed_on",
    "effective_on",
    "expires_on",
    "owner",
    "parties",
    "illustrative",
    "title",
    "summary",
    "notes",
    "signatories",
    "renewal",
    "start_renewal",
}
# `renewal: {terms: tacit, months: 24, notice: 6, unit: months}`; `start_renewal: true` starts a
# renewal agreement (app/agreements/renewals.py: renew) once, as its owner would with "Renew".
RENEWAL_KEYS = {"terms": "renewal_terms", "months": "renewal_months", "notice": "notice_period", "unit": "notice_unit"}


# --- reading and checking the file ------------------------------------------------


def read_portfolio(path: Path | None = None) -> dict:
    """Parse the portfolio file and check it; raise ValueError naming the first problem."""
    path = path or PORTFOLIO_PATH
    portfolio = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    where, sections = Path(path).name, {"organizations", "events", "users", "agreements"}
    _check_keys(portfolio, where, allowed=sections, required=sections)
    organizations = _check_organizations(portfolio["organizations"], where)
    events = _check_events(portfolio["events"], where)
    users = _check_users(portfolio["users"], where, organizations)
    _check_agreements(portfolio["agreements"], where, organizations, events, users)
    return portfolio


def _check_keys(entry, where: str, *, allowed: set[str], required: set[str]) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping, found {type(entry).__name__}")
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r}")
    missing = sorted(key for key in required if entry.get(key) in (None, "", [], {}))
    if missing:
        raise ValueError(f"{where}: missing {missing[0]!r}")


def _entries(value, where: str, kind: str, key: str):
    """Each entry of a section with a label naming it, for error messages."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: {kind}s: expected a non-empty list")
    for entry in value:
        yield entry, f"{where}: {kind} {entry.get(key) if isinstance(entry, dict) else entry!r}"


def _unique(key: str, seen: set[str], where: str) -> None:
    if key in seen:
        raise ValueError(f"{where}: {key!r} appears twice")
    seen.add(key)


def _as_date(entry: dict, name: str, where: str) -> None:
    """Turn an ISO date (YAML date or quoted string) into a date in place."""
    value = entry.get(name)
    if isinstance(value, str):
        try:
            value = entry[name] = date.fromisoformat(value)
        except ValueError:
            pass
    if value is not None and type(value) is not date:
        raise ValueError(f"{where}: {name} must be an ISO date (YYYY-MM-DD), not {value!r}")


def _check_texts(value, where: str) -> None:
    if value is not None and not (
        isinstance(value, dict)
        and value
        and set(value) <= set(TEXT_LANGUAGES)
        and all(isinstance(text, str) and text.strip() for text in value.values())
    ):
        raise ValueError(f"{where}: expected non-empty texts keyed by language ({', '.join(TEXT_LANGUAGES)})")


def _check_organizations(entries, where: str) -> set[str]:
    slugs: set[str] = set()
    homes = 0
    for entry, label in _entries(entries, where, "organization", "slug"):
        _check_keys(entry, label, allowed=ORGANIZATION_KEYS, required={"slug", "kind"})
        _unique(entry["slug"], slugs, f"{where}: organizations")
        entry["is_home"] = bool(entry.get("is_home", False))
        homes += entry["is_home"]
    if homes != 1:
        raise ValueError(f"{where}: exactly one organisation must have is_home: true (found {homes})")
    return slugs


def _check_events(entries, where: str) -> set[str]:
    slugs: set[str] = set()
    for entry, label in _entries(entries, where, "event", "slug"):
        _check_keys(entry, label, allowed=EVENT_KEYS, required={"slug", "held_on"})
        _unique(entry["slug"], slugs, f"{where}: events")
        for name in ("held_on", "ends_on"):
            _as_date(entry, name, label)
    return slugs


def _check_users(entries, where: str, organizations: set[str]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for entry, label in _entries(entries, where, "user", "email"):
        _check_keys(entry, label, allowed=USER_KEYS, required=USER_KEYS)
        entry["email"] = normalize_email(entry["email"])
        if entry["email"] in roles:
            raise ValueError(f"{where}: users: {entry['email']!r} appears twice")
        if entry["organization"] not in organizations:
            raise ValueError(f"{label}: unknown organisation {entry['organization']!r}")
        entry["password"] = str(entry["password"])
        roles[entry["email"]] = entry["role"]
    return roles


def _workflow_states() -> set[str]:
    """The state names of the workflow definitions: the app's, or read from the configured
    directory when the portfolio is read outside the app (browser tests list its sign-ins)."""
    from flask import has_app_context

    if has_app_context():
        from app.workflow.engine import state_labels

        return set(state_labels())
    from app.workflow.definitions import load_directory
    from config import Config

    return {name for definition in load_directory(Path(Config.WORKFLOWS_DIR)).values() for name in definition.states}


def _check_agreements(entries, where: str, organizations: set[str], events: set[str], users: dict[str, str]) -> None:
    states = _workflow_states()
    references: set[str] = set()
    for entry, label in _entries(entries, where, "agreement", "reference"):
        _check_keys(entry, label, allowed=AGREEMENT_KEYS, required={"reference", "type", "state", "parties", "title"})
        if not REFERENCE_PATTERN.match(str(entry["reference"])):
            raise ValueError(f"{label}: the reference must look like MTNRA-2025-001")
        if entry["state"] not in states:
            raise ValueError(f"{label}: unknown state {entry['state']!r}")
        if entry.get("event") is not None and entry["event"] not in events:
            raise ValueError(f"{label}: unknown event {entry['event']!r}")
        if entry.get("parent") is not None and entry["parent"] not in references:
            raise ValueError(f"{label}: parent {entry['parent']!r} must be an agreement listed before it")
        owner = entry.get("owner")
        if owner is not None:
            entry["owner"] = owner = normalize_email(owner)
            if owner not in users:
                raise ValueError(f"{label}: the owner {owner!r} is not one of the demo users")
        parties = entry["parties"]
        if not isinstance(parties, dict):
            raise ValueError(f"{label}: parties must map organisation keys to roles")
        for slug, role in parties.items():
            if slug not in organizations:
                raise ValueError(f"{label}: unknown organisation {slug!r} in parties")
            if role not in PARTY_ROLES:
                raise ValueError(f"{label}: unknown party role {role!r} for {slug!r}")
        for name in ("signed_on", "effective_on", "expires_on", "state_since"):
            _as_date(entry, name, label)
        if entry.get("amendment_changes") is not None:
            changes = entry["amendment_changes"]
            from app.agreements.amendments import DATE_TERMS, TEXT_TERMS

            if (
                entry["type"] != "amendment"
                or not isinstance(changes, dict)
                or set(changes) - {*DATE_TERMS, *TEXT_TERMS}
            ):
                raise ValueError(
                    f"{label}: amendment_changes is for amendments and may change "
                    f"{', '.join((*TEXT_TERMS, *DATE_TERMS))} only"
                )
            for name in DATE_TERMS:
                _as_date(changes, name, label)
        if entry.get("renewal") is not None and (
            not isinstance(entry["renewal"], dict) or set(entry["renewal"]) - set(RENEWAL_KEYS)
        ):
            raise ValueError(f"{label}: renewal may give {', '.join(RENEWAL_KEYS)}")
        for name in ("title", "summary", "notes"):
            _check_texts(entry.get(name), f"{label}: {name}")
        _check_illustrative(entry, label)
        _unique(entry["reference"], references, f"{where}: agreements")


def _check_illustrative(entry: dict, label: str) -> None:
    """The press never reported owners or end dates: refuse one not marked illustrative."""
    items = entry.setdefault("illustrative", []) or []
    if not isinstance(items, list):
        raise ValueError(f"{label}: illustrative must be a list")
    for item in items:
        if item != "agreement" and item not in ILLUSTRATIVE_ITEMS:
            raise ValueError(f"{label}: unknown illustrative item {item!r}")
    if "agreement" in items:
        return
    for name in ("owner", "expires_on", "renewal"):
        if entry.get(name) is not None and name not in items:
            raise ValueError(f"{label}: {name} is not reported by any source; list it under illustrative")


def invented_facts(entry: dict) -> list[str]:
    """The key facts of a checked entry that no source reported, each shown with an "illustrative" mark."""
    items = entry.get("illustrative") or []
    return list(ILLUSTRATIVE_ITEMS) if "agreement" in items else [item for item in ILLUSTRATIVE_ITEMS if item in items]


def _compose_notes(entry: dict) -> str | None:
    """Reported facts, then the sentence saying what is invented, in English, French and Arabic."""
    facts = entry.get("notes") or {}
    items = entry.get("illustrative") or []
    paragraphs = []
    for language in TEXT_LANGUAGES:
        sentence = _illustrative_sentence(items, language)
        parts = [text.strip() for text in (facts.get(language), sentence) if text]
        if parts:
            paragraphs.append(" ".join(parts))
    return "\n\n".join(paragraphs) or None


def _illustrative_sentence(items: list[str], language: str) -> str | None:
    if "agreement" in items:
        return INVENTED_AGREEMENT[language]
    names = [ILLUSTRATIVE_ITEMS[item][language] for item in ILLUSTRATIVE_ITEMS if item in items]
    if not names:
        return None
    template, comma, last = ILLUSTRATIVE_SENTENCE[language]
    listed = comma.join(names[:-1]) + last + names[-1] if len(names) > 1 else names[0]
    return template.format(listed=listed, verb="is" if len(names) == 1 else "are")


# --- loading ------------------------------------------------------------------------


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0


def load_demo(*, by: User | None = None, path: Path | None = None) -> dict:
    """Create or refresh every organisation, event, user and agreement of the demo portfolio.

    Audit rows name `by` as the actor (None: the system). Flushes, never commits.
    """
    portfolio = read_portfolio(path)
    tally = _Tally()
    organizations = {entry["slug"]: _sync_organization(entry, by, tally) for entry in portfolio["organizations"]}
    events = {entry["slug"]: _sync_event(entry, by, tally) for entry in portfolio["events"]}
    users = {entry["email"]: _sync_user(entry, organizations, by, tally) for entry in portfolio["users"]}
    agreements: dict[str, Agreement] = {}
    for entry in portfolio["agreements"]:
        agreements[entry["reference"]] = _sync_agreement(entry, organizations, events, users, agreements, by, tally)
    _raise_reference_counters(agreements)
    for agreement in agreements.values():  # placed in its state directly: what it owed is released here
        release_owed(agreement, by=by)
    for entry in portfolio["agreements"]:
        if entry.get("start_renewal"):
            _start_renewal(agreements[entry["reference"]], users[entry["owner"]], tally)
    db.session.flush()
    return {
        "organizations": len(organizations),
        "events": len(events),
        "agreements": len(agreements),
        "users": len(users),
        "created": tally.created,
        "updated": tally.updated,
    }


def _start_renewal(agreement: Agreement, owner: User, tally: _Tally) -> None:
    """A renewal agreement started from `agreement` by its owner, once (a reload starts none)."""
    from app.agreements.renewing import renew

    if agreement.renewals:
        return
    renewal = renew(agreement, by=owner)
    renewal.notes = "\n\n".join(INVENTED_RENEWAL[language] for language in TEXT_LANGUAGES)
    tally.created += 1


INVENTED_RENEWAL = {
    "en": 'Illustrative demo data: this renewal agreement is invented, started with "Renew" from the agreement '
    "it renews.",
    "fr": "Données de démonstration illustratives : cet accord de renouvellement est inventé, créé par "
    "« Renouveler » depuis l'accord qu'il renouvelle.",
    "ar": "بيانات عرض توضيحية: اتفاقية التجديد هذه مختلَقة، أُنشئت بواسطة «تجديد» انطلاقًا من الاتفاقية التي تجددها.",
}


def demo_sign_ins() -> list[dict]:
    """The demo accounts with their passwords, for printing in development."""
    portfolio = read_portfolio()
    names = {
        entry["slug"]: entry.get("acronym") or entry.get("name_en") or entry.get("name_fr") or entry["slug"]
        for entry in portfolio["organizations"]
    }
    return [
        {
            "email": entry["email"],
            "password": entry["password"],
            "role": entry["role"],
            "organization": names[entry["organization"]],
        }
        for entry in portfolio["users"]
    ]


def _refused(what: str, error: ValidationFailed) -> ValueError:
    details = "; ".join(f"{field}: {' '.join(map(str, messages))}" for field, messages in error.field_errors.items())
    return ValueError(f"demo {what}: {error.message} {details}".strip())


def _sync_organization(entry: dict, by, tally: _Tally) -> Organization:
    values = {key: entry.get(key) for key in ORGANIZATION_FIELDS}
    organization = db.session.scalar(select(Organization).where(Organization.slug == entry["slug"]))
    if organization is None and entry["is_home"]:
        # A database set up by hand may already have its ministry under another
        # short name: use it rather than create a second home organisation.
        home = db.session.scalar(select(Organization).where(Organization.is_home.is_(True)))
        if home is not None:
            return home
    try:
        if organization is None:
            organization = save_organization(None, values, by=by)
            organization.is_home = entry["is_home"]
            tally.created += 1
        elif any(getattr(organization, key) != values[key] for key in ORGANIZATION_FIELDS):
            save_organization(organization, values, by=by)
            tally.updated += 1
        if organization.is_retired:  # refreshing puts the demo back as printed, its accounts included
            reinstate(organization, by=by)
            tally.updated += 1
    except ValidationFailed as error:
        raise _refused(f"organisation {entry['slug']!r}", error) from None
    return organization


def _sync_event(entry: dict, by, tally: _Tally) -> SigningEvent:
    values = {key: entry.get(key) for key in EVENT_FIELDS}
    event = db.session.scalar(select(SigningEvent).where(SigningEvent.slug == entry["slug"]))
    try:
        if event is None:
            event = save_event(None, values, by=by)
            event.slug = entry["slug"]
            db.session.flush()
            tally.created += 1
        elif any(getattr(event, key) != values[key] for key in EVENT_FIELDS):
            save_event(event, values, by=by)
            tally.updated += 1
    except ValidationFailed as error:
        raise _refused(f"event {entry['slug']!r}", error) from None
    return event


def _sync_user(entry: dict, organizations: dict[str, Organization], by, tally: _Tally) -> User:
    organization = organizations[entry["organization"]]
    user = db.session.scalar(select(User).where(User.email == entry["email"]))
    try:
        if user is None:
            user = auth_services.create_user(
                email=entry["email"],
                full_name=entry["full_name"],
                role=entry["role"],
                password=entry["password"],
                organization=organization,
                language=entry["language"],
                by=by,
            )
            tally.created += 1
            return user
        auth_services._check_account_rules(
            email=user.email, role=entry["role"], organization=organization, language=entry["language"]
        )
        auth_services.check_password(user, entry["password"])
    except ValidationFailed as error:
        raise _refused(f"user {entry['email']!r}", error) from None
    # Refreshing puts the account back as printed by `flask demo sign-ins`.
    before = auth_services._user_snapshot(user)
    for name in ("full_name", "role", "language"):
        setattr(user, name, entry[name])
    user.organization, user.is_active_account = organization, True
    changes = audit.diff(before, auth_services._user_snapshot(user))
    if not user.check_password(entry["password"]):
        user.set_password(entry["password"])
        end_all_sessions(user, "password_reset")
        changes.setdefault("after", {})["password"] = "reset to the demo password"
    if changes["after"]:
        audit.record("updated", user, actor=by, changes=changes)
        tally.updated += 1
    return user


def _sync_agreement(
    entry: dict,
    organizations: dict[str, Organization],
    events: dict[str, SigningEvent],
    users: dict[str, User],
    synced: dict[str, Agreement],
    by,
    tally: _Tally,
) -> Agreement:
    reference = entry["reference"]
    texts = {
        f"{field}_{language}": (entry.get(field) or {}).get(language)
        for field in ("title", "summary")
        for language in TEXT_LANGUAGES
    }
    data = agreement_services.AgreementData(
        type=entry["type"],
        **texts,
        notes=_compose_notes(entry),
        owner_id=users[entry["owner"]].id if entry.get("owner") else None,
        parent_id=synced[entry["parent"]].id if entry.get("parent") else None,
        signing_event_id=events[entry["event"]].id if entry.get("event") else None,
        signed_on=entry.get("signed_on"),
        effective_on=entry.get("effective_on"),
        expires_on=entry.get("expires_on"),
        parties=[(organizations[slug].id, role) for slug, role in entry["parties"].items()],
        **{RENEWAL_KEYS[key]: value for key, value in (entry.get("renewal") or {}).items()},
    )
    agreement = db.session.scalar(select(Agreement).where(Agreement.reference == reference))
    if agreement is not None and not _created_by_demo(agreement):
        raise ValueError(
            f"demo agreement {reference}: this reference already belongs to an agreement the demo did "
            "not create; load the demo portfolio into an empty register"
        )
    try:
        agreement_services.validate_data(data, agreement=agreement, by=by)
    except ValidationFailed as error:
        raise _refused(f"agreement {reference}", error) from None
    if agreement is None:
        agreement = Agreement(reference=reference, state=entry["state"])
        agreement_services.apply_data(agreement, data)
        agreement.illustrative_facts = invented_facts(entry)
        db.session.add(agreement)
        db.session.flush()
        audit.record(
            "created",
            agreement,
            actor=by,
            changes={"after": agreement_services.snapshot(agreement)},
            comment=DEMO_COMMENT,
        )
        _settle(agreement, entry, users)
        tally.created += 1
        return agreement
    before = agreement_services.snapshot(agreement)
    agreement_services.apply_data(agreement, data)
    agreement.state = entry["state"]
    agreement.illustrative_facts = invented_facts(entry)
    changes = audit.diff(before, agreement_services.snapshot(agreement))
    if changes["after"]:
        # Touch the row even when only parties changed, so the version moves.
        agreement.updated_at = utcnow()
        db.session.flush()
        audit.record("updated", agreement, actor=by, changes=changes)
        tally.updated += 1
    _settle(agreement, entry, users)
    return agreement


def _settle(agreement: Agreement, entry: dict, users: dict[str, User]) -> None:
    """Pin the workflow, date the current stage and open the approvals it waits for."""
    from datetime import datetime, time, timezone

    from app.demo.history import write_stage_history
    from app.workflow.engine import settle_state

    if entry.get("amendment_changes"):
        from app.agreements.amendments import keep_changes

        keep_changes(
            agreement,
            {
                key: value.isoformat() if hasattr(value, "isoformat") else value
                for key, value in entry["amendment_changes"].items()
            },
        )
    since = entry.get("state_since") or entry.get("effective_on") or entry.get("signed_on")
    entered_at = datetime.combine(since, time(9, 0), tzinfo=timezone.utc) if since else None
    owner = users.get(entry.get("owner")) if entry.get("owner") else None
    settle_state(agreement, entered_at=entered_at if agreement.state_entered_at is None else None, requested_by=owner)
    _plan_deliverables(agreement, entry)
    _add_budget(agreement, entry)
    _record_signatories(agreement, entry)
    # Backdated moves up to the current state, marked illustrative, so the stage analytics have a history.
    people_by_role: dict[str, User] = {}
    for user in users.values():
        people_by_role.setdefault(user.role, user)
    write_stage_history(agreement, owner=owner, people_by_role=people_by_role)


def _record_signatories(agreement: Agreement, entry: dict) -> None:
    """The signatories the reference facts name, signed on the agreement's date (once: a reload adds none)."""
    from app.workflow.models import Signatory

    if not entry.get("signatories") or agreement.signatories:
        return
    partner = next(iter(agreement.partner_organization_ids), None)
    home = db.session.scalar(select(Organization.id).where(Organization.is_home.is_(True)))
    for position, person in enumerate(entry["signatories"], start=1):
        agreement.signatories.append(
            Signatory(
                side=person["side"],
                position=position,
                name=person["name"],
                title=person.get("title"),
                organization_id=partner if person["side"] == "partner" else home,
                signed_on=agreement.signed_on,
                recorded_at=utcnow(),
            )
        )
    db.session.flush()


ILLUSTRATIVE_PLAN = stored_texts.DEMO_PLAN


def _plan_deliverables(agreement: Agreement, entry: dict) -> None:
    """Illustrative deliverables, planned once (keyed by English title)."""
    from app.deliverables.services import PlanData, plan_deliverable
    from app.organizations.models import Organization

    planned = {d.title_en: d for d in getattr(agreement, "deliverables", [])}
    for line in entry.get("deliverables") or []:
        if line["title"]["en"] in planned:
            planned[line["title"]["en"]].is_illustrative = True
            _add_indicators(planned[line["title"]["en"]], line.get("indicators") or [])
            continue
        slug = line.get("responsible", "ministry")
        organization = db.session.scalar(
            select(Organization).where(
                Organization.is_home.is_(True) if slug == "ministry" else Organization.slug == slug
            )
        )
        plan_deliverable(
            agreement,
            PlanData(
                title_fr=line["title"]["fr"],
                title_ar=line["title"]["ar"],
                title_en=line["title"]["en"],
                description=ILLUSTRATIVE_PLAN,
                responsible_organization_id=organization.id if organization else None,
                recurrence=line["recurrence"],
                first_due_on=line["first_due_on"],
                until_on=line.get("until_on"),
            ),
            by=None,
        )
        deliverable = next(d for d in agreement.deliverables if d.title_en == line["title"]["en"])
        deliverable.is_illustrative = True
        _add_indicators(deliverable, line.get("indicators") or [])


def _add_indicators(deliverable, lines: list[dict]) -> None:
    """Illustrative indicators and achieved values, added once (keyed by English name)."""
    from datetime import datetime, time, timezone

    from app.deliverables.models import Submission
    from app.indicators.services import IndicatorData, add_indicator, parse_values, record_values

    known = {i.name_en for i in deliverable.indicators}
    added = [
        add_indicator(
            deliverable,
            IndicatorData(
                name_ar=line["name"]["ar"],
                name_fr=line["name"]["fr"],
                name_en=line["name"]["en"],
                unit=line.get("unit"),
                baseline=str(line.get("baseline", 0)),
                target=str(line["target"]),
                target_scope=line.get("scope", "term"),
            ),
            by=None,
            is_illustrative=True,
        )
        for line in lines
        if line["name"]["en"] not in known
    ]
    if not added or len(added) != len(deliverable.indicators):
        return  # figures are written with the indicators, never added to ones a person may have edited
    for occurrence in deliverable.occurrences:
        values = {
            f"indicator_{indicator.id}": str(line["achieved"][occurrence.due_on])
            for indicator, line in zip(added, lines)
            if occurrence.due_on in (line.get("achieved") or {})
        }
        if len(values) != len(added) or occurrence.submissions:
            continue
        moment = datetime.combine(occurrence.due_on, time(9, 0), tzinfo=timezone.utc)
        submission = Submission(
            number=1, note=stored_texts.DEMO_FIGURES, submitted_at=moment, decision="accept", reviewed_at=moment
        )
        occurrence.submissions.append(submission)
        occurrence.status, occurrence.decided_at = "accepted", moment
        record_values(submission, parse_values(deliverable, values))
    db.session.flush()


def _add_budget(agreement: Agreement, entry: dict) -> None:
    """Illustrative budget lines (amounts invented, each line marked so), added once (keyed by label)."""
    from app.budget.services import LineData, add_line, lines_of
    from app.organizations.models import Organization

    present = {line.label for line in lines_of(agreement)}
    for line in entry.get("budget") or []:
        if line["label"] in present:
            continue
        slug = line.get("party", "ministry")
        organization = db.session.scalar(
            select(Organization).where(
                Organization.is_home.is_(True) if slug == "ministry" else Organization.slug == slug
            )
        )
        add_line(
            agreement,
            LineData(
                organization_id=organization.id if organization else None,
                label=line["label"],
                amount=str(line["amount"]),
                currency=line.get("currency", "MAD"),
                kind=line.get("kind", "cash"),
                year=line.get("year"),
                period=line.get("period"),
            ),
            by=None,
            is_illustrative=True,
        )


def _created_by_demo(agreement: Agreement) -> bool:
    """Only agreements this loader created may be refreshed: never overwrite a real one."""
    return (
        db.session.scalar(
            select(audit.AuditEvent.id)
            .where(
                audit.AuditEvent.object_type == Agreement.__tablename__,
                audit.AuditEvent.object_id == agreement.id,
                audit.AuditEvent.action == "created",
                audit.AuditEvent.comment == DEMO_COMMENT,
            )
            .limit(1)
        )
        is not None
    )


def _raise_reference_counters(agreements: dict[str, Agreement]) -> None:
    """Make next_reference() hand out numbers above the demo's fixed ones."""
    prefix = current_app.config["AGREEMENT_REF_PREFIX"]
    highest: dict[int, int] = {}
    for reference in agreements:
        match = REFERENCE_PATTERN.match(reference)
        if match and reference.startswith(f"{prefix}-"):
            year, number = int(match.group(1)), int(match.group(2))
            highest[year] = max(highest.get(year, 0), number)
    for year, number in highest.items():
        counter = db.session.get(ReferenceCounter, year, populate_existing=True)
        if counter is None:
            db.session.add(ReferenceCounter(year=year, last_number=number))
        elif counter.last_number < number:
            counter.last_number = number
