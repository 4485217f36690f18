"""Translated names for the fields and document kinds workflow definitions mention."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from app.core.i18n import gettext
from app.core.permissions import ROLES, names_the_owner

FIELD_LABELS = {
    "title_ar": _l("Title (Arabic)"),
    "title_fr": _l("Title (French)"),
    "title_en": _l("Title (English)"),
    "summary_ar": _l("Summary (Arabic)"),
    "summary_fr": _l("Summary (French)"),
    "summary_en": _l("Summary (English)"),
    "owner_id": _l("Owner"),
    "parent_id": _l("Parent agreement"),
    "signing_event_id": _l("Signing event"),
    "signed_on": _l("Signed on"),
    "effective_on": _l("Effective on"),
    "expires_on": _l("Ends on"),
}

DOCUMENT_LABELS = {
    "draft_text": _l("Draft text"),
    "text_version": _l("Text version"),
    "signed_copy": _l("Signed copy"),
    "termination_notice": _l("Termination notice"),
    "other": _l("Other document"),
}

SIDE_LABELS = {"ministry": lazy_pgettext("the ministry, as a party", "Ministry"), "partner": _l("Partner")}

# A workflow's "owner" is the agreement's owner, not an account role.
OWNER_LABEL = _l("The agreement's owner")


def is_account_role(role: str) -> bool:
    """Whether a workflow's `role` is one an account is given (an admin gives it on the users' page), not the
    agreement's owner nor an approver named by their address."""
    return role in ROLES


def workflow_role_label(role: str) -> str | None:
    """A role a workflow definition names, as the pages name it (the agreement's owner, an account role's
    label); None for any other name (an approver named by their address)."""
    if names_the_owner(role):
        return str(OWNER_LABEL)
    label = ROLES.get(role)
    return str(label) if label is not None else None


# What each named guard (app/workflow/rules.py) checks, in words: the definition's page and the simulator.
GUARD_LABELS = {
    "has_partner": _l("At least one partner organisation"),
    "has_parent": _l("A parent agreement"),
    "has_amendment_changes": _l("What the amendment changes"),
    "text_agreed": _l("Both sides accepted the same version of the text"),
    "negotiated_here": _l("Its text was negotiated in Sharaka"),
    "all_signatories_signed": _l("Every signatory has signed"),
    "no_overlapping_amendment": _l("No other amendment of the same agreement under way"),
    "nothing_due_before_start": _l("No deliverable first due before the agreement starts"),
}


def guard_label(guard) -> str:
    """What a guard of a definition checks, in words: a named guard, or {field: name} / {document: kind}."""
    if isinstance(guard, dict) and "field" in guard:
        return gettext("Filled in: %(field)s", field=FIELD_LABELS.get(guard["field"], guard["field"]))
    if isinstance(guard, dict) and "document" in guard:
        return gettext("Document attached: %(kind)s", kind=DOCUMENT_LABELS.get(guard["document"], guard["document"]))
    return str(GUARD_LABELS.get(guard, guard))


def need_label(name: str) -> str:
    """What a move needs (definition.needs, by its name: a named guard, a field or a document kind), named as
    the pages name it; a name none of them knows is said as written."""
    return str(GUARD_LABELS.get(name) or FIELD_LABELS.get(name) or DOCUMENT_LABELS.get(name) or name)
