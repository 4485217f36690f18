"""An agreement's draft text: the text the ministry writes and its reviewers approve before the negotiation.

Attached by those who edit the agreement while it is the ministry's own work (its state's `internal` tag:
drafting, internal review), as often as it changes: the latest is the draft under review. A draft text is
the ministry's (permissions.may_see_document): its partners first read the text as a version sent to them,
which the ministry's first version may be (services.send_version, from_draft)."""

from __future__ import annotations

from app.core.db import check_version, flush_or_conflict
from app.core.errors import PermissionDenied
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import can, may_see_internal_documents
from app.versions.extract import COMPARABLE_LABELS
from app.workflow import engine
from app.workflow.documents import attach_document
from app.workflow.engine import WorkflowError
from app.workflow.models import AgreementDocument

KIND = "draft_text"


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
