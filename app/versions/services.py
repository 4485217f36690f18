"""Versions of an agreement's text: which documents can be compared, their cached text, the comparison."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.core.local_copy import local_copy
from app.core.models import utcnow
from app.core.permissions import documents_seen_by
from app.extensions import db
from app.versions.compare import Comparison, compare
from app.versions.extract import COMPARABLE_TYPES, EXTRACTOR_VERSION, extract
from app.versions.models import DocumentText

# Why a version shows no text, in the reader's language.
STATUS_MESSAGES = {
    "no_text": _l("No text could be extracted from this version (perhaps a scan or an image)."),
    "unreadable": _l("This version could not be read (a damaged or protected file)."),
    "too_large": _l("This version is too large or too complex to be compared."),
    "unsupported": _l("Only DOCX, ODT and PDF versions can be compared."),
    "truncated": _l("This version is very long: only its beginning is compared."),
}


def comparable_documents(agreement, user) -> list:
    """The agreement's documents `user` may see whose text can be compared, oldest first."""
    return [d for d in documents_seen_by(user, agreement) if d.stored_file.content_type in COMPARABLE_TYPES]


def text_of(stored_file) -> DocumentText:
    """The extracted text of a stored file, read once and then kept (files never change under their hash)."""
    cached = db.session.get(DocumentText, stored_file.id)
    if cached is not None and cached.extractor == EXTRACTOR_VERSION:
        return cached
    with local_copy(stored_file.sha256) as path:
        result = extract(path, stored_file.content_type)
    if cached is None:
        cached = DocumentText(stored_file_id=stored_file.id)
        try:
            with db.session.begin_nested():
                _fill(cached, result)
                db.session.add(cached)
        except IntegrityError:  # another request cached it at the same moment: theirs is as good
            return db.session.get(DocumentText, stored_file.id)
    else:
        _fill(cached, result)
        db.session.flush()
    return cached


def _fill(row: DocumentText, result) -> None:
    row.status, row.paragraphs = result.status, result.paragraphs
    row.extractor, row.extracted_at = EXTRACTOR_VERSION, utcnow()


def compare_documents(old_document, new_document) -> tuple[DocumentText, DocumentText, Comparison | None]:
    """Both texts and their comparison (None when either text could not be extracted)."""
    old_text, new_text = text_of(old_document.stored_file), text_of(new_document.stored_file)
    if old_text.status not in ("ok", "truncated") or new_text.status not in ("ok", "truncated"):
        return old_text, new_text, None
    return old_text, new_text, compare(old_text.paragraphs, new_text.paragraphs)


def status_message(status: str) -> str | None:
    message = STATUS_MESSAGES.get(status)
    return str(message) if message else None
