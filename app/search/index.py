"""Keeps `search_entries` in step with what it describes, in the same transaction.

After each flush, the objects written (agreements and their parties, organisations,
deliverables, agreement documents, handed-in files) have their entries worked out again
from the database with a few set-based queries, whoever wrote them (pages, API, CLI, jobs,
demo). An organisation renamed re-indexes its agreements, whose entries carry the partners'
names ("ميسترال" finds Mistral AI's agreements). `rebuild` does everything (migration 0010,
`flask search reindex`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import delete, event, inspect, select
from sqlalchemy.orm import Session

from app.core.db import dialect_insert
from app.search.models import SearchEntry
from app.search.terms import index_terms

CHUNK = 500


def _tables():
    from app.agreements.models import Agreement, AgreementParty
    from app.deliverables.models import Deliverable, Occurrence, Submission, SubmissionFile
    from app.organizations.models import Organization
    from app.workflow.models import AgreementDocument

    return (
        Agreement,
        AgreementParty,
        Organization,
        Deliverable,
        Occurrence,
        Submission,
        SubmissionFile,
        AgreementDocument,
    )


def _chunks(ids: Iterable[int]):
    ids = sorted(set(ids))
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _org_names(row) -> list[str]:
    return [row.name_ar, row.name_fr, row.name_en, row.acronym]


# What an agreement's entry is made of, besides its parties' names (AgreementParty rows, followed apart): an
# agreement changed in nothing else (a move, a date, a signature: its version and state) keeps its entry as it is.
AGREEMENT_INDEXED = ("reference", "title_ar", "title_fr", "title_en", "summary_ar", "summary_fr", "summary_en")


def agreement_rows(connection, ids) -> list[dict]:
    Agreement, AgreementParty, Organization, *_rest = _tables()
    names = defaultdict(list)
    for party in connection.execute(
        select(
            AgreementParty.agreement_id,
            Organization.name_ar,
            Organization.name_fr,
            Organization.name_en,
            Organization.acronym,
        )
        .join(Organization, Organization.id == AgreementParty.organization_id)
        .where(AgreementParty.agreement_id.in_(ids))
    ):
        names[party.agreement_id] += _org_names(party)
    rows = []
    for agreement in connection.execute(
        select(Agreement.id, *(getattr(Agreement, name) for name in AGREEMENT_INDEXED)).where(Agreement.id.in_(ids))
    ):
        titles = (agreement.reference, agreement.title_ar, agreement.title_fr, agreement.title_en)
        rows.append(
            {
                "kind": "agreement",
                "object_id": agreement.id,
                "agreement_id": agreement.id,
                "organization_id": None,
                "title_terms": index_terms(*titles),
                "terms": index_terms(
                    *titles, agreement.summary_ar, agreement.summary_fr, agreement.summary_en, *names[agreement.id]
                ),
            }
        )
    return rows


def organization_rows(connection, ids) -> list[dict]:
    Organization = _tables()[2]
    rows = []
    for organization in connection.execute(select(*Organization.naming_columns()).where(Organization.id.in_(ids))):
        titles = _org_names(organization)
        rows.append(
            {
                "kind": "organization",
                "object_id": organization.id,
                "agreement_id": None,
                "organization_id": organization.id,
                "title_terms": index_terms(*titles),
                "terms": index_terms(*titles, organization.slug),
            }
        )
    return rows


def deliverable_rows(connection, ids) -> list[dict]:
    Agreement, _party, _org, Deliverable, *_rest = _tables()
    rows = []
    for deliverable in connection.execute(
        select(
            Deliverable.id,
            Deliverable.agreement_id,
            Deliverable.title_ar,
            Deliverable.title_fr,
            Deliverable.title_en,
            Deliverable.description,
            Agreement.reference,
        )
        .join(Agreement, Agreement.id == Deliverable.agreement_id)
        .where(Deliverable.id.in_(ids))
    ):
        titles = (deliverable.title_ar, deliverable.title_fr, deliverable.title_en)
        rows.append(
            {
                "kind": "deliverable",
                "object_id": deliverable.id,
                "agreement_id": deliverable.agreement_id,
                "organization_id": None,
                "title_terms": index_terms(*titles),
                "terms": index_terms(*titles, deliverable.description, deliverable.reference),
            }
        )
    return rows


def document_rows(connection, ids) -> list[dict]:
    AgreementDocument = _tables()[7]
    return [
        {
            "kind": "document",
            "object_id": document.id,
            "agreement_id": document.agreement_id,
            "organization_id": None,
            "title_terms": index_terms(document.original_name),
            "terms": index_terms(document.original_name),
        }
        for document in connection.execute(
            select(AgreementDocument.id, AgreementDocument.agreement_id, AgreementDocument.original_name).where(
                AgreementDocument.id.in_(ids)
            )
        )
    ]


def submission_file_rows(connection, ids) -> list[dict]:
    _a, _p, _o, Deliverable, Occurrence, Submission, SubmissionFile, _d = _tables()
    return [
        {
            "kind": "submission_file",
            "object_id": row.id,
            "agreement_id": row.agreement_id,
            "organization_id": None,
            "title_terms": index_terms(row.original_name),
            "terms": index_terms(row.original_name),
        }
        for row in connection.execute(
            select(SubmissionFile.id, SubmissionFile.original_name, Deliverable.agreement_id)
            .join(Submission, Submission.id == SubmissionFile.submission_id)
            .join(Occurrence, Occurrence.id == Submission.occurrence_id)
            .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
            .where(SubmissionFile.id.in_(ids))
        )
    ]


BUILDERS = {
    "agreement": agreement_rows,
    "organization": organization_rows,
    "deliverable": deliverable_rows,
    "document": document_rows,
    "submission_file": submission_file_rows,
}


def refresh(connection, touched: dict[str, set[int]]) -> None:
    """Work out again the entries of these objects (kind -> ids); gone objects lose theirs.

    Each entry is written over in place (INSERT … ON CONFLICT DO UPDATE): two transactions changing one
    agreement at the same moment each deleted its entry and inserted it again, and the second insert met
    the first's row (a unique violation, a 500 for one of two people saving at once). Now the second waits
    for the first and writes over it."""
    for kind, ids in touched.items():
        for chunk in _chunks(ids):
            rows = BUILDERS[kind](connection, chunk)
            kept = {row["object_id"] for row in rows}
            gone = [object_id for object_id in chunk if object_id not in kept]
            if gone:
                connection.execute(delete(SearchEntry).where(SearchEntry.kind == kind, SearchEntry.object_id.in_(gone)))
            if rows:
                connection.execute(_written_over(rows))


def _written_over(rows: list[dict]):
    statement = dialect_insert(SearchEntry).values(rows)
    return statement.on_conflict_do_update(
        index_elements=["kind", "object_id"],
        set_={name: statement.excluded[name] for name in ("agreement_id", "organization_id", "title_terms", "terms")},
    )


def rebuild(connection) -> int:
    """Every entry from scratch (migration 0010, `flask search reindex`); returns how many."""
    Agreement, _party, Organization, Deliverable, _occ, _sub, SubmissionFile, AgreementDocument = _tables()
    connection.execute(delete(SearchEntry))
    touched = {
        "agreement": connection.scalars(select(Agreement.id)).all(),
        "organization": connection.scalars(select(Organization.id)).all(),
        "deliverable": connection.scalars(select(Deliverable.id)).all(),
        "document": connection.scalars(select(AgreementDocument.id)).all(),
        "submission_file": connection.scalars(select(SubmissionFile.id)).all(),
    }
    refresh(connection, {kind: set(ids) for kind, ids in touched.items()})
    return sum(len(ids) for ids in touched.values())


def _touched(session) -> dict[str, set[int]]:
    Agreement, AgreementParty, Organization, Deliverable, _occ, _sub, SubmissionFile, AgreementDocument = _tables()
    kinds = {
        Agreement: "agreement",
        Organization: "organization",
        Deliverable: "deliverable",
        AgreementDocument: "document",
        SubmissionFile: "submission_file",
    }
    touched: dict[str, set[int]] = defaultdict(set)
    renamed_organizations = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        kind = kinds.get(type(obj))
        if kind == "agreement" and obj in session.dirty and not _changed(obj, AGREEMENT_INDEXED):
            continue  # moved, dated, signed: nothing its entry is made of (every move flushed it anew)
        if kind is not None and obj.id is not None:
            touched[kind].add(obj.id)
            if kind == "organization" and obj not in session.new:
                renamed_organizations.add(obj.id)
        elif isinstance(obj, AgreementParty) and obj.agreement_id is not None:
            touched["agreement"].add(obj.agreement_id)
    if renamed_organizations:
        touched["agreement"] |= set(
            session.connection().scalars(
                select(AgreementParty.agreement_id).where(AgreementParty.organization_id.in_(renamed_organizations))
            )
        )
    return touched


def _changed(obj, names: tuple[str, ...]) -> bool:
    """Whether this flush writes a new value to any of `names` (after_flush: the history is still the flush's)."""
    attributes = inspect(obj).attrs
    return any(attributes[name].history.has_changes() for name in names)


@event.listens_for(Session, "after_flush")
def _keep_search_entries(session, flush_context):
    touched = _touched(session)
    if touched:
        refresh(session.connection(), touched)
