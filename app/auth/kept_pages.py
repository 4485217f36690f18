"""Pages kept for the session that read them, while nothing they show has changed.

The pages that summarise the portfolio (the dashboard, the board, the timeline, the calendar, stage
analytics) and its lists (the inbox, the agreements, the deliverables, a partner's portal) cost tens
of milliseconds at a government's scale, and the same session often asks for
them again unchanged: a reload, or the Back button (they are sent `no-store`, the rule for a shared
computer, so the browser asks the server again each time). Every change writes an audit row
(app/core/audit.py), and the session's own statement (sessions.py) reads the trail's version with the
reader's bell; so the version of a page is those, the reader, their language, the day and the hour
(days waiting, what is due, and fresh CSRF tokens) and the path. Equal versions mean an identical
page: it is served as kept, or answered 304 to a client that revalidates.

Kept per worker process and per session, since a page's forms carry a CSRF token only its session
accepts; compressed (a board is 200-300 KB of HTML, a tenth of that kept). A page with a message
pending for the reader (a flash after a redirect) is neither served from nor kept.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from functools import wraps

from flask import Response, current_app, make_response, request, session
from flask_babel import get_locale

from app.core import clock
from app.core.audit import request_trail_version
from app.core.bounded import BoundedCache
from app.core.models import utcnow
from app.core.permissions import signed_in_user
from app.notifications.services import latest_notice_id, unread_count

# About 20-40 KB a page once compressed: a few MB per worker at most.
_RENDERED = BoundedCache(128)


def page_version(user, path: str) -> str:
    """A fingerprint of everything the page at `path` shows `user`: the trail's version (every change,
    the reader's own included), their latest notice and unread count (the bell, as it shows it), their
    role and languages, the ministry's day and the hour."""
    now, language = utcnow(), str(get_locale())
    last_change, last_notice, unread = request_trail_version(), latest_notice_id(user), unread_count(user)
    raw = (
        f"{user.id}:{user.role}:{user.language}:{language}:{clock.today()}:{now:%Y-%m-%dT%H}:"
        f"{last_change}:{last_notice}:{unread}:{path}"
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def kept_page(view: Callable) -> Callable:
    """Serve `view`'s page as kept while its version is unchanged (under login_required: the reader is
    known). The view still decides everything else: who may see the page (the reader's role is in the
    version, and any change of their rights is a change), what it answers when not a page."""

    @wraps(view)
    def served(*args, **kwargs):
        pending = bool(session.get("_flashes"))
        version = page_version(signed_in_user(), request.full_path)
        if not pending and version in request.if_none_match:
            return _revalidated(Response(status=304), version)
        keep = current_app.config["PAGES_KEPT"] and not pending
        page = _RENDERED.find(_key(version)) if keep else None
        if page is not None:
            return _revalidated(make_response(zlib.decompress(page)), version)
        response = make_response(view(*args, **kwargs))
        if response.status_code != 200 or response.mimetype != "text/html":
            return response
        if keep and not session.get("_flashes"):
            # Rendering may have given the session its CSRF secret: the page is kept under that one.
            _RENDERED.put(_key(version), zlib.compress(response.get_data(), 1))
        return _revalidated(response, version)

    return served


def forget_kept_pages() -> None:
    """Drop every kept page (tests)."""
    _RENDERED.clear()


def _key(version: str) -> tuple:
    return version, session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))


def _revalidated(response, version: str):
    """The page's version as an ETag: a client that asks again with it gets a 304. Browsers are told
    not to keep signed-in pages at all (no-store, the security rule for a shared computer), so this
    serves scripts, monitors and proxies that revalidate on their own."""
    response.set_etag(version)
    response.headers["Cache-Control"] = "no-store"
    return response
