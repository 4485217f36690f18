"""Verify a copy: is a file exactly one Sharaka stores (by SHA-256), and which one?

Every stored file is content-addressed (`stored_files.sha256`, written at upload), so a copy is
matched by hashing it, never stored. Only files of agreements whose documents the person may
open are named; anything else reads as "not found", exactly like an unknown file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app
from sqlalchemy import select

from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.permissions import can_verify_against, sees_deliverables_of
from app.core.storage import StoredFile
from app.core.storage_backends import CHUNK
from app.extensions import db

CODE_LENGTH = 12


@dataclass
class Match:
    agreement: object
    what: str  # what the file is, in words
    name: str
    at: datetime | date | None
    is_final: bool
    document_id: int | None = None
    version_number: int | None = None


def hash_upload(stream) -> str:
    """SHA-256 of an uploaded stream, read a chunk at a time within the upload limit; nothing is kept."""
    limit = current_app.config.get("MAX_UPLOAD_BYTES") or current_app.config.get("MAX_CONTENT_LENGTH")
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if limit and size > limit:
            message = _("The file is larger than the %(limit)s MB allowed.", limit=limit // (1024 * 1024))
            raise ValidationFailed(message, {"file": [message]})
        digest.update(chunk)
    if size == 0:
        message = _("The file is empty.")
        raise ValidationFailed(message, {"file": [message]})
    return digest.hexdigest()


def final_document(agreement):
    """The agreement's final text: its signed copy, else the text version both sides accepted."""
    signed = [d for d in agreement.documents if d.kind == "signed_copy"]
    if signed:
        return signed[-1]
    agreed = next((r for r in agreement.negotiation_rounds if r.id == agreement.agreed_round_id), None)
    return agreed.document if agreed is not None else None


def verification_code(agreement) -> str | None:
    """A short code for the agreement's final text (the start of its SHA-256), printed on the summary."""
    document = final_document(agreement)
    if document is None:
        return None
    code = document.stored_file.sha256[:CODE_LENGTH].upper()
    return "-".join(code[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(code: str | None) -> str | None:
    cleaned = re.sub(r"[^0-9a-fA-F]", "", code or "").lower()
    return cleaned if len(cleaned) == CODE_LENGTH else None


def _is_final(document, agreement) -> bool:
    final = final_document(agreement)
    if document.kind == "signed_copy":
        return True
    return final is not None and final.stored_file_id == document.stored_file_id


def matches(user, *, sha256: str | None = None, code: str | None = None) -> list[Match]:
    """The stored files with this SHA-256 (or, for a code, whose SHA-256 starts with it) the user may see."""
    from app.agreements.models import Agreement
    from app.deliverables.models import Submission, SubmissionFile
    from app.workflow.engine import document_label
    from app.workflow.models import AgreementDocument, NegotiationRound

    if sha256:
        condition = StoredFile.sha256 == sha256
    elif code:
        condition = StoredFile.sha256.like(f"{code}%")
    else:
        return []
    found: list[Match] = []
    documents = db.session.scalars(
        select(AgreementDocument).join(StoredFile).where(condition).order_by(AgreementDocument.uploaded_at)
    ).all()
    numbers = (
        {
            row.document_id: row.number
            for row in db.session.execute(
                select(NegotiationRound.document_id, NegotiationRound.number).where(
                    NegotiationRound.document_id.in_([d.id for d in documents])
                )
            )
        }
        if documents
        else {}
    )
    for document in documents:
        agreement = db.session.get(Agreement, document.agreement_id)
        if not can_verify_against(user, agreement, document):
            continue
        number = numbers.get(document.id)
        what = _("Negotiation version %(num)s", num=number) if number is not None else document_label(document.kind)
        found.append(
            Match(
                agreement,
                what,
                document.original_name,
                document.uploaded_at,
                _is_final(document, agreement),
                document.id,
                number,
            )
        )
    if sha256:
        files = db.session.scalars(select(SubmissionFile).join(StoredFile).where(condition)).all()
        for record in files:
            submission: Submission = record.submission
            agreement = submission.occurrence.deliverable.agreement
            if not can_verify_against(user, agreement) or not sees_deliverables_of(user, agreement.id):
                continue
            what = _(
                "Deliverable hand-in: %(item)s, due on %(date)s",
                item=submission.occurrence.deliverable.title,
                date=submission.occurrence.due_on.isoformat(),
            )
            found.append(Match(agreement, what, record.original_name, submission.submitted_at, False))
    return found
