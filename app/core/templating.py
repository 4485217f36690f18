"""What every template may use: permissions, language and direction, formatting."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Flask, has_request_context, request, url_for
from flask_babel import format_date, format_number, format_percent
from jinja2 import pass_context
from markupsafe import Markup, escape

from app.core import stored_texts
from app.core.bounded import BoundedCache
from app.core.dates import first_of_month_in_french, format_file_size, format_moment
from app.core.i18n import (
    LANGUAGE_NAMES,
    current_language,
    languages_for_reader,
    list_separator,
    localized_with_language,
    reader_locale,
    reader_translations,
    text_direction,
)
from app.core.menu import main_menu
from app.core.permissions import can, is_ministry, is_partner, may_reactivate, signed_in_user, who_reviews
from app.core.receipts import form_key_field
from app.core.text import MENTION

# What an agreement reference looks like (prefix, year, number), wherever it appears in a sentence.
REFERENCE = re.compile(r"\b[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d{4}-\d+\b")


def register_template_helpers(app: Flask) -> None:
    # Who someone is, asked of the one module that knows (templates never compare role names);
    # globals, so that macros imported without the page's context see them too.
    app.jinja_env.globals.update(
        is_partner=is_partner,
        is_ministry=is_ministry,
        may_reactivate=may_reactivate,
        who_reviews=who_reviews,
        main_menu=main_menu,
    )
    app.jinja_env.globals["list_separator"] = list_separator
    # A changing form's key: sent twice, it changes things once (app/core/receipts.py).
    app.jinja_env.globals["form_key"] = form_key_field

    # Built once per process: see _page_url_for. An app whose links depend on more than the endpoint
    # (URL defaults, subdomains, hosts) builds every link as Flask does.
    if not (app.url_default_functions or app.subdomain_matching or app.url_map.host_matching):
        app.jinja_env.globals["url_for"] = _page_url_for

    # The page's translations, found once per page rather than by Flask-Babel for each string.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # added by Jinja's i18n extension
        gettext=_gettext, ngettext=_ngettext, pgettext=_pgettext, npgettext=_npgettext, newstyle=True
    )

    @app.context_processor
    def inject_globals():
        user = signed_in_user()
        return {
            "page_translations": reader_translations(),
            "can": lambda action, obj=None: can(user, action, obj),
            "current_language": current_language(),
            "text_direction": text_direction(),
            "language_names": LANGUAGE_NAMES,
        }

    app.add_template_filter(written_date, "date")

    @app.template_global()
    def ministry_today() -> str:
        """Today on the ministry's clock (ISO), for a date field's bounds: the browser's own zone had offered a
        day the server refuses, or refused today's date, across midnight."""
        from app.core import clock

        return clock.today().isoformat()

    @app.template_global()
    @pass_context
    def colon(context):
        """What follows a label before its value: French writes a no-break space before the colon."""
        return _pgettext(context, "after a label, before its value", ":")

    @app.template_filter("list_of")
    def _list_of(items):
        """Items joined as the reader's language writes a list (an Arabic comma in Arabic)."""
        from app.core.i18n import list_of

        return list_of(items)

    @app.template_filter("country")
    def _country(code):
        """A country's two-letter code as the reader's language names it ("FR": France, فرنسا), the code
        itself where the language has no name for it."""
        code = (code or "").upper()
        return reader_locale().territories.get(code, code)

    @app.template_filter("numberformat")
    def _format_number(value):
        return format_number(value or 0)

    @app.template_filter("percentage")
    def _percentage(value):
        """A whole percentage (30 for 30 %) as the reader's language writes it: "30%", "30 %" in French
        (a no-break space); a hard-coded " %" had read "0 %" in English."""
        return format_percent((value or 0) / 100)

    @app.template_global()
    def bidi(text):
        """User-written text isolated from its sentence (<bdi>), so an Arabic name in a French byline,
        or a Latin one in Arabic, keeps its place: "مراجعة من ‹Hind Exemple› · 2 ديسمبر"."""
        return Markup("<bdi>%s</bdi>") % (text if text not in (None, "") else "—")

    @app.template_filter("inline_code")
    def _inline_code(text):
        """A description written in Markdown's manner (the API's): `code` spans shown as code, the rest escaped."""
        parts = str(text or "").split("`")
        if len(parts) % 2 == 0:  # an unclosed backtick: nothing to pair, shown as written
            return escape(text or "")
        return Markup("").join(
            Markup("<code>%s</code>") % part if index % 2 else escape(part) for index, part in enumerate(parts)
        )

    @app.template_filter("lines")
    def _lines(text):
        """A user's multi-line text, each line taking its own direction (dir="auto" per line): an Arabic
        paragraph after a French one reads right-to-left, whatever the first line was."""
        if not text:
            return ""
        return Markup("").join(
            Markup('<div dir="auto">%s</div>') % line if line.strip() else Markup("<br>")
            for line in str(text).replace("\r\n", "\n").split("\n")
        )

    @app.template_filter("keep_references")
    def _keep_references(text):
        """Agreement references ("MTNRA-2025-010") kept whole on one line and left-to-right, so an Arabic
        heading never breaks one at its hyphens."""
        escaped = escape(text or "")
        return Markup(
            REFERENCE.sub(lambda m: f'<span dir="ltr" style="white-space:nowrap">{m.group(0)}</span>', str(escaped))
        )

    @app.template_filter("mentions")
    def _mentions(text):
        """A message's text with each @mention isolated left to right: in an Arabic message a bare one read
        "name@example.org@" (mentions_isolated is the plain-text twin, for notices and e-mails)."""
        return Markup(MENTION.sub(lambda m: f'<bdi dir="ltr">{m.group(0)}</bdi>', str(escape(text or ""))))

    @app.template_filter("in_its_language")
    def _in_its_language(obj, field: str = "title"):
        """An agreement's or a deliverable's `field` in the reader's language, or in the one it was written
        in: isolated, its direction its own, and named (lang) when it is not the page's, so an Arabic-only
        title on a French page reads from the right and is read out in Arabic. With no text in any language,
        the object's own (an agreement's reference)."""
        text, language = localized_with_language(obj, field)
        if text is None:
            return Markup("<bdi>%s</bdi>") % getattr(obj, field)
        if language == current_language():
            return Markup("<bdi>%s</bdi>") % text
        return Markup('<bdi lang="%s" dir="auto">%s</bdi>') % (language, text)

    @app.template_filter("filesizeformat")
    def _file_size(size):
        """A file's size in the reader's language and digits: "607 octets", "1,2 Mo", "607 بايت"."""
        return format_file_size(size)

    app.add_template_filter(stored_texts.shown, "stored_text")

    @app.template_filter("when")
    def _format_moment(value, style: str | None = None):
        """A date and time, one style per language: "2 déc. 2026, 09:05", "2 Dec 2026, 09:05",
        "٢ ديسمبر ٢٠٢٦ ٩:٠٥" (Babel's skeleton for the reader's locale, the ministry's time zone, no seconds)."""
        return format_moment(value)

    app.add_template_global(languages_for_reader)

    @app.template_global()
    def url_with(**changes):
        """The current URL with some query arguments replaced (for filters and pages)."""
        args = _query_args(leaving_out=request.view_args or {})
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = [value]
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    @app.template_global()
    def url_with_query(endpoint: str, **values):
        """`endpoint` carrying the current query (the filters on screen) without its page number:
        the export of the list being shown."""
        args = _query_args(leaving_out={"page", *values})
        return url_for(endpoint, **values, **args)  # type: ignore[arg-type]  # lists are query values

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # No page uses a camera, microphone, location or payment; another window keeps no handle on ours.
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        )
        if app.config["HSTS_SECONDS"]:
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={app.config['HSTS_SECONDS']}; includeSubDomains"
            )
        if request.endpoint != "static" and "no-store" not in response.headers.get("Cache-Control", ""):
            # Nothing but the static assets stays in a browser's or a proxy's cache: every page is
            # either private or carries a CSRF token (a shared computer's back button, a caching proxy).
            response.headers["Cache-Control"] = "no-store"
            response.headers.pop("Expires", None)
        return response


def written_date(value, style: str = "medium"):
    """A date as the reader reads it (the `date` filter): in their language, one style per language; an
    ISO date kept in JSON is read first. Asked in Python by a page that writes the same date in several
    places (the timeline)."""
    if not value:
        return ""
    if isinstance(value, str):  # ISO dates kept in JSON (notifications, digests)
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    if style == "short":  # "12/1/26" reads differently in every country: one style per language
        style = "medium"
    if type(value) is not date:  # a moment is dated in the reader's time zone: written each time
        return format_date(value, style)
    locale = reader_locale()
    return _written_dates.get(
        (value, style, locale),
        lambda: first_of_month_in_french(format_date(value, style), value, str(locale or "")),
    )


def _translations(context):
    """The catalogue of the page being drawn (its language, or the one forced around its rendering), looked
    up once by the context processor; macros imported without the page's context look it up themselves."""
    found = context.get("page_translations")
    return found if found is not None else reader_translations()


@pass_context
def _gettext(context, string):
    return _translations(context).ugettext(string)


@pass_context
def _ngettext(context, singular, plural, n):
    return _translations(context).ungettext(singular, plural, n)


@pass_context
def _pgettext(context, message_context, string):
    return _translations(context).upgettext(message_context, string)


@pass_context
def _npgettext(context, message_context, singular, plural, n):
    return _translations(context).unpgettext(message_context, singular, plural, n)


# Dates as written by Babel, by (date, style, language): writing one costs more than the rest of its row,
# and a timeline writes each of its hundreds of dates three times. Days in use and languages are few.
_written_dates = BoundedCache(4096)

# Links built by _page_url_for, by (where the app is mounted, endpoint, static file): a few hundred at most
# (the mount point comes from the server, which could vary it, hence a bound).
_built_urls = BoundedCache(2048)


def _page_url_for(endpoint: str, **values) -> str:
    """`url_for` for templates. A link with no arguments (the menus' pages) or to a static file is the same
    on every page for where the app is mounted, so it is built once per process; any other link, and any
    link outside a request, is built by Flask as usual."""
    filename = values.get("filename") if endpoint == "static" and len(values) == 1 else None
    if (values and not isinstance(filename, str)) or endpoint.startswith(".") or not has_request_context():
        return url_for(endpoint, **values)
    return _built_urls.get((request.script_root, endpoint, filename), lambda: url_for(endpoint, **values))


# A number no page links to, standing for the id in a link built once by links_to.
_ANY_ID = 918_273_645_546_372_819


def links_to(endpoint: str, argument: str, **options: Any) -> Callable[[int], str]:
    """Links to `endpoint` for many ids at the price of one url_for: the link is built once with a
    placeholder id, then each id takes its place (a calendar or a board links hundreds of rows to one
    page). Same links as url_for(endpoint, **{argument: id}, **options) (options such as _anchor)."""
    built = url_for(endpoint, **{**options, argument: _ANY_ID})
    if built.count(str(_ANY_ID)) != 1:  # unreachable for Sharaka's routes; Flask knows best then
        return lambda id_: url_for(endpoint, **{**options, argument: id_})
    before, after = built.split(str(_ANY_ID))
    return lambda id_: f"{before}{int(id_)}{after}"


def _query_args(leaving_out) -> dict[str, list[str]]:
    """The current query's arguments, each with all its values, to build a link that keeps them; without
    `leaving_out`, and without what url_for would read as its own options rather than the query's:
    `endpoint` (its first argument) and `_anchor`, `_external`, `_scheme`…"""
    return {
        key: values
        for key, values in request.args.to_dict(flat=False).items()
        if key != "endpoint" and not key.startswith("_") and key not in leaving_out
    }
