"""Who may do what: the only module that decides permissions (default deny).

Routes, the API, the workflow engine, jobs, feeds and templates ask `can(user, action, obj)` or a
named predicate below (`is_partner`, `speaks_for_ministry`, `plays_workflow_role`,
`may_decide_approvals`, `holders_clause(grant)` for "who holds this grant" in SQL...); they never
compare role names themselves, and role names are written only here (the role vocabulary), in the
migrations, the demo data, the tests and the workflow definitions (which name roles as data).
Objects are reached through the `get_*_or_404` loaders, which
answer 404 when the user may not even know the object exists (a partner looking
at another organisation's agreement) and 403 when they may see it but not do
the thing asked.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import cache
from typing import Any, TypeVar

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import exists, or_, select, true

from app.core.urls import MAX_ID
from app.extensions import db

# --- the feature models read here ---------------------------------------------------------
# The core imports no feature package. The loaders and visibility clauses below read a few feature
# models (Agreement, User, Occurrence...): each registers itself here with `@guarded_model` on its
# class, and app/models.py imports every model before the app serves anything.

_GUARDED_MODELS: dict[str, Any] = {}
T = TypeVar("T", bound=type)


def guarded_model(model: T) -> T:
    """Class decorator: a feature model the loaders and clauses of this module read, by class name."""
    _GUARDED_MODELS[model.__name__] = model
    return model


def guarded_model_named(name: str) -> Any:
    try:
        return _GUARDED_MODELS[name]
    except KeyError:
        raise LookupError(f"No model {name} registered with @guarded_model: import app.models first.") from None


# --- the role vocabulary: the only place a role's name is written ------------------------
# Everything else asks the predicates below (pages, API, engine, jobs, templates); workflow
# definitions name roles as data (who takes a move, who approves), read through plays_workflow_role.

ADMIN, OFFICER, MANAGER, LEGAL, FINANCE = "admin", "officer", "manager", "legal", "finance"
PARTNER, AUDITOR = "partner", "auditor"
ROLE_NAMES = (ADMIN, OFFICER, MANAGER, LEGAL, FINANCE, PARTNER, AUDITOR)
ROLES = {
    ADMIN: _l("Administrator"),
    OFFICER: _l("Officer"),
    MANAGER: _l("Manager (approver)"),
    LEGAL: _l("Legal adviser"),
    FINANCE: _l("Finance controller"),
    PARTNER: _l("Partner"),
    AUDITOR: _l("Auditor"),
}
# What each role may do, in one sentence: told to a person whose role an admin changed.
ROLE_POWERS = {
    ADMIN: _l("You can now manage accounts, organisations and settings, and see every agreement."),
    OFFICER: _l("You can now draft agreements, take them through their stages and follow their deliverables."),
    MANAGER: _l("You can now approve or send back agreements, edit them and waive deliverables."),
    LEGAL: _l("You can now read the ministry's agreements and give the legal adviser's approvals."),
    FINANCE: _l("You can now read the ministry's agreements and give the finance controller's approvals."),
    PARTNER: _l(
        "You can now see the agreements shared with your organisation, discuss them and hand in its deliverables."
    ),
    AUDITOR: _l("You can now read every agreement and the audit trail, without changing anything."),
}
MINISTRY_ROLES = (ADMIN, OFFICER, MANAGER, LEGAL, FINANCE, AUDITOR)

ALL_ROLES = frozenset(ROLE_NAMES)
MINISTRY = frozenset(MINISTRY_ROLES)
EDITORS = frozenset({ADMIN, OFFICER, MANAGER})
# Who may hold an approval slot, receive someone's approvals by delegation and be asked to approve.
APPROVERS = frozenset({ADMIN, OFFICER, MANAGER, LEGAL, FINANCE})

# action -> roles that may ever do it. Object-level rules below narrow it further.
GRANTS: dict[str, frozenset[str]] = {
    "agreement.list": ALL_ROLES,
    # The top bar's search: each result is then limited to what the reader may see.
    "search.use": ALL_ROLES,
    # "Send a reminder" on someone else's late approval (dashboard).
    "approval.remind": frozenset({"admin", "officer", "manager"}),
    # Holding a slot in an approval step, directly or by someone's delegation.
    "approval.decide": APPROVERS,
    # Reminders escalated past their threshold (late hand-ins, late approvals, idle negotiations, endings).
    "escalation.receive": frozenset({"manager"}),
    # "Reassign / delegate" someone else's late approval: a delegation made on their behalf.
    "approval.reassign": frozenset({"admin", "manager"}),
    "agreement.view": ALL_ROLES,
    "agreement.history": MINISTRY,
    "agreement.notes": MINISTRY,
    # Approval rounds, their approvers and comments: the ministry's internal work.
    "agreement.approvals": MINISTRY,
    "agreement.create": EDITORS,
    # Bringing in a portfolio from a spreadsheet; the rows signed before Sharaka skip their review
    # (record_signed_elsewhere in workflows/): a manager's decision.
    "agreement.import": frozenset({"admin", "manager"}),
    "agreement.edit": EDITORS,
    # Who may be an agreement's owner (a workflow's "owner" is the agreement's owner among these).
    "agreement.own": EDITORS,
    # Workflow moves: the engine decides which ones, by role, ownership and approvals.
    "agreement.act": frozenset({"admin", "officer", "manager", "legal", "finance", "partner"}),
    "agreement.documents": ALL_ROLES,
    # The ministry's own documents of an agreement (its draft texts, before the negotiation): never a partner's.
    "agreement.internal_documents": MINISTRY,
    "agreement.compare": ALL_ROLES,
    # Indicators of the deliverables plan: defined by those who edit the agreement.
    "agreement.indicators": EDITORS,
    # Activating an agreement signed before Sharaka, recording that the reports its plan has due before today
    # were handed in outside it (waived with that reason, not chased): those who plan its deliverables, an
    # officer on the agreements they own. Waiving one deliverable later stays a manager's (deliverable.waive).
    "agreement.settle_before_sharaka": EDITORS,
    # Checking a signed copy's digital signatures again (new trust roots, revocation now reachable).
    "agreement.recheck_signatures": frozenset({"admin"}),
    "workflow.view": MINISTRY,
    "workflow.simulate": frozenset({"admin"}),
    "inbox.view": frozenset({"admin", "officer", "manager", "legal", "finance"}),
    "delegation.manage": frozenset({"admin", "officer", "manager", "legal", "finance"}),
    "organization.list": ALL_ROLES,
    "organization.view": ALL_ROLES,
    "organization.create": frozenset({"admin", "officer", "manager"}),
    "organization.edit": frozenset({"admin", "officer", "manager"}),
    # Retiring one (dissolved, merged, entered twice) turns its accounts off: the admins who manage accounts.
    "organization.retire": frozenset({"admin"}),
    "event.list": ALL_ROLES,
    "event.view": ALL_ROLES,
    "event.create": EDITORS,
    "event.edit": EDITORS,
    "user.list": frozenset({"admin", "auditor"}),
    "user.view": frozenset({"admin", "auditor"}),
    "user.create": frozenset({"admin"}),
    "user.edit": frozenset({"admin"}),
    "audit.list": frozenset({"admin", "auditor"}),
    # Invitations and an organisation's own accounts: admins for anyone, a partner organisation's
    # admin for partner accounts of their own organisation (see _member_rule).
    "member.list": frozenset({"admin", "partner"}),
    "member.view": frozenset({"admin", "partner"}),
    "member.invite": frozenset({"admin", "partner"}),
    "member.edit": frozenset({"admin", "partner"}),
    "invitation.view": frozenset({"admin", "partner"}),
    "invitation.manage": frozenset({"admin", "partner"}),
    # Resetting someone else's second factor (they lost their phone).
    "user.reset_mfa": frozenset({"admin"}),
    # Ending everything that acts as someone (sessions, API tokens, calendar address) without turning the
    # account off: a lost laptop, a token pasted where it should not be.
    "user.sign_out": frozenset({"admin"}),
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
    "mail.job_failed": frozenset({"admin"}),
    "mail.password_reset": frozenset(),  # asked for by the person, never a choice
    # The ministry's internal approvals and its stalled agreements: never a partner's mail.
    "mail.approval_requested": MINISTRY,
    "mail.approval_overdue": MINISTRY,
    "mail.agreement_stalled": MINISTRY,
    "mail.invitation": frozenset(),  # sent before the account exists
    "mail.email_changed": frozenset(),  # about the account itself, never a choice
    "mail.email_change_confirm": frozenset(),  # asked for by the person, never a choice
    "mail.role_changed": frozenset(),  # about the account itself, never a choice
    # Everyone sees and ends their own sign-in sessions.
    "session.manage": ALL_ROLES,
    # What each role sees first; the portfolio views show only agreements the person may see.
    "dashboard.view": ALL_ROLES,
    # Those who act on what the dashboard shows; the others (auditor, admin, legal, finance) read it only.
    "dashboard.act": frozenset({"officer", "manager"}),
    "portfolio.view": ALL_ROLES,
    "analytics.view": MINISTRY,
    "budget.report": MINISTRY,
    # Discussion threads (internal ones: ministry only, see can_read_thread) and verifying a copy.
    "discussion.view": ALL_ROLES,
    "discussion.post": frozenset({"admin", "officer", "manager", "legal", "finance", "partner"}),
    "copy.verify": ALL_ROLES,
}


# --- who a person is ------------------------------------------------------------------


def signed_in_user():
    """The signed-in user (or Flask-Login's anonymous user) itself, not Flask-Login's proxy, which looks
    them up again on every attribute read: what a page asks of its reader hundreds of times (a board's
    moves, a dashboard's cards) is asked of the object."""
    return current_user._get_current_object()


def is_partner(user) -> bool:
    """A partner organisation's user (everything they see is limited to their organisation's agreements)."""
    return user.role == PARTNER


def is_ministry(user) -> bool:
    """A ministry account (admin, officer, manager, legal adviser, finance controller, auditor)."""
    return user.role in MINISTRY


def is_known_role(role: str) -> bool:
    return role in ALL_ROLES


def is_partner_role(role: str) -> bool:
    """Whether the role name `role` (an account form, an invitation, the CLI) is the partners'."""
    return role == PARTNER


def is_ministry_role(role: str) -> bool:
    return role in MINISTRY


def is_admin_role(role: str) -> bool:
    """The role that manages every account (an admin may not take it from themselves)."""
    return role == ADMIN


def holds(user, action: str) -> bool:
    """Whether `user`'s role holds the grant `action`, with no object and no account check (for a
    pass over people already known to be active, such as the reminders' recipients)."""
    return user.role in GRANTS[action]


def holds_role(user, roles) -> bool:
    """Whether `user` has one of `roles`: role names read as data (a workflow's approvers, a step's
    required roles, a scenario's people)."""
    return user.role in roles


def holders_clause(action: str, account=None):
    """SQL condition on User rows: the accounts whose role holds the grant `action` (e.g. the
    auditors to e-mail: holders_clause("mail.audit_anchor")). `account`: an alias of User to test."""
    return holders_of_roles_clause(GRANTS[action], account)


def holders_of_roles_clause(roles, account=None):
    """SQL condition on User rows (or on the alias `account`): accounts with one of `roles` (role names
    read as data)."""
    User = guarded_model_named("User")

    return (account if account is not None else User).role.in_(sorted(roles))


def partner_accounts_clause(account=None):
    """SQL condition on User (or Invitation) rows, or on the alias `account`: partner organisations' accounts."""
    User = guarded_model_named("User")

    return (account if account is not None else User).role == PARTNER


def ministry_accounts_clause():
    User = guarded_model_named("User")

    return User.role.in_(sorted(MINISTRY))


def edits_own_agreements_only(user) -> bool:
    """An officer: edits only the agreements they own, so their views start from those."""
    return user.role == OFFICER


def names_the_owner(workflow_role: str) -> bool:
    """Whether a role a workflow definition names stands for the agreement's owner, not for the users
    holding a role (the simulator counts people per role, and the owner is always one person)."""
    return workflow_role == "owner"


def may_own_agreements(user) -> bool:
    """Whether `user` may be an agreement's owner (and play a workflow's "owner" on their own)."""
    return role_may_own_agreements(user.role)


def role_may_own_agreements(role: str) -> bool:
    """Whether a person with `role` may own agreements (an account's role about to change)."""
    return role in GRANTS["agreement.own"]


def may_decide_approvals(user) -> bool:
    """Whether `user` may ever approve (hold a slot, by their role or a colleague's delegation);
    partners and auditors never do."""
    return user is not None and holds(user, "approval.decide")


def may_take_moves(user) -> bool:
    """Whether workflow moves are offered to `user` at all (auditors only read)."""
    return holds(user, "agreement.act")


def acts_from_dashboard(user) -> bool:
    return holds(user, "dashboard.act")


def speaks_for_partner(user, agreement) -> bool:
    """A partner user of one of the agreement's partner parties: they answer for their organisation in
    the negotiation. A witness or a co-signatory sees the agreement but neither sends nor accepts a text."""
    return is_partner(user) and any(
        party.is_partner and party.organization_id == user.organization_id for party in agreement.parties
    )


def speaks_for_ministry(user, agreement) -> bool:
    """Who answers for the ministry in this agreement's negotiation: its owner, or a manager or admin."""
    return may_own_agreements(user) and (not edits_own_agreements_only(user) or agreement.owner_id == user.id)


def plays_workflow_role(user, roles, agreement) -> bool:
    """Whether `user` is among the `roles` a workflow definition names for a move of `agreement`:
    a ministry role named; "partner" for a partner of the agreement's parties; "owner" for the
    agreement's owner."""
    if user is None or not getattr(user, "is_active", False):
        return False
    if user.role in roles and not is_partner(user):
        return True
    if is_partner(user) and PARTNER in roles:
        return any(p.organization_id == user.organization_id for p in agreement.parties)
    return "owner" in roles and agreement.owner_id == user.id and may_own_agreements(user)


def may_move_own_agreements(user, roles) -> bool:
    """Whether `user`, as the owner of an agreement, takes a move whose definition names `roles`
    (a ministry role named, or "owner"; partners never move an owner's agreement forward)."""
    return (user.role in roles and not is_partner(user)) or ("owner" in roles and may_own_agreements(user))


def may_be_approver_role(role: str) -> bool:
    """Whether a workflow may name `role` as an approval step's approvers (partners never approve)."""
    return role != PARTNER


def may_receive_mail_category(user, category: str) -> bool:
    """Whether `category` belongs on `user`'s mail choices (most categories are for everyone)."""
    action = f"mail.{category}"
    return action not in GRANTS or can(user, action)


def may_see_internal_approvals(user, agreement) -> bool:
    """Whether `user` reads every approval round of `agreement`: who approved, who sent it back, their
    comments. The ministry's internal work, hidden from partners on every page, feed and API answer."""
    return can(user, "agreement.approvals", agreement)


def may_see_approval_round(user, agreement, approval) -> bool:
    """Whether `user` reads the rounds of one approval (`approval`: the workflow definition's approval
    of the round's transition, or None when the definition no longer has it). Partners of the agreement
    read only the rounds the workflow declares shared with them (`shared_with_partner: true`)."""
    if may_see_internal_approvals(user, agreement):
        return True
    return bool(getattr(approval, "shared_with_partner", False)) and can(user, "agreement.view", agreement)


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
        return action in (
            "agreement.view",
            "agreement.act",
            "agreement.documents",
            "agreement.compare",
        ) and _partner_is_party(user, agreement)
    owners_only = ("agreement.edit", "agreement.indicators", "agreement.settle_before_sharaka")
    if action in owners_only and user.role == "officer":
        # Officers change the agreements they own; managers and admins any.
        return agreement.owner_id == user.id
    return True


def _organization_rule(user, action: str, organization) -> bool:
    if user.role == "partner":
        return action == "organization.view" and organization.id == user.organization_id
    if action == "organization.edit" and organization.is_home and user.role != "admin":
        return False
    if action == "organization.retire" and organization.is_home:
        return False
    return True


def _event_rule(user, action: str, event) -> bool:
    if user.role == "partner":
        return action == "event.view" and any(_partner_is_party(user, a) for a in event.agreements)
    return True


def _user_rule(user, action: str, target) -> bool:
    return True


def is_org_admin(user) -> bool:
    """A partner user who manages their own organisation's accounts."""
    return user.role == "partner" and bool(user.is_org_admin) and user.organization_id is not None


def _member_rule(user, action: str, target) -> bool:
    """A Sharaka admin manages every account; a partner organisation's admin only partner accounts
    of their own organisation (anything else does not exist for them)."""
    if user.role == "admin":
        return True
    return is_org_admin(user) and target.role == "partner" and target.organization_id == user.organization_id


def may_reactivate(user, target) -> bool:
    """A partner organisation's admin undoes only their own organisation's deactivations: an account the
    ministry closed (a leaver, a breach) stays closed until the ministry reopens it."""
    return user.role == "admin" or (_member_rule(user, "member.edit", target) and not target.deactivated_by_ministry)


def _invitation_rule(user, action: str, invitation) -> bool:
    if user.role == "admin":
        return True
    return is_org_admin(user) and invitation.role == "partner" and invitation.organization_id == user.organization_id


def manages_every_account(user) -> bool:
    """A Sharaka admin: every account and invitation, any role, any organisation."""
    return user.role == "admin"


def can_manage_members(user) -> bool:
    """May invite and manage accounts at all (a Sharaka admin, or a partner organisation's admin)."""
    return can(user, "member.list") and (user.role == "admin" or is_org_admin(user))


def invitable_roles(user) -> tuple[str, ...]:
    """The roles `user` may give in an invitation."""
    if user.role == "admin":
        return ROLE_NAMES
    return ("partner",) if is_org_admin(user) else ()


def may_invite(user, role: str, organization_id: int | None) -> bool:
    if role not in invitable_roles(user):
        return False
    return user.role == "admin" or organization_id == user.organization_id


def may_sign_in_locally(user, config) -> bool:
    """With directory sign-in on, which accounts may still use a local password: never a
    directory-linked one; otherwise the roles LDAP_LOCAL_ROLES names (partners and break-glass
    admins by default)."""
    if not config.get("LDAP_URL"):
        return True
    return not user.directory_dn and user.role in config.get("LDAP_LOCAL_ROLES", ())


def requires_second_factor(user, config) -> bool:
    """MFA_REQUIRED_ROLES: these roles must enrol in two-factor sign-in."""
    return user.role in config.get("MFA_REQUIRED_ROLES", ())


def sees_deliverables_of(user, agreement_id: int, granted: set[int] | None = None) -> bool:
    """Whether `user` sees the deliverables of an agreement they see. A partner user sees them when their
    organisation takes part in its work (_takes_part_in_work: not as a mere witness), and, when their
    organisation's admin restricted them, only for the agreements granted to them; the ministry sees all.
    `granted` (the user's grants) may be given when already loaded."""
    if user.role != "partner":
        return True
    return granted_deliverables_of(user, agreement_id, granted) and _takes_part_in_work(
        user.organization_id, agreement_id
    )


def granted_deliverables_of(user, agreement_id: int, granted: set[int] | None = None) -> bool:
    """The part of sees_deliverables_of that is the user's own: unless their organisation's admin restricted
    them, they see the deliverables of every agreement their organisation works on. For users of an
    organisation already known to answer for one of the agreement's deliverables (a reminder's recipients)."""
    if user.role != "partner" or not user.deliverables_restricted:
        return True
    if granted is None:
        DeliverableGrant = guarded_model_named("DeliverableGrant")

        return db.session.get(DeliverableGrant, (user.id, agreement_id)) is not None
    return agreement_id in granted


def _takes_part_in_work(organization_id, agreement_id: int) -> bool:
    """takes_part_in_work_clause for one organisation and agreement, asked once per request (a page asks
    it of the same agreement for each deliverable, thread and notice it draws)."""
    from flask import g, has_app_context

    known = g.setdefault("sharaka_work_parts", {}) if has_app_context() else {}
    key = (organization_id, agreement_id)
    if key not in known:
        known[key] = bool(db.session.scalar(select(takes_part_in_work_clause(organization_id, agreement_id))))
    return known[key]


@cache
def _work_aliases():
    """The parties and deliverables as takes_part_in_work_clause reads them: aliases, so its EXISTS never
    correlates with a query of the same tables (a list of deliverables), made once."""
    from sqlalchemy.orm import aliased

    return aliased(guarded_model_named("AgreementParty")), aliased(guarded_model_named("Deliverable"))


def takes_part_in_work_clause(organization_id, agreement_id):
    """SQL: the organisation takes part in the work of the agreement `agreement_id` (a column, or a value) names:
    a party to it other than a witness (AgreementParty.takes_part_in_work), or answerable for one of its
    deliverables. A witness attested the signing: its users see the agreement, not what the others hand in."""
    party, deliverable = _work_aliases()
    return or_(
        exists(
            select(party.id).where(
                party.agreement_id == agreement_id,
                party.organization_id == organization_id,
                party.takes_part_in_work(party.role),
            )
        ),
        exists(
            select(deliverable.id).where(
                deliverable.agreement_id == agreement_id,
                deliverable.responsible_organization_id == organization_id,
            )
        ),
    )


# The roles that review (and hand in for the ministry) on every agreement; an officer does on those they own.
OVERSEES_EVERY_AGREEMENT = (MANAGER, ADMIN)


def _deliverable_rule(user, action: str, occurrence) -> bool:
    """Rules for one occurrence of a deliverable (its agreement decides who sees it)."""
    deliverable = occurrence.deliverable
    agreement = deliverable.agreement
    if not can(user, "agreement.view", agreement) or not sees_deliverables_of(user, agreement.id):
        return False
    is_owner_or_boss = user.role in OVERSEES_EVERY_AGREEMENT or (user.role == OFFICER and agreement.owner_id == user.id)
    if action == "deliverable.submit":
        if user.role == "partner":
            return deliverable.responsible_organization_id == user.organization_id
        return deliverable.responsible_organization.is_home and is_owner_or_boss
    if action == "deliverable.review":
        return is_owner_or_boss
    return True


def who_reviews(occurrence) -> tuple[Any, list[str]]:
    """Who may review `occurrence`'s hand-ins, said to the ministry's staff who may not: its agreement's owner
    when the review rule lets them (None otherwise), and the names of the roles that review on every agreement."""
    owner = occurrence.deliverable.agreement.owner
    reviewing_owner = owner if owner is not None and can(owner, "deliverable.review", occurrence) else None
    roles = [str(ROLES[role]) for role in OVERSEES_EVERY_AGREEMENT if role in GRANTS["deliverable.review"]]
    return reviewing_owner, roles


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
    "member": _member_rule,
    "invitation": _invitation_rule,
    "deliverable": _deliverable_rule,
}


def _partner_is_party(user, agreement) -> bool:
    """A party to the agreement, once it was shown to the partners (visible_agreements_clause's rule)."""
    return (
        agreement.shared_at is not None
        and user.organization_id is not None
        and any(party.organization_id == user.organization_id for party in agreement.parties)
    )


# --- discussion threads ------------------------------------------------------------


def can_read_thread(user, agreement, audience: str, *, of_deliverable: bool = False) -> bool:
    """Internal threads are the ministry's; shared threads everyone who sees the agreement, and a
    deliverable's threads (`of_deliverable`) everyone who sees the agreement's deliverables."""
    if not can(user, "discussion.view") or not can(user, "agreement.view", agreement):
        return False
    if of_deliverable and not sees_deliverables_of(user, agreement.id):
        return False
    return audience == "shared" or (audience == "internal" and user.role in MINISTRY)


def can_post_in_thread(user, agreement, audience: str, *, of_deliverable: bool = False) -> bool:
    return can_read_thread(user, agreement, audience, of_deliverable=of_deliverable) and can(user, "discussion.post")


def can_read_message(user, message) -> bool:
    """A message (and its attachments) is read by whoever reads its thread."""
    return can_read_thread(
        user, message_agreement(message), message.audience, of_deliverable=message.occurrence_id is not None
    )


def can_edit_message(user, message) -> bool:
    """Only its author edits a message (earlier texts are kept); nobody deletes one."""
    return (
        message.author_id is not None
        and message.author_id == getattr(user, "id", None)
        and can_read_message(user, message)
        and can(user, "discussion.post")
    )


def message_agreement(message):
    Agreement = guarded_model_named("Agreement")

    return db.session.get(Agreement, message.agreement_id)


def can_mention(
    author, target, agreement, audience: str, thread_author_ids: set[int], *, of_deliverable: bool = False
) -> bool:
    """Whom `author` may @mention: someone who can read the thread and whom the author already
    knows of. A partner knows their own organisation, the agreement's owner and whoever wrote in
    the thread; the ministry knows everyone able to read it. Anyone else is "not found", the same
    answer as for an address that does not exist, so a mention never reveals an account."""
    if (
        target is None
        or not target.is_active
        or not can_read_thread(target, agreement, audience, of_deliverable=of_deliverable)
    ):
        return False
    if author.role != "partner":
        return True
    return (
        target.organization_id == author.organization_id
        or target.id == agreement.owner_id
        or target.id in thread_author_ids
    )


def can_download_attachment(user, message) -> bool:
    return can_read_message(user, message)


def can_verify_against(user, agreement, document=None) -> bool:
    """Whether a dropped copy may be matched against `agreement`'s files (or its `document`): only those the
    user may open (a partner learns nothing of another organisation's files, nor of the ministry's drafts)."""
    if document is not None:
        return can(user, "copy.verify") and may_see_document(user, agreement, document)
    return can(user, "copy.verify") and can(user, "agreement.documents", agreement)


# --- an agreement's documents ---------------------------------------------------------


def may_see_internal_documents(user) -> bool:
    """Whether `user` sees the ministry's own documents of the agreements they see (draft texts): its staff."""
    return can(user, "agreement.internal_documents")


def may_see_document(user, agreement, document) -> bool:
    """Whether `user` lists, opens, compares or matches `document` of `agreement`: whoever opens the agreement's
    documents, except a draft text (the ministry's own work), which a partner never sees, even once the
    agreement is shared. visible_documents_clause is its twin in SQL."""
    if document.agreement_id != agreement.id or not can(user, "agreement.documents", agreement):
        return False
    return not document.is_internal or may_see_internal_documents(user)


def visible_documents_clause(user):
    """SQL condition on AgreementDocument rows of agreements `user` already sees: may_see_document's rule."""
    AgreementDocument = guarded_model_named("AgreementDocument")

    if may_see_internal_documents(user):
        return true()
    return AgreementDocument.is_internal.is_(False)


def documents_seen_by(user, agreement) -> list:
    """The agreement's documents `user` may see, oldest first (the documents panel, the comparison)."""
    return [d for d in agreement.documents if may_see_document(user, agreement, d)]


# --- query scoping -------------------------------------------------------------


def sees_every_agreement(user) -> bool:
    """The ministry's people see the whole portfolio: a query for them needs no condition on agreements."""
    return user.role != "partner"


def portfolio_scope(user) -> Hashable:
    """Who sees the same portfolio as `user`, for figures shared between readers: everyone who sees
    every agreement shares one scope; anyone else has their own."""
    return "every agreement" if sees_every_agreement(user) else ("user", user.id)


def viewable_agreement_ids(user, ids) -> set[int]:
    """Of the agreement `ids`, those `user` may view (`can(user, "agreement.view", agreement)` for each),
    without loading them: a page naming many linked agreements (parents, renewals) asks once."""
    wanted = {agreement_id for agreement_id in ids if agreement_id is not None}
    if not wanted or not can(user, "agreement.view"):
        return set()
    if sees_every_agreement(user):
        return wanted
    from sqlalchemy import select

    from app.extensions import db

    Agreement = guarded_model_named("Agreement")
    return set(
        db.session.scalars(select(Agreement.id).where(Agreement.id.in_(wanted), visible_agreements_clause(user)))
    )


def visible_agreements_clause(user):
    """SQL condition limiting Agreement queries to what `user` may see."""
    from sqlalchemy.orm import aliased

    Agreement = guarded_model_named("Agreement")
    AgreementParty = guarded_model_named("AgreementParty")

    if sees_every_agreement(user):
        return true()
    # An alias, so the EXISTS never correlates with a query that already joins parties.
    party = aliased(AgreementParty)
    # A partner's: those their organisation is a party to, once shown to the partners (Agreement.shared_at:
    # the ministry's drafting and internal review are its own, a budget's negotiating floor included).
    return Agreement.shared_at.is_not(None) & exists(
        select(party.id).where(
            party.agreement_id == Agreement.id,
            party.organization_id == user.organization_id,
        )
    )


def visible_deliverables_clause(user, agreement_id=None):
    """SQL condition on Deliverable rows (or on rows whose `agreement_id` column names the agreement whose
    deliverables they show): the agreements' rule, narrowed for a partner user whose organisation's admin
    chose which agreements' deliverables they see."""
    DeliverableGrant = guarded_model_named("DeliverableGrant")
    Deliverable = guarded_model_named("Deliverable")

    if user.role != "partner":
        return true()
    column = Deliverable.agreement_id if agreement_id is None else agreement_id
    clause = takes_part_in_work_clause(user.organization_id, column)
    if not user.deliverables_restricted:
        return clause
    return clause & column.in_(select(DeliverableGrant.agreement_id).where(DeliverableGrant.user_id == user.id))


def visible_members_clause(user):
    """SQL condition on User rows for the member lists: everyone for an admin, the own
    organisation's partner accounts for its admin, nobody otherwise."""
    from sqlalchemy import false

    User = guarded_model_named("User")

    if user.role == "admin":
        return true()
    if is_org_admin(user):
        return (User.organization_id == user.organization_id) & (User.role == "partner")
    return false()


def visible_invitations_clause(user):
    """SQL condition on Invitation rows, the member lists' rule: every invitation for an admin,
    the own organisation's partner invitations for its admin, none otherwise."""
    from sqlalchemy import false

    Invitation = guarded_model_named("Invitation")

    if manages_every_account(user):
        return true()
    if is_org_admin(user):
        return (Invitation.organization_id == user.organization_id) & (Invitation.role == PARTNER)
    return false()


def visible_organizations_clause(user):
    Organization = guarded_model_named("Organization")

    if user.role != "partner":
        return true()
    return Organization.id == user.organization_id


def visible_events_clause(user):
    Agreement = guarded_model_named("Agreement")
    SigningEvent = guarded_model_named("SigningEvent")

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
    if not 0 < object_id <= MAX_ID:  # anything larger cannot exist
        abort(404)
    obj = db.session.get(model, object_id)
    if obj is None or not can(user, f"{prefix}.view", obj):
        abort(404)
    if need != "view" and not can(user, f"{prefix}.{need}", obj):
        abort(403)
    return obj


def get_agreement_or_404(agreement_id, user, need: str = "view"):
    Agreement = guarded_model_named("Agreement")

    return _load_or_404(Agreement, agreement_id, user, need, "agreement")


def get_document_or_404(agreement, document_id, user, *, kind: str | None = None):
    """A document of `agreement` (already loaded for its documents) that `user` may see, of `kind` when given:
    404 otherwise, the same answer as for an id that does not exist (a partner asking for a draft text)."""
    AgreementDocument = guarded_model_named("AgreementDocument")

    try:
        document_id = int(document_id)
    except (TypeError, ValueError):
        abort(404)
    document = db.session.get(AgreementDocument, document_id) if 0 < document_id <= MAX_ID else None
    if document is None or not may_see_document(user, agreement, document):
        abort(404)
    if kind is not None and document.kind != kind:
        abort(404)
    return document


def get_organization_or_404(organization_id, user, need: str = "view"):
    Organization = guarded_model_named("Organization")

    return _load_or_404(Organization, organization_id, user, need, "organization")


def get_event_or_404(event_id, user, need: str = "view"):
    SigningEvent = guarded_model_named("SigningEvent")

    return _load_or_404(SigningEvent, event_id, user, need, "event")


def get_user_or_404(user_id, user, need: str = "view"):
    User = guarded_model_named("User")

    return _load_or_404(User, user_id, user, need, "user")


def get_member_or_404(user_id, user, need: str = "view"):
    """An account as the member pages see it: another organisation's or a ministry account is 404."""
    User = guarded_model_named("User")

    return _load_or_404(User, user_id, user, need, "member")


def get_invitation_or_404(invitation_id, user, need: str = "view"):
    Invitation = guarded_model_named("Invitation")

    return _load_or_404(Invitation, invitation_id, user, need, "invitation")


def get_occurrence_or_404(occurrence_id, user, need: str = "view"):
    Occurrence = guarded_model_named("Occurrence")

    return _load_or_404(Occurrence, occurrence_id, user, need, "deliverable")


def get_notification_or_404(notification_id, user, need: str = "view"):
    Notification = guarded_model_named("Notification")

    return _load_or_404(Notification, notification_id, user, need, "notification")


def get_export_or_404(export_id, user, need: str = "view"):
    ExportJob = guarded_model_named("ExportJob")

    return _load_or_404(ExportJob, export_id, user, need, "export")


def get_outbox_message_or_404(message_id, user, need: str = "view"):
    OutboxMessage = guarded_model_named("OutboxMessage")

    return _load_or_404(OutboxMessage, message_id, user, need, "outbox")


def get_message_or_404(message_id, user, *, agreement_id: int | None = None, occurrence_id: int | None = None):
    """A discussion message the user may read (404 otherwise, internal threads included), optionally
    checked to belong to the agreement or deliverable of the address it was reached through."""
    DiscussionMessage = guarded_model_named("DiscussionMessage")

    if not can(user, "discussion.view"):
        abort(403)
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        abort(404)
    message = db.session.get(DiscussionMessage, message_id) if 0 < message_id <= MAX_ID else None
    if message is None or not can_read_message(user, message):
        abort(404)
    if (agreement_id is not None and message.agreement_id != agreement_id) or (
        occurrence_id is not None and message.occurrence_id != occurrence_id
    ):
        abort(404)
    return message


def require_thread(user, agreement, audience: str, *, of_deliverable: bool = False) -> None:
    """404 for a thread the user may not read (a partner never learns an internal thread exists)."""
    if not can_read_thread(user, agreement, audience, of_deliverable=of_deliverable):
        abort(404)


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
    if (
        token
        and authorization
        and authorization.startswith("Bearer ")
        and hmac.compare_digest(authorization[7:].strip().encode(), token.encode())
    ):
        return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in config.get("METRICS_ALLOW_NETWORKS", ()))
