"""What stops when an account is turned off: one rule for an admin, an organisation's admin and the directory."""

from __future__ import annotations

from app.api.tokens import revoke_all_tokens
from app.auth import sessions
from app.auth.models import User


def cut_off(user: User, *, by, reason: str = "deactivated") -> dict:
    """A leaver's browsers, scripts and calendar stop working at once: their sessions end, their API tokens
    are revoked and their calendar's secret address is forgotten. Reactivating the account brings none of
    them back (a calendar address leaked meanwhile worked again). Returns what ended, for the audit trail.
    A password reset (by link or by an admin) cuts off the same: it is asked when the account may be in
    other hands, and a token made by those hands must not outlive it."""
    from app.auth.mfa import end_second_steps
    from app.notifications.services import revoke_calendar_feed

    end_second_steps(user)
    ended = sessions.end_all(user, reason)
    revoked = revoke_all_tokens(user, by=by)
    revoke_calendar_feed(user)
    return {"sessions_ended": ended, "tokens_revoked": revoked}
