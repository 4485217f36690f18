"""Language selection and helpers for fields stored in several languages."""

from __future__ import annotations

import copy
import re
from functools import cache

from babel import Locale
from flask import current_app, g, has_app_context, has_request_context, request, session
from flask_babel import get_locale, get_translations

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
    kept = request.cookies.get(LANGUAGE_COOKIE)
    if kept is not None and kept in languages:
        return kept
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


# The reader's language outlives their sign-in: once the session's cookie has ended, the sign-in page and
# the refusals before it spoke the browser's language (English to an Arabic reader whose session expired).
LANGUAGE_COOKIE = "sharaka_language"
LANGUAGE_COOKIE_DAYS = 365


def remember_language(response):
    """After a page: the language its reader chose (their account's, or the switch's for a visitor), kept in a
    cookie of its own when it changed. Never one the browser's Accept-Language gave, which stays free to
    change. The person is the one this request loaded, never loaded here: a 503 page drawn while the database
    is away must not ask it."""
    if response.mimetype != "text/html" or request.path.startswith("/api/"):
        return response
    user = g.get("_login_user")  # Flask-Login's, once loaded for this request
    chosen = user.language if user is not None and user.is_authenticated else session.get("language")
    if chosen in current_app.config["LANGUAGES"] and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=LANGUAGE_COOKIE_DAYS * 24 * 3600,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
    return response


def reader_locale() -> Locale | None:
    """The locale of this request (the reader's, or the one force_locale set), read where Flask-Babel keeps
    it once chosen: one lookup of `g` where get_locale makes three (3.2 → 1.7 µs). A page asks hundreds of
    times: every field shown in the reader's language."""
    locale = getattr(_babel_state(), "babel_locale", None)
    return locale if locale is not None else get_locale()


def reader_translations():
    """The catalogue of reader_locale(), kept beside the locale it was found for: force_locale and
    refresh() replace the locale, and the next call finds the catalogue again."""
    state = _babel_state()
    kept = getattr(state, "sharaka_translations", None)
    if kept is not None and kept[0] is getattr(state, "babel_locale", None):
        return kept[1]
    translations = get_translations()
    state = _babel_state()  # get_translations made it, on a request's first word
    if state is not None:
        state.sharaka_translations = (getattr(state, "babel_locale", None), translations)
    return translations


def _babel_state():
    """Flask-Babel's per-context namespace (its locale, once chosen), or None."""
    return g.get("_flask_babel") if has_app_context() else None


def gettext(string: str, **variables) -> str:
    """Flask-Babel's gettext, with the catalogue found once per request (reader_translations)."""
    text = reader_translations().ugettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    return reader_translations().ungettext(singular, plural, num) % variables


def pgettext(context: str, string: str, **variables) -> str:
    text = reader_translations().upgettext(context, string)
    return text % variables if variables else text


def current_language() -> str:
    locale = reader_locale()
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
    return localized_with_language(obj, field, language)[0]


def localized_with_language(obj, field: str, language: str | None = None) -> tuple[str | None, str | None]:
    """`localized`, and the language of the text it found (None for none)."""
    language = language or current_language()
    for lang in FALLBACK_ORDER.get(language, ("fr", "en", "ar")):
        value = getattr(obj, f"{field}_{lang}", None)
        if value:
            return value, lang
    return None, None


def list_separator() -> str:
    """What goes between the items of a list in the reader's language: a Latin comma reads wrongly in
    Arabic ("،")."""
    return pgettext("between the items of a list", ", ")


def list_of(items) -> str:
    """Items joined as the reader's language writes a list, for a sentence made in Python."""
    return list_separator().join(str(item) for item in items)


def isolate(value, language: str | None = None) -> str:
    """In Arabic, a Latin reference or name inside a sentence is wrapped in Unicode
    isolates (FSI … PDI) so the bidi algorithm does not reorder it with its surroundings."""
    text = str(value if value is not None else "")
    return f"\u2068{text}\u2069" if text and (language or current_language()) == "ar" else text


def names_listed(names, most: int | None = None) -> str:
    """Names (agreement references, say) for a sentence: written as the reader's language writes a list,
    each isolated (in Arabic the first then stays first, read from the right, where Latin references
    joined by a Latin comma had run together left to right); with `most`, the first `most` and "…" after
    them when there are more. Pages write them with the references_listed macro (macros/ui.html)."""
    names = list(names)
    shown = names if most is None else names[:most]
    return list_of([*(isolate(name) for name in shown), *(["…"] if len(shown) < len(names) else [])])


# A currency written as its code against its figures ("MAD8,000,000.00"): CLDR's currency spacing, which
# Babel does not apply, puts a no-break space between a letter and a digit.
_CODE_AGAINST_DIGIT = re.compile(r"(?<=[A-Za-z])(?=[-\d])|(?<=\d)(?=[A-Za-z])")


def written_amount(amount, currency: str, *, most_decimals: int | None = None) -> str:
    """An exact amount in its currency, written the reader's way (MAD 8,000,000.00, 8 000 000,00 MAD,
    ‏8,000,000.00 د.م.‏ isolated right to left). With `most_decimals`, a currency that has more (TND, KWD: 3)
    is written with that many: what is kept with 2 decimals is not shown as 1,000.120, a third decimal it
    never had."""
    from babel.numbers import get_currency_precision
    from flask_babel import format_currency

    if most_decimals is None or get_currency_precision(currency) <= most_decimals:
        written = format_currency(amount, currency)
    else:
        locale = get_locale()
        pattern = copy.copy(locale.currency_formats["standard"])
        pattern.frac_prec = (most_decimals, most_decimals)
        written = pattern.apply(amount, locale, currency=currency, currency_digits=False)
    written = _CODE_AGAINST_DIGIT.sub("\u00a0", written)
    # Isolated right to left in Arabic: its figures then its currency, read from the right whatever
    # surrounds it. Set left to right, "د.م." had come left of the figures and "€" right of them, in one column.
    return f"\u2067{written}\u2069" if text_direction() == "rtl" else written
