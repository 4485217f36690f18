"""How a POST that changes something answers: redirect with a flash for pages, JSON for clients.

The request's work is committed after the answer is made (app/core/db.register_unit_of_work); a
refusal rolls it back. A page form's route names where a refusal sends the user with
`@refusals_return_to`, and raises: it does not catch domain errors itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import wraps

from flask import flash, g, redirect, request, session, url_for

from app.core.errors import DomainError, ValidationFailed, error_response, wants_json
from app.extensions import db


def done(redirect_to: str, message: str, json_body: dict | None = None, *, category: str = "success"):
    """Answer a change that succeeded (the request commits it once the answer is made); `category` "info"
    for a request that found nothing to change."""
    if wants_json():
        return {"status": "ok", **(json_body or {})}, 200
    flash(message, category)
    return redirect(redirect_to, 303)


def return_here_if_refused(url: str) -> None:
    """Inside a view: a domain error raised from here on sends the user to `url` with the reason."""
    g.refusal_target = url


def refusals_return_to(target: Callable[..., str]):
    """A page form's route: a domain error it raises (its form's errors, a business rule, a lost race)
    rolls back and sends the user to `target(**view_args)` with the reason; JSON callers get
    problem+json."""
    wanted = set(inspect.signature(target).parameters)

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            return_here_if_refused(target(**{name: value for name, value in kwargs.items() if name in wanted}))
            return view(*args, **kwargs)

        return wrapper

    return decorate


def answer_refusal(error: DomainError):
    """The one answer to a domain error raised by a view (called by the error handler)."""
    target = g.get("refusal_target")
    if target is None or wants_json():
        db.session.rollback()
        return error_response(error.status_code, error.message, error.field_errors or None)
    return refused(target, error)


def refused(redirect_to: str | None, error: DomainError):
    """Roll back, then say why: the problem JSON, or a flash on the page the user came from.

    A refusal replaces what the request had already flashed as success."""
    db.session.rollback()
    if wants_json():
        return error_response(error.status_code, error.message, error.field_errors or None)
    session.pop("_flashes", None)
    redirect_to = redirect_to or g.get("refusal_target") or _referrer() or url_for("main.home")
    details = " ".join(" ".join(messages) for messages in (error.field_errors or {}).values() if messages)
    flash(_said_on_another_page(error.message, details), "danger")
    return redirect(redirect_to, 303)


def _said_on_another_page(message: str, details: str) -> str:
    """A refusal told on the page the form came from, where no field is marked: "correct the errors below"
    would point at nothing, so the field messages are said instead, as what was not saved."""
    from app.core.i18n import gettext as _

    if not details or details in message:
        return message
    if message == _("Please correct the errors below."):
        return _("Not saved: %(reasons)s", reasons=details)
    return f"{message} {details}"


def _referrer() -> str | None:
    from app.core.urls import is_safe_redirect

    return request.referrer if request.referrer and is_safe_redirect(request.referrer) else None


def form_errors(form) -> ValidationFailed:
    """A form's own validation errors as the domain error `refused` expects."""
    from app.core.i18n import gettext as _

    return ValidationFailed(
        _("Please correct the errors below."),
        {name: [_labelled(form, name, message) for message in messages] for name, messages in form.errors.items()},
    )


def _labelled(form, name: str, message: str) -> str:
    """A field's message with its label ("Name: This field is required."): told in a flash away from the
    field, "This field" names nothing."""
    field = form._fields.get(name)
    label = getattr(getattr(field, "label", None), "text", "")
    return f"{label}: {message}" if label and not str(message).startswith(str(label)) else str(message)
