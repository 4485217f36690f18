"""What each action of the audit trail is called, in the reader's language: one list for an agreement's
history and for the trail's own page (/audit/events). An action not named here shows as its code."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.core.audit import SYSTEM_LABEL
from app.core.i18n import gettext as _

ACTIONS = {
    # Agreements and their workflow
    "created": _l("Created"),
    "updated": _l("Updated"),
    "transition": _l("Stage changed"),
    "approval_approved": _l("Approved"),
    "approval_rejected": _l("Sent back"),
    "approval_link_used": _l("Decided from the e-mail's link"),
    "approval_reassigned": _l("Approval reassigned"),
    "move_scheduled": _l("Dates set for a move on its day"),
    "negotiation_version_sent": _l("Version sent"),
    "negotiation_version_accepted": _l("Version accepted"),
    "document_added": _l("Document added"),
    "signatory_added": _l("Signatory added"),
    "signature_recorded": _l("Signature recorded"),
    "signature_withdrawn": _l("Signature taken back"),
    "signatory_removed": _l("Signatory removed"),
    "signatures_voided": _l("Signatures taken back (the text was opened again)"),
    "signature_checked": _l("Digital signatures checked"),
    "amended": _l("Amended"),
    "amendment_changes_set": _l("Amendment changes saved"),
    "renewal_started": _l("Renewal prepared"),
    "renewal_of": _l("Prepared as a renewal"),
    "non_renewal_notice": _l("Notice of non-renewal recorded"),
    "non_renewal_withdrawn": _l("Notice of non-renewal withdrawn"),
    "renewed_tacitly": _l("Renewed by itself"),
    "budget_line_added": _l("Budget line added"),
    "budget_line_changed": _l("Budget line changed"),
    "budget_line_removed": _l("Budget line removed"),
    "indicator_added": _l("Indicator added"),
    "indicator_changed": _l("Indicator changed"),
    # Deliverables
    "deliverable_planned": _l("Deliverable planned"),
    "deliverable_replanned": _l("Deliverable plan changed"),
    "deliverable_removed": _l("Deliverable removed from the plan"),
    "deliverables_released": _l("What was still owed waived: the agreement ended"),
    "deliverables_settled_before_sharaka": _l("Reports due before today recorded as settled before Sharaka"),
    "default_plan_adjusted": _l("Default plan fitted to the term"),
    "deliverable_submitted": _l("Deliverable handed in"),
    "deliverable_accepted": _l("Deliverable accepted"),
    "deliverable_sent_back": _l("Deliverable sent back"),
    "deliverable_waived": _l("Deliverable waived"),
    # Discussions
    "discussion_posted": _l("Message posted"),
    "discussion_edited": _l("Message edited"),
    # Accounts
    "signed_in": _l("Session opened"),
    "signed_out_everywhere": _l("Signed out everywhere"),
    "profile_updated": _l("Profile updated"),
    "password_changed": _l("Password changed"),
    "email_change_asked": _l("New sign-in address asked for"),
    "email_changed": _l("Sign-in address changed (confirmed by its link)"),
    "password_reset_requested": _l("Password reset asked for"),
    "password_reset": _l("Password reset"),
    "mfa_enabled": _l("Two-step sign-in turned on"),
    "mfa_disabled": _l("Two-step sign-in turned off"),
    "mfa_reset": _l("Two-step sign-in reset"),
    "mfa_recovery_code_used": _l("Recovery code used"),
    "mfa_recovery_codes_renewed": _l("Recovery codes renewed"),
    "deactivated": _l("Account deactivated"),
    "reactivated": _l("Account reactivated"),
    "deliverable_access_changed": _l("Deliverables a partner user handles changed"),
    "invited": _l("Invited"),
    "invitation_resent": _l("Invitation sent again"),
    "invitation_revoked": _l("Invitation withdrawn"),
    "invitation_accepted": _l("Invitation accepted"),
    "directory_refreshed": _l("Updated from the directory"),
    "directory_access_lost": _l("Closed by the directory"),
    "api_token_created": _l("API token created"),
    "api_token_revoked": _l("API token revoked"),
    "delegation_created": _l("Delegation given"),
    "delegation_revoked": _l("Delegation ended"),
    # Organisations
    "made_home": _l("Made the ministry's own organisation"),
    "retired": _l("Organisation retired"),
    "reinstated": _l("Organisation reinstated"),
    "merged_into": _l("Merged into another organisation"),
    "merged_from": _l("Took in a merged organisation"),
    # Mail and operations
    "mail_sent": _l("E-mail sent"),
    "mail_failed": _l("E-mail failed"),
    "mail_withdrawn": _l("E-mail withdrawn"),
    "mail_requeued": _l("E-mail sent again"),
    "mail_requeued_all": _l("Every failed e-mail sent again"),
    "mail_paused": _l("Mail paused"),
    "mail_resumed": _l("Mail resumed"),
    "mail_unsubscribed": _l("Unsubscribed from a kind of e-mail"),
    "job_failed": _l("Scheduled job failed"),
    "search_reindexed": _l("Search index rebuilt"),
    "hand_in_days_refilled": _l("Hand-in days worked out again"),
}

# What the trail's rows are about (their object_type), for its page's filter and its rows.
OBJECTS = {
    "agreements": _l("Agreement"),
    "deliverable_occurrences": _l("Deliverable"),
    "users": _l("Account"),
    "organizations": _l("Organisation"),
    "signing_events": _l("Signing event"),
    "invitations": _l("Invitation"),
    "discussion_messages": _l("Message"),
    "outbox_messages": _l("E-mail message"),
    "approval_rounds": _l("Approval"),
    "settings": _l("Settings"),
}


def action_label(action: str) -> str:
    """`action` as the reader reads it: its name, or its code where it has none."""
    label = ACTIONS.get(action)
    return str(label) if label is not None else action.replace("_", " ")


def object_label(object_type: str) -> str:
    label = OBJECTS.get(object_type)
    return str(label) if label is not None else object_type.replace("_", " ")


def actor_label(label: str) -> str:
    """Who acted, as the trail names them: the account's name and address, or Sharaka itself."""
    return _("Sharaka (a scheduled job or a command)") if label == SYSTEM_LABEL else label
