"""Server-side sign-in sessions: each sign-in is a row, and the cookies only point at it.

Flask-Login keeps `get_id()` in the session cookie and, with "keep me signed in", in
the remember cookie; both are `user_id:key`, and only the key's SHA-256 is stored. On
every request `load_user` finds the row: an ended or expired row, or an inactive user,
means nobody is signed in, whatever copy of a cookie is presented.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import cache

from flask import current_app
from sqlalchemy import Integer, bindparam, select

from app.auth.models import User, UserSession
from app.core.audit import seen_trail_version, trail_version
from app.core.db import commit_bookkeeping
from app.core.digests import secret_digest
from app.core.models import utcnow
from app.core.urls import MAX_ID
from app.extensions import db

# last_seen_at is written at most this often per session: a page view must not always write.
TOUCH_EVERY = timedelta(minutes=5)


def start(user: User, *, remember: bool, address: str, user_agent: str) -> UserSession:
    """Open a session for `user`; the caller then calls login_user(user, remember=...)."""
    config = current_app.config
    lifetime = (
        config["REMEMBER_COOKIE_DURATION"] if remember else timedelta(seconds=config["PERMANENT_SESSION_LIFETIME"])
    )
    key = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        key_hash=secret_digest(key),
        expires_at=utcnow() + lifetime,
        is_remembered=remember,
        address=(address or "")[:64],
        user_agent=" ".join((user_agent or "").split())[:300],
    )
    db.session.add(row)
    db.session.flush()
    user.current_session, user.current_session_key = row, key
    return row


def load_user(user_key: str) -> User | None:
    """Flask-Login's loader, for the session cookie and the remember cookie alike."""
    user_id, _, key = str(user_key or "").partition(":")
    if not user_id.isdecimal() or not key or len(key) > 100 or int(user_id) > MAX_ID:
        return None
    from app.notifications.services import counted_notices

    found = db.session.execute(_session_lookup(), {"key_hash": secret_digest(key), "user_id": int(user_id)}).first()
    if found is None:
        return None
    row, user, unread, latest_notice, version = found
    seen_trail_version(version)
    if row.user_id != int(user_id) or not row.is_open or not user.is_active:
        return None
    user.current_session, user.current_session_key = row, key
    counted_notices(user, unread, latest_notice)
    if utcnow() - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = utcnow()
        commit_bookkeeping(row)  # on its own: a page view is never refused for it
    return user


@cache
def _session_lookup():
    """The session row, its user, the bell's count that nearly every page shows (an indexed count, capped),
    the reader's latest notice and the audit trail's version (a dashboard's or a kept figure's version:
    indexed lookups) in one statement, which every request pays for: built once per process, the key's
    hash and the cookie's user id its parameters. A kept dashboard's reload then sends nothing else.

    The notices are counted for the cookie's user id as a value, not for the joined row's id (the session
    is refused anyway when the two differ): PostgreSQL then plans each count for that reader. Correlated
    to the row, it planned them for an average reader, so one reader holding most of the notices (a busy
    officer, a service account) made everyone's counts scan the whole table: 0.9 ms of every request
    where one user held all 2,000 notices (bench/portfolio.py), 0.1 ms once planned for the reader."""
    from app.notifications.services import latest_notice_of, unread_of

    reader = bindparam("user_id", type_=Integer)
    return (
        select(UserSession, User, unread_of(reader), latest_notice_of(reader), trail_version())
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.key_hash == bindparam("key_hash"))
    )


def end(row: UserSession, reason: str) -> None:
    if row.ended_at is None:
        row.ended_at = utcnow()
        row.end_reason = reason


def end_all(user: User, reason: str, *, keep: UserSession | None = None) -> int:
    """End every open session of `user` (but `keep`); returns how many ended."""
    rows = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    ).all()
    ended = 0
    for row in rows:
        if keep is None or row.id != keep.id:
            end(row, reason)
            ended += 1
    return ended


def open_sessions(user: User) -> list[UserSession]:
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None), UserSession.expires_at > utcnow())
            .order_by(UserSession.last_seen_at.desc())
        )
    )


def session_of(user: User, session_id: int) -> UserSession | None:
    """One of the user's own sessions; someone else's does not exist for them."""
    row = db.session.get(UserSession, session_id)
    return row if row is not None and row.user_id == user.id else None
