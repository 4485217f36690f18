"""Domain errors raised by services, and how an error is told: problem+json or an error page."""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask_babel import lazy_gettext as _l

from app.core.i18n import gettext as _


class DomainError(Exception):
    """A business rule refused the action; the message is safe to show the user."""

    status_code = 400

    def __init__(self, message: str, field_errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = str(message)
        self.field_errors = field_errors or {}


class ValidationFailed(DomainError):
    status_code = 422


class PermissionDenied(DomainError):
    status_code = 403


class StorageUnavailable(DomainError):
    """The server's file storage takes nothing just now (full, read-only, out of service)."""

    status_code = 503


class ConcurrentChange(DomainError):
    status_code = 409

    def __init__(self, message: str | None = None):
        # Not "reload the page": the page shown after a refusal already has what was saved, and the text
        # the person typed is put back; reloading it again would lose that text.
        super().__init__(
            message or _("This agreement has changed since you opened it. Check what it shows now and try again.")
        )

    @classmethod
    def at_commit(cls) -> ConcurrentChange:
        """Lost at the request's commit: any request can (a sign-in, a calendar address), not only an agreement's."""
        return cls(
            _(
                "This has changed since you opened it: someone else saved at the same moment. "
                "Check what it shows now and try again."
            )
        )


TITLES = {
    400: _l("Bad request"),
    401: _l("Sign-in required"),
    403: _l("Not allowed"),
    404: _l("Not found"),
    405: _l("Method not allowed"),
    409: _l("Conflict"),
    412: _l("Precondition failed"),
    413: _l("Too large"),
    415: _l("Unsupported body"),
    416: _l("Range not available"),
    422: _l("Invalid input"),
    429: _l("Too many requests"),
    500: _l("Server error"),
    503: _l("Temporarily unavailable"),
}
EXPLANATIONS = {
    400: _l("The request could not be understood."),
    401: _l("Please sign in to continue."),
    403: _l("You do not have permission to do this."),
    404: _l("The page or item you asked for does not exist, or you cannot see it."),
    405: _l("This address does not accept that kind of request."),
    409: _l("The item changed while you were working on it. Reload and try again."),
    413: _l("The upload is larger than allowed."),
    415: _l("Send the body as JSON in UTF-8 (Content-Type: application/json), or as multipart/form-data with a file."),
    416: _l("The part of the file asked for lies beyond its end: download the whole file again."),
    422: _l("Some of the values are not valid."),
    429: _l("Too many requests. Wait a little and try again."),
    500: _l("Something went wrong on our side. The error has been logged."),
}


API_REALM = "sharaka"


def bearer_challenge(error: str | None = None, description: str | None = None) -> str:
    """The WWW-Authenticate of an API call refused 401 (RFC 6750 §3): `error` is absent for a call that carried
    no credentials, "invalid_request" for an Authorization that is no bearer token, "invalid_token" for a
    token that does not work (unknown, revoked, expired or its account's closed: the same words for each)."""
    challenge = f'Bearer realm="{API_REALM}"'
    if error:
        challenge += f', error="{error}"'
    if description:
        challenge += f', error_description="{description}"'
    return challenge


def wants_json() -> bool:
    if request.path.startswith(("/api/", "/choices/")):  # JSON-only addresses
        return True
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, detail: str | None = None, field_errors: dict | None = None):
    title = str(TITLES.get(status, _l("Error")))
    detail = detail or str(EXPLANATIONS.get(status, title))
    if wants_json():
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        if field_errors:
            body["errors"] = field_errors
        response = jsonify(body)
        response.status_code = status
        response.mimetype = "application/problem+json"
        return response
    template = f"errors/{status}.html" if status in (403, 404, 500) else "errors/generic.html"
    return render_template(template, status=status, title=title, detail=detail), status


RETRY_AFTER_SECONDS = 30
BUSY_RETRY_AFTER_SECONDS = 5


def unavailable_response(*, busy: bool = False, not_migrated: bool = False):
    """503 while the database cannot be answered: an answer that asks nothing of it. The page's language
    is the browser's (the signed-in person's choice lives in the database), and the page is rendered
    without the context processors (they count notifications, read the person). Clients are told to try
    again in half a minute. `busy`: it answers, but another process held its one writer's lock for the whole
    wait (SQLite): told so, to try again in a few seconds; it had been a 409 "someone else saved". `not_migrated`:
    it answers, but its tables are missing or older than this code (never migrated, or behind): told to run
    `flask db upgrade`, a traceback and a 500 each before."""
    from flask import current_app
    from flask_babel import force_locale

    language = (
        request.accept_languages.best_match(current_app.config["LANGUAGES"])
        or current_app.config["BABEL_DEFAULT_LOCALE"]
    )
    with force_locale(language):
        title = _("Temporarily unavailable")
        if not_migrated:
            detail = _(
                "Sharaka's database is not ready: its tables are missing or older than this version. Nothing you "
                "sent was saved. An administrator must run %(command)s.",
                command="flask db upgrade",
            )
        elif busy:
            detail = _(
                "Sharaka's database is busy with other work just now. "
                "Nothing you sent was saved: try again in a moment."
            )
        else:
            detail = _("Sharaka cannot reach its database just now. Nothing you sent was saved: try again in a minute.")
        if wants_json():
            response = jsonify({"type": "about:blank", "title": title, "status": 503, "detail": detail})
            response.mimetype = "application/problem+json"
        else:
            page = current_app.jinja_env.get_template("errors/unavailable.html").render(
                language=language, title=title, detail=detail, again=_("Try again"), request=request
            )
            response = current_app.response_class(page, mimetype="text/html")
    response.status_code = 503
    response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS if busy else RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def refused_parameters(field_errors: dict[str, list[str]]):
    """400 for query parameters refused (an API list's filters), naming them, with each one's messages."""
    return error_response(
        400, _("These query parameters are not valid: %(names)s.", names=", ".join(field_errors)), field_errors
    )


def flatten_messages(messages) -> dict[str, list[str]]:
    """{"json": {"title": ["..."]}, "query": {"page": [...]}} -> {"title": [...], "page": [...]}, nested
    fields joined with dots, so API clients get the same field-error shape as form errors."""
    flat: dict[str, list[str]] = {}

    def walk(value, path):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, path + [str(key)])
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            flat.setdefault(".".join(path) or "_schema", []).extend(value)
        elif isinstance(value, (list, tuple)):
            for index, inner in enumerate(value):
                walk(inner, path + [str(index)])
        else:
            flat.setdefault(".".join(path) or "_schema", []).append(str(value))

    for location, fields in (messages or {}).items():
        # Locations (json, query, form, files) are not field names: drop them.
        walk(fields, [] if location in ("json", "query", "form", "files", "headers", "view_args") else [location])
    return flat
