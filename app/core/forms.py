"""Form helpers shared by every blueprint."""

from __future__ import annotations

from flask import flash, request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto, _is_submitted
from werkzeug.datastructures import MultiDict
from wtforms import FileField

from app.core.errors import DomainError


def apply_field_errors(form, error: DomainError) -> None:
    """Show a service's field errors on the form, and the rest as a flash message."""
    shown = False
    for name, messages in (error.field_errors or {}).items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = list(field.errors or []) + list(messages)
            shown = True
    if not shown or not error.field_errors:
        flash(error.message, "danger")


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
