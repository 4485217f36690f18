"""A person's own new sign-in address, confirmed by a link sent to it: their address changes only when they
follow it. The link works once, for EMAIL_CHANGE_HOURS, is stored as a hash (as a password reset's and an
invitation's are) and dies when a newer request replaces it or the person cancels it. The old address is told
of the request, with no link that could act on the account. An admin's change stays direct
(services.update_user, change_member_email); a directory account's address is the directory's."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.auth import services
from app.auth.leavers import cancel_email_change
from app.auth.models import EmailChange, User, address_refusal, normalize_email
from app.core import audit
from app.core.digests import secret_digest
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.extensions import db


def _refuse(message: str):
    raise ValidationFailed(message, {"email": [message]})


def pending_change(user: User) -> EmailChange | None:
    """The request still waiting for its link to be followed, if any (the profile shows it)."""
    return db.session.scalar(
        select(EmailChange)
        .where(
            EmailChange.user_id == user.id,
            EmailChange.used_at.is_(None),
            EmailChange.cancelled_at.is_(None),
            EmailChange.expires_at > utcnow(),
        )
        .order_by(EmailChange.id.desc())
        .limit(1)
    )


def request_change(user: User, email: str) -> EmailChange:
    """Send the link to the new address and tell the old one; any earlier request's link dies. An address
    another account holds is refused without saying so (services.address_refused_vaguely)."""
    from app.notifications.services import Notice, app_path, notify, queue_mail

    if (refusal := address_refusal(email)) is not None:
        _refuse(refusal)
    new_email = normalize_email(email)
    if new_email == user.email:
        _refuse(_("That is already your address."))
    services.check_email_may_change(user, new_email, taken_said=services.address_refused_vaguely())
    cancel_email_change(user)
    hours = current_app.config["EMAIL_CHANGE_HOURS"]
    token = secrets.token_urlsafe(32)
    row = EmailChange(
        user_id=user.id,
        new_email=new_email,
        token_hash=secret_digest(token),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.session.add(row)
    db.session.flush()
    params = {"old": user.email, "new": new_email, "hours": hours}
    confirm = Notice(
        kind="email_change_confirm",
        category="email_change_confirm",
        params=params,
        link=app_path("auth.confirm_email", token=token),
        object_type="email_changes",
        object_id=row.id,
    )
    queue_mail(user, confirm, to_address=new_email)
    # At the old address (still the account's): what was asked, and the account's page to cancel it from.
    asked = Notice(
        kind="email_change_asked",
        category="email_changed",
        params=params,
        link=app_path("auth.profile"),
        object_type="user",
        object_id=user.id,
    )
    notify(user, asked)
    audit.record("email_change_asked", user, actor=user, changes={"after": {"pending_email": new_email}})
    return row


def cancel_change(user: User) -> bool:
    """Drop the waiting request: its link no longer works. Whether there was one."""
    return bool(cancel_email_change(user))


def find(token: str) -> tuple[EmailChange | None, str]:
    """The request behind `token` and its status: "pending", "expired", "used", "cancelled"; (None, "unknown")."""
    if not token or len(token) > 100:
        return None, "unknown"
    row = db.session.scalar(select(EmailChange).where(EmailChange.token_hash == secret_digest(token)))
    if row is None:
        return None, "unknown"
    if row.used_at is not None:
        return row, "used"
    if row.cancelled_at is not None:
        return row, "cancelled"
    if row.expires_at <= utcnow():
        return row, "expired"
    return row, "pending"


def link_refusal(status: str) -> str:
    """Why a link does not work, in the reader's words."""
    if status == "used":
        # Said to whoever opens it, who may be signed in as someone else: not "yours".
        return _("This link was already used: the address it confirmed is already the account's.")
    if status == "cancelled":
        return _("This link no longer works: the change was cancelled, or asked again with a newer link.")
    if status == "expired":
        return _("This link has expired. Ask for the change again from your account's page.")
    return _("This link is not valid. Ask for the change again from your account's page.")


def confirm_change(row: EmailChange) -> User:
    """Make the new address the account's: the link is spent first, by one conditional write (the same link
    followed twice at once works once), then the address changes as an admin's change does
    (services.change_email), the trail records it and both addresses are told. An address another account took
    meanwhile is refused, and the account keeps its address."""
    spent_at = utcnow()
    spent = db.session.execute(
        update(EmailChange)
        .where(
            EmailChange.id == row.id,
            EmailChange.used_at.is_(None),
            EmailChange.cancelled_at.is_(None),
            EmailChange.expires_at > spent_at,
        )
        .values(used_at=spent_at)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        _refuse(link_refusal("used"))
    set_committed_value(row, "used_at", spent_at)
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        _refuse(link_refusal("unknown"))
    taken = _(
        "This address now belongs to another Sharaka account: yours stays %(email)s. Ask the ministry's "
        "administrator if it should be yours.",
        email=user.email,
    )
    old_email = services.change_email(user, row.new_email, taken_said=taken)
    changes = {"before": {"email": old_email}, "after": {"email": user.email}}
    audit.record("email_changed", user, actor=user, changes=changes)
    services.tell_email_changed(user, old_email)
    return user
