"""Pages kept for the session that read them, while nothing they show has changed.

The pages that summarise the portfolio (the dashboard, the board, the timeline, the calendar, stage
analytics) and its lists (the inbox, the agreements, the deliverables, a partner's portal) cost tens
of milliseconds at a government's scale, and the same session often asks for them again unchanged: a
reload, or the Back button (they are sent `no-store`, the rule for a shared computer, so the browser
asks the server again each time). Every change writes an audit row (app/core/audit.py; maintenance
commands that rewrite what pages show too), and the session's own statement (sessions.py) reads the
trail's version with the reader's bell; so the version of a page is those, the reader, their
language, the day and the hour (days waiting, what is due), the session and the path. Equal versions
mean an identical page: it is served as kept, or answered 304 to a client that revalidates.

Kept per session (its CSRF secret is in the version, since a page's forms carry a token only that
session accepts), compressed (a board is 200-300 KB of HTML, a tenth of that kept), in the store every
worker of the machine reads (app/core/machine_store.py): a reload lands on any of the server's workers.
Its version names the code and settings the page was drawn with. A page with a message pending for the
reader (a flash after a redirect) is neither served from nor kept.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import zlib
from collections.abc import Callable
from functools import wraps

from flask import Flask, Response, current_app, make_response, request, session
from flask_babel import get_locale

from app.core import clock, machine_store
from app.core.audit import request_trail_version
from app.core.models import utcnow
from app.core.permissions import signed_in_user
from app.notifications.services import latest_notice_id, unread_count

log = logging.getLogger(__name__)

# The version names the hour, so no page is served past the end of the hour it was drawn in.
KEPT_SECONDS = 3600


def page_version(user, path: str) -> str:
    """A fingerprint of everything the page at `path` shows `user` in this session: the trail's version
    (every change, the reader's own included), their latest notice and unread count (the bell, as it
    shows it), their role and languages, the ministry's day, the hour and the session's CSRF secret
    (its forms' tokens). Keyed with SECRET_KEY, so as an ETag it does not tell how many changes the
    ministry made. That it changed at all still shows (as it does in how fast a kept page answers): a
    reader polling their own page learns that something changed somewhere, not what."""
    now, language = utcnow(), str(get_locale())
    last_change, last_notice, unread = request_trail_version(), latest_notice_id(user), unread_count(user)
    csrf_secret = session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    raw = (
        f"{user.id}:{user.role}:{user.language}:{language}:{clock.today()}:{now:%Y-%m-%dT%H}:"
        f"{last_change}:{last_notice}:{unread}:{csrf_secret}:{path}:{machine_store.drawn_with(current_app)}"
    )
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()[:32]


def kept_page(view: Callable) -> Callable:
    """Serve `view`'s page as kept while its version is unchanged (under login_required: the reader is
    known). The view still decides everything else: who may see the page (the reader's role is in the
    version, and any change of their rights is a change), what it answers when not a page."""

    @wraps(view)
    def served(*args, **kwargs):
        reader, pending = signed_in_user(), bool(session.get("_flashes"))
        version = page_version(reader, request.full_path)
        # Only this very version answers 304 ("*" would answer for a page the view refuses).
        if not pending and request.if_none_match.is_strong(version):
            return _revalidated(Response(status=304), version)
        keep = current_app.config["PAGES_KEPT"] and not pending
        page = _find(version) if keep else None
        if page is not None:
            return _revalidated(make_response(page), version)
        response = make_response(view(*args, **kwargs))
        if response.status_code != 200 or response.mimetype != "text/html":
            return response
        # Rendering may have given the session its CSRF secret: the page is the version with that one.
        version = page_version(reader, request.full_path)
        if keep and not session.get("_flashes"):
            _keep(version, response.get_data())
        return _revalidated(response, version)

    return served


def forget_kept_pages(app: Flask) -> None:
    """Drop every kept page (and figure) this process can reach, and what `app` draws with, to be read
    again (tests, which change settings as they run)."""
    machine_store.forget(app)


def _find(version: str) -> bytes | None:
    page = machine_store.find(f"page:{version}")
    try:
        return None if page is None else zlib.decompress(page)
    except (zlib.error, TypeError):  # not a page this code kept
        log.warning("a kept page could not be read; drawn instead", exc_info=True)
        return None


def _keep(version: str, page: bytes) -> None:
    machine_store.keep(f"page:{version}", zlib.compress(page, 1), KEPT_SECONDS)


def _revalidated(response, version: str):
    """The page's version as an ETag: a client that asks again with it gets a 304. Browsers are told
    not to keep signed-in pages at all (no-store, the security rule for a shared computer), so this
    serves scripts, monitors and proxies that revalidate on their own."""
    response.set_etag(version)
    response.headers["Cache-Control"] = "no-store"
    return response
