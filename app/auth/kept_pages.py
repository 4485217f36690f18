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
session accepts), compressed (a board is 200-300 KB of HTML, a tenth of that kept), in a store on disk
that every worker of the machine reads (KEPT_PAGES_DIR, diskcache): a reload lands on any of the
server's workers, and a worker replaced after its `max_requests` starts with the pages of the others.
Kept per process, a reload found its page only on the worker that drew it, one time in as many as
there are workers. Since pages outlive the process that drew them, the version also names the code,
templates, workflows and settings they were drawn with (`_drawn_with`): after a deployment or a changed
setting every page is drawn anew. A page with a message pending for the reader (a flash after a
redirect) is neither served from nor kept. The store failing (a full disk, a directory that cannot be
written) only means drawing the page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sqlite3
import zlib
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from functools import cache, wraps
from pathlib import Path

import diskcache
from flask import Flask, Response, current_app, make_response, request, session
from flask_babel import get_locale

from app.core import clock
from app.core.audit import request_trail_version
from app.core.models import utcnow
from app.core.permissions import signed_in_user
from app.notifications.services import latest_notice_id, unread_count

log = logging.getLogger(__name__)

# About 20-40 KB a page once compressed: some 3,000 pages before the least recently kept go.
STORE_BYTES = 128 * 2**20
# The version names the hour, so no page is served past the end of the hour it was drawn in.
KEPT_SECONDS = 3600
# A page never waits on the store: past this, it is drawn (or not kept) instead.
STORE_WAIT_SECONDS = 0.25
_STORE_FAILURES = (OSError, sqlite3.Error, diskcache.Timeout)
_stores: dict[str, diskcache.Cache] = {}  # this process's handle on each directory
_DRAWN_WITH = "kept_pages.drawn_with"  # in app.extensions: read once, settings do not change as an app runs


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
        f"{last_change}:{last_notice}:{unread}:{csrf_secret}:{path}:{_drawn_with(current_app)}"
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
    """Drop every kept page in the stores this process opened and let go of them, and what `app` draws
    with, to be read again (tests, which change settings as they run)."""
    app.extensions.pop(_DRAWN_WITH, None)
    for store in _stores.values():
        store.clear()
        store.close()
    _stores.clear()


def _store() -> diskcache.Cache:
    directory = current_app.config["KEPT_PAGES_DIR"]
    store = _stores.get(directory)
    if store is None:
        os.makedirs(directory, mode=0o700, exist_ok=True)  # pages name people: for the server's account alone
        store = diskcache.Cache(
            directory,
            size_limit=STORE_BYTES,
            eviction_policy="least-recently-stored",  # not -used: a read then writes nothing
            timeout=STORE_WAIT_SECONDS,
        )
        _stores[directory] = store
    return store


def _find(version: str) -> bytes | None:
    try:
        page = _store().get(version)
        return None if page is None else zlib.decompress(page)
    except (*_STORE_FAILURES, zlib.error):
        log.warning("a kept page could not be read; drawn instead", exc_info=True)
        return None


def _keep(version: str, page: bytes) -> None:
    try:
        _store().set(version, zlib.compress(page, 1), expire=KEPT_SECONDS)
    except _STORE_FAILURES:
        log.warning("a page could not be kept", exc_info=True)


def _drawn_with(app: Flask) -> str:
    """A digest of what draws this app's pages besides the data: its code, templates, translations and
    workflow files (each file's path, size and time of change) and its settings. Different after a
    deployment, a `git pull` or a changed setting, the same in every worker of one."""
    digest = app.extensions.get(_DRAWN_WITH)
    if digest is None:
        config = app.config
        settings = {key: value for key, value in config.items() if _plain(value)}
        folders = tuple(str(Path(f).resolve()) for f in (app.root_path, app.template_folder, config["WORKFLOWS_DIR"]))
        text = json.dumps([_files_digest(folders), settings], default=str, sort_keys=True)
        digest = app.extensions[_DRAWN_WITH] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return digest


@cache
def _files_digest(folders: tuple[str, ...]) -> str:
    listed = []
    for folder in folders:
        for parent, directories, files in os.walk(folder):
            directories[:] = sorted(d for d in directories if d != "__pycache__")  # written as it runs
            for name in sorted(files):
                status = os.stat(os.path.join(parent, name))
                listed.append(f"{parent}/{name}:{status.st_size}:{status.st_mtime_ns}")
    return hashlib.sha256("\n".join(listed).encode()).hexdigest()


def _plain(value) -> bool:
    """A setting written the same in every process: not an object, whose text names its address, nor a set,
    whose order changes with the process's hash seed."""
    if isinstance(value, (str, int, float, bool, type(None), Decimal, date, timedelta)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(each) for each in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(each) for key, each in value.items())
    return False


def _revalidated(response, version: str):
    """The page's version as an ETag: a client that asks again with it gets a 304. Browsers are told
    not to keep signed-in pages at all (no-store, the security rule for a shared computer), so this
    serves scripts, monitors and proxies that revalidate on their own."""
    response.set_etag(version)
    response.headers["Cache-Control"] = "no-store"
    return response
