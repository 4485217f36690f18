"""The reader's words found once per request (app/core/i18n.py) say what Flask-Babel says: in the
request's language, inside force_locale, after it, and after refresh() when the language changes."""

import re

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


def test_a_form_sent_after_the_sign_in_ended_says_so_in_the_readers_language(app, world, signed_in):
    """An Arabic officer's session ends while an agreement's form is open (the cookie gone): the form sent had
    answered "the form had expired" and sent them to sign in, in the browser's English, what they typed lost.
    The page now says that the sign-in ended and nothing was saved, in the language they read (kept in a cookie
    of its own), and signs in again to the form's page (where the tab puts back what was typed: the browser
    test)."""
    from app.core.i18n import LANGUAGE_COOKIE
    from app.extensions import db

    world.users["officer"].language = "ar"
    db.session.commit()
    client = signed_in("officer")
    edit = f"/agreements/{world.agreement_a.id}/edit"
    page = client.get(edit)
    assert page.status_code == 200
    kept = client.http.get_cookie(LANGUAGE_COOKIE)
    assert kept is not None and kept.value == "ar"
    token = client.csrf(edit)
    client.http.delete_cookie("session")  # the sign-in ends; the language's own cookie stays
    typed = "ملاحظة داخلية: مراجعة البند الرابع قبل الاجتماع"
    answer = client.http.post(
        edit,
        data={"csrf_token": token, "internal_notes": typed, "version": "3", "password_check": "secret"},
        headers={"Referer": "http://localhost" + edit, "Accept-Language": "en"},
    )
    text = answer.get_data(as_text=True)
    assert answer.status_code == 401 and 'lang="ar"' in text
    assert "انتهى تسجيل دخولك" in text and "data-sign-in-ended" in text
    assert typed not in text and "secret" not in text  # what was typed waits in the tab, not in the page
    assert re.search(r'href="/sign-in\?next=[^"]*"', text).group(0) == f'href="/sign-in?next={edit}"'


def test_a_form_sent_after_the_sign_in_was_ended_elsewhere_says_so_too(app, world, signed_in):
    """The session ended on the server (from another browser, a password changed) while its cookie is still
    there: the form had been sent to sign in with what it held lost. It is answered as one whose cookie went;
    a page asked then still leads to signing in and back."""
    from app.auth import sessions
    from app.extensions import db

    client = signed_in("officer")
    edit = f"/agreements/{world.agreement_a.id}/edit"
    token = client.csrf(edit)
    sessions.end_all(world.users["officer"], "ended elsewhere")
    db.session.commit()
    answer = client.http.post(edit, data={"csrf_token": token, "notes": "Une note"})
    assert answer.status_code == 401 and "data-sign-in-ended" in answer.get_data(as_text=True)
    page = client.http.get(edit)
    assert page.status_code == 302 and page.headers["Location"].startswith("/sign-in?next=")


def test_a_title_written_in_another_language_than_the_pages_says_which(world, signed_in):
    """An agreement titled in Arabic alone, on a French list, was drawn without lang or dir: it now names its
    language and takes its own direction; a title in the page's language needs neither."""
    from app.extensions import db

    world.users["officer"].language = "fr"
    agreement = world.agreement_a
    agreement.title_ar, agreement.title_fr, agreement.title_en = "اتفاقية التعاون الرقمي", None, None
    db.session.commit()
    page = signed_in("officer").get("/agreements/").get_data(as_text=True)
    assert '<bdi lang="ar" dir="auto">اتفاقية التعاون الرقمي</bdi>' in page
    assert '<bdi lang="fr"' not in page  # the page's own language goes without saying
