"""How a POST that changes something answers: redirect with a flash for pages, JSON for clients."""
from __future__ import annotations

from flask import flash, redirect

from app.core.db import commit_or_conflict
from app.core.errors import DomainError, ValidationFailed, error_response, wants_json
from app.extensions import db


def done(redirect_to: str, message: str, json_body: dict | None = None):
    """Commit the request's work (a lost race becomes a 409), then answer."""
    commit_or_conflict()
    if wants_json():
        return {"status": "ok", **(json_body or {})}, 200
    flash(message, "success")
    return redirect(redirect_to, 303)


def refused(redirect_to: str, error: DomainError):
    """Roll back, then say why: the problem JSON, or a flash on the page the user came from."""
    db.session.rollback()
    if wants_json():
        return error_response(error.status_code, error.message, error.field_errors or None)
    details = " ".join(" ".join(messages) for messages in (error.field_errors or {}).values() if messages)
    flash(f"{error.message} {details}".strip() if details and details not in error.message else error.message,
          "danger")
    return redirect(redirect_to, 303)


def form_errors(form) -> ValidationFailed:
    """A form's own validation errors as the domain error `refused` expects."""
    from flask_babel import gettext as _

    return ValidationFailed(_("Please correct the errors below."),
                            {name: list(messages) for name, messages in form.errors.items()})
