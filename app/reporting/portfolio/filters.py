"""Query-string values of the portfolio views, read defensively: anything not offered is ignored
(a hand-edited or hostile URL shows the default view, never an error)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from app.agreements.models import AGREEMENT_TYPES
from app.choices.services import offer
from app.workflow.engine import current_definitions

MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
GROUPS = ("partner", "event")


@dataclass
class PortfolioFilters:
    type: str | None = None
    partner_id: int | None = None
    owner_id: int | None = None


@dataclass
class FilterChoices:
    """(value, label) pairs the filter form offers, and for a list too long to offer whole, the URL that
    searches it as one types (only the chosen value is then offered: `read_filters` accepts nothing else)."""

    types: list[tuple[str, str]] = field(default_factory=list)
    partners: list[tuple[int, str]] = field(default_factory=list)
    owners: list[tuple[int, str]] = field(default_factory=list)
    remote: dict[str, str] = field(default_factory=dict)


def type_choices() -> list[tuple[str, str]]:
    definitions = current_definitions()
    return [(key, str(text)) for key, text in AGREEMENT_TYPES.items() if key in definitions]


def filter_choices(user, args) -> FilterChoices:
    """Types with a workflow, partner organisations and owners of the agreements `user` may see (past a few
    dozen, only the ones `args` asks for that `user` may choose)."""
    partners = offer("parties", user, chosen=args.get("partner"))
    owners = offer("agreement-owners", user, chosen=args.get("owner"))
    return FilterChoices(
        types=type_choices(),
        partners=[(value, label) for value, label, *_rest in partners.choices],
        owners=[(value, label) for value, label, *_rest in owners.choices],
        remote={name: url for name, url in (("partner", partners.url), ("owner", owners.url)) if url},
    )


def _offered_int(value, offered) -> int | None:
    if not isinstance(value, str) or not value.isdecimal() or len(value) > 10:
        return None
    number = int(value)
    return number if number in offered else None


def read_filters(args, choices: FilterChoices) -> tuple[PortfolioFilters, bool]:
    """The filters from the query string, and whether some value had to be ignored."""
    filters = PortfolioFilters(
        type=args.get("type") if args.get("type") in {key for key, _label in choices.types} else None,
        partner_id=_offered_int(args.get("partner"), {key for key, _label in choices.partners}),
        owner_id=_offered_int(args.get("owner"), {key for key, _label in choices.owners}),
    )
    ignored = any(
        args.get(name) not in (None, "") and value is None
        for name, value in (("type", filters.type), ("partner", filters.partner_id), ("owner", filters.owner_id))
    )
    return filters, ignored


def read_month(value, today: date) -> tuple[date, bool]:
    """The first day of the month asked as YYYY-MM, else of the current month (and True)."""
    match = MONTH_PATTERN.match(value or "") if isinstance(value, str) else None
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        if 1900 <= year <= 2200 and 1 <= month <= 12:
            return date(year, month, 1), False
    return today.replace(day=1), bool(value)


def read_group(value) -> tuple[str, bool]:
    return (value, False) if value in GROUPS else (GROUPS[0], bool(value))


def read_year(value, offered: list[int]) -> tuple[int | None, bool]:
    year = _offered_int(value, set(offered))
    return year, year is None and bool(value)
