"""One form, one change: a form sent twice, or an API call sent again, is answered, not done again.

A double click, a reload that re-posts, the back button, a proxy that retries: each sends the same
request a second time, and each time a second agreement, comment or invitation was made. So every
form that changes something carries a key made when the page was drawn (`form_key_field`, and
`Form.hidden_tag`), and an API client may send an `Idempotency-Key` header. The answer of a request
that succeeded under a key is kept as its receipt, in the request's own transaction; the same user
sending the same request again within `KEPT_FOR` gets that answer back (a page: the same redirect,
with a word that nothing was done twice; JSON: the same status and body, marked
`Idempotent-Replayed: true`).

A keyed request claims its key before its view runs: it writes its receipt, unanswered, in its own
transaction. A repeat is the same request: its key, and a fingerprint of what it sends (the form's
fields and files, or the API's body). Requests of one user under one key take turns (PostgreSQL's
advisory lock, SQLite's one writer), so a second send at the same moment waits until the first has
answered, and then answers with its receipt without doing anything; one with other content is then
judged as below, as if sent later. Only successes
are kept: a refused request rolls back its claim with its work, and can be corrected and sent again
with its key.

A page form changed and sent again under a used key (the back button, then an edit) is a new request
and is done; its own repeats are answered. Under one key, each content is done once: content sent
before and since replaced by another ("A, then B, then A again") is refused with a word to reload
the page, since doing it again could make a second A and answering as before would leave B standing.
An API call with a used key and another body is refused: clients use a key for one request.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import cast

from flask import Flask, current_app, flash, g, redirect, request
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import CursorResult, ForeignKey, String, Text, UniqueConstraint, delete, inspect, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.wrappers import Response

from app.core.clock import utcnow
from app.core.db import commit_bookkeeping, is_lock_conflict, take_turns_on, unit_of_work
from app.core.errors import error_response
from app.core.i18n import gettext as _
from app.core.models import UTCDateTime
from app.extensions import db

FORM_FIELD = "form_key"
API_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Long enough for a slow second click and a morning's back button; short enough that a page left
# open for days is not taken for a repeat when it is sent (it would be refused as stale anyway).
KEPT_FOR = timedelta(hours=24)
# Printable ASCII, as HTTP headers carry it; ours are 24 URL-safe characters.
_KEY = re.compile(r"[\x21-\x7e]{1,255}\Z")
_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_NOT_SENT_DATA = frozenset({"csrf_token", FORM_FIELD})  # new on each drawing of the same form


class RequestReceipt(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """The answer a user's keyed request got, kept so the same request sent again gets it too."""

    __tablename__ = "request_receipts"
    __table_args__ = (UniqueConstraint("user_id", "key", "fingerprint", name="uq_request_receipts_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2000))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of what was sent
    status: Mapped[int | None] = mapped_column()  # None: claimed, not answered yet
    location: Mapped[str | None] = mapped_column(String(2000))
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def new_key() -> str:
    return secrets.token_urlsafe(18)


def form_key_field() -> Markup:
    """The hidden field a changing form sends its key in (a new key each time the form is drawn)."""
    return Markup('<input type="hidden" name="%s" value="%s">') % (FORM_FIELD, new_key())


def register_receipts(app: Flask, api_prefix: str) -> None:
    """Answer repeats before the view runs. Register after the API's authentication (it names the user);
    under `api_prefix` the key is the Idempotency-Key header, elsewhere the form's field."""
    app.extensions["receipts_api_prefix"] = api_prefix + "/"
    app.before_request(answer_a_repeat)


def _is_api_call() -> bool:
    return request.path.startswith(current_app.extensions["receipts_api_prefix"])


def answer_a_repeat():
    """Before the view: a repeat gets its first answer; a new keyed request claims its key."""
    g.pop("request_key", None)
    g.pop("request_receipt", None)
    if request.method not in _CHANGING:
        return None
    is_api = _is_api_call()
    if is_api:
        sent = request.headers.get(API_HEADER)
    else:
        sent = request.form.get(FORM_FIELD) if request.mimetype in _FORM_TYPES else None
    if sent is None or not current_user.is_authenticated:
        return None
    if not _KEY.match(sent):
        if is_api:
            message = _("The Idempotency-Key header must be 1 to 255 printable ASCII characters, without spaces.")
            return error_response(400, message)
        return None  # not a key we drew: the form is taken as sent once
    g.request_key, g.request_fingerprint = sent, _fingerprint()
    user_id = current_user.id
    # The claim is this request's transaction from here on (what was read or touched so far, the
    # session's last-seen time, is committed first). On SQLite it begins by taking the one writer's
    # lock, waiting for it: a reader upgrading later would be refused at once, not made to wait.
    commit_bookkeeping()
    db.session.connection(execution_options={"sqlite_immediate": True})
    # And requests under one key take turns until each has answered (PostgreSQL; SQLite's one writer does
    # it already): the unique index holds only requests that send the same, and calls with other bodies,
    # sent at once, were each done.
    take_turns_on(f"request key {user_id} {sent}")
    answer = _answer_from(_earlier_receipts())
    return answer if answer is not None else _claim(user_id)


def _fingerprint() -> str:
    """What the request sends, but for what changes each time its form is drawn."""
    digest = hashlib.sha256(f"{request.method} {request.path}\0".encode())
    if request.mimetype in _FORM_TYPES:
        # By name alone, each name's values in their order; a part's name that is no UTF-8 is read as None, and
        # comparing it made a multipart call sent with a key a server error.
        for name, value in sorted(request.form.items(multi=True), key=lambda item: item[0] or ""):
            if name not in _NOT_SENT_DATA:
                digest.update(f"{name}\0{value}\0".encode("utf-8", "surrogatepass"))
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0] or ""):
            digest.update(f"{name}\0{upload.filename}\0".encode("utf-8", "surrogatepass"))
            upload.stream.seek(0)
            while chunk := upload.stream.read(1 << 20):
                digest.update(chunk)
            upload.stream.seek(0)
        return digest.hexdigest()
    sent = request.get_data(cache=True)
    try:  # the same JSON however it is spaced
        sent = json.dumps(json.loads(sent), sort_keys=True, separators=(",", ":")).encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):
        pass
    digest.update(sent)
    return digest.hexdigest()


def _claim(user_id: int):
    """Write this request's receipt, unanswered, before its work: a second send waits here for the first."""
    try:
        # This person's receipts past their day go, the same key's with them.
        stale = RequestReceipt.user_id == user_id, RequestReceipt.created_at < utcnow() - KEPT_FOR
        db.session.execute(delete(RequestReceipt).where(*stale))
        receipt = RequestReceipt(
            user_id=user_id,
            key=g.request_key,
            method=request.method,
            path=request.path[:2000],
            fingerprint=g.request_fingerprint,
        )
        db.session.add(receipt)
        db.session.flush()
    except (IntegrityError, OperationalError) as error:
        db.session.rollback()
        if isinstance(error, OperationalError) and not is_lock_conflict(error):
            raise
        answer = _answer_from(_earlier_receipts())
        return answer if answer is not None else _being_answered()
    g.request_receipt = receipt
    return None


def forget_stale_receipts() -> dict:
    """Forget every receipt past KEPT_FOR, whoever sent it. A person's own go when they next send a keyed
    request (`_claim`); this is for those who never come back, whose API answers (data they read or wrote)
    would otherwise stay in the database for ever. The scheduler runs it once a day."""
    with unit_of_work():
        result = db.session.execute(delete(RequestReceipt).where(RequestReceipt.created_at < utcnow() - KEPT_FOR))
    return {"removed": cast(CursorResult, result).rowcount}


def keep_receipt(response: Response) -> None:
    """Before the request's commit: write its answer on its claim if it did its work (an API call: any
    success; a page: a redirect, or JSON asked for), else let the claim go (a page shown, a refusal kept)."""
    receipt = g.pop("request_receipt", None)
    if receipt is None:
        return
    if not inspect(receipt).persistent:
        return  # the claim was rolled back with the request's work: a refusal that redirects with its reason
    if response.is_streamed:
        kept = False
    elif _is_api_call():
        kept = 200 <= response.status_code < 300
    else:
        redirected = 300 <= response.status_code < 400 and bool(response.location)
        kept = redirected or (200 <= response.status_code < 300 and response.is_json)
    if not kept:
        db.session.delete(receipt)
        return
    receipt.status = response.status_code
    receipt.location = (response.location or "")[:2000] or None
    receipt.body = None if 300 <= response.status_code < 400 else response.get_data(as_text=True)


def answer_of_earlier_send() -> Response | None:
    """After this request's work was refused or lost a race (and rolled back): if the same request's first
    send has since been kept, that is this one's answer too."""
    if g.get("request_key") is None:
        return None
    earlier = _earlier_receipts()
    if not any(receipt.fingerprint == g.request_fingerprint for receipt in earlier):
        return None
    answer = _answer_from(earlier)
    return None if answer is None else current_app.make_response(answer)


def _earlier_receipts() -> list[RequestReceipt]:
    """This person's receipts under the request's key, oldest first."""
    return list(
        db.session.scalars(
            select(RequestReceipt)
            .where(
                RequestReceipt.user_id == current_user.id,
                RequestReceipt.key == g.request_key,
                RequestReceipt.created_at >= utcnow() - KEPT_FOR,
            )
            .order_by(RequestReceipt.id)
        )
    )


def _answer_from(earlier: list[RequestReceipt]):
    """The answer to a request whose key was used before, or None when it is a new request to do: the first
    answer to the same request, a refusal if the key was used for another address (or, by the API, for
    another body), or for content sent before and replaced since."""
    if not earlier:
        return None
    same = next((receipt for receipt in earlier if receipt.fingerprint == g.request_fingerprint), None)
    elsewhere = any((receipt.method, receipt.path) != (request.method, request.path[:2000]) for receipt in earlier)
    if elsewhere or (_is_api_call() and same is None):
        g.pop("request_key", None)
        if _is_api_call():
            return error_response(422, _("This Idempotency-Key was already used for another request: send a new key."))
        return error_response(422, _("This form was already used for something else: reload the page and try again."))
    if same is None:
        return None  # the form, changed: a new request under its key
    g.pop("request_key", None)  # nothing new to keep
    if same.status is None:  # claimed by a request that has not answered yet
        return _being_answered()
    if same is not earlier[-1]:
        return error_response(
            409, _("This form was sent with other content since: reload the page to send this again.")
        )
    if same.location is not None and same.body is None:  # a page's redirect
        flash(_("This form had already been sent: it was not sent a second time."), "info")
        return redirect(same.location, 303)
    response = current_app.response_class(same.body or "", status=same.status, mimetype="application/json")
    if same.location:
        response.headers["Location"] = same.location
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _being_answered():
    g.pop("request_key", None)
    return error_response(409, _("This form is being sent already: wait for its answer, then reload the page."))
