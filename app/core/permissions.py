"""Who may do what: the only module that decides permissions (default deny).

Routes, the API and templates ask `can(user, action, obj)`; they never test
roles themselves. Objects are reached through the `get_*_or_404` loaders, which
answer 404 when the user may not even know the object exists (a partner looking
at another organisation's agreement) and 403 when they may see it but not do
the thing asked.
"""
from __future__ import annotations

from flask import abort
from sqlalchemy import exists, select, true

from app.extensions import db

ALL_ROLES = frozenset({"admin", "officer", "manager", "legal", "partner", "auditor"})
MINISTRY = frozenset({"admin", "officer", "manager", "legal", "auditor"})
EDITORS = frozenset({"admin", "officer", "manager"})

# action -> roles that may ever do it. Object-level rules below narrow it further.
GRANTS: dict[str, frozenset[str]] = {
    "agreement.list": ALL_ROLES,
    # The top bar's search: each result is then limited to what the reader may see.
    "search.use": ALL_ROLES,
    # "Send a reminder" on someone else's late approval (dashboard).
    "approval.remind": frozenset({"admin", "officer", "manager"}),
    "agreement.view": ALL_ROLES,
    "agreement.history": MINISTRY,
    "agreement.notes": MINISTRY,
    "agreement.create": EDITORS,
    "agreement.edit": EDITORS,
    # Workflow moves: the engine decides which ones, by role, ownership and approvals.
    "agreement.act": frozenset({"admin", "officer", "manager", "legal", "partner"}),
    "agreement.documents": ALL_ROLES,
    "workflow.view": MINISTRY,
    "inbox.view": frozenset({"admin", "officer", "manager", "legal", "partner"}),
    "delegation.manage": frozenset({"admin", "officer", "manager", "legal"}),
    "organization.list": ALL_ROLES,
    "organization.view": ALL_ROLES,
    "organization.create": frozenset({"admin", "officer", "manager"}),
    "organization.edit": frozenset({"admin", "officer", "manager"}),
    "event.list": ALL_ROLES,
    "event.view": ALL_ROLES,
    "event.create": EDITORS,
    "event.edit": EDITORS,
    "user.list": frozenset({"admin", "auditor"}),
    "user.view": frozenset({"admin", "auditor"}),
    "user.create": frozenset({"admin"}),
    "user.edit": frozenset({"admin"}),
    "audit.list": frozenset({"admin", "auditor"}),
    "portal.view": frozenset({"partner"}),
    "deliverable.list": ALL_ROLES,
    "deliverable.view": ALL_ROLES,
    "deliverable.submit": frozenset({"admin", "officer", "manager", "partner"}),
    "deliverable.review": EDITORS,
    "deliverable.waive": frozenset({"admin", "manager"}),
    # Everyone has their own notices, mail choices and calendar feed.
    "notification.view": ALL_ROLES,
    "outbox.view": frozenset({"admin", "auditor"}),
    "outbox.manage": frozenset({"admin"}),
    "job.view": frozenset({"admin", "auditor"}),
    "token.manage": ALL_ROLES,
    # Everyone may have a long list written in the background; each export is its requester's alone.
    "export.view": ALL_ROLES,
    # Mail categories offered to only some people on their mail choices page.
    "mail.weekly_digest": frozenset({"manager"}),
    "mail.audit_anchor": frozenset({"auditor"}),
    "mail.password_reset": frozenset(),  # asked for by the person, never a choice
    # Everyone sees and ends their own sign-in sessions.
    "session.manage": ALL_ROLES,
    # What each role sees first; the portfolio views show only agreements the person may see.
    "dashboard.view": ALL_ROLES,
    "portfolio.view": ALL_ROLES,
    "analytics.view": MINISTRY,
}


def may_receive_mail_category(user, category: str) -> bool:
    """Whether `category` belongs on `user`'s mail choices (most categories are for everyone)."""
    action = f"mail.{category}"
    return action not in GRANTS or can(user, action)


def can(user, action: str, obj=None) -> bool:
    """True when `user` may do `action` (on `obj`, when given)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    roles = GRANTS.get(action)
    if roles is None:
        raise KeyError(f"unknown permission {action!r}")  # a typo must not silently deny or allow
    if user.role not in roles:
        return False
    if obj is None:
        return True
    rule = OBJECT_RULES.get(action.split(".")[0])
    return rule(user, action, obj) if rule else True


def _agreement_rule(user, action: str, agreement) -> bool:
    if user.role == "partner":
        return action in ("agreement.view", "agreement.act", "agreement.documents") and _partner_is_party(
            user, agreement)
    if action == "agreement.edit" and user.role == "officer":
        # Officers change the agreements they own; managers and admins any.
        return agreement.owner_id == user.id
    return True


def _organization_rule(user, action: str, organization) -> bool:
    if user.role == "partner":
        return action == "organization.view" and organization.id == user.organization_id
    if action == "organization.edit" and organization.is_home and user.role != "admin":
        return False
    return True


def _event_rule(user, action: str, event) -> bool:
    if user.role == "partner":
        return action == "event.view" and any(_partner_is_party(user, a) for a in event.agreements)
    return True


def _user_rule(user, action: str, target) -> bool:
    return True


def _deliverable_rule(user, action: str, occurrence) -> bool:
    """Rules for one occurrence of a deliverable (its agreement decides who sees it)."""
    deliverable = occurrence.deliverable
    agreement = deliverable.agreement
    if not can(user, "agreement.view", agreement):
        return False
    is_owner_or_boss = user.role in ("manager", "admin") or (user.role == "officer" and agreement.owner_id == user.id)
    if action == "deliverable.submit":
        if user.role == "partner":
            return deliverable.responsible_organization_id == user.organization_id
        return deliverable.responsible_organization.is_home and is_owner_or_boss
    if action == "deliverable.review":
        return is_owner_or_boss
    return True


def _notification_rule(user, action: str, notification) -> bool:
    # A notice is its recipient's alone, whatever their role.
    return notification.user_id == user.id


def _export_rule(user, action: str, job) -> bool:
    # An export holds what its requester could see: nobody else opens it, whatever their role.
    return job.user_id == user.id


OBJECT_RULES = {
    "notification": _notification_rule,
    "export": _export_rule,
    "agreement": _agreement_rule,
    "organization": _organization_rule,
    "event": _event_rule,
    "user": _user_rule,
    "deliverable": _deliverable_rule,
}


def _partner_is_party(user, agreement) -> bool:
    return user.organization_id is not None and any(
        party.organization_id == user.organization_id for party in agreement.parties
    )


# --- query scoping -------------------------------------------------------------

def visible_agreements_clause(user):
    """SQL condition limiting Agreement queries to what `user` may see."""
    from sqlalchemy.orm import aliased

    from app.agreements.models import Agreement, AgreementParty

    if user.role != "partner":
        return true()
    # An alias, so the EXISTS never correlates with a query that already joins parties.
    party = aliased(AgreementParty)
    return exists(
        select(party.id).where(
            party.agreement_id == Agreement.id,
            party.organization_id == user.organization_id,
        )
    )


def visible_organizations_clause(user):
    from app.organizations.models import Organization

    if user.role != "partner":
        return true()
    return Organization.id == user.organization_id


def visible_events_clause(user):
    from app.agreements.models import Agreement, SigningEvent

    if user.role != "partner":
        return true()
    return exists(
        select(Agreement.id).where(Agreement.signing_event_id == SigningEvent.id, visible_agreements_clause(user))
    )


# --- loaders: the only doors to an object -------------------------------------

def _load_or_404(model, object_id, user, need: str, prefix: str):
    # A role that may never see this kind of object is told so (403); 404 is for
    # "you see some of these, but this one does not exist for you".
    if not can(user, f"{prefix}.view"):
        abort(403)
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    # Ids are 32-bit integers in the database: anything larger cannot exist.
    if object_id < 1 or object_id > 2**31 - 1:
        abort(404)
    obj = db.session.get(model, object_id)
    if obj is None or not can(user, f"{prefix}.view", obj):
        abort(404)
    if need != "view" and not can(user, f"{prefix}.{need}", obj):
        abort(403)
    return obj


def get_agreement_or_404(agreement_id, user, need: str = "view"):
    from app.agreements.models import Agreement

    return _load_or_404(Agreement, agreement_id, user, need, "agreement")


def get_organization_or_404(organization_id, user, need: str = "view"):
    from app.organizations.models import Organization

    return _load_or_404(Organization, organization_id, user, need, "organization")


def get_event_or_404(event_id, user, need: str = "view"):
    from app.agreements.models import SigningEvent

    return _load_or_404(SigningEvent, event_id, user, need, "event")


def get_user_or_404(user_id, user, need: str = "view"):
    from app.auth.models import User

    return _load_or_404(User, user_id, user, need, "user")


def get_occurrence_or_404(occurrence_id, user, need: str = "view"):
    from app.deliverables.models import Occurrence

    return _load_or_404(Occurrence, occurrence_id, user, need, "deliverable")


def get_notification_or_404(notification_id, user, need: str = "view"):
    from app.notifications.models import Notification

    return _load_or_404(Notification, notification_id, user, need, "notification")


def get_export_or_404(export_id, user, need: str = "view"):
    from app.exports.models import ExportJob

    return _load_or_404(ExportJob, export_id, user, need, "export")


def get_outbox_message_or_404(message_id, user, need: str = "view"):
    from app.notifications.models import OutboxMessage

    return _load_or_404(OutboxMessage, message_id, user, need, "outbox")


def require(user, action: str) -> None:
    """Abort with 403 unless `user` may do `action` (for routes with no object yet)."""
    if not can(user, action):
        abort(403)


def can_scrape_metrics(remote_addr: str | None, authorization: str | None, config) -> bool:
    """/metrics: a bearer token equal to METRICS_TOKEN, or a client address inside
    METRICS_ALLOW_NETWORKS. Neither configured: nobody (the page does not exist)."""
    import hmac
    import ipaddress

    token = config.get("METRICS_TOKEN") or ""
    if token and authorization and authorization.startswith("Bearer ") and hmac.compare_digest(
            authorization[7:].strip().encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in config.get("METRICS_ALLOW_NETWORKS", ()))
