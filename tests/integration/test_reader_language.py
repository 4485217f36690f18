"""The reader's words found once per request (app/core/i18n.py) say what Flask-Babel says: in the
request's language, inside force_locale, after it, and after refresh() when the language changes."""

import flask_babel
from flask import session

from app.core import i18n


def _same_as_babel(expected_language: str) -> None:
    assert i18n.current_language() == expected_language
    assert i18n.reader_locale() is flask_babel.get_locale()
    assert i18n.gettext("Save") == flask_babel.gettext("Save")
    assert i18n.ngettext("%(num)s byte", "%(num)s bytes", 3) == flask_babel.ngettext("%(num)s byte", "%(num)s bytes", 3)
    assert i18n.pgettext("between the items of a list", ", ") == flask_babel.pgettext(
        "between the items of a list", ", "
    )


def test_words_follow_the_request_forced_and_refreshed_language(app):
    with app.test_request_context("/", headers={"Accept-Language": "ar"}):
        _same_as_babel("ar")
        arabic = i18n.gettext("Save")
        assert arabic == "حفظ"
        with flask_babel.force_locale("fr"):
            _same_as_babel("fr")
            assert i18n.gettext("Save") == "Enregistrer"
            assert i18n.ngettext("%(num)s byte", "%(num)s bytes", 3) == "3\u00a0octets"
            with flask_babel.force_locale("en"):
                _same_as_babel("en")
                assert i18n.gettext("Save") == "Save"
            _same_as_babel("fr")
        _same_as_babel("ar")
        assert i18n.gettext("Save") == arabic
        session["language"] = "fr"  # as the language switch does, then refresh() for the rest of the request
        flask_babel.refresh()
        _same_as_babel("fr")


def test_words_outside_a_request_are_the_default_language(app):
    with app.app_context():
        assert i18n.gettext("Save") == flask_babel.gettext("Save")
        assert i18n.current_language() == app.config["BABEL_DEFAULT_LOCALE"]
