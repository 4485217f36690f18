"""Each kind of choice: who may ask, the rows a person may choose, how typed words find them, and their label.

A kind's statement selects plain columns (never whole objects): a page that lists a few dozen
choices, or the endpoint's twenty matches, reads one row each and loads nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from flask_babel import format_date
from sqlalchemy import false, select

from app.agreements.models import Agreement, AgreementParty, SigningEvent
from app.auth.models import User
from app.core.i18n import localized
from app.core.permissions import (
    holders_clause,
    holds,
    visible_agreements_clause,
    visible_deliverables_clause,
    visible_events_clause,
    visible_organizations_clause,
)
from app.core.text import fold, like_pattern
from app.deliverables.models import Deliverable
from app.organizations.models import Organization, name_of, names_text
from app.search.models import SearchEntry

# Words of a typed query that count, and their length: the rest is ignored, never an error.
MAX_WORDS = 8
MAX_WORD = 60


def typed_words(query: str | None) -> list[str]:
    """The query folded as the search folds stored text (accents, Arabic letter variants), word by word."""
    return [word[:MAX_WORD] for word in fold((query or "")[:200]).split()[:MAX_WORDS]]


def _contains_every(column, query: str):
    return [column.like(like_pattern(word), escape="\\") for word in typed_words(query)]


@dataclass(frozen=True)
class Kind:
    """One kind of choice. `statement(user)`: SELECT of the rows `user` may choose, with an `id` column;
    `matching(query)`: conditions narrowing it to every typed word; `label(row)` and `search(row)` (the names in
    the other languages, for a list searched in the page) say what the person reads."""

    grant: str
    statement: Callable
    matching: Callable[[str], list]
    order: Callable[[], tuple]
    label: Callable
    search: Callable | None = None
    # Sorted again in Python by the label (names in the reader's language, which SQL cannot order by).
    python_order: bool = False
    # What a row must be to be chosen anew (an organisation not retired); one chosen already stays offered.
    current: Callable[[], object] | None = None


def _organizations(user, home: bool):
    statement = select(*Organization.naming_columns(), Organization.is_home).where(visible_organizations_clause(user))
    return statement if home else statement.where(Organization.is_home.is_(False))


def _parties(user):
    # The partners of the agreements `user` may see (the portfolio views' filter).
    return _organizations(user, home=False).where(
        Organization.id.in_(
            select(AgreementParty.organization_id)
            .join(Agreement, Agreement.id == AgreementParty.agreement_id)
            .where(visible_agreements_clause(user))
        )
    )


def organization_matching(query: str):
    """Conditions on Organization: every typed word in one of its names (the pages' drop-downs, the API)."""
    # Every name it goes by, folded, as the search index keeps it: "ميسترال" finds Mistral on a French page.
    words = _contains_every(SearchEntry.terms, query)
    if not words:
        return []
    return [Organization.id.in_(select(SearchEntry.object_id).where(SearchEntry.kind == "organization", *words))]


def _organization_label(row) -> str:
    return name_of(row)


def _agreements(user):
    return select(*Agreement.naming_columns()).where(visible_agreements_clause(user))


def _planned(user):
    # The agreements whose deliverables the reader sees (a partner's colleague may see only some).
    return _agreements(user).where(
        Agreement.id.in_(select(Deliverable.agreement_id)), visible_deliverables_clause(user, Agreement.id)
    )


def _agreement_label(row) -> str:
    # The reference alone says nothing to most people: the title follows, in the reader's language.
    return " — ".join(filter(None, (row.reference, localized(row, "title"))))


def _agreement_search(row) -> str:
    return " ".join(filter(None, (row.title_ar, row.title_fr, row.title_en)))


def _people(user):
    return select(User.id, User.full_name)


def _owners(user):
    # Who may be named an agreement's owner; only those who edit agreements ask.
    if not holds(user, "agreement.edit"):
        return _people(user).where(false())
    return _people(user).where(holders_clause("agreement.own"), User.is_active_account.is_(True))


def _agreement_owners(user):
    return _people(user).where(User.id.in_(select(Agreement.owner_id).where(visible_agreements_clause(user))))


def _events(user):
    return select(
        SigningEvent.id, SigningEvent.name_ar, SigningEvent.name_fr, SigningEvent.name_en, SigningEvent.held_on
    ).where(visible_events_clause(user))


def _event_label(row) -> str:
    return f"{localized(row, 'name') or ''} ({format_date(row.held_on, 'medium')})"


def _organization_kind(grant: str, statement: Callable, order: Callable[[], tuple], **options) -> Kind:
    # Organisations are matched, named and searched the same way whichever of them a list offers.
    return Kind(
        grant=grant,
        statement=statement,
        matching=organization_matching,
        order=order,
        label=_organization_label,
        search=names_text,
        **options,
    )


def _not_retired():
    return Organization.retired_at.is_(None)


KINDS: dict[str, Kind] = {
    # Every organisation, the ministry first (co-signatories, witnesses, the deliverables' "responsible").
    "organizations": _organization_kind(
        "organization.list",
        lambda user: _organizations(user, home=True),
        lambda: (Organization.is_home.desc(), Organization.slug),
        python_order=True,
        current=_not_retired,
    ),
    # Partner organisations: every one but the ministry.
    "partners": _organization_kind(
        "organization.list",
        lambda user: _organizations(user, home=False),
        lambda: (Organization.slug,),
        python_order=True,
        current=_not_retired,
    ),
    # Partners of the agreements the person sees (the board's filter).
    "parties": _organization_kind("portfolio.view", _parties, lambda: (Organization.slug,), python_order=True),
    "agreements": Kind(
        grant="agreement.list",
        statement=_agreements,
        matching=lambda query: _contains_every(Agreement.search_text, query),
        order=lambda: (Agreement.reference.desc(),),
        label=_agreement_label,
        search=_agreement_search,
    ),
    # Agreements with a deliverables plan (the deliverables list's filter).
    "planned": Kind(
        grant="deliverable.list",
        statement=_planned,
        matching=lambda query: _contains_every(Agreement.search_text, query),
        order=lambda: (Agreement.reference,),
        label=lambda row: row.reference,
        search=lambda row: " ".join(filter(None, (row.reference, _agreement_search(row)))),
    ),
    "owners": Kind(
        grant="agreement.edit",
        statement=_owners,
        matching=lambda query: _contains_every(User.search_text, query),
        order=lambda: (User.full_name, User.id),
        label=lambda row: row.full_name,
    ),
    # Owners of the agreements the person sees (the board's filter).
    "agreement-owners": Kind(
        grant="portfolio.view",
        statement=_agreement_owners,
        matching=lambda query: _contains_every(User.search_text, query),
        order=lambda: (User.full_name, User.id),
        label=lambda row: row.full_name,
        python_order=True,
    ),
    "events": Kind(
        grant="event.list",
        statement=_events,
        matching=lambda query: _contains_every(SigningEvent.search_text, query),
        order=lambda: (SigningEvent.held_on.desc(), SigningEvent.id),
        label=_event_label,
    ),
}

# The same, retired ones included: a list's filter finds what was done with them.
KINDS["any-organization"] = replace(KINDS["organizations"], current=None)
KINDS["any-partner"] = replace(KINDS["partners"], current=None)
