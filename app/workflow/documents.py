"""An agreement's documents: storing an upload and attaching it as one of the definitions' kinds.

Below the engine (a move may carry documents) and the services and renewals that take uploads."""

from __future__ import annotations

from app.core import audit
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.storage import clean_filename, store
from app.extensions import db
from app.workflow.definitions import DOCUMENT_KINDS
from app.workflow.models import AgreementDocument


def attach_document(
    agreement, kind: str, upload, *, by, field: str = "file", only: tuple[str, ...] | None = None
) -> AgreementDocument:
    """Store an uploaded file and attach it to the agreement as `kind` (`only`: the types of file it may be)."""
    if kind not in DOCUMENT_KINDS:
        raise ValidationFailed(_("Unknown kind of document."))
    if upload is None or not getattr(upload, "filename", None):
        message = _("Choose a file.")
        raise ValidationFailed(message, {field: [message]})
    stored = store(upload.stream, field=field, only=only)
    return attach_stored(
        agreement, kind, stored, clean_filename(upload.filename, content_type=stored.content_type), by=by
    )


def attach_stored(agreement, kind: str, stored, name: str, *, by) -> AgreementDocument:
    """Attach a file already stored to the agreement as `kind` under `name` (its bytes are not copied: a draft
    text sent as the first version is the same StoredFile under a second document)."""
    uploader = getattr(by, "id", None)
    document = AgreementDocument(kind=kind, stored_file=stored, original_name=name, uploaded_by_id=uploader)
    agreement.documents.append(document)
    db.session.flush()
    audit.record(
        "document_added",
        agreement,
        actor=by,
        changes={"kind": kind, "name": name, "sha256": stored.sha256, "size": stored.size},
    )
    return document
