"""Language selection and helpers for fields stored in several languages."""

from __future__ import annotations

from functools import cache

from babel import Locale
from flask import current_app, has_request_context, request, session
from flask_babel import get_locale, pgettext

from app.core.permissions import signed_in_user

RTL_LANGUAGES = {"ar"}
LANGUAGE_NAMES = {"ar": "العربية", "fr": "Français", "en": "English"}


def select_locale() -> Locale:
    """The signed-in user's language, else the one chosen this session, else the browser's."""
    return locale_named(_selected_language())


@cache
def locale_named(code: str) -> Locale:
    """Babel's locale for a language code, parsed once per process (Flask-Babel would parse the code
    that `select_locale` gives on every request)."""
    return Locale.parse(code)


def _selected_language() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    user = signed_in_user()
    if user is not None and user.is_authenticated and user.language in languages:
        return user.language
    chosen = session.get("language")
    if isinstance(chosen, str) and chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale else "fr"


def text_direction() -> str:
    return "rtl" if current_language() in RTL_LANGUAGES else "ltr"


# When a text is missing in the reader's language, French is the ministry's
# working language, then English, then Arabic.
FALLBACK_ORDER = {"ar": ("ar", "fr", "en"), "fr": ("fr", "en", "ar"), "en": ("en", "fr", "ar")}


def languages_for_reader() -> tuple[str, ...]:
    """The three languages, the reader's first (a form's title in each: the one they write in comes first)."""
    return FALLBACK_ORDER.get(current_language(), FALLBACK_ORDER["fr"])


def reader_first(field: str) -> str:
    """The column of `field` in the reader's language (title_ar…): forms show it first, so a "give it in at
    least one language" error is shown under it."""
    return f"{field}_{languages_for_reader()[0]}"


def in_every_language(obj, field: str) -> dict[str, str]:
    """{ar, fr, en}: obj.<field> as `localized` reads it in each language ("" where it has none), its three
    columns read once rather than once per language and fallback (a reminder pass writes thousands)."""
    given: dict[str, str | None] = {}
    for lang, name in _columns_of(field):
        given[lang] = getattr(obj, name, None)
    found: dict[str, str] = {}
    for language, order in FALLBACK_ORDER.items():
        for lang in order:
            value = given[lang]
            if value:
                found[language] = value
                break
        else:
            found[language] = ""
    return found


@cache
def _columns_of(field: str) -> tuple[tuple[str, str], ...]:
    return tuple((lang, f"{field}_{lang}") for lang in FALLBACK_ORDER)


def localized(obj, field: str, language: str | None = None) -> str | None:
    """Return obj.<field>_<lang> in the reader's language, falling back sensibly."""
    language = language or current_language()
    for lang in FALLBACK_ORDER.get(language, ("fr", "en", "ar")):
        value = getattr(obj, f"{field}_{lang}", None)
        if value:
            return value
    return None


def list_separator() -> str:
    """What goes between the items of a list in the reader's language: a Latin comma reads wrongly in
    Arabic ("،")."""
    return pgettext("between the items of a list", ", ")


def list_of(items) -> str:
    """Items joined as the reader's language writes a list, for a sentence made in Python."""
    return list_separator().join(str(item) for item in items)
