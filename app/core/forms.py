"""Form helpers shared by every blueprint."""
from __future__ import annotations

from flask import flash

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
