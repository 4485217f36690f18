"""Password reset by e-mail: a single-use, time-limited link, stored hashed.

The answer to a request is the same whether the address has an account or not, and
requests are throttled per address and per account. A link dies when used, when it
expires, or as soon as the password changes by any other way. Resetting ends every
session of the account (and so every remember-me cookie).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.auth import services
from app.auth.leavers import cut_off
from app.auth.models import LoginAttempt, PasswordReset, User, normalize_email
from app.core import audit
from app.core.digests import secret_digest
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.extensions import db


class ResetThrottled(Exception):
    pass


def fingerprint(user: User) -> str:
    return secret_digest(user.password_hash or "")


def request_reset(email: str, address: str) -> None:
    """Record the request and, for an active account, queue the e-mail with the link.

    Raises ResetThrottled past the limits (the same for known and unknown addresses).
    """
    from app.notifications.services import Notice, app_path, queue_mail

    config = current_app.config
    email = normalize_email(email)[:254]
    address = (address or "unknown")[:64]
    hour_ago = utcnow() - timedelta(hours=1)
    for column, value, limit in (
        (PasswordReset.email, email, config["PASSWORD_RESET_MAX_PER_ACCOUNT"]),
        (PasswordReset.address, address, config["PASSWORD_RESET_MAX_PER_ADDRESS"]),
    ):
        count = db.session.scalar(
            select(func.count())
            .select_from(PasswordReset)
            .where(column == value, PasswordReset.requested_at >= hour_ago)
        )
        if count >= limit:
            raise ResetThrottled()
    lifetime = timedelta(minutes=config["PASSWORD_RESET_MINUTES"])
    user = db.session.scalar(select(User).where(User.email == email))
    row = PasswordReset(email=email, address=address, expires_at=utcnow() + lifetime)
    db.session.add(row)
    if user is None or not user.is_active:
        return
    if user.is_directory_account:
        # Sharaka does not own this password: point to the ministry's procedure instead of a link.
        row.user_id = user.id
        queue_mail(
            user,
            Notice(
                kind="password_reset_directory",
                category="password_reset",
                params={"help": config.get("LDAP_PASSWORD_HELP") or ""},
                link=app_path("auth.sign_in"),
            ),
        )
        audit.record("password_reset_requested", user, actor=None, changes={"address": address, "directory": True})
        return
    token = secrets.token_urlsafe(32)
    row.user_id, row.token_hash, row.password_fingerprint = user.id, secret_digest(token), fingerprint(user)
    db.session.flush()  # its id names it on the mail, which lapses once the link is used (notifications.lapsed)
    queue_mail(
        user,
        Notice(
            kind="password_reset",
            category="password_reset",
            params={"minutes": config["PASSWORD_RESET_MINUTES"]},
            link=app_path("auth.reset_password", token=token),
            object_type="password_resets",
            object_id=row.id,
        ),
    )
    audit.record("password_reset_requested", user, actor=None, changes={"address": address})


def valid_reset(token: str) -> PasswordReset | None:
    """The live request behind `token`, or None (unknown, used, expired, or the password changed since)."""
    if not token or len(token) > 100:
        return None
    row = db.session.scalar(select(PasswordReset).where(PasswordReset.token_hash == secret_digest(token)))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active or user.is_directory_account or fingerprint(user) != row.password_fingerprint:
        return None
    return row


def reset_password(row: PasswordReset, new_password: str) -> User:
    """Set the new password, spend the link, end every session of the account and revoke its API tokens
    (leavers.cut_off)."""
    spent_at = utcnow()
    # Spent first, by one conditional write: the same link posted from three tabs at once had passed the
    # "not used yet" read in each and set three passwords, telling two people theirs was set. The others
    # wait on this row and then find it spent. (A refused password below rolls the spending back.)
    spent = db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == row.id, PasswordReset.used_at.is_(None))
        .values(used_at=spent_at)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        message = _("This link has just been used to choose a password. Sign in, or ask for a new link.")
        raise ValidationFailed(message, {"new_password": [message]})
    set_committed_value(row, "used_at", spent_at)
    user = db.session.get(User, row.user_id)
    if user.check_password(new_password):
        message = _("The new password must differ from the current one.")
        raise ValidationFailed(message, {"new_password": [message]})
    services.check_password(user, new_password, field="new_password")
    user.set_password(new_password)
    stopped = cut_off(user, by=user, reason="password_reset")
    # The unlock by e-mail: whoever proved they read the mailbox signs in at once, from anywhere;
    # failures counted against the old password no longer matter.
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == user.email, LoginAttempt.succeeded.is_(False)))
    audit.record("password_reset", user, actor=user, changes=stopped)
    return user
