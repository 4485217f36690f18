"""Pages people use every day without help (#16): confirmations from the definitions, the partner's
short menu and "your turn", the Arabic-first default, the sign-in page."""
from __future__ import annotations

from io import BytesIO

from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.workflow import engine, services as workflow_services
from tests import factories


def test_moves_into_a_final_state_confirm_by_default_and_the_definition_may_say_otherwise():
    definition = engine.current_definitions()["mou"]
    confirmed = {t.name for t in definition.transitions if t.confirm}
    assert {"close", "terminate", "cancel", "expire"} <= confirmed
    assert not confirmed & {"submit_for_review", "open_signature", "activate", "suspend", "resume"}
    for transition in definition.transitions:
        assert transition.confirm == (definition.states[transition.target].kind == "final")


def test_an_active_agreements_final_moves_open_a_confirmation_and_none_is_the_primary_button(world, signed_in):
    page = signed_in("manager").get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    close = page[page.index('id="action-close"'):]
    close = close[:close.index("</li>")]
    assert "<details" in close and "btn-primary" not in close
    assert "which is final" in close and "Yes: Close" in close
    terminate = page[page.index('id="action-terminate"'):]
    terminate = terminate[:terminate.index("</li>")]
    assert "<details" in terminate and "which is final" in terminate and "required" in terminate


def test_the_partner_menu_is_short_and_the_portal_lists_drafts_to_answer(world, signed_in):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], state="negotiation",
                                    title_fr="Texte à négocier")
    db.session.commit()
    upload = FileStorage(BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="projet.pdf", content_type="application/pdf")
    workflow_services.send_version(agreement, by=world.users["officer"], upload=upload, note=None,
                                   expected_version=agreement.version)
    db.session.commit()
    portal = signed_in("partner").get("/portal").get_data(as_text=True)
    assert "Your turn: answer a draft" in portal and agreement.reference in portal
    menu = portal[portal.index('class="navbar-nav'):portal.index("</ul>", portal.index('class="navbar-nav'))]
    assert "/portfolio/board" not in menu and "/inbox" not in menu
    assert agreement.reference not in signed_in("partner_b").get("/portal").get_data(as_text=True)


def test_a_fresh_install_speaks_arabic_and_the_sign_in_page_says_so_first(app, database_url):
    from tests.conftest import make_test_app

    fresh = make_test_app(database_url, BABEL_DEFAULT_LOCALE="ar")
    page = fresh.test_client().get("/sign-in").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert page.index('lang="ar" dir="rtl">منصّة') < page.index("<h1")
    import os

    from config import Config
    configured = os.environ.get("DEFAULT_LANGUAGE") or os.environ.get("BABEL_DEFAULT_LOCALE")
    assert Config.BABEL_DEFAULT_LOCALE == (configured or "ar")  # Arabic unless the install says otherwise


def test_user_text_is_isolated_line_by_line_and_bylines_keep_names_apart(app):
    from flask import render_template_string
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("ar"):
        html = render_template_string("{{ text|lines }}", text="Note en français\nملاحظة بالعربية\n\nend")
        assert html == ('<div dir="auto">Note en français</div><div dir="auto">ملاحظة بالعربية</div><br>'
                        '<div dir="auto">end</div>')
        assert render_template_string("{{ '<b>'|lines }}") == '<div dir="auto">&lt;b&gt;</div>'
        byline = render_template_string("{{ _('Review by %(name)s', name=bidi(name)) }}", name="Hind <x>")
        assert "<bdi>Hind &lt;x&gt;</bdi>" in byline


def test_moments_have_one_style_per_language_without_seconds_or_iso(app):
    from datetime import datetime

    from flask import render_template_string
    from flask_babel import force_locale

    moment = datetime(2026, 12, 1, 8, 5, 33)
    with app.test_request_context():
        for language, expected in (("fr", "1 déc. 2026"), ("en", "Dec 1, 2026"), ("ar", "2026")):
            with force_locale(language):
                shown = render_template_string("{{ value|when }}", value=moment)
                assert expected in shown and ":33" not in shown and "T08" not in shown and "AM" not in shown
                assert render_template_string("{{ value|date('short') }}", value=moment.date()) == \
                    render_template_string("{{ value|date }}", value=moment.date())


def test_mail_headings_keep_a_reference_whole(app):
    from flask import render_template_string

    with app.test_request_context():
        html = render_template_string("{{ h|keep_references }}", h="تذكير: MTNRA-2025-010 <متأخر>")
    assert '<span dir="ltr" style="white-space:nowrap">MTNRA-2025-010</span>' in html
    assert "&lt;متأخر&gt;" in html


def test_file_sizes_speak_the_readers_language(app):
    from flask_babel import force_locale

    from app.core.dates import format_file_size

    with app.test_request_context():
        with force_locale("fr"):
            assert [format_file_size(n) for n in (1, 607, 1234, 999_999, 1_234_567)] == [
                "1 octet", "607 octets", "1,2 ko", "1 Mo", "1,2 Mo"]
        with force_locale("ar"):
            assert "بايت" in format_file_size(607) and "Bytes" not in format_file_size(607)
        with force_locale("en"):
            assert format_file_size(607) == "607 bytes" and format_file_size(5 * 10 ** 9) == "5 GB"
