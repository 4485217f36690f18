"""What stops when an account is turned off: one rule for an admin, an organisation's admin and the directory
(and for a password reset, when the account may be in other hands)."""

from __future__ import annotations

from sqlalchemy import update

from app.api.tokens import revoke_all_tokens
from app.auth import sessions
from app.auth.models import EmailChange, User
from app.core import audit
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.i18n import ngettext
from app.core.models import utcnow
from app.core.permissions import role_may_own_agreements
from app.extensions import db


def cut_off(user: User, *, by, reason: str = "deactivated") -> dict:
    """A leaver's browsers, scripts and calendar stop working at once: their sessions end, their API tokens
    are revoked and their calendar's secret address is forgotten. Reactivating the account brings none of
    them back (a calendar address leaked meanwhile worked again). Returns what ended, for the audit trail.
    A password reset (by link or by an admin) cuts off the same: it is asked when the account may be in
    other hands, and a token made by those hands must not outlive it, nor a change of sign-in address they
    asked for (its link, confirmed after the reset, had moved the account and its next reset to their
    mailbox)."""
    from app.auth.mfa import end_second_steps
    from app.notifications.services import revoke_calendar_feed

    end_second_steps(user)
    cancel_email_change(user)
    ended = sessions.end_all(user, reason)
    revoked = revoke_all_tokens(user, by=by)
    revoke_calendar_feed(user)
    return {"sessions_ended": ended, "tokens_revoked": revoked}


def cancel_email_change(user: User) -> list[str]:
    """The person's own request for a new address (auth.email_changes), if one waits: its link dies, and its
    mail still waiting to leave (paused, the server down) is withdrawn. The addresses whose link still
    worked until now (none, or one)."""
    from app.notifications.services import withdraw_waiting_mail

    now = utcnow()
    cancelled = db.session.execute(
        update(EmailChange)
        .where(EmailChange.user_id == user.id, EmailChange.used_at.is_(None), EmailChange.cancelled_at.is_(None))
        .values(cancelled_at=now)
        .returning(EmailChange.id, EmailChange.new_email, EmailChange.expires_at)
        .execution_options(synchronize_session=False)
    ).all()
    for change_id, _new_email, _expires_at in cancelled:
        withdraw_waiting_mail("email_change_confirm", change_id, "Its link was cancelled or replaced by a newer one.")
    return [new_email for _id, new_email, expires_at in cancelled if expires_at > now]


def sign_out_everywhere(user: User, *, by) -> dict:
    """An admin ends what acts as `user` now, as a leaver's is, but the account stays on: they sign in
    again with their password (a lost laptop, a token pasted in a ticket). Recorded with what ended."""
    if user.id == by.id:
        raise ValidationFailed(_("To sign yourself out everywhere, use your own security page."))
    ended = cut_off(user, by=by, reason="ended_by_admin")
    audit.record("signed_out_everywhere", user, actor=by, changes=ended)
    return ended


def check_owner_may_change(user: User, *, role: str, organization, is_active: bool) -> None:
    """An owner of agreements under way stays an active account of a role that may own them, in the same
    organisation, until they are handed over (ValidationFailed, saying how many): an officer turned partner
    elsewhere had kept receiving their agreements' reminders and hand-ins, and a deactivated one had left
    them to nobody at the ministry, every later edit of them refused until a new owner was chosen. The one
    rule for the admin's form, an organisation's team page and the services behind them; the directory,
    which closes a leaver whatever they own, is the exception."""
    from app.agreements.services import owned_under_way

    stays = (organization.id if organization else None) == user.organization_id and (
        role == user.role or role_may_own_agreements(role)
    )
    if stays and (is_active or not user.is_active_account):
        return
    owned = owned_under_way(user)
    if not owned:
        return
    name = user.full_name or user.email
    if not stays:
        message = ngettext(
            "%(name)s owns %(num)s agreement under way: give it another owner first (its edit page), then change "
            "the role or organisation.",
            "%(name)s owns %(num)s agreements under way: give them other owners first (each one's edit page), "
            "then change the role or organisation.",
            owned,
            name=name,
        )
        raise ValidationFailed(message, {"role": [message]})
    message = ngettext(
        "%(name)s owns %(num)s agreement under way: give it another owner first (its edit page), then "
        "deactivate the account.",
        "%(name)s owns %(num)s agreements under way: give them other owners first (each one's edit page), "
        "then deactivate the account.",
        owned,
        name=name,
    )
    raise ValidationFailed(message, {"is_active": [message]})
