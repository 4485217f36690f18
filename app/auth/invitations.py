"""Invitations by e-mail: the invitee chooses their name and password through a single-use,
expiring link, stored hashed (the pattern of password resets). Resending makes a new link and
kills the old one; revoking kills it. Every step is audited."""

from __future__ import annotations

import secrets
from datetime import timedelta
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from app.auth import services
from app.auth.models import Invitation, User, normalize_email
from app.core import audit
from app.core.db import take_turns_on
from app.core.digests import secret_digest
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import can, manages_every_account, may_invite
from app.core.text import one_line
from app.extensions import db
from app.organizations.models import Organization


def _refuse(field: str, message: str):
    raise ValidationFailed(message, {field: [message]})


def invite(*, email: str, role: str, organization: Organization | None, language: str, by: User) -> Invitation:
    """Record an invitation and queue its e-mail. Refused, storing nothing, for an address that
    already has an account or a waiting invitation, or a role/organisation `by` may not give."""
    email = normalize_email(email)[:254]
    services.check_account_rules(email=email, role=role, organization=organization, language=language)
    if not may_invite(by, role, organization.id if organization else None):
        _refuse("role", _("You cannot give this role in this organisation."))
    take_turns_on(f"invitation:{email}")  # two people inviting one address at once: one invitation
    existing = db.session.scalar(select(User).where(User.email == email))
    waiting = [
        row
        for row in db.session.scalars(
            select(Invitation).where(
                Invitation.email == email, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
            )
        )
        if row.status == "pending"
    ]
    # A partner organisation's admin learns only of their own organisation's accounts and invitations: any
    # other address already taken gets one answer, which says neither where nor what (the forgot-password
    # form gives one answer for every address for the same reason).
    sees_all = manages_every_account(by)
    if (existing is not None and not sees_all and existing.organization_id != by.organization_id) or (
        waiting and not sees_all and any(row.organization_id != by.organization_id for row in waiting)
    ):
        _refuse("email", _("This address cannot be invited from here: ask the ministry's administrator."))
    if existing is not None:
        _refuse("email", _("An account with this e-mail address already exists."))
    if waiting:
        _refuse("email", _("An invitation to this address is already waiting: resend it from the list instead."))
    invitation = Invitation(
        email=email,
        role=role,
        organization=organization,
        language=language,
        invited_by_id=by.id,
        token_hash="",
        expires_at=utcnow(),
    )
    db.session.add(invitation)
    db.session.flush()  # its id names it on its mail (notifications.lapsed)
    _send(invitation, by)
    audit.record("invited", invitation, actor=by, changes={"after": _snapshot(invitation)})
    return invitation


def resend(invitation: Invitation, *, by: User) -> None:
    """A new link (and a new lifetime) for a pending or expired invitation; the old link dies. Whoever
    resends it stands behind it from now on (inviter_stands_behind): the mail names them, and an invitation
    sent by someone who has since lost the right to invite had been resent with a link that could never
    work."""
    if invitation.status in ("accepted", "revoked"):
        _refuse("invitation", _("This invitation was already used or revoked; it cannot be sent again."))
    if not may_invite(by, invitation.role, invitation.organization_id):
        _refuse("invitation", _("You cannot give this role in this organisation."))
    from app.notifications.services import withdraw_waiting_mail

    withdraw_waiting_mail("invitation", invitation.id, "A newer invitation replaced it: its link no longer works.")
    before = invitation.invited_by_id
    invitation.invited_by = by
    _send(invitation, by)
    changes = {"before": {"invited_by": before}, "after": {"invited_by": by.id}} if before != by.id else None
    audit.record("invitation_resent", invitation, actor=by, changes=changes)


def revoke(invitation: Invitation, *, by: User) -> None:
    if invitation.status in ("accepted", "revoked"):
        _refuse("invitation", _("This invitation was already used or revoked."))
    invitation.revoked_at = utcnow()
    audit.record("invitation_revoked", invitation, actor=by)


def _send(invitation: Invitation, by: User) -> None:
    from app.notifications.services import Notice, app_path, queue_mail

    days = current_app.config["INVITATION_DAYS"]
    token = secrets.token_urlsafe(32)
    invitation.token_hash = secret_digest(token)
    invitation.sent_at = utcnow()
    invitation.expires_at = utcnow() + timedelta(days=days)
    organization = invitation.organization
    params = {
        "days": days,
        "inviter": by.full_name,
        "role": invitation.role,
        "organization": {
            "ar": organization.name_ar or "",
            "fr": organization.name_fr or "",
            "en": organization.name_en or "",
        }
        if organization
        else None,
    }
    # No account yet: the e-mail goes to the address, in the language chosen for the invitee.
    recipient = SimpleNamespace(
        id=None, email=invitation.email, full_name=invitation.email, language=invitation.language
    )
    queue_mail(
        recipient,
        Notice(
            kind="invitation",
            category="invitation",
            params=params,
            link=app_path("auth.accept_invitation", token=token),
            object_type="invitations",
            object_id=invitation.id,
        ),
    )


def find(token: str) -> tuple[Invitation | None, str]:
    """The invitation behind `token` and its status: "pending", "expired", "revoked", "accepted",
    "unbacked" (pending, but whoever sent it may no longer invite: said before the invitee fills the form),
    or (None, "unknown") — a link that was replaced by a resend is unknown."""
    if not token or len(token) > 100:
        return None, "unknown"
    row = db.session.scalar(select(Invitation).where(Invitation.token_hash == secret_digest(token)))
    if row is None:
        return None, "unknown"
    if row.status == "pending" and not inviter_stands_behind(row):
        return row, "unbacked"
    return row, row.status


def accept(invitation: Invitation, *, full_name: str, password: str) -> User:
    """Create the account the invitation describes; the link is spent."""
    if invitation.status != "pending":
        _refuse("password", _("This invitation can no longer be used."))
    if not inviter_stands_behind(invitation):
        _refuse(
            "password",
            _("This invitation can no longer be used: whoever sent it may no longer invite. Ask for a new one."),
        )
    full_name = one_line(full_name)
    if not full_name:
        _refuse("full_name", _("Give your name."))
    # Taken by one conditional write before the account is made: the link opened in three tabs and sent
    # at once had each passed the "still pending" read, and the later ones met the address's unique key
    # (a server error). They wait on this row, then find it taken.
    accepted_at = utcnow()
    taken = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .values(accepted_at=accepted_at)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        _refuse(
            "password",
            _(
                "This invitation was already used: the account exists. Sign in, or ask for a new password if you "
                "forgot it."
            ),
        )
    user = services.create_user(
        email=invitation.email,
        full_name=full_name,
        role=invitation.role,
        password=password,
        organization=invitation.organization,
        language=invitation.language,
        by=None,
    )
    invitation.accepted_at = accepted_at
    invitation.user_id = user.id
    audit.record("invitation_accepted", invitation, actor=user, changes={"user_id": user.id})
    return user


def inviter_stands_behind(invitation: Invitation) -> bool:
    """Whether the person who sent the invitation could still send it: active, and still allowed to give
    its role in its organisation. A deactivated admin's invitation to an admin account (a leaver's way
    back in) or a demoted organisation admin's invitation creates nothing."""
    inviter = invitation.invited_by
    return (
        inviter is not None
        and inviter.is_active_account
        and may_invite(inviter, invitation.role, invitation.organization_id)
    )


def pending_query(user: User):
    """Invitations not yet accepted or revoked that `user` may see (expired ones too: they can be resent)."""
    from app.core.permissions import visible_invitations_clause

    query = select(Invitation).where(
        Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), visible_invitations_clause(user)
    )
    # Their senders with them: the list marks the invitations nobody stands behind any more.
    query = query.options(selectinload(Invitation.invited_by))
    return query.order_by(Invitation.created_at.desc(), Invitation.id.desc())


def undelivered(invitations: list[Invitation]) -> dict[int, str | None]:
    """The listed invitations whose mail could not be delivered (the server refused it for good), each with
    the server's reason when kept: its invitee never got the link, so the list says so (resend it to a
    corrected address's invitation, or revoke it)."""
    from app.notifications.services import mail_failed_about

    return mail_failed_about("invitation", (invitation.id for invitation in invitations))


def may_manage(user: User, invitation: Invitation) -> bool:
    return can(user, "invitation.manage", invitation)


def _snapshot(invitation: Invitation) -> dict:
    return {
        "email": invitation.email,
        "role": invitation.role,
        "language": invitation.language,
        "organization": invitation.organization.slug if invitation.organization else None,
    }
