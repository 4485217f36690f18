"""What an audit row says changed, as a person reads it: each field by its name in the reader's language
(app/audit/fields.py), each value as the pages write it (a localised date, an amount in its currency, names
for ids, labels for codes, lists as the language writes them). The one reader of a row's `changes` for the
agreement's history and the audit trail's page: each had drawn them its own way, the history with the stored
keys of what it did not know ("first_due_on 2020-01-01 → 2027-01-31", "8000000.00 MAD"), the trail as JSON.

Nothing empty is said (a field empty before and after, a list of nothing moved), nor the ids that only tie a
row to another one. The CSV and Excel downloads keep the row as recorded (app/audit/browsing.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import format_decimal, format_number
from markupsafe import Markup

from app.agreements.models import PARTY_ROLES
from app.agreements.renewals import describe
from app.audit.fields import MOVED, field
from app.audit.names import ID_SORTS, Names, agreement_of, party_of
from app.budget.models import AMOUNT_DECIMALS, KINDS
from app.core import stored_texts
from app.core.dates import format_file_size, format_moment
from app.core.i18n import gettext as _
from app.core.i18n import list_separator, ngettext, pgettext, reader_locale, written_amount
from app.core.templating import written_date
from app.workflow.engine import label, state_labels, step_label

# Longer texts (a summary, a note) are cut here: the agreement's page shows them whole.
MOST_CHARACTERS = 300


@dataclass(frozen=True)
class ChangeLine:
    """One recorded field: its name, what it became or holds, and what it was (None: the row records a value,
    not a change: a creation, a detail)."""

    label: str
    after: Markup
    before: Markup | None = None


@dataclass(frozen=True)
class _Row:
    """What a value is read against: its row's action and object, the names, and the currency of its amounts."""

    names: Names
    action: str | None = None
    object_type: str | None = None
    currency: str | None = None
    definition: Any = None
    transition: str | None = None


def changed(event, names: Names, *, hidden: Iterable[str] = ()) -> list[ChangeLine]:
    """The fields an audit row's before and after name: "what it was → what it became" for a change or a
    removal, the value alone for a row with an after only (a creation). `hidden`: keys this reader may not
    read (an agreement's internal notes)."""
    changes = event.changes if isinstance(event.changes, dict) else {}
    before, after = (changes.get(side) if isinstance(changes.get(side), dict) else {} for side in ("before", "after"))
    left_out = set(hidden)
    keys = [key for key in [*after, *(key for key in before if key not in after)] if key not in left_out]
    reading_before, reading_after = _reading(event, names, before, changes), _reading(event, names, after, changes)
    lines = []
    for key in keys:
        described = field(key, action=event.action, object_type=event.object_type)
        if described.sort == "hidden":
            continue
        if described.sort in ("moved", "dropped"):
            line = _due_dates(described.sort, after.get(key) or before.get(key))
            if line is not None:
                lines.append(line)
            continue
        was, now = _value(key, before.get(key), reading_before), _value(key, after.get(key), reading_after)
        if was == now:
            continue  # empty before and after, or the same as read
        name = str(described.label)
        lines.append(ChangeLine(name, now or _empty(), was or _empty()) if before else ChangeLine(name, now))
    return lines


def details(event, names: Names) -> list[ChangeLine]:
    """The row's other recorded facts (who an e-mail went to, a file's fingerprint, how many sessions ended),
    each by its name, the empty ones left out: the audit trail shows them under the fields changed."""
    changes = event.changes if isinstance(event.changes, dict) else {}
    reading = _reading(event, names, {}, changes)
    lines = []
    for key, value in changes.items():
        if key in ("before", "after"):
            continue
        described = field(key, action=event.action, object_type=event.object_type)
        if described.sort == "hidden":
            continue
        if described.sort in ("moved", "dropped"):
            line = _due_dates(described.sort, value)
        else:
            drawn = _value(key, value, reading)
            line = ChangeLine(str(described.label), drawn) if drawn is not None else None
        if line is not None:
            lines.append(line)
    return lines


def _reading(event, names: Names, side: dict, changes: dict) -> _Row:
    # A line's change recorded before its currency was (21caa54) is read in the line's currency.
    currency = side.get("currency") or changes.get("currency") or names.line_currencies.get(changes.get("line"))
    transition = changes.get("transition")
    return _Row(
        names,
        event.action,
        event.object_type,
        currency if isinstance(currency, str) else None,
        names.definitions.get(agreement_of(event)),
        transition if isinstance(transition, str) else None,
    )


def _empty() -> Markup:
    return Markup('<span class="text-body-secondary fst-italic">%s</span>') % _("empty")


def _due_dates(sort: str, entries) -> ChangeLine | None:
    """A replanned line's due dates that moved ([[id, from, to]]) or that are no longer owed ([[id, due,
    "removed" | "waived"]]), said as a sentence: "3 due dates moved: 1 Jan 2020 → 31 Jan 2027, …"."""
    entries = [entry for entry in entries or [] if isinstance(entry, list | tuple) and len(entry) >= 3]
    if not entries:
        return None
    if sort == "moved":
        heading = ngettext("%(num)s due date moved", "%(num)s due dates moved", len(entries))
        said = [Markup("%s → %s") % (_date(entry[1]), _date(entry[2])) for entry in entries]
    else:
        outcomes = {"removed": _("removed"), "waived": _("waived")}
        heading = ngettext("%(num)s due date no longer owed", "%(num)s due dates no longer owed", len(entries))
        said = [Markup("%s (%s)") % (_date(entry[1]), outcomes.get(entry[2], entry[2])) for entry in entries]
    return ChangeLine(heading, _listed(said))


def _value(key: str, value: Any, row: _Row) -> Markup | None:
    """`value` of `key` as the pages write it; None when there is nothing to say (empty)."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    described = field(key, action=row.action, object_type=row.object_type)
    sort = described.sort
    try:
        if sort in ID_SORTS:
            return _named(sort, value, row.names)
        writer = _WRITERS.get(sort)
        if writer is not None:
            return writer(key, value, row, described)
    except (TypeError, ValueError, InvalidOperation, AttributeError, KeyError, IndexError):
        pass  # recorded otherwise than this reader expects: said as it was recorded
    return _text(key, value)


def _text(key: str, value: Any) -> Markup:
    if isinstance(value, list):
        return _listed(_text(key, item) for item in value)
    if isinstance(value, dict):
        return _records(value, _Row(Names()))
    text = str(value)
    if len(text) > MOST_CHARACTERS:
        text = text[: MOST_CHARACTERS - 1] + "…"
    if key.endswith("_ar"):
        return Markup('<span lang="ar" dir="rtl">%s</span>') % text
    return Markup("<bdi>%s</bdi>") % text


def _listed(items: Iterable[Markup]) -> Markup:
    return Markup(list_separator()).join(items)


def _date(value) -> Markup:
    return Markup('<span class="text-nowrap">%s</span>') % written_date(value)


def _amount(value, currency: str | None) -> Markup:
    amount = Decimal(str(value))
    written = (
        written_amount(amount, currency, most_decimals=AMOUNT_DECIMALS)
        if currency
        else format_decimal(amount, format="#,##0.00")
    )
    return Markup('<span class="text-nowrap">%s</span>') % written


def _named(sort: str, value, names: Names) -> Markup:
    """An id (an organisation's short name too) as the pages name it: a person's or an organisation's name,
    an agreement's reference, a signing event's name; the id where it is no longer known."""
    if isinstance(value, list):
        return _listed(_named(sort, item, names) for item in value)
    if sort == "organization" and isinstance(value, str) and not value.isdecimal():
        return Markup("<bdi>%s</bdi>") % names.organization_slugs.get(value, value)
    known = getattr(names, ID_SORTS[sort]).get(int(value))
    if sort == "agreement":
        return Markup('<span class="reference">%s</span>') % (known or f"#{value}")
    return Markup("<bdi>%s</bdi>") % (known or f"#{value}")


def _parties(key, value, row: _Row, described) -> Markup:
    said = []
    for entry in value:
        organization_id, role = party_of(entry)
        name = _named("organization", organization_id, row.names)
        said.append(Markup("%s (%s)") % (name, PARTY_ROLES.get(role, role)) if role else name)
    return _listed(said)


def _budget_lines(key, value, row: _Row, described) -> Markup:
    said = []
    for line in value:
        facts = [
            _named("organization", line["organization_id"], row.names) if line.get("organization_id") else None,
            Markup("%s") % KINDS[line["kind"]] if line.get("kind") in KINDS else None,
            Markup("<bdi>%s</bdi>") % (line.get("period") or line.get("year"))
            if line.get("period") or line.get("year")
            else None,
        ]
        said.append(
            Markup("<li><bdi>%s</bdi>%s %s (%s)</li>")
            % (
                stored_texts.shown(line.get("label")) or "—",
                _colon(),
                _amount(line["amount"], line.get("currency")),
                _listed(fact for fact in facts if fact is not None),
            )
        )
    return Markup('<ul class="list-unstyled mb-0">%s</ul>') % Markup("").join(said)


def _colon() -> str:
    """What follows a label before its value in the reader's language (a no-break space before it in French)."""
    return pgettext("after a label, before its value", ":")


def _records(value, row: _Row) -> Markup:
    """A recorded dict (a term's dates, a line left out of a plan), or a list of them: each field by its name."""
    if isinstance(value, list):
        return _listed(_records(item, row) for item in value)
    if not isinstance(value, dict):
        return _text("", value)
    said = []
    for key, item in value.items():
        described = field(key, action=row.action, object_type=row.object_type)
        drawn = _value(key, item, row) if described.sort != "hidden" else None
        if drawn is not None:
            said.append(Markup("%s%s %s") % (described.label, _colon(), drawn))
    return Markup(" · ").join(said)


def _counts(value: dict) -> Markup:
    """How many of each thing a merge moved, the ones it moved none of left out."""
    said = [
        Markup("%s%s %s") % (MOVED.get(key, key), _colon(), format_number(int(count)))
        for key, count in value.items()
        if count
    ]
    return Markup(" · ").join(said)


def _amendment_changes(key, value, row: _Row, described) -> Markup:
    """What an amendment changes, term by term, each written as the term's own field is."""
    said = []
    for term, proposed in value.items():
        drawn = _value(term, proposed, row)
        if drawn is not None:
            name = field(term, action=row.action, object_type=row.object_type).label
            said.append(Markup("<li>%s%s %s</li>") % (name, _colon(), drawn))
    return Markup('<ul class="list-unstyled mb-0">%s</ul>') % Markup("").join(said)


def _move(key, value, row: _Row, described) -> Markup:
    """A workflow move by its label in the agreement's workflow ("Submit for internal review")."""
    transition = row.definition.transition(value) if row.definition is not None else None
    return Markup("%s") % (label(transition.label) if transition is not None else value)


def _step(key, value, row: _Row, described) -> Markup:
    """An approval step as the agreement's page names it: its approval's label, and "Step 2" when it has
    several (app/workflow/engine.py's step_label); the step's name in the workflow file where it is not found."""
    if row.definition is None:
        return Markup('<bdi dir="ltr">%s</bdi>') % value
    approvals = [t for t in row.definition.transitions if t.approval is not None]
    found = [t for t in approvals if t.name == row.transition] or approvals
    for transition in found:
        steps = [step.name for step in transition.approval.steps]
        if value in steps:
            return Markup("%s") % step_label(transition, steps.index(value) + 1, len(steps))
    return Markup('<bdi dir="ltr">%s</bdi>') % value


def _moment(key, value, row, described) -> Markup:
    return Markup('<span class="text-nowrap">%s</span>') % format_moment(datetime.fromisoformat(str(value)))


_WRITERS = {
    "stored_text": lambda key, value, row, described: _text(key, stored_texts.shown(value)),
    "code": lambda key, value, row, described: Markup('<bdi dir="ltr">%s</bdi>') % value,
    "file": lambda key, value, row, described: Markup("<bdi>%s</bdi>") % value,
    "files": lambda key, value, row, described: _listed(Markup("<bdi>%s</bdi>") % name for name in value),
    "list": lambda key, value, row, described: _listed(Markup("<bdi>%s</bdi>") % item for item in value if item),
    "date": lambda key, value, row, described: _date(value),
    "dates": lambda key, value, row, described: _listed(_date(day) for day in value),
    "moment": _moment,
    "move": _move,
    "step": _step,
    "amount": lambda key, value, row, described: _amount(value, row.currency),
    "number": lambda key, value, row, described: Markup("%s") % format_decimal(Decimal(str(value))),
    "count": lambda key, value, row, described: Markup("%s") % format_number(int(value)),
    "year": lambda key, value, row, described: Markup("%s") % int(value),
    "yes_no": lambda key, value, row, described: Markup("%s") % (_("Yes") if value else _("No")),
    "choice": lambda key, value, row, described: Markup("%s") % described.choices.get(value, value),
    "state": lambda key, value, row, described: Markup("%s") % state_labels().get(value, value),
    "reference": lambda key, value, row, described: Markup('<span class="reference">%s</span>') % value,
    "country": lambda key, value, row, described: (
        Markup("%s") % reader_locale().territories.get(str(value).upper(), value)
    ),
    "file_size": lambda key, value, row, described: Markup("%s") % format_file_size(int(value)),
    "parties": _parties,
    "budget_lines": _budget_lines,
    "renewal": lambda key, value, row, described: Markup("%s") % describe(value),
    "amendment_changes": _amendment_changes,
    "agreements": lambda key, value, row, described: _named("agreement", value, row.names),
    "records": lambda key, value, row, described: _records(value, row),
    "counts": lambda key, value, row, described: _counts(value),
}
