"""The API on the app: the frame from app.api.core, then every resource module's blueprint.

The resource modules import the frame; only this module imports them all, so the frame never
imports back the resources built on it."""

from __future__ import annotations

from apispec import BasePlugin

from app.api.core import API_PREFIX, api, authenticate_api_request, refuse_oversized_json, refuse_unreadable_body
from app.core.receipts import API_HEADER

# The operations that change something: each takes an Idempotency-Key (app.core.receipts).
CHANGING = ("post", "put", "patch", "delete")
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": API_HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": (
        "New for each change: sent again with the same key and body within 24 hours, the call is answered as the "
        "first time (`Idempotent-Replayed: true`), not done again; a key used for another body is refused (422)."
    ),
}


class ChangingOperations(BasePlugin):
    """Declares on every operation that changes something the Idempotency-Key it takes, the 400 of a malformed
    key and the 422 of a key already used for another call, as app.core.receipts answers every such call."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            if method in CHANGING:
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
                responses = operation.setdefault("responses", {})
                responses.setdefault("400", "BAD_REQUEST")  # a key that is no 1 to 255 printable characters
                responses.setdefault("422", "UNPROCESSABLE_ENTITY")  # a key used for another call


def non_empty_when_required(self, field, ret=None, **kwargs) -> dict:
    """minLength 1 for a required string (a text, or a decimal sent as one; a date says its format): no
    operation takes an empty one (a service refuses what its schema did not), so the description says so."""
    described = ret or {}
    if field.required and described.get("type") == "string" and not {"format", "minLength"} & set(described):
        return {"minLength": 1}
    return {}


def init_api(app) -> None:
    from app.api import (
        agreements,
        amendments,
        budget,
        collaboration,
        deliverables,
        directory,
        discussions,
        negotiation,
        plans,
        renewals,
        stages,
    )
    from app.extensions import csrf

    app.config.setdefault("API_TITLE", "Sharaka API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api.init_app(
        app,
        spec_kwargs={
            "info": {
                "description": (
                    "The partnership agreements of the ministry, under the same rules as the pages. "
                    "Authenticate with a personal token: `Authorization: Bearer shk_…` (create one on your "
                    "profile page or with `flask users create-token`). A token works until the end date chosen "
                    "when it was made; past it a call is a 401 whose detail says the token expired, and when. "
                    'A refused call\'s `WWW-Authenticate` follows RFC 6750: `Bearer realm="sharaka"` without '
                    'credentials, with `error="invalid_request"` for an Authorization that is no bearer token, '
                    '`error="invalid_token"` for a token that does not work (unknown, revoked, expired). '
                    "Errors are application/problem+json. "
                    "An agreement, a deliverable and an amendment answer their GET with an `ETag` (their version): "
                    "send it back as `If-Match` with a change to it (its PATCH, moves, negotiation, signatures, "
                    "review, hand-in, waiver); if it changed since, the change is refused (412) and nothing is "
                    "done. `If-Match: *` or no header skips that check; a `version` in the body is still checked "
                    "(409 when stale), and sent with `If-Match` both must name the stored version. "
                    "A call that changes something may carry an `Idempotency-Key` header (1 to 255 printable "
                    "ASCII characters, new for each change): sent again with the same key within 24 hours, it is "
                    "not done again but answered as the first time, with `Idempotent-Replayed: true`; a key "
                    "already used for another call is refused (422)."
                )
            },
            "security": [{"bearerAuth": []}],
            "servers": [{"url": "/"}],
            "extra_plugins": [ChangingOperations()],
        },
    )
    api.ma_plugin.converter.add_attribute_function(non_empty_when_required)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for module in (
        agreements,
        deliverables,
        directory,
        stages,
        plans,
        amendments,
        budget,
        collaboration,
        discussions,
        negotiation,
        renewals,
    ):
        api.register_blueprint(module.blueprint)
        # No cookie ever authenticates an API call, so there is no cross-site request to forge.
        csrf.exempt(module.blueprint)
    app.before_request(authenticate_api_request)
    app.before_request(refuse_oversized_json)
    app.before_request(refuse_unreadable_body)
