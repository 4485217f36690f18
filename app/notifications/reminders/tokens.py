"""The API-token rule: a token's owner is told a week before it stops working, so the script that uses
it gets a new one before it fails in the night. Few tokens end in any week: read whole, every pass."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.notifications.reminders.base import Candidate, People
from app.notifications.services import Notice, app_path

TOKEN_ENDING_DAYS = 7  # how long before its end date a token's owner hears of it


def token_ending_candidates(now: datetime, people: People) -> list[Candidate]:
    """Each working token ending within TOKEN_ENDING_DAYS, to its owner, once per end date (a token's end
    date never moves, so once per token). Not to an owner who may no longer manage tokens."""
    from app.api.models import ApiToken
    from app.core.permissions import can

    ending = db.session.scalars(
        select(ApiToken)
        .where(
            ApiToken.working_at(now),
            ApiToken.expires_at <= now + timedelta(days=TOKEN_ENDING_DAYS),
        )
        .order_by(ApiToken.id)
    ).all()
    found = []
    for token in ending:
        owner = people.by_id.get(token.user_id)
        if owner is None or not can(owner, "token.manage"):
            continue
        notice = Notice(
            kind="api_token_ending",
            category="api_token_ending",
            params={"name": token.name, "prefix": token.prefix, "ends_at": token.expires_at.isoformat()},
            link=app_path("api_pages.list_tokens"),
            object_type="api_token",
            object_id=token.id,
        )
        found.append(Candidate("api_token_ending", token.expires_at.date().isoformat(), owner, notice))
    return found
