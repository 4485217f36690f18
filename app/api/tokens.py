"""Creating, checking and revoking personal API tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from app.api.models import ApiToken
from app.core import audit
from app.core.digests import secret_digest
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.i18n import ngettext
from app.core.models import utcnow
from app.core.text import trimmed
from app.extensions import db

TOKEN_PREFIX = "shk_"
MAX_ACTIVE_TOKENS = 20
# The lives offered on the tokens page (days), those within API_TOKEN_MAX_DAYS; the command line takes any.
OFFERED_DAYS = (7, 30, 90, 365)
DEFAULT_DAYS = 90
NO_END = 0  # `days` of a token that never expires by itself, where API_TOKEN_MAX_DAYS is 0


def max_days() -> int:
    """API_TOKEN_MAX_DAYS: 0 when a token may have no end date (and then any life)."""
    return current_app.config["API_TOKEN_MAX_DAYS"]


def offered_lifetimes() -> list[tuple[int, str]]:
    """(days, label) of each life a person may choose on the tokens page, shortest first."""
    limit = max_days()
    offered = [days for days in OFFERED_DAYS if not limit or days <= limit]
    if limit and limit not in offered:
        offered.append(limit)
    choices = [(days, ngettext("%(num)s day", "%(num)s days", days)) for days in offered]
    if not limit:
        choices.append((NO_END, _("No end date")))
    return choices


def default_lifetime() -> int:
    limit = max_days()
    return min(DEFAULT_DAYS, limit) if limit else DEFAULT_DAYS


def create_token(user, name: str | None, *, by, days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for `user` that works for `days` (the default life when None; NO_END: until revoked,
    where API_TOKEN_MAX_DAYS allows it); returns the row and the token itself, which is shown once and
    never stored."""
    days = default_lifetime() if days is None else days
    limit = max_days()
    if days == NO_END and limit:
        message = _("A token needs an end date: at most %(n)s days.", n=limit)
        raise ValidationFailed(message, {"days": [message]})
    if days < 0 or days > (limit or 3650):
        message = _("A token lives between 1 and %(n)s days.", n=limit or 3650)
        raise ValidationFailed(message, {"days": [message]})
    name = " ".join(trimmed(name).split())
    if not name:
        message = _("Give the token a name (what will use it).")
        raise ValidationFailed(message, {"name": [message]})
    if len(name) > 100:
        message = _("At most %(n)s characters.", n=100)
        raise ValidationFailed(message, {"name": [message]})
    working = db.session.scalar(
        select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id, ApiToken.working_at(utcnow()))
    )
    if working >= MAX_ACTIVE_TOKENS:
        raise ValidationFailed(_("You already have %(n)s tokens; revoke one you no longer use.", n=MAX_ACTIVE_TOKENS))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + timedelta(days=days) if days != NO_END else None
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=secret_digest(secret),
        prefix=secret[:10],
        created_at=now,
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "api_token_created",
        token,
        actor=by,
        changes={
            "name": name,
            "prefix": token.prefix,
            "user": user.email,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, secret


def revoke_token(token: ApiToken, *, by) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("api_token_revoked", token, actor=by, changes={"name": token.name, "prefix": token.prefix})


def revoke_all_tokens(user, *, by) -> int:
    """Revoke every active API token of `user` (a password change on request, a deactivation always)."""
    active = [token for token in tokens_of(user) if token.is_active]
    for token in active:
        revoke_token(token, by=by)
    return len(active)


def tokens_of(user) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            # Working ones first, then those revoked or past their end, newest first in each.
            .order_by(
                ApiToken.working_at(utcnow()).is_(False),
                ApiToken.created_at.desc(),
            )
        )
    )


@dataclass(frozen=True)
class TokenCheck:
    """What a token sent with a call proves: its owner, or nobody (and, for a token that has expired
    but would otherwise work, when it did: said to the caller so its operator knows to make a new one)."""

    user: object | None
    expired_at: datetime | None = None


def check_token(secret: str) -> TokenCheck:
    """The active owner of an active token, or nobody. Records the last use (at most once a minute)."""
    if not secret or len(secret) > 200 or not secret.startswith(TOKEN_PREFIX):
        return TokenCheck(None)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == secret_digest(secret)))
    if token is None or token.revoked_at is not None or not token.user.is_active_account:
        return TokenCheck(None)
    if token.is_expired:
        return TokenCheck(None, token.expires_at)
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
    return TokenCheck(token.user)
