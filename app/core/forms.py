"""Form helpers shared by every blueprint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import flash, request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto, _is_submitted
from werkzeug.datastructures import MultiDict
from wtforms import FileField

from app.core.db import keep_even_if_refused
from app.core.errors import DomainError, ValidationFailed
from app.extensions import db


def apply_field_errors(form, error: DomainError, fields: dict[str, str] | None = None) -> None:
    """Show a service's field errors on the form (`fields`: the form's name for a service's field where they
    differ), and the rest as a flash message."""
    shown = False
    for name, messages in (error.field_errors or {}).items():
        field = getattr(form, (fields or {}).get(name, name), None)
        if field is not None:
            field.errors = list(field.errors or []) + list(messages)
            shown = True
    if not shown or not error.field_errors:
        flash(error.message, "danger")


@contextmanager
def refusal_shown_on(
    form,
    *,
    catching: type[DomainError] | tuple[type[DomainError], ...] = ValidationFailed,
    keep_work: bool = False,
    fields: dict[str, str] | None = None,
) -> Iterator[None]:
    """Around a page form's service call and its answer, for a refusal shown on the form itself rather than
    on another page: a `catching` error raised in the block is rolled back (`keep_work`: kept, as a failed
    second-factor code must still count), its field errors go under their fields (`fields` as for
    `apply_field_errors`) and the rest is flashed;
    the route then goes on past the block and renders the form again, with `form_status(form)`."""
    try:
        yield
    except catching as error:
        if keep_work:
            keep_even_if_refused()
        else:
            db.session.rollback()
        apply_field_errors(form, error, fields)
        form.service_refusal = error


def form_status(form) -> int:
    """A form page's status: 422 when the form or the service behind it refused what was sent (the request's
    work then rolls back), 200 when the form is shown to be filled in."""
    return 422 if form.errors or getattr(form, "service_refusal", None) is not None else 200


class Form(FlaskForm):
    """Every form's base: it reads only real form fields.

    Flask-WTF would feed a JSON body to the form and put uploaded files into
    any field of the same name; hostile requests then reach validators with
    lists, numbers or file objects. Here a JSON or other non-form body counts
    as an empty form, files only reach FileFields, and NUL bytes (which no
    text ever needs, and PostgreSQL refuses) are dropped.
    """

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            if formdata is not _Auto:
                return formdata
            if not _is_submitted():
                return None
            data = MultiDict()
            for key, value in request.form.items(multi=True):
                data.add(key, value.replace("\x00", ""))
            file_fields = {name for name, field in form._fields.items() if isinstance(field, FileField)}
            for key, value in request.files.items(multi=True):
                if key in file_fields:
                    data.add(key, value)
            return data
