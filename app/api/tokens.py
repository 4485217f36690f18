"""Creating, checking and revoking personal API tokens."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from app.api.models import ApiToken
from app.core import audit
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.text import trimmed
from app.extensions import db

TOKEN_PREFIX = "shk_"
MAX_ACTIVE_TOKENS = 20


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(user, name: str | None, *, by) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the token itself, which is shown once and never stored."""
    name = " ".join(trimmed(name).split())
    if not name:
        message = _("Give the token a name (what will use it).")
        raise ValidationFailed(message, {"name": [message]})
    if len(name) > 100:
        message = _("At most %(n)s characters.", n=100)
        raise ValidationFailed(message, {"name": [message]})
    active = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    if len(active) >= MAX_ACTIVE_TOKENS:
        raise ValidationFailed(_("You already have %(n)s tokens; revoke one you no longer use.", n=MAX_ACTIVE_TOKENS))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=_hash(secret), prefix=secret[:10])
    db.session.add(token)
    db.session.flush()
    audit.record(
        "api_token_created", token, actor=by, changes={"name": name, "prefix": token.prefix, "user": user.email}
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
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())
        )
    )


def user_for_token(secret: str):
    """The active owner of an active token, or None. Records the last use (at most once a minute)."""
    if not secret or len(secret) > 200 or not secret.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(secret)))
    if token is None or token.revoked_at is not None or not token.user.is_active_account:
        return None
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
    return token.user
