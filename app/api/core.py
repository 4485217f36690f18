"""The API's frame: flask-smorest for the OpenAPI document and input validation,
Bearer-token authentication, problem+json errors, pagination.

Why flask-smorest: it works with a plain Flask app and blueprints (APIFlask
replaces the Flask class), validates query, JSON and multipart input with
marshmallow schemas and generates the OpenAPI 3 document from the same schemas
and decorators, so the document cannot drift from the code.
"""

from __future__ import annotations

import codecs
import http
import json
import re
from copy import deepcopy
from functools import wraps

from flask import abort, current_app, g, request
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from webargs.core import missing, parse_json
from webargs.flaskparser import FlaskParser, is_json_request
from webargs.flaskparser import abort as refuse
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.http import quote_etag

from app.api.schema_words import in_readers_language
from app.api.schemas import ProblemSchema
from app.core.errors import bearer_challenge, error_response, refused_parameters
from app.core.i18n import gettext as _
from app.core.text import storable, storable_everywhere
from app.core.transport import utf8

API_PREFIX = "/api/v1"
PROBLEM = "application/problem+json"
# Paths under the prefix that need no token: the description of the API itself.
PUBLIC_PATHS = {f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/docs"}


class SharakaApi(Api):
    """Errors are documented as they are sent: problem+json (RFC 9457)."""

    ERROR_SCHEMA = ProblemSchema
    # No catch-all "default" response: each operation lists the errors it gives
    # (see `errors`), so a client (or a contract test) can tell an undocumented one.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM if status >= 400 else self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)


api = SharakaApi()


# The body an operation reads, by where its arguments come from: refuse_unreadable_body refuses the other
# kind (a multipart PATCH of a JSON-only operation answered 200 and changed nothing).
BODY_OF_LOCATION = {"json": "application/json", "form": "multipart/form-data", "files": "multipart/form-data"}


class RefusedBody:
    """A body its schema refused (422) or that is not JSON at all (400), handed to the view in its place.

    webargs reads the body before the view runs, and the view is where the object is loaded and who may
    call is decided: an auditor sending a malformed body was told what was wrong with it (422) rather
    than that the call is not theirs (403). So the refusal waits: it is raised when the view first reads
    the body, after its loader and permission checks, or once the view has answered if it never did."""

    def __init__(self, refusal: HTTPException):
        self.refusal = refusal

    def _refuse(self, *args, **kwargs):
        raise self.refusal

    __getitem__ = __iter__ = __len__ = __contains__ = __bool__ = _refuse

    def __getattr__(self, name):  # get, pop, items, keys...: anything that reads the body
        raise self.refusal


def refused_after_checks(view):
    """`view` with a RefusedBody among its arguments refused even if it answered without reading it."""

    @wraps(view)
    def answer(*args, **kwargs):
        result = view(*args, **kwargs)
        if refused := next((value for value in args if isinstance(value, RefusedBody)), None):
            raise refused.refusal
        return result

    return answer


class ApiArgumentsParser(FlaskParser):
    """webargs reads form fields and files apart; a multipart hand-in carries both in one body,
    so "form" here reads the two together and one schema documents the whole body."""

    def parse(self, argmap, req=None, *, location=None, **kwargs):
        """A body's refusal is handed to the view as a RefusedBody, to be raised after its checks."""
        if location not in BODY_OF_LOCATION:
            return super().parse(argmap, req, location=location, **kwargs)
        try:
            return super().parse(argmap, req, location=location, **kwargs)
        except HTTPException as refusal:
            if refusal.code not in (400, 422):
                raise
            return RefusedBody(refusal)

    def _get_schema(self, argmap, req):
        return in_readers_language(super()._get_schema(argmap, req))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        refuse(400, exc=error, messages={"json": [_("Invalid JSON body.")]})  # webargs' words, said

    def load_form(self, req, schema):
        texts = MultiDict([(key, storable(value)) for key, value in req.form.items(multi=True)])
        return self._makeproxy(CombinedMultiDict([texts, req.files]), schema)

    def _raw_load_json(self, req):
        """The body's JSON, its texts storable (as a form's: text.storable). A body nested deeper than the decoder
        goes, or holding a number longer than Python reads (over 4,300 digits), is refused as any unreadable
        JSON is (400), not a server error. A byte order mark before it is passed over, as RFC 8259 lets a
        reader do: some Windows tools write one, and their calls were refused as unreadable. A body in another
        encoding than UTF-8 is refused as such (core.transport), not as no JSON."""
        if not is_json_request(req):
            return missing
        try:
            return storable_everywhere(parse_json(utf8(req.get_data(cache=True).removeprefix(codecs.BOM_UTF8))))
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError) as error:
            raise json.JSONDecodeError(f"Unreadable JSON body ({type(error).__name__})", doc="-", pos=0) from None


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = ApiArgumentsParser()

    def arguments(self, schema, *, location="json", **kwargs):
        """flask-smorest's arguments, noting on the view the kind of body it reads (`body_types`). A body is
        handed to the view whole, refused only after the view's own checks (RefusedBody)."""
        if location == "query":
            # A query string is not content: a value refused there is a bad request (400), named by
            # core.errors.refused_parameters, as filter_refusals names a range the list's page refuses.
            kwargs.setdefault("error_status_code", 400)
        if location in BODY_OF_LOCATION and kwargs.get("as_kwargs"):
            raise TypeError("A body is passed whole (as_kwargs=False): its refusal waits for the view's checks.")
        read = super().arguments(schema, location=location, **kwargs)

        def decorate(view):
            wrapped = read(refused_after_checks(view) if location in BODY_OF_LOCATION else view)
            if location in BODY_OF_LOCATION:
                wrapped.body_types = (*getattr(view, "body_types", ()), BODY_OF_LOCATION[location])
            return wrapped

        return decorate

    def json_or_multipart(self, json_schema, multipart_schema):
        """One operation whose body is JSON, or multipart when it carries a file: each read and checked by
        its own schema (JSON keeps strict types; a form's values are text), both documented as the
        operation's request body. The view gets the values as with `arguments`."""

        def decorate(view):
            as_json = self.arguments(json_schema)(view)
            as_multipart = self.arguments(multipart_schema, location="form", content_type="multipart/form-data")(view)

            @wraps(view)
            def read_either(*args, **kwargs):
                body = as_multipart if request.mimetype == "multipart/form-data" else as_json
                return body(*args, **kwargs)

            # flask-smorest documents one body per operation: the JSON one, and the multipart one beside it.
            read_either._apidoc = deepcopy(as_json._apidoc)  # type: ignore[attr-defined]
            read_either.body_types = ("application/json", "multipart/form-data")  # type: ignore[attr-defined]
            return self.doc(requestBody={"content": {"multipart/form-data": {"schema": multipart_schema}}})(read_either)

        return decorate


def api_blueprint(name: str, description: str) -> Blueprint:
    return ApiBlueprint(f"api_{name}", __name__, url_prefix=API_PREFIX, description=description)


# A download is sent with the stored file's own type, one of those app/core/storage.py
# recognises by content; documented as such so clients (and contract tests) can rely on it.
FILE_TYPES = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
)


def file_download(blueprint: Blueprint):
    """Document a 200 answer that is a stored file, as an attachment."""
    content = {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in FILE_TYPES}
    return blueprint.doc(responses={"200": {"description": "The file, as an attachment.", "content": content}})


def errors(blueprint: Blueprint, *codes: int):
    """Document the error answers an operation may give: 401, 405, 413, 415 and 503 always (every call needs a
    token; its address answers another method 405, with Allow; any request may carry a body larger than the
    server reads, MAX_CONTENT_LENGTH and MAX_JSON_BYTES, or of a type it does not read, refuse_unreadable_body;
    and while the database cannot be reached every call is a 503 with Retry-After, core.errors.unavailable_response)."""

    def decorate(view):
        for code in sorted({401, 405, 413, 415, 503, *codes}):
            view = blueprint.alt_response(code, response=http.HTTPStatus(code).name)(view)
        return view

    return decorate


# RFC 6750 §2.1: what a bearer token may be made of (b64token). Anything else after "Bearer " is not a token.
BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def authenticate_api_request():
    """Every API call needs a valid Bearer token; the session cookie is ignored here. A refusal is a 401 whose
    challenge tells apart no credentials, an Authorization that is no bearer token, and a token that does not
    work (core.errors.bearer_challenge)."""
    if not request.path.startswith(API_PREFIX + "/") or request.path in PUBLIC_PATHS:
        return None
    from app.api.tokens import check_token
    from app.core.db import commit_bookkeeping
    from app.extensions import db

    header = request.headers.get("Authorization")
    if header is None:
        abort(401)  # no credentials: the plain challenge (error_handlers)
    scheme, _space, secret = header.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not BEARER_TOKEN.fullmatch(secret):
        return _refused_credentials("invalid_request", _("Send your token as the header Authorization: Bearer shk_…"))
    check = check_token(secret)
    user = check.user
    if user is None:
        db.session.rollback()
        if check.expired_at is not None:
            return _expired_token(check.expired_at)
        # The same words whether the token never existed, was revoked, or its account was closed.
        return _refused_credentials(
            "invalid_token",
            _(
                "This token does not work: it is unknown, revoked, or its account is closed. "
                "Use a token of yours that works."
            ),
        )
    commit_bookkeeping()  # the token's last use
    # Flask-Login reads the user from here: current_user is the token's owner for this request only.
    g._login_user = user
    g.api_user = user
    return None


def _refused_credentials(error: str, detail: str, description: str | None = None):
    response = error_response(401, detail)
    response.headers["WWW-Authenticate"] = bearer_challenge(error, description)
    return response


def _expired_token(expired_at):
    """401 for a token that would work but for its end date: the caller's operator is told so, with the
    date, and the challenge says so as RFC 6750 has it (only to whoever holds the token itself)."""
    from app.core.dates import format_moment

    detail = _(
        "This token expired on %(moment)s. Make a new one on your account's tokens page.",
        moment=format_moment(expired_at),
    )
    return _refused_credentials("invalid_token", detail, "expired")


# No operation takes more JSON than this: its longest texts (summaries in three languages, a 20,000-character
# note) are far shorter. A larger body is refused before it is read, parsed and checked key by key (200,000
# unknown keys took seconds of a worker to list).
MAX_JSON_BYTES = 1024 * 1024


def refuse_oversized_json():
    if request.path.startswith(API_PREFIX + "/") and request.is_json and (request.content_length or 0) > MAX_JSON_BYTES:
        # Not the upload limit the general 413 names: a JSON body has its own, much smaller one.
        return error_response(413, _("A JSON body is at most %(limit)s MB.", limit=MAX_JSON_BYTES // (1024 * 1024)))
    return None


# What a call's body may be: JSON, in UTF-8 as RFC 8259 has it, or multipart for a call that carries a file.
# Another type was read as no body at all: a PATCH sent as text/plain answered 200 and changed nothing.
BODY_TYPES = ("application/json", "multipart/form-data")


def refuse_unreadable_body():
    if not request.path.startswith(API_PREFIX + "/") or request.method not in ("POST", "PUT", "PATCH"):
        return None
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if not (request.content_length or chunked):
        return None  # an action without a body (a transition, a revocation) needs no type
    mimetype = request.mimetype
    is_json = mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))
    # Each operation reads one kind of body (or either): the other was read as no body at all.
    view = current_app.view_functions.get(request.url_rule.endpoint) if request.url_rule else None
    accepted = getattr(view, "body_types", None)
    if mimetype != "multipart/form-data":
        charset = request.mimetype_params.get("charset", "utf-8").lower().replace("-", "").replace("_", "")
        if not is_json or charset != "utf8":
            if not accepted:
                abort(415)
            # Named as the operation takes it: a form sent to an upload had been told "JSON or multipart",
            # and JSON then "multipart only". JSON in another encoding is named with it: "takes
            # application/json, not application/json" said nothing of why.
            sent = f"{mimetype}; charset={request.mimetype_params['charset']}" if is_json else mimetype
            return _takes_another_body(accepted, sent or "?")
    sent = "multipart/form-data" if mimetype == "multipart/form-data" else "application/json"
    if accepted and sent not in accepted:
        return _takes_another_body(accepted, sent)
    return None


def _takes_another_body(accepted, sent: str):
    return error_response(
        415, _("This operation takes its body as %(types)s, not %(sent)s.", types=" or ".join(accepted), sent=sent)
    )


def uploaded(field: str, *, many: bool = True):
    """The files sent under `field` (a list, or one or None); a file under any other name is refused (422)
    rather than dropped: a message posted with its attachment under `attachments` had answered 201 without it,
    and the script believed it attached."""
    from app.core.errors import ValidationFailed

    if others := sorted(name for name in request.files if name != field):
        message = _("Files go in the field %(field)s, not %(names)s.", field=field, names=", ".join(others))
        raise ValidationFailed(message, {name: [message] for name in others})
    return request.files.getlist(field) if many else request.files.get(field)


# --- optimistic locking over HTTP: ETag and If-Match ------------------------------------------------
# An agreement, a deliverable's occurrence and an amendment carry a version the services check (409 when
# stale). Their GET answers it as a strong ETag; a write to them honours If-Match with it (RFC 9110 §13.1.1).


# The answer's header, documented on the operations that send it: @blueprint.response(..., headers=ETAG_HEADER).
ETAG_HEADER = {"ETag": {"description": "The record's version, for If-Match.", "schema": {"type": "string"}}}


# A 201's header: where what it made is read (RFC 9110 §10.2.2), documented as ETAG_HEADER is.
LOCATION_HEADER = {"Location": {"description": "Where what was made is read.", "schema": {"type": "string"}}}


def version_etag(record) -> str:
    """The ETag of a record kept by its version (unquoted): it changes whenever the record does."""
    return f"v{record.version}"


def with_etag(result, record):
    """`result`, answered with `record`'s ETag."""
    return result, {"ETag": quote_etag(version_etag(record))}


def expected_version(record, body) -> int:
    """The version of `record` a write was made against, for its service's check (409 when someone changed it
    since): the body's `version`, else the stored one. An If-Match header is checked first, against the stored
    row: unless `*` or the record's current ETag, the call is refused (412) and nothing changes. Sent with a
    `version` too, both must name the stored row (If-Match here, the version by the service's one check)."""
    if "If-Match" in request.headers:
        if_match = request.if_match
        if not if_match.star_tag and not if_match.contains(version_etag(record)):
            abort(
                error_response(
                    412,
                    _(
                        "It changed since the version your If-Match names: it is now %(etag)s. "
                        "Read it again before changing it.",
                        etag=quote_etag(version_etag(record)),
                    ),
                )
            )
    return body.get("version", record.version)


def conditional(blueprint: Blueprint):
    """Document a write that honours If-Match (expected_version): the header, and its 412."""
    header = {
        "in": "header",
        "name": "If-Match",
        "required": False,
        "schema": {"type": "string"},
        "description": "The ETag the record's GET answered (or `*`): a record changed since is refused (412).",
    }

    def decorate(view):
        return blueprint.doc(parameters=[header])(blueprint.alt_response(412, response="PRECONDITION_FAILED")(view))

    return decorate


def refuse_filters_pages_refuse(form_class, names) -> None:
    """400 naming the list filters `names` that the list page's filter form (`form_class`) refuses, by its own
    rules (a "from" date after its "to" date): the page ignores such a filter and says so; a script is told."""
    from app.core.forms import refused_filters

    if refused := refused_filters(form_class(request.args), names):
        abort(refused_parameters(refused))


def api_user():
    return g.api_user


def page_of(query, args) -> dict:
    """A page of `query` with its total, from ?page= and ?per_page=."""
    from app.extensions import db

    page = db.paginate(query, page=args["page"], per_page=args["per_page"], error_out=False, count=True)
    return {"items": page.items, "total": page.total, "page": page.page, "per_page": page.per_page, "pages": page.pages}
