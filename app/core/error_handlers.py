"""The one place that turns errors into answers: each kind of error, for pages and for the API."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, RequestedRangeNotSatisfiable

from app.core import schema
from app.core.db import (
    is_lock_conflict,
    is_unique_violation,
    is_unreachable,
    is_writer_lock_timeout,
    roll_back_or_close,
    run_again_as_writer,
)
from app.core.errors import (
    EXPLANATIONS,
    ConcurrentChange,
    DomainError,
    bearer_challenge,
    error_response,
    flatten_messages,
    refused_parameters,
    unavailable_response,
    wants_json,
)
from app.core.i18n import gettext as _
from app.core.logs import logged_path
from app.core.responses import answer_refusal
from app.core.transport import TextNotUtf8
from app.extensions import db


def register_error_handlers(app: Flask) -> None:
    def outage_answered(handler):
        """An answer that reads the signed-in person (its language, the page around it) from the session, when
        the database is out of reach, is the outage's 503 (handle_database_busy): the failed read inside the
        handler had escaped Flask, and gunicorn answered a bare 500 with a traceback."""

        @wraps(handler)
        def answer(error):
            try:
                return handler(error)
            except OperationalError as lost:
                return handle_database_busy(lost)

        return answer

    @app.errorhandler(CSRFError)
    @outage_answered
    def handle_csrf(error):
        app.logger.warning("CSRF refused on %s: %s", logged_path(), error.description)
        if wants_json():
            return error_response(400, _("The form's security token is missing or expired."))
        if not current_user.is_authenticated:
            return _sign_in_ended()
        # A refusal ("danger"): the form's page puts back what was typed (sharaka.js), as for any refusal. Signed
        # in again by the remember cookie, the session's token was new and the text had been lost.
        flash(_("The form had expired. Please try again."), "danger")
        # Back where the form was; never to the POST-only address itself (that would answer 405).
        return redirect(request.referrer if _same_site(request.referrer) else url_for("main.home"))

    from flask_login.utils import login_url

    from app.extensions import SAFE_METHODS, login_manager

    @login_manager.unauthorized_handler
    def handle_signed_out():
        """Flask-Login's answer to a page asked without a sign-in: to sign in, and back. A form sent once its
        sign-in ended on the server (ended from another browser, a password changed, its time run out) with
        its cookie still there had been sent to sign in too, what it held lost: it is answered as one sent
        after its cookie went."""
        if request.method not in SAFE_METHODS and not wants_json() and "_user_id" in session:
            return _sign_in_ended()  # (its cookie still names who had signed in: not a visitor's)
        flash(str(login_manager.login_message), login_manager.login_message_category)
        return redirect(login_url(login_manager.login_view, next_url=request.url))

    @app.errorhandler(TextNotUtf8)
    def handle_not_utf8(error: TextNotUtf8):
        return error_response(400, error.explanation())

    @app.errorhandler(HTTPException)
    @outage_answered
    def handle_http(error: HTTPException):
        status = error.code or 500
        detail = None
        if status not in EXPLANATIONS and error.description:
            detail = error.description
        if status == 413:
            limit_mb = (app.config.get("MAX_UPLOAD_BYTES") or 0) // (1024 * 1024)
            detail = _("The upload is larger than the %(limit)s MB allowed.", limit=limit_mb)
            if not wants_json() and _same_site(request.referrer):
                # Back to the form rather than a dead end (the browser checks first: sharaka.js).
                flash(
                    _(
                        "These files come to more than the %(size)s MB allowed in all: send fewer or smaller files.",
                        size=limit_mb,
                    ),
                    "danger",
                )
                return redirect(request.referrer, 303)
        # The API's schema validation (webargs) leaves its messages per location and field.
        messages = (
            (getattr(error, "data", None) or {}).get("messages")
            if isinstance(getattr(error, "data", None), dict)
            else None
        )
        field_errors = flatten_messages(messages) if messages else None
        if status == 400 and field_errors and set(messages or ()) == {"query"}:
            return refused_parameters(field_errors)
        if status in (400, 422) and field_errors:
            detail = _("Some of the values are not valid.")
        response = make_response(error_response(status, detail, field_errors))
        if status == 401 and request.path.startswith("/api/"):
            response.headers["WWW-Authenticate"] = bearer_challenge()
        allowed = getattr(error, "valid_methods", None) if status == 405 else None
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        if isinstance(error, RequestedRangeNotSatisfiable) and error.length is not None:
            # The file's length, for a client resuming a download to ask again within it (RFC 9110).
            response.headers["Content-Range"] = f"{error.units} */{error.length}"
        return response

    @app.errorhandler(DomainError)
    @outage_answered
    def handle_domain(error: DomainError):
        if run_again_as_writer(error):  # a safe request's write refused for its read transaction (SQLite)
            db.session.rollback()
            return error_response(409)  # dropped: the request runs again
        return answer_refusal(error)

    @app.errorhandler(StaleDataError)
    def handle_lost_race(error: StaleDataError):
        """A row another request changed first, met at a flush no service turned into a conflict: the same
        answer as a race lost at commit (a 500 had been the answer on PostgreSQL)."""
        db.session.rollback()
        app.logger.warning("Lost race on %s %s: %s", request.method, logged_path(), error)
        return answer_refusal(ConcurrentChange.at_commit())

    @app.errorhandler(IntegrityError)
    def handle_integrity(error: IntegrityError):
        db.session.rollback()
        if is_unique_violation(error):  # a row another request inserted first
            app.logger.warning("Lost race on %s %s: %s", request.method, logged_path(), error.orig)
            return answer_refusal(ConcurrentChange.at_commit())
        app.logger.exception("Integrity error on %s %s", request.method, logged_path())
        return error_response(500)

    def not_migrated(error: DBAPIError):
        """A table or column missing because the database was never migrated, or is behind this code: one line
        in the log and a 503 saying so, not a traceback each and a 500 (or "cannot reach its database")."""
        why = schema.not_migrated(error)
        if why is None:
            return None
        roll_back_or_close()
        app.logger.error("Database not ready on %s %s: %s", request.method, logged_path(), why)
        return unavailable_response(not_migrated=True)

    @app.errorhandler(ProgrammingError)
    def handle_statement_refused(error: ProgrammingError):
        """PostgreSQL's undefined table or column (on SQLite an OperationalError, below)."""
        answer = not_migrated(error)
        if answer is not None:
            return answer
        return handle_unexpected(error)

    @app.errorhandler(OperationalError)
    def handle_database_busy(error: OperationalError):
        answer = not_migrated(error)
        if answer is not None:
            return answer
        roll_back_or_close()
        if run_again_as_writer(error):  # a safe request's write refused for its read transaction (SQLite)
            return unavailable_response(busy=True)  # dropped: the request runs again
        if is_writer_lock_timeout(error):
            return unavailable_response(busy=True)
        if is_lock_conflict(error):
            return error_response(409, str(ConcurrentChange.at_commit().message))
        if is_unreachable(error):
            # One line per refused request (a traceback each filled 50 MB of log in a 12-second outage).
            app.logger.error(
                "Database unreachable on %s %s: %s", request.method, logged_path(), str(error.orig).splitlines()[0]
            )
        else:
            app.logger.exception("Database error on %s %s", request.method, logged_path())
        # Not the usual error page: it would read the signed-in person from the database that failed.
        return unavailable_response()

    @app.errorhandler(Exception)
    @outage_answered
    def handle_unexpected(error: Exception):
        db.session.rollback()
        app.logger.exception("Unhandled error on %s %s", request.method, logged_path())
        return error_response(500)


def _sign_in_ended():
    """A form sent after its sign-in ended (the session's time ran out, or its cookie went): nothing was saved.
    Saying "the form had expired" and sending them to sign in had lost what they typed; the page says what
    happened and signs in again to the form's page, where this tab puts back what the form held (sharaka.js).
    A browser on plain http:// keeps a Secure session cookie to itself: it never had one to end, and is told that
    signing in needs HTTPS (it had read "your sign-in had ended" after the sign-in form itself)."""
    if _secure_cookie_kept_back():
        return render_template(
            "errors/sign_in_needs_https.html",
            https_url=urlsplit(request.url)._replace(scheme="https", query="").geturl(),
        ), 400
    back = request.referrer if _same_site(request.referrer) else None
    return render_template(
        "errors/sign_in_ended.html",
        had_files=any(upload.filename for upload in request.files.values()),
        sign_in_url=url_for("auth.sign_in", next=urlsplit(back).path if back else None),
    ), 401


def _secure_cookie_kept_back() -> bool:
    """The session cookie is Secure (SESSION_COOKIE_SECURE), none came with the request, and the page that sent it
    was on plain http://, as the browser says (Origin, else Referer; the request's own scheme is the proxy's)."""
    config = current_app.config
    if not config.get("SESSION_COOKIE_SECURE") or config["SESSION_COOKIE_NAME"] in request.cookies:
        return False
    return urlsplit(request.headers.get("Origin") or request.referrer or request.url).scheme == "http"


def _same_site(url: str | None) -> bool:
    from app.core.urls import is_safe_redirect

    return bool(url) and is_safe_redirect(url)
