"""Creating and editing organisations."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.db import check_seen, take_turns_on
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.text import fold, one_line, trimmed
from app.extensions import db
from app.organizations.models import ORGANIZATION_KINDS, Organization

FIELDS = ("slug", "name_ar", "name_fr", "name_en", "acronym", "kind", "country", "contact", "notes")
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def _free_slug(values: dict) -> str | None:
    """A new organisation's short name when none was typed: its acronym's or Latin name's letters and
    digits ("Agence Stat" -> "agence-stat"), made unique with a number; None when neither gives any (an
    Arabic name alone: the short name is then asked for)."""
    for source in (values["acronym"], values["name_fr"], values["name_en"]):
        ascii_text = unicodedata.normalize("NFKD", source or "").encode("ascii", "ignore").decode()
        base = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:56].strip("-")
        if base:
            taken = set(db.session.scalars(select(Organization.slug).where(Organization.slug.like(f"{base}%"))))
            candidates = (base if n == 1 else f"{base}-{n}" for n in range(1, len(taken) + 2))
            return next(candidate for candidate in candidates if candidate not in taken)
    return None


def _cleaned(key: str, value) -> str | None:
    """Names, codes and the country on one line; the contact and notes as typed, trimmed."""
    return (trimmed(value or "") if key in ("contact", "notes") else one_line(value)) or None


# CLDR's two-letter regions that are no country (the European Union, the euro area, the United Nations,
# outlying Oceania, unknown): a country decides the foreign-partner approval steps.
_NOT_COUNTRIES = {"EU", "EZ", "QO", "UN", "ZZ"}


def _is_country(code: str) -> bool:
    """An ISO 3166 two-letter country code (CLDR's regions, Babel's data): XX was taken as one."""
    from babel import Locale

    return bool(re.fullmatch(r"[A-Z]{2}", code)) and code in Locale("en").territories and code not in _NOT_COUNTRIES


def _named_alike(key: str, name: str, organization: Organization | None) -> int | None:
    """The id of another organisation with the same name in this language, or None: the same
    partner entered twice splits its agreements between two records. Names are compared folded as the
    search folds them (case, accents, Arabic letter variants), spaces and invisible characters aside:
    "Societe Generale Maroc" is "Société Générale Maroc". Organisations are a few thousand at most, and
    this runs on a save."""
    column = getattr(Organization, key)
    query = select(Organization.id, column).where(column.is_not(None))
    if organization is not None and organization.id is not None:
        query = query.where(Organization.id != organization.id)
    wanted = _compared(name)
    return next((found for found, other in db.session.execute(query) if _compared(other) == wanted), None)


def _compared(name: str) -> str:
    """A name as two names are compared: folded, without spaces or invisible characters ("MistralAI", and
    "Mistral AI" with a zero-width space, are "Mistral AI")."""
    return "".join(ch for ch in fold(name) if not ch.isspace() and unicodedata.category(ch) != "Cf")


def save_organization(organization: Organization | None, values: dict, *, by, seen: str | None = None) -> Organization:
    """Create (organization=None) or update an organisation from plain values (`seen`: as its form showed it)."""
    if organization is not None:
        check_seen(organization, FIELDS, seen)
    # Names are unique per language by reading (no index folds them): two people entering the same
    # partner at the same moment each found no namesake and both saved.
    take_turns_on("organization names")
    values = {key: _cleaned(key, values.get(key)) for key in FIELDS}
    if values["country"]:
        values["country"] = values["country"].upper()
    errors: dict[str, list[str]] = {}
    if not (values["name_ar"] or values["name_fr"] or values["name_en"]):
        errors["name_fr"] = [_("Give a name in at least one language.")]
    if values["kind"] not in ORGANIZATION_KINDS:
        errors["kind"] = [_("Choose a kind from the list.")]
    if organization is None and not values["slug"]:
        values["slug"] = _free_slug(values)
    if organization is None and not values["slug"] and values["name_ar"]:
        # Left empty as its help allows, beside a name in Arabic only: the rule for a typed short name said
        # nothing of why.
        errors["slug"] = [
            _("A name in Arabic alone gives no short name: type one, in lower-case Latin letters, digits and dashes.")
        ]
    elif not values["slug"] or not SLUG_PATTERN.match(values["slug"]):
        errors["slug"] = [_("Use lower-case letters, digits and dashes (at most 64).")]
    else:
        clash = db.session.scalar(select(Organization.id).where(Organization.slug == values["slug"]))
        if clash is not None and (organization is None or clash != organization.id):
            errors["slug"] = [_("Another organisation already uses this short name.")]
    for key in ("name_ar", "name_fr", "name_en"):
        if values[key] and (same := _named_alike(key, values[key], organization)) is not None:
            # Named as the reader knows it (the short name, "add", said nothing to them).
            other = db.session.get(Organization, same)
            errors[key] = [_("“%(name)s” already has this name: edit that organisation instead.", name=other.name)]
    if values["country"] and not _is_country(values["country"]):
        errors["country"] = [_("Use a two-letter country code (MA, FR, ...).")]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)

    creating = organization is None
    if creating:
        organization = Organization()
        db.session.add(organization)
        before = {}
    else:
        before = {key: getattr(organization, key) for key in FIELDS}
    for key in FIELDS:
        setattr(organization, key, values[key])
    try:
        db.session.flush()
    except IntegrityError:  # the same short name, saved by someone else since the check above (a double submit)
        db.session.rollback()
        message = _("Another organisation already uses this short name.")
        raise ValidationFailed(_("Please correct the errors below."), {"slug": [message]}) from None
    after = {key: getattr(organization, key) for key in FIELDS}
    changes = {"after": after} if creating else audit.diff(before, after)
    if creating or changes["after"]:
        audit.record("created" if creating else "updated", organization, actor=by, changes=changes)
    return organization


def create_home(values: dict, *, by=None) -> Organization:
    """The ministry's own organisation, on an install without the demo: its staff belong to it, it funds
    budget lines, owns deliverables and sends the first text of a negotiation. There is one."""
    existing = db.session.scalar(select(Organization.slug).where(Organization.is_home.is_(True)))
    if existing is not None:
        raise ValidationFailed(_("The ministry's organisation exists already: %(slug)s.", slug=existing))
    home = save_organization(None, {**values, "kind": values.get("kind") or "ministry"}, by=by)
    home.is_home = True
    return home


def mark_home(organization: Organization, *, by=None) -> Organization:
    """Make an existing organisation the ministry's own: an install older than `create-home` had entered the
    ministry as an ordinary organisation, and then no officer could send a negotiation's first text. Refused
    while it is an agreement's party or has partner accounts (the ministry is neither)."""
    from app.agreements.models import AgreementParty
    from app.auth.models import User
    from app.core import audit
    from app.core.permissions import is_partner_role

    existing = db.session.scalar(select(Organization.slug).where(Organization.is_home.is_(True)))
    if existing is not None:
        raise ValidationFailed(_("The ministry's organisation exists already: %(slug)s.", slug=existing))
    party = db.session.scalar(
        select(AgreementParty.id).where(AgreementParty.organization_id == organization.id).limit(1)
    )
    partners = [
        u.email
        for u in db.session.scalars(select(User).where(User.organization_id == organization.id))
        if is_partner_role(u.role)
    ]
    if party is not None or partners:
        raise ValidationFailed(
            _(
                "%(slug)s is a party to agreements or has partner accounts: the ministry's organisation is neither. "
                "Move them first.",
                slug=organization.slug,
            )
        )
    organization.is_home = True
    audit.record("made_home", organization, actor=by, changes={"after": {"is_home": True}})
    return organization
