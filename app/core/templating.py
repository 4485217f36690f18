"""What every template may use: permissions, language and direction, formatting."""
from __future__ import annotations

from flask import Flask, request, url_for
from flask_babel import format_date
from flask_login import current_user

from app.core.i18n import LANGUAGE_NAMES, current_language, text_direction
from app.core.permissions import can


def register_template_helpers(app: Flask) -> None:
    @app.context_processor
    def inject_globals():
        return {
            "can": lambda action, obj=None: can(current_user, action, obj),
            "current_language": current_language(),
            "text_direction": text_direction(),
            "language_names": LANGUAGE_NAMES,
        }

    @app.template_filter("date")
    def _format_date(value, style: str = "medium"):
        if not value:
            return ""
        return format_date(value, style)

    @app.template_global()
    def url_with(**changes):
        """The current URL with some query arguments replaced (for filters and pages)."""
        args = request.args.to_dict(flat=False)
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = [value]
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        )
        return response
