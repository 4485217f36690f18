"""What each key of an audit row's `changes` is called, and what sort of value it holds: the one list the
agreement's history and the audit trail's page read a row by (app/audit/changes.py). The wording is the forms'
own where a form asks the value, so each phrase is translated once.

A key is looked up for its row's action first, then for the kind of object the row is about, then alone: the
same key means different things in different rows ("kind" is a budget line's cash or in kind, an
organisation's kind, a document's kind)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from app.agreements.amendments import TERM_LABELS
from app.agreements.models import AGREEMENT_TYPES, NOTICE_SIDES, NOTICE_UNITS, RENEWAL_TERMS
from app.budget.models import KINDS as BUDGET_KINDS
from app.core.i18n import LANGUAGE_NAMES
from app.core.permissions import ROLES
from app.deliverables.models import RECURRENCES
from app.indicators.models import TARGET_SCOPES
from app.organizations.models import ORGANIZATION_KINDS
from app.signatures.services import STATUS_LABELS
from app.workflow.labels import DOCUMENT_LABELS, FIELD_LABELS, SIDE_LABELS


@dataclass(frozen=True)
class Field:
    """A recorded key: its name for the reader, and how its value is written (`sort`: one of the writers of
    app/audit/changes.py, "hidden" for a key never shown; `choices`: the labels of a coded value)."""

    label: Any
    sort: str = "text"
    choices: dict | None = None


# Each key's name, in the forms' wording where a form asks it.
LABELS = {
    # An agreement (agreements.services.snapshot) and the terms an amendment changes: their names where
    # the workflow definitions and the amendment page name them
    **FIELD_LABELS,
    **TERM_LABELS,
    "type": _l("Type"),
    "state": _l("State"),
    "notes": _l("Internal notes"),
    "renewal_terms": _l("Renewal"),
    "renewal_months": _l("Tacit renewal for (months)"),
    "notice_period": _l("Notice period"),
    "notice_unit": _l("Notice period in"),
    "amendment_changes": _l("What it changes"),
    "non_renewal_on": _l("Notice given on"),
    "non_renewal_by": _l("Given by"),
    "non_renewal_organization_id": _l("Partner"),
    "document": _l("Document"),
    "amendment": _l("Amendment"),
    "renews": _l("Renews"),
    "automatic_on": _l("Automatic, on"),
    "scheduled_on": _l("Planned for"),
    "transition": _l("Move"),
    "step": _l("Approval step"),
    "on_behalf_of": _l("On behalf of"),
    # A budget line (budget.services)
    "label": _l("What it is for"),
    "amount": _l("Amount"),
    "currency": _l("Currency"),
    "kind": _l("Cash or in kind"),
    "year": _l("Year"),
    "period": _l("Period (if not one year)"),
    "organization_id": _l("Contributing party"),
    # A plan line (deliverables.services)
    "description": _l("Description"),
    "responsible_organization_id": _l("Responsible"),
    "recurrence": _l("How often"),
    "first_due_on": _l("First due date"),
    "until_on": _l("Until"),
    "title": _l("Title"),
    "added": _l("Due dates added"),
    "cancelled": _l("Due dates removed"),
    "kept": _l("Due dates kept (already handed in)"),
    "skipped": _l("Left out"),
    "trimmed": _l("Brought forward"),
    "term": _l("Term"),
    "from": _l("From"),
    "to": _l("To"),
    "due_on": _l("Due on"),
    "planned_on": _l("Planned for"),
    "reason": _l("Reason"),
    "submission": _l("Hand-in"),
    "files": _l("Files"),
    "waived": _l("Waived"),
    # An indicator (indicators.services)
    "name_fr": _l("Name (French)"),
    "name_ar": _l("Name (Arabic)"),
    "name_en": _l("Name (English)"),
    "unit": _l("Unit"),
    "baseline": _l("Baseline"),
    "target": _l("Target"),
    "target_scope": _l("The target applies"),
    "deliverable": _l("Deliverable"),
    # Signatures and texts (workflow.services, signatures.services)
    "name": _l("Name"),
    "side": _l("Side"),
    "withdrawn": _l("Signatures taken back"),
    "round": _l("Version"),
    "sha256": _l("SHA-256 fingerprint"),
    "size": _l("Size"),
    "status": _l("Result"),
    "signers": _l("Signers"),
    "organization": _l("Organisation"),
    "recorded_by": _l("Recorded by"),
    "proof": _l("Proof"),
    "proof_sha256": _l("SHA-256 fingerprint of the proof"),
    "text_locked": _l("Text locked"),
    # Accounts (auth.services and the rows about an account)
    "email": _l("E-mail"),
    "pending_email": _l("New address, waiting for its link"),
    "full_name": _l("Full name"),
    "role": _l("Role"),
    "language": _l("Language"),
    "is_active": _l("Account enabled (can sign in)"),
    "is_org_admin": _l("Organisation admin"),
    "deactivated_by_ministry": _l("Deactivated by the ministry"),
    "directory_dn": _l("Directory entry"),
    "sessions_ended": _l("Sessions ended"),
    "tokens_revoked": _l("API tokens revoked"),
    "mail_withdrawn": _l("E-mails withdrawn"),
    "notices_removed": _l("Notices removed"),
    "exports_forgotten": _l("Downloads forgotten"),
    "restricted": _l("Only some agreements' deliverables"),
    "agreements": _l("Agreements"),
    "invited_by": _l("Invited by"),
    "user_id": _l("Account"),
    "address": _l("From the address"),
    "directory": _l("In the directory"),
    "category": _l("Kind of e-mail"),
    "delegator": _l("Approver"),
    "delegate": _l("Approves for them"),
    "starts_on": _l("From"),
    "ends_on": _l("Until"),
    "prefix": _l("Token prefix"),
    "user": _l("Account"),
    "expires_at": _l("Expires"),
    # Organisations and signing events
    "slug": _l("Short name (identifier)"),
    "acronym": _l("Acronym"),
    "country": _l("Country"),
    "contact": _l("Contact"),
    "is_home": _l("The ministry's own organisation"),
    "retired": _l("Retired"),
    "moved": _l("Records moved"),
    "accounts_deactivated": _l("Accounts deactivated"),
    "invitations_withdrawn": _l("Invitations withdrawn"),
    "into": _l("Merged into"),
    "held_on": _l("Date"),
    "place": _l("Place"),
    # Mail and operations
    "attempt": _l("Attempt"),
    "attempts": _l("Attempts"),
    "attempts_before": _l("Attempts before"),
    "last_error": _l("Last error"),
    "message_id": _l("Message-ID"),
    "count": _l("How many"),
    "no_longer_true": _l("No longer true"),
    "job": _l("Job"),
    "error": _l("Error"),
    "mentions": _l("Mentioned"),
    "audience": _l("Thread"),
    "body": _l("Message"),
    "decision": _l("Decision"),
    "list": _l("List"),
    "format": _l("Format"),
    "filters": _l("Filters"),
    "agreement_id": _l("Agreement"),
}

# How a key's value is written when it is not plain text. Hidden: an id that only ties the row to another one.
SORTS = {
    # An agreement (agreements.services.snapshot) and the terms an amendment changes
    "type": "choice",
    "state": "state",
    "owner_id": "person",
    "parent_id": "agreement",
    "signing_event_id": "event",
    "signed_on": "date",
    "effective_on": "date",
    "expires_on": "date",
    "parties": "parties",
    "budget_lines": "budget_lines",
    "renewal_terms": "choice",
    "renewal_months": "count",
    "notice_period": "count",
    "notice_unit": "choice",
    "renewal": "renewal",
    "amendment_changes": "amendment_changes",
    "non_renewal_on": "date",
    "non_renewal_by": "choice",
    "non_renewal_organization_id": "organization",
    "document": "file",
    "amendment": "reference",
    "renews": "reference",
    "automatic_on": "date",
    "scheduled_on": "date",
    "approval": "hidden",  # said by the history's "Sent back" badge
    "transition": "move",
    "step": "step",
    "on_behalf_of": "code",
    # A budget line (budget.services)
    "label": "stored_text",
    "amount": "amount",
    "currency": "code",
    "kind": "choice",
    "year": "year",
    "organization_id": "organization",
    # A plan line (deliverables.services)
    "responsible_organization_id": "organization",
    "recurrence": "choice",
    "first_due_on": "date",
    "until_on": "date",
    "occurrences_moved": "moved",
    "occurrences_dropped": "dropped",
    "added": "dates",
    "cancelled": "dates",
    "kept": "dates",
    "skipped": "records",
    "trimmed": "records",
    "term": "records",
    "from": "date",
    "to": "date",
    "due_on": "date",
    "planned_on": "date",
    "submission": "count",
    "files": "files",
    "waived": "count",
    # An indicator (indicators.services)
    "baseline": "number",
    "target": "number",
    "target_scope": "choice",
    # Signatures and texts (workflow.services, signatures.services)
    "side": "choice",
    "position": "hidden",
    "withdrawn": "records",
    "round": "count",
    "sha256": "code",
    "size": "file_size",
    "status": "choice",
    "signers": "list",
    "organization": "organization",
    "proof": "file",
    "proof_sha256": "code",
    "text_locked": "yes_no",
    # Accounts (auth.services and the rows about an account)
    "email": "code",
    "pending_email": "code",
    "role": "choice",
    "language": "choice",
    "is_active": "yes_no",
    "is_org_admin": "yes_no",
    "deactivated_by_ministry": "yes_no",
    "directory_dn": "code",
    "sessions_ended": "count",
    "tokens_revoked": "count",
    "mail_withdrawn": "count",
    "notices_removed": "count",
    "exports_forgotten": "count",
    "restricted": "yes_no",
    "agreements": "agreements",
    "invited_by": "person",
    "user_id": "person",
    "address": "code",
    "directory": "yes_no",
    "category": "code",
    "delegator": "code",
    "delegate": "code",
    "starts_on": "date",
    "ends_on": "date",
    "prefix": "code",
    "user": "code",
    "expires_at": "moment",
    # Organisations and signing events
    "slug": "code",
    "country": "country",
    "is_home": "yes_no",
    "retired": "yes_no",
    "moved": "counts",
    "accounts_deactivated": "list",
    "invitations_withdrawn": "list",
    "into": "records",
    "held_on": "date",
    # Mail and operations
    "attempt": "count",
    "attempts": "count",
    "attempts_before": "count",
    "message_id": "code",
    "count": "count",
    "no_longer_true": "count",
    "job": "code",
    "mentions": "list",
    "audience": "code",
    "decision": "code",
    "list": "code",
    "format": "code",
    "filters": "records",
    "agreement_id": "agreement",
    # Bookkeeping: ids that only tie a row to another one.
    "id": "hidden",
    "line": "hidden",
    "key": "hidden",
    "round_id": "hidden",
    "occurrence_id": "hidden",
    "from_name": "hidden",  # said by the history's sentence (approval_reassigned)
    "to_name": "hidden",
}

# The labels of the coded values.
CHOICES = {
    "type": AGREEMENT_TYPES,
    "renewal_terms": RENEWAL_TERMS,
    "notice_unit": NOTICE_UNITS,
    "non_renewal_by": NOTICE_SIDES,
    "kind": BUDGET_KINDS,
    "recurrence": RECURRENCES,
    "target_scope": TARGET_SCOPES,
    "side": SIDE_LABELS,
    "status": STATUS_LABELS,
    "role": ROLES,
    "language": LANGUAGE_NAMES,
}

# The same key in one kind of row (an action, else an object type), read otherwise: "kind" is a budget line's
# cash or in kind, an organisation's kind, a document's kind. A place listed here has its sort here.
PLACED_LABELS = {
    ("document_added", "kind"): _l("Kind of document"),
    ("document_added", "name"): _l("File"),
    ("negotiation_version_sent", "document"): _l("File"),
    ("negotiation_version_sent", "reviewed_draft"): _l("Sent as the reviewed draft text"),
    ("negotiation_version_accepted", "organization_id"): _l("Party"),
    ("negotiation_version_accepted", "on_behalf_of"): _l("On behalf of"),
    ("signatory_added", "organization_id"): _l("Signs for"),
    ("signatory_removed", "organization_id"): _l("Signs for"),
    ("deliverable_planned", "occurrences"): _l("Due dates"),
    ("deliverables_released", "waived"): _l("Waived"),
    ("deliverables_settled_before_sharaka", "settled"): _l("Settled before Sharaka"),
    ("approval_reassigned", "from"): _l("From"),
    ("approval_reassigned", "to"): _l("To"),
    ("approval_reassigned", "until"): _l("Until"),
    ("mail_sent", "to"): _l("To"),
    ("mail_failed", "to"): _l("To"),
    ("mail_withdrawn", "to"): _l("To"),
    ("merged_into", "into"): _l("Merged into"),
    ("merged_from", "from"): _l("Took in"),
    ("default_plan_adjusted", "term"): _l("Term"),
    ("job_failed", "step"): _l("Step"),
    ("job_failed", "job"): _l("Job"),
    ("discussion_posted", "files"): _l("Files"),
    ("organizations", "kind"): _l("Kind"),
    ("organizations", "notes"): _l("Notes"),
    ("organizations", "country"): _l("Country"),
    ("signing_events", "ends_on"): _l("Last day (if several days)"),
    ("outbox_messages", "kind"): _l("Kind of e-mail"),
    ("outbox_messages", "to"): _l("To"),
    ("users", "organization"): _l("Organisation"),
    ("invitations", "organization"): _l("Organisation"),
    ("approval_rounds", "from"): _l("From"),
}
PLACED_SORTS = {
    ("document_added", "kind"): "choice",
    ("document_added", "name"): "file",
    ("negotiation_version_sent", "document"): "file",
    ("negotiation_version_sent", "reviewed_draft"): "file",
    ("negotiation_version_accepted", "organization_id"): "organization",
    ("negotiation_version_accepted", "organization"): "hidden",  # its name as written then; the id names it
    ("negotiation_version_accepted", "on_behalf_of"): "text",
    ("signatory_added", "organization_id"): "organization",
    ("signatory_removed", "organization_id"): "organization",
    ("deliverable_planned", "deliverable"): "hidden",
    ("deliverable_planned", "occurrences"): "count",
    ("deliverable_replanned", "deliverable"): "hidden",
    ("deliverables_released", "occurrences"): "hidden",
    ("deliverables_released", "waived"): "count",
    ("deliverables_settled_before_sharaka", "occurrences"): "hidden",
    ("deliverables_settled_before_sharaka", "settled"): "count",
    ("amended", "term"): "hidden",  # its before and after say it
    ("approval_reassigned", "round"): "hidden",
    ("approval_reassigned", "from"): "code",
    ("approval_reassigned", "to"): "code",
    ("approval_reassigned", "until"): "date",
    ("mail_sent", "to"): "code",
    ("mail_failed", "to"): "code",
    ("mail_withdrawn", "to"): "code",
    ("merged_into", "into"): "records",
    ("merged_from", "from"): "records",
    ("default_plan_adjusted", "term"): "records",
    ("job_failed", "step"): "code",
    ("job_failed", "job"): "code",
    ("discussion_posted", "files"): "files",
    ("organizations", "kind"): "choice",
    ("organizations", "notes"): "text",
    ("organizations", "country"): "country",
    ("signing_events", "ends_on"): "date",
    ("outbox_messages", "kind"): "code",
    ("outbox_messages", "to"): "code",
    ("users", "organization"): "organization",
    ("invitations", "organization"): "organization",
    ("approval_rounds", "from"): "code",
}
PLACED_CHOICES = {
    ("organizations", "kind"): ORGANIZATION_KINDS,
    ("document_added", "kind"): DOCUMENT_LABELS,
}

# What a merge moved from one organisation to the other, by the table it moved it in (organizations.merging).
MOVED = {
    "agreement_parties": _l("Parties"),
    "signatories": _l("Signatories"),
    "negotiation_acceptances": _l("Versions accepted"),
    "deliverables.responsible_organization_id": _l("Deliverables"),
    "budget_lines": _l("Budget lines"),
    "agreements.non_renewal_organization_id": _l("Notices of non-renewal"),
    "users": _l("Accounts"),
    "invitations": _l("Invitations"),
    "export_jobs": _l("Downloads"),
    "amendment_changes": _l("Amendments"),
}


def field(key: str, *, action: str | None = None, object_type: str | None = None) -> Field:
    """How `key` of a row about `object_type` written by `action` is read: as listed for that action, else for
    that kind of object, else for the key alone; a key that came after these lists is shown as written rather
    than lost."""
    for place in ((action or "", key), (object_type or "", key)):
        if place in PLACED_SORTS:
            return Field(PLACED_LABELS.get(place, ""), PLACED_SORTS[place], PLACED_CHOICES.get(place))
    return Field(LABELS.get(key, key.replace("_", " ")), SORTS.get(key, "text"), CHOICES.get(key))
