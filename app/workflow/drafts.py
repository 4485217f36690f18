"""An agreement's draft text: the text the ministry writes and its reviewers approve before the negotiation.

Attached by those who edit the agreement while it is the ministry's own work (its state's `internal` tag:
drafting, internal review), as often as it changes: the latest is the draft under review. A draft text is
the ministry's (permissions.may_see_document): its partners first read the text as a version sent to them,
which the ministry's first version may be (services.send_version, from_draft)."""

from __future__ import annotations

from werkzeug.exceptions import NotFound

from app.core.db import check_version, flush_or_conflict
from app.core.errors import PermissionDenied, ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import can, get_document_or_404, may_see_document, may_see_internal_documents
from app.versions.extract import COMPARABLE_LABELS
from app.workflow import engine
from app.workflow.documents import attach_document, attach_stored
from app.workflow.engine import WorkflowError
from app.workflow.models import DRAFT_TEXT as KIND
from app.workflow.models import AgreementDocument


def takes_draft_texts(agreement) -> bool:
    """Whether a draft text may be attached now: while the agreement is the ministry's own work."""
    return engine.state_has(agreement, "internal")


def shows_draft_texts(user, agreement) -> bool:
    """Whether `agreement`'s pages show `user` its draft texts as the text under review (its card, the draft
    its approvals are asked on): while it takes drafts, to the ministry's staff."""
    return takes_draft_texts(agreement) and may_see_internal_documents(user)


def may_attach_draft_text(user, agreement) -> bool:
    """Whether `user` may attach a draft text now (whoever edits the agreement, while it takes drafts)."""
    return takes_draft_texts(agreement) and can(user, "agreement.edit", agreement)


def draft_texts(agreement) -> list[AgreementDocument]:
    """The agreement's draft texts, oldest first."""
    return [d for d in agreement.documents if d.kind == KIND]


def latest_draft_text(agreement) -> AgreementDocument | None:
    """The draft under review: the last one attached (None when none was)."""
    drafts = draft_texts(agreement)
    return drafts[-1] if drafts else None


def attach_draft_text(agreement, upload, *, by, expected_version: int) -> AgreementDocument:
    """Attach a new draft text (DOCX, ODT or PDF, so that drafts can be compared); it becomes the draft under
    review. Those who edit the agreement, while it is drafted or reviewed inside the ministry."""
    check_version(agreement, expected_version)
    if not can(by, "agreement.edit", agreement):
        raise PermissionDenied(_("Only those who edit the agreement attach its draft text."))
    if not takes_draft_texts(agreement):
        raise WorkflowError(_("A draft text is attached while the ministry drafts and reviews the agreement."))
    document = attach_document(agreement, KIND, upload, by=by, only=COMPARABLE_LABELS)
    agreement.updated_at = utcnow()
    flush_or_conflict()
    return document


# --- the reviewed draft, sent as the ministry's first version (services.send_version) ----------------------


def _not_a_draft(field: str = "from_draft_id") -> ValidationFailed:
    # The same words for an id that names nothing, another agreement's draft or one the reader may not see.
    message = _("This agreement has no such draft text.")
    return ValidationFailed(message, {field: [message]})


def draft_text_named(agreement, draft_id, user) -> AgreementDocument:
    """The draft text of `agreement` numbered `draft_id` that `user` may see (the documents' one loader); a
    field error otherwise, the same whether the id names nothing or something else."""
    try:
        return get_document_or_404(agreement, draft_id, user, kind=KIND)
    except NotFound:
        raise _not_a_draft() from None


def reviewed_draft_offered(user, agreement, *, side: str | None, first: bool) -> AgreementDocument | None:
    """The draft the send-version form offers to send as it stands: the latest, to the ministry's side, while
    no version was sent."""
    if not first or side != "ministry" or not may_see_internal_documents(user):
        return None
    return latest_draft_text(agreement)


def send_as_version(agreement, draft: AgreementDocument, *, by, first: bool, on_behalf: bool) -> AgreementDocument:
    """A new text version of `draft`'s stored file under its name, no bytes copied: the ministry's first version,
    the draft as reviewed. The draft itself stays the ministry's (never shown to a partner)."""
    if draft.kind != KIND or not may_see_document(by, agreement, draft):
        raise _not_a_draft()
    if on_behalf:
        message = _("The reviewed draft text is the ministry's: it is sent as the ministry's version.")
        raise ValidationFailed(message, {"from_draft_id": [message]})
    if not first:
        message = _("The reviewed draft text can be sent only as the first version.")
        raise ValidationFailed(message, {"from_draft_id": [message]})
    return attach_stored(agreement, "text_version", draft.stored_file, draft.original_name, by=by)
