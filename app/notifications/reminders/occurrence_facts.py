"""What a deliverable reminder says of its occurrence (agreement, deliverable, responsible partner, latest
feedback), read as plain columns: a first pass at a government's scale writes thousands of these notices,
and loading their occurrences, deliverables and agreements as objects was most of its time.

A pass reads the facts of all its new reminders in bulk (`read`, within `kept_for_a_pass`); a notice
built outside a pass (preview, a test) reads its own occurrence's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import SimpleNamespace

from sqlalchemy import select

from app.core.db import plain_rows
from app.extensions import db

PER_QUERY = 500  # bound parameters per IN (…)
_kept: ContextVar[dict[int, SimpleNamespace] | None] = ContextVar("sharaka_occurrence_facts", default=None)


@contextmanager
def kept_for_a_pass() -> Iterator[None]:
    """Keep the facts read during a pass until it ends: plain values, a commit does not expire them."""
    token = _kept.set({})
    try:
        yield
    finally:
        _kept.reset(token)


def read(occurrence_ids: Iterable[int]) -> None:
    """Read the facts of `occurrence_ids` not read yet in this pass, a few hundred per query."""
    kept = _kept.get()
    if kept is None:
        return
    missing = sorted(set(occurrence_ids) - kept.keys())
    for start in range(0, len(missing), PER_QUERY):
        kept.update(_facts(missing[start : start + PER_QUERY]))


def of(occurrence_id: int) -> SimpleNamespace:
    """The facts of one occurrence: from the pass's bulk read, or read now."""
    kept = _kept.get()
    if kept is not None and occurrence_id in kept:
        return kept[occurrence_id]
    found = _facts([occurrence_id])
    if kept is not None:
        kept.update(found)
    return found[occurrence_id]


def columns() -> tuple:
    """What a notice says of an occurrence, labelled as `keep` reads them: a rule reading the occurrences
    (joined to their deliverable, agreement and responsible organisation) adds them to its own columns.
    A sent-back one's latest feedback among them (its notice quotes it: Occurrence.latest_submission), read
    by the rule's own statement: read after it, a few at a time, it was two statements per batch."""
    from sqlalchemy import case

    from app.agreements.models import Agreement
    from app.deliverables.models import Deliverable, Occurrence, Submission, latest_submission_column
    from app.organizations.models import Organization

    latest_feedback = latest_submission_column(Submission.feedback)
    return (
        Occurrence.status,
        *Agreement.naming_columns()[1:],  # its reference and titles
        *Deliverable.naming_columns(),
        Deliverable.is_illustrative.label("deliverable_is_illustrative"),
        Organization.id.label("organization_id"),
        Organization.name_ar,
        Organization.name_fr,
        Organization.name_en,
        case((Occurrence.status == "sent_back", latest_feedback)).label("feedback"),
    )


def keep(row) -> None:
    """Keep the facts of an occurrence a rule read with `columns()`, for its notice."""
    kept = _kept.get()
    if kept is not None:
        kept[row.id] = _fact(row)


def _fact(row) -> SimpleNamespace:
    return SimpleNamespace(
        id=row.id,
        due_on=row.due_on,
        status=row.status,
        agreement=SimpleNamespace(
            reference=row.reference, title_ar=row.title_ar, title_fr=row.title_fr, title_en=row.title_en
        ),
        deliverable=SimpleNamespace(
            title_ar=row.deliverable_title_ar,
            title_fr=row.deliverable_title_fr,
            title_en=row.deliverable_title_en,
            is_illustrative=row.deliverable_is_illustrative,
        ),
        responsible=None
        if row.organization_id is None
        else SimpleNamespace(name_ar=row.name_ar, name_fr=row.name_fr, name_en=row.name_en),
        feedback=row.feedback,
    )


def _facts(ids: list[int]) -> dict[int, SimpleNamespace]:
    """id -> (due_on, status, agreement, deliverable, responsible, feedback), each part with the fields
    texts() and agreement_params() read (title_ar…, name_ar…, reference)."""
    from app.agreements.models import Agreement
    from app.deliverables.models import Deliverable, Occurrence
    from app.organizations.models import Organization

    rows = plain_rows(
        db.session.execute(
            select(Occurrence.id, Occurrence.due_on, *columns())
            .select_from(Occurrence)
            .join(Deliverable, Occurrence.deliverable_id == Deliverable.id)
            .join(Agreement, Deliverable.agreement_id == Agreement.id)
            .outerjoin(Organization, Organization.id == Deliverable.responsible_organization_id)
            .where(Occurrence.id.in_(ids))
        )
    )
    return {row.id: _fact(row) for row in rows}
