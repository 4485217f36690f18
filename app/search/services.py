"""The top bar's search: one query over the entries the reader may see, ranked, then their labels.

Two queries whatever the portfolio's size: the ranked entries (each word of the query must
match a stored form by its beginning; a match in the reference, title, name or file name
ranks above one in a summary or a partner's name), then the objects of that one page of
results, read in one query per kind found.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, literal, or_, select
from sqlalchemy.sql.functions import coalesce

from app.core.i18n import gettext as _
from app.core.permissions import (
    visible_agreements_clause,
    visible_deliverables_clause,
    visible_documents_clause,
    visible_organizations_clause,
)
from app.core.templating import written_date
from app.core.text import fold, like_pattern
from app.extensions import db
from app.search.models import SearchEntry
from app.search.terms import query_words
from app.workflow.engine import state_label

LIMIT = 30
# Among equally good matches: agreements first, then organisations, deliverables, documents.
KIND_ORDER = {"agreement": 0, "organization": 1, "deliverable": 2, "document": 3, "submission_file": 3}
# Entries that show an agreement's deliverables: found only by who sees them (visible_deliverables_clause).
DELIVERABLE_KINDS = ("deliverable", "submission_file")


@dataclass
class Result:
    kind: str
    label: str
    detail: str | None
    url: str
    reference: str | None = None


def _word_clause(column, forms: tuple[str, ...]):
    return or_(*(column.like(like_pattern(" " + form), escape="\\") for form in forms))


def matching_agreement_ids(query: str):
    """A SELECT of the agreements whose entry matches every word of `query` (stems, partners' names), or None."""
    wanted = query_words(query)
    if not wanted:
        return None
    return select(SearchEntry.object_id).where(
        SearchEntry.kind == "agreement", *(_word_clause(SearchEntry.terms, forms) for forms in wanted)
    )


def agreements_found(user, query: str) -> int:
    """How many agreements `user` may see match every word of `query` (what the agreements list shows for it)."""
    from sqlalchemy import func

    from app.agreements.models import Agreement

    matching = matching_agreement_ids(query)
    if matching is None:
        return 0
    return db.session.scalar(
        select(func.count(Agreement.id)).where(visible_agreements_clause(user), Agreement.id.in_(matching))
    )


def matching_entries(user, query: str, limit: int = LIMIT) -> list[SearchEntry]:
    """The entries matching every word of `query` that `user` may see, best first."""
    from app.agreements.models import Agreement
    from app.organizations.models import Organization
    from app.workflow.models import AgreementDocument

    wanted = query_words(query)
    if not wanted:
        return []
    visible_agreements = select(Agreement.id).where(visible_agreements_clause(user))
    visible_organizations = select(Organization.id).where(visible_organizations_clause(user))
    score = literal(0)
    for forms in wanted:
        score = score + case((_word_clause(SearchEntry.title_terms, forms), 2), else_=1)
    whole = fold(query)
    if whole and " " not in whole:  # the whole reference or file name typed in
        score = score + case((SearchEntry.title_terms.like(like_pattern(f" {whole} "), escape="\\"), 10), else_=0)
    kind_order = case(*((SearchEntry.kind == kind, order) for kind, order in KIND_ORDER.items()), else_=9)
    statement = (
        select(SearchEntry)
        .where(and_(*(_word_clause(SearchEntry.terms, forms) for forms in wanted)))
        .where(
            or_(
                and_(SearchEntry.kind == "organization", SearchEntry.organization_id.in_(visible_organizations)),
                and_(
                    SearchEntry.kind != "organization",
                    SearchEntry.agreement_id.in_(visible_agreements),
                    or_(
                        SearchEntry.kind.not_in(DELIVERABLE_KINDS),
                        visible_deliverables_clause(user, SearchEntry.agreement_id),
                    ),
                    or_(
                        SearchEntry.kind != "document",
                        SearchEntry.object_id.in_(select(AgreementDocument.id).where(visible_documents_clause(user))),
                    ),
                ),
            )
        )
        .order_by(score.desc(), kind_order, coalesce(SearchEntry.agreement_id, 0).desc(), SearchEntry.id)
        .limit(limit)
    )
    return list(db.session.scalars(statement))


def search(user, query: str, limit: int = LIMIT) -> list[Result]:
    """The results as the page shows them, in rank order."""
    from flask import url_for
    from sqlalchemy.orm import joinedload

    from app.agreements.models import Agreement
    from app.deliverables.models import Deliverable, Occurrence, Submission, SubmissionFile
    from app.organizations.models import Organization
    from app.workflow.models import AgreementDocument

    entries = matching_entries(user, query, limit)
    ids: dict[str, list[int]] = {}
    for entry in entries:
        ids.setdefault(entry.kind, []).append(entry.object_id)
    loaded: dict[tuple[str, int], object] = {}
    document_agreement = {}

    def load(kind, statement):
        if kind in ids:
            for obj in db.session.scalars(statement):
                loaded[(kind, obj.id)] = obj

    load("agreement", select(Agreement).where(Agreement.id.in_(ids.get("agreement", []))))
    load("organization", select(Organization).where(Organization.id.in_(ids.get("organization", []))))
    load(
        "deliverable",
        select(Deliverable)
        .where(Deliverable.id.in_(ids.get("deliverable", [])))
        .options(joinedload(Deliverable.agreement)),
    )
    if "document" in ids:
        for document, agreement in db.session.execute(
            select(AgreementDocument, Agreement)
            .join(Agreement, Agreement.id == AgreementDocument.agreement_id)
            .where(AgreementDocument.id.in_(ids["document"]))
        ):
            loaded[("document", document.id)] = document
            document_agreement[document.id] = agreement
    load(
        "submission_file",
        select(SubmissionFile)
        .where(SubmissionFile.id.in_(ids.get("submission_file", [])))
        .options(
            joinedload(SubmissionFile.submission)
            .joinedload(Submission.occurrence)
            .joinedload(Occurrence.deliverable)
            .joinedload(Deliverable.agreement)
        ),
    )
    results = []
    for entry in entries:
        obj = loaded.get((entry.kind, entry.object_id))
        if obj is None:
            continue
        if entry.kind == "agreement":
            results.append(
                Result(
                    "agreement",
                    obj.title,
                    state_label(obj),
                    reference=obj.reference,
                    url=url_for("agreements.view_agreement", agreement_id=obj.id),
                )
            )
        elif entry.kind == "organization":
            results.append(
                Result(
                    "organization",
                    obj.name,
                    # A retired one is still found (its history), and says so beside its acronym.
                    " · ".join(filter(None, (obj.acronym, _retired_on(obj) if obj.is_retired else None))) or None,
                    url=url_for("organizations.view_organization", organization_id=obj.id),
                )
            )
        elif entry.kind == "deliverable":
            results.append(
                Result(
                    "deliverable",
                    obj.title,
                    obj.agreement.title,
                    reference=obj.agreement.reference,
                    url=url_for("agreements.view_agreement", agreement_id=obj.agreement_id, _anchor="deliverables"),
                )
            )
        elif entry.kind == "document":
            agreement = document_agreement[obj.id]
            results.append(
                Result(
                    "document",
                    obj.original_name,
                    agreement.title,
                    reference=agreement.reference,
                    url=url_for("workflow.download_document", agreement_id=obj.agreement_id, document_id=obj.id),
                )
            )
        else:
            occurrence = obj.submission.occurrence
            results.append(
                Result(
                    "document",
                    obj.original_name,
                    occurrence.deliverable.title,
                    reference=occurrence.deliverable.agreement.reference,
                    url=url_for("deliverables.view_occurrence", occurrence_id=occurrence.id),
                )
            )
    return results


def _retired_on(organization) -> str:
    return _("Retired on %(date)s", date=written_date(organization.retired_at))
