"""Every model, imported in one place so Alembic and the mappers see them all."""

from app.agreements.models import Agreement, AgreementParty, ReferenceCounter, SigningEvent  # noqa: F401
from app.api.models import ApiToken  # noqa: F401
from app.auth.models import DeliverableGrant, Invitation, LoginAttempt, RecoveryCode, User  # noqa: F401
from app.budget.models import BudgetLine  # noqa: F401
from app.core.audit import AuditEvent  # noqa: F401
from app.core.receipts import RequestReceipt  # noqa: F401
from app.core.storage import StoredFile  # noqa: F401
from app.core.storage_backends import StoredFileChunk  # noqa: F401
from app.deliverables.models import Deliverable, Occurrence, Submission, SubmissionFile  # noqa: F401
from app.discussions.models import (  # noqa: F401
    ApprovalLink,
    DiscussionAttachment,
    DiscussionMention,
    DiscussionMessage,
    DiscussionRevision,
)
from app.exports.models import ExportJob  # noqa: F401
from app.indicators.models import Indicator, IndicatorValue  # noqa: E402, F401
from app.notifications.models import (  # noqa: F401
    CalendarFeed,
    MailOptOut,
    Notification,
    OutboxMessage,
    ReminderSent,
    Setting,
)
from app.operations.models import JobStatus  # noqa: F401
from app.organizations.models import Organization  # noqa: F401
from app.search import index as search_index  # noqa: E402, F401

# The search index (#16): entries kept in step with what they describe by a flush listener.
from app.search.models import SearchEntry  # noqa: E402, F401
from app.signatures.models import SignatureCheck  # noqa: E402, F401
from app.versions.models import DocumentText  # noqa: E402, F401

# Keeps stage_visits in step with the audit trail's stage rows (a flush listener).
from app.workflow import stage_history  # noqa: E402, F401
from app.workflow.models import (  # noqa: F401
    AgreementDocument,
    ApprovalDecision,
    ApprovalRound,
    Delegation,
    NegotiationRound,
    Signatory,
    WorkflowVersion,
)
