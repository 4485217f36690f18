"""What every HTML page pays: the parts drawn once per process (the top bar's menu, translation
catalogues) must still follow the reader's language, permissions and page."""

from __future__ import annotations

import re

import pytest

from app.core import menu
from app.core.bounded import BoundedCache
from app.extensions import db


def menu_of(page: str) -> str:
    return page[page.index('id="main-menu"') : page.index("language-form")]


def open_links(page: str) -> list[str]:
    return re.findall(r'class="(?:nav-link|dropdown-item) active" href="([^"]+)"\s*aria-current="page"', menu_of(page))


def test_the_menu_follows_a_language_switch(signed_in):
    client = signed_in("officer")
    assert ">Agreements\n" in menu_of(client.get("/notifications").get_data(as_text=True))
    for language, label in (("fr", "Accords"), ("ar", "الاتفاقيات"), ("en", "Agreements")):
        client.post("/language", data={"language": language, "next": "/notifications"}, csrf_from="/notifications")
        menu_html = menu_of(client.get("/notifications").get_data(as_text=True))
        assert f">{label}\n" in menu_html, language
        assert ("Accords" in menu_html) == (language == "fr")


def test_the_menu_follows_a_change_of_role_at_once(signed_in, world):
    officer = world.users["officer"]
    client = signed_in("officer")
    assert 'href="/admin/users"' not in menu_of(client.get("/notifications").get_data(as_text=True))
    officer.role = "admin"
    db.session.commit()
    assert 'href="/admin/users"' in menu_of(client.get("/notifications").get_data(as_text=True))
    officer.role = "partner"
    officer.organization_id = world.partner_a.id
    db.session.commit()
    partner_menu = menu_of(client.get("/notifications").get_data(as_text=True))
    assert 'href="/admin/users"' not in partner_menu and 'href="/dashboard"' not in partner_menu


def test_the_menu_marks_the_section_of_each_page(signed_in):
    client = signed_in("admin")
    assert open_links(client.get("/agreements/").get_data(as_text=True)) == ["/agreements/"]
    assert open_links(client.get("/deliverables/").get_data(as_text=True)) == ["/deliverables/"]
    assert open_links(client.get("/notifications").get_data(as_text=True)) == []
    assert open_links(client.get("/organizations/").get_data(as_text=True)) == ["/organizations/"]


def test_the_menu_is_drawn_once_per_key(signed_in, monkeypatch):
    client = signed_in("manager")
    client.get("/notifications")
    drawn = []
    draw = menu._draw
    monkeypatch.setattr(menu, "_DRAWN", BoundedCache(8))
    monkeypatch.setattr(menu, "_draw", lambda marks: drawn.append(marks) or draw(marks))
    first = client.get("/notifications").get_data(as_text=True)
    assert len(drawn) == 1
    second = client.get("/notifications").get_data(as_text=True)
    assert len(drawn) == 1 and menu_of(first) == menu_of(second)
    client.get("/agreements/")
    assert len(drawn) == 2


def test_form_messages_follow_the_language_of_each_request(client):
    """WTForms' own messages come from a catalogue read once per language: each request still gets its own."""
    for language, message in (
        ("fr", "Ce champ est obligatoire."),
        ("en", "This field is required."),
        ("ar", "هذا الحقل مطلوب."),
        ("fr", "Ce champ est obligatoire."),
    ):
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
        page = client.get("/sign-in").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        answer = client.post("/sign-in", data={"email": "", "password": "", "csrf_token": token})
        assert message in answer.get_data(as_text=True), language


def test_page_text_follows_a_language_forced_around_a_rendering(app):
    """The page's translations are found once per rendering, in the language in force at that moment."""
    from flask import render_template_string
    from flask_babel import force_locale

    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert render_template_string("{{ _('Agreements') }}") == "Agreements"
        with force_locale("fr"):
            assert render_template_string("{{ _('Agreements') }}") == "Accords"
        plural = "{% trans count=3 %}{{ count }} user{% pluralize %}{{ count }} users{% endtrans %}"
        assert render_template_string(plural) == "3 users"
        with force_locale("fr"):
            assert render_template_string(plural) == "3\u00a0utilisateurs"
        assert render_template_string("{{ _('Agreements') }}") == "Agreements"


def test_links_built_once_still_follow_where_the_app_is_mounted(signed_in):
    """Menu links and static files are built once per mount point: a page served under a prefix links there,
    and the next page served at the root links to the root."""
    client = signed_in("admin")
    at_root = client.get("/notifications").get_data(as_text=True)
    mounted = client.get("/notifications", base_url="http://localhost/sharaka/").get_data(as_text=True)
    again = client.get("/notifications").get_data(as_text=True)
    for page, prefix in ((at_root, ""), (mounted, "/sharaka"), (again, "")):
        assert f'href="{prefix}/static/css/sharaka.css"' in page
        assert f'<script src="{prefix}/static/js/sharaka.js"' in page
        assert f'class="nav-link" href="{prefix}/agreements/"' in menu_of(page)
        assert f'action="{prefix}/language"' in page
    assert "/sharaka/" not in again


@pytest.mark.parametrize("base_url", ["http://localhost/", "http://localhost/sharaka/"])
def test_links_made_for_many_ids_are_flasks_links(app, base_url):
    """templating.links_to builds a link once and puts each id in it: the same links as url_for, under a
    prefix too."""
    from flask import url_for

    from app.core.templating import links_to

    with app.test_request_context("/", base_url=base_url):
        for endpoint, argument in (
            ("agreements.view_agreement", "agreement_id"),
            ("deliverables.view_occurrence", "occurrence_id"),
        ):
            link = links_to(endpoint, argument)
            to_form = links_to(endpoint, argument, _anchor="action-submit_for_review")
            for id_ in (1, 7, 10, 123456):
                assert link(id_) == url_for(endpoint, **{argument: id_})
                assert to_form(id_) == url_for(endpoint, **{argument: id_}, _anchor="action-submit_for_review")


def test_a_date_is_written_once_per_style_and_language(app, monkeypatch):
    """The date filter keeps what Babel wrote for a day, a style and a language: a page that shows a date
    three times writes it once, and the same day still reads in each reader's language."""
    from datetime import date

    from flask import render_template_string
    from flask_babel import force_locale

    from app.core import templating
    from app.core.bounded import BoundedCache

    written = []
    babel_writes = templating.format_date
    monkeypatch.setattr(templating, "_written_dates", BoundedCache(16))
    monkeypatch.setattr(
        templating, "format_date", lambda value, style: written.append(style) or babel_writes(value, style)
    )
    page = "{{ day|date }} · {{ day|date }} · {{ day|date('long') }}"
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        english = render_template_string(page, day=date(2026, 3, 1))
        with force_locale("fr"):
            french = render_template_string(page, day=date(2026, 3, 1))
        assert render_template_string(page, day=date(2026, 3, 1)) == english
    assert english == "Mar 1, 2026 · Mar 1, 2026 · March 1, 2026"
    assert french == "1er mars 2026 · 1er mars 2026 · 1er mars 2026"  # French writes the first as an ordinal
    assert written == ["medium", "long", "medium", "long"]


@pytest.mark.parametrize(
    ("role", "url", "module", "service"),
    [
        ("manager", "/dashboard", "app.reporting.dashboards.services", "portfolio_home"),
        ("officer", "/dashboard", "app.reporting.dashboards.services", "officer_home"),
        ("manager", "/portfolio/board", "app.reporting.portfolio.routes", "build_board"),
        ("manager", "/portfolio/timeline", "app.reporting.portfolio.routes", "build_timeline"),
        ("manager", "/portfolio/calendar", "app.reporting.portfolio.routes", "build_month"),
        ("manager", "/portfolio/analytics", "app.reporting.portfolio.routes", "build_report"),
    ],
)
def test_the_heavy_pages_hand_their_services_the_reader_not_a_proxy(signed_in, monkeypatch, role, url, module, service):
    """Flask-Login's proxy looks the user up again on every attribute read: a board asks about its reader
    for each move of each card, so the services get the user itself."""
    import importlib

    from app.auth.models import User

    target = importlib.import_module(module)
    real = getattr(target, service)
    readers = []
    monkeypatch.setattr(
        target, service, lambda user, *args, **kwargs: readers.append(user) or real(user, *args, **kwargs)
    )
    assert signed_in(role).get(url).status_code == 200
    assert [type(reader) for reader in readers] == [User]


def test_the_timeline_writes_each_bars_dates_once(app, signed_in, world, monkeypatch):
    """A bar's dates appear in its label, its tooltip and its table row: written once per bar (Bar.start_text,
    end_text), not once per place by the template's date filter."""
    from app.core.templating import written_date

    filtered = []
    date_filter = app.jinja_env.filters["date"]
    monkeypatch.setitem(
        app.jinja_env.filters, "date", lambda value, *style: filtered.append(value) or date_filter(value, *style)
    )
    page = signed_in("manager").get("/portfolio/timeline").get_data(as_text=True)
    signed = [agreement for agreement in (world.agreement_a, world.agreement_b) if agreement.signed_on]
    assert signed
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        for agreement in signed:
            assert page.count(f'<time datetime="{agreement.signed_on.isoformat()}">') >= 2
            assert written_date(agreement.signed_on) in page
    assert filtered == []  # grouped by partner, nothing else on the page is a date
