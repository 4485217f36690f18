"""What a drop-down offers: every choice while they are few, else the chosen ones and the endpoint to search.

Bounded whatever the portfolio's size: a page pays one query per drop-down (at most CHOICES_LISTED + 1
rows) and, past that many, one more for the chosen rows; the endpoint one query for twenty matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app, url_for
from sqlalchemy import or_

from app.choices.kinds import KINDS, Kind
from app.core.text import fold
from app.core.urls import MAX_ID
from app.extensions import db

# Matches the endpoint answers for one query, and ids it reads back at once.
MATCHES = 20
MAX_IDS = 50
# Chosen ids a form may send back at once (a hostile form with thousands is refused, not read).
MAX_CHOSEN = 500


@dataclass
class Offered:
    """(value, label[, attributes]) pairs for the page, and the endpoint's URL when only the chosen are listed."""

    choices: list[tuple]
    url: str | None = None


def listed_up_to() -> int:
    """Past this many choices a drop-down lists only the chosen ones (the setting CHOICES_LISTED)."""
    return int(current_app.config["CHOICES_LISTED"])


def _statement(kind: Kind, user, exclude: Iterable[int], chosen: list[int] | None = None):
    """What `user` may choose of `kind`: only the current rows (kind.current), and those `chosen` already."""
    statement = kind.statement(user)
    if kind.current is not None:
        current = kind.current()
        statement = statement.where(or_(current, statement.selected_columns.id.in_(chosen)) if chosen else current)
    excluded = [value for value in exclude if value is not None]
    if excluded:
        statement = statement.where(statement.selected_columns.id.not_in(excluded))
    return statement


def _rows(kind: Kind, statement) -> list:
    rows = list(db.session.execute(statement.order_by(*kind.order())).all())
    if kind.python_order:
        # By the name shown, accents and letter variants folded; the ministry stays first where listed.
        rows.sort(key=lambda row: (not getattr(row, "is_home", False), fold(kind.label(row))))
    return rows


def as_ids(values) -> list[int]:
    """The whole numbers among `values` (a form's data: ints, digit strings, None, -1 for garbage)."""
    if values is None or isinstance(values, (str, int)):
        values = [values]
    found = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
            found.append(value)
        elif isinstance(value, str) and value.isdecimal() and len(value) <= 10 and 0 < int(value) <= MAX_ID:
            found.append(int(value))
    return list(dict.fromkeys(found))


def offer(kind_name: str, user, chosen=(), exclude: Iterable[int] = (), text_values: bool = False) -> Offered:
    """The choices of kind `kind_name` that `user` may choose: all of them while they are few, else only those
    among `chosen` (kept on the page so a form sent back does not lose them) and the endpoint to find the rest.
    An id of `chosen` the user may not choose is never offered, so a form's choice check refuses it."""
    kind = KINDS[kind_name]
    wanted = list(dict.fromkeys(as_ids(chosen)))[:MAX_CHOSEN]
    statement = _statement(kind, user, exclude, wanted)
    limit = listed_up_to()
    rows = _rows(kind, statement.limit(limit + 1))
    url = None
    if len(rows) > limit:
        rows = _rows(kind, statement.where(statement.selected_columns.id.in_(wanted))) if wanted else []
        url = url_for("choices.find_choices", kind=kind_name, exclude=",".join(map(str, exclude)) or None)
    return Offered([_choice(kind, row, text_values) for row in rows], url)


def _choice(kind: Kind, row, text_values: bool) -> tuple:
    value = str(row.id) if text_values else row.id
    if kind.search is None:
        return (value, kind.label(row))
    return (value, kind.label(row), {"data-search": kind.search(row)})


def find(kind_name: str, user, query: str = "", ids: list[int] | None = None, exclude: Iterable[int] = ()) -> list:
    """What the endpoint answers: the `ids` asked for, or the first matches of `query`, among what `user` may
    choose, as {value, text} (one query)."""
    kind = KINDS[kind_name]
    statement = _statement(kind, user, exclude, ids[:MAX_IDS] if ids else None)
    if ids:
        statement = statement.where(statement.selected_columns.id.in_(ids[:MAX_IDS]))
    else:
        statement = statement.where(*kind.matching(query)).limit(MATCHES)
    return [{"value": str(row.id), "text": kind.label(row)} for row in _rows(kind, statement)]


def fill(fields, kind_name: str, user, *, blank=None, keep=(), exclude: Iterable[int] = (), text_values=False) -> None:
    """Set the choices of a WTForms select (or of several offering the same kind, read once) from `offer`: their
    current data (what was stored, or what was sent) is what is chosen, with `keep`; past the limit each field
    carries the endpoint's URL (data-remote), which the form macro and sharaka.js turn into a search as one types."""
    fields = list(fields) if isinstance(fields, (list, tuple)) else [fields]
    chosen = [value for field in fields for value in as_ids(field.data)] + as_ids(keep)
    offered = offer(kind_name, user, chosen=chosen, exclude=exclude, text_values=text_values)
    for field in fields:
        field.choices = ([blank] if blank else []) + list(offered.choices)
        render_kw = dict(field.render_kw or {})
        render_kw.pop("data-remote", None)
        if offered.url:
            render_kw["data-remote"] = offered.url
        field.render_kw = render_kw
