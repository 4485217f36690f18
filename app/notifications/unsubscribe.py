"""One-click unsubscribe (RFC 8058): each e-mail's List-Unsubscribe link carries a signed token naming its
recipient and its category of mail. A mail client POSTs to it (`List-Unsubscribe=One-Click`) without any
sign-in or cookie; a person who opens it gets a confirmation page first (GET changes nothing). The token
is the credential: signed with SECRET_KEY, it can only ever switch off that one category for that one
person, which they can switch back on from their mail choices. Mandatory categories (approvals asked,
invitations…) have no one-click header and their link explains why they cannot be switched off.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from app.notifications.models import CATEGORIES

SALT = "sharaka.mail-unsubscribe"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def token_for(user_id: int, category: str) -> str:
    return _serializer().dumps([user_id, category])


def read_token(token: str) -> tuple[int, str] | None:
    """(user id, category) of a token this app signed, else None (tampered, another key, nonsense)."""
    if not token or len(token) > 300:
        return None
    try:
        user_id, category = _serializer().loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    if not isinstance(user_id, int) or category not in CATEGORIES:
        return None
    return user_id, category


def unsubscribe_url(user_id: int, category: str) -> str:
    """The absolute link (BASE_URL, never a Host header) for a message's List-Unsubscribe header."""
    from app.notifications.services import absolute_url, app_path

    return absolute_url(app_path("notifications.unsubscribe", token=token_for(user_id, category)))
