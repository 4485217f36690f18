"""Pages people use every day without help (#16): confirmations from the definitions, the partner's
short menu and "your turn", the Arabic-first default, the sign-in page."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from flask_babel import force_locale
from werkzeug.datastructures import FileStorage

from app.audit.fields import LABELS as AUDIT_FIELD_LABELS
from app.core import clock
from app.extensions import db
from app.workflow import engine
from app.workflow import services as workflow_services
from tests import factories


def test_moves_into_a_final_state_confirm_by_default_and_the_definition_may_say_otherwise(app):
    definition = engine.current_definitions()["mou"]
    confirmed = {t.name for t in definition.transitions if t.confirm}
    assert {"close", "terminate", "cancel", "expire"} <= confirmed
    assert not confirmed & {"submit_for_review", "open_signature", "activate", "suspend", "resume"}
    for transition in definition.transitions:
        assert transition.confirm == (definition.states[transition.target].kind == "final")


def test_an_active_agreements_final_moves_open_a_confirmation_and_none_is_the_primary_button(world, signed_in):
    page = signed_in("manager").get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    close = page[page.index('id="action-close"') :]
    close = close[: close.index("</li>")]
    assert "<details" in close and "btn-primary" not in close
    assert "which is final" in close and "Yes: Close" in close
    terminate = page[page.index('id="action-terminate"') :]
    terminate = terminate[: terminate.index("</li>")]
    assert "<details" in terminate and "which is final" in terminate and "required" in terminate


def test_the_partner_menu_is_short_and_the_portal_lists_drafts_to_answer(world, signed_in):
    agreement = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], state="negotiation", title_fr="Texte à négocier"
    )
    db.session.commit()
    upload = FileStorage(BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="projet.pdf", content_type="application/pdf")
    workflow_services.send_version(
        agreement, by=world.users["officer"], upload=upload, note=None, expected_version=agreement.version
    )
    db.session.commit()
    portal = signed_in("partner").get("/portal").get_data(as_text=True)
    assert "Your turn: answer a draft" in portal and agreement.reference in portal
    menu = portal[portal.index('class="navbar-nav') : portal.index("</ul>", portal.index('class="navbar-nav'))]
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
        assert html == (
            '<div dir="auto">Note en français</div><div dir="auto">ملاحظة بالعربية</div><br><div dir="auto">end</div>'
        )
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
                assert render_template_string(
                    "{{ value|date('short') }}", value=moment.date()
                ) == render_template_string("{{ value|date }}", value=moment.date())


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
                "1\u00a0octet",
                "607\u00a0octets",
                "1,2\u00a0ko",
                "1\u00a0Mo",
                "1,2\u00a0Mo",
            ]
        with force_locale("ar"):
            assert "بايت" in format_file_size(607) and "Bytes" not in format_file_size(607)
        with force_locale("en"):
            assert format_file_size(607) == "607 bytes" and format_file_size(5 * 10**9) == "5 GB"


def _late_review(world, days_ago: int = 30):
    """Agreement A waits on the legal adviser and the manager (internal review) since `days_ago` days."""
    from datetime import timedelta

    from app.core.models import utcnow
    from app.workflow.models import ApprovalRound

    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="En revue")
    db.session.commit()
    engine.take(agreement, "submit_for_review", by=world.users["officer"], expected_version=agreement.version)
    db.session.commit()
    round_ = db.session.scalars(db.select(ApprovalRound).where(ApprovalRound.agreement_id == agreement.id)).one()
    round_.requested_at = agreement.state_entered_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()
    return agreement, round_


def _waiting_on_legal(world, days_ago: int = 30):
    """As _late_review, with the manager's approval given: it waits on the legal adviser only."""
    agreement, round_ = _late_review(world, days_ago=days_ago)
    manager, version = world.users["manager"], agreement.version
    engine.decide(agreement, "approve_review", by=manager, decision="approve", comment=None, expected_version=version)
    db.session.commit()
    return agreement, round_


def test_waiting_for_you_comes_first_on_the_managers_dashboard(world, signed_in):
    agreement, _round = _late_review(world, days_ago=40)
    page = signed_in("manager").get("/dashboard").get_data(as_text=True)
    assert page.index("Waiting for you") < page.index("Agreements by stage")
    waiting = page[page.index("Waiting for you") : page.index("Agreements by stage")]
    assert agreement.reference in waiting and "Approve: Approve for negotiation" in waiting
    assert f"/agreements/{agreement.id}#action-approve_review" in waiting
    assert "Stuck" in waiting  # 40 days in a 10-day stage: more than three times its deadline


def test_a_late_approval_of_someone_else_offers_a_reminder_once_a_day_through_the_outbox(world, signed_in):
    from app.notifications.models import OutboxMessage

    agreement, round_ = _waiting_on_legal(world)
    manager = signed_in("manager")
    page = manager.get("/dashboard").get_data(as_text=True)
    late = page[page.index('id="late-approvals') :]
    assert f"/approvals/{round_.id}/remind" in late and "Send a reminder" in late
    before = db.session.scalar(
        db.select(db.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.to_address == world.users["legal"].email)
    )
    response = manager.post(f"/approvals/{round_.id}/remind", csrf_from="/dashboard")
    assert response.status_code in (302, 303)
    mails = db.session.scalars(
        db.select(OutboxMessage)
        .where(OutboxMessage.to_address == world.users["legal"].email)
        .order_by(OutboxMessage.id)
    ).all()
    assert len(mails) == before + 1 and world.users["manager"].full_name in mails[-1].body_text
    again = manager.post(f"/approvals/{round_.id}/remind", csrf_from="/dashboard", follow_redirects=True)
    assert "already sent today" in again.get_data(as_text=True)
    assert (
        db.session.scalar(
            db.select(db.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.to_address == world.users["legal"].email)
        )
        == before + 1
    )
    # Partners and auditors may not; an unknown round is a 404.
    assert signed_in("partner").post(f"/approvals/{round_.id}/remind", csrf_from="/portal").status_code in (403, 404)
    assert manager.post("/approvals/999999/remind", csrf_from="/dashboard").status_code == 404


def test_an_active_agreement_folds_its_finished_signature_below_the_current_work(world, signed_in):
    from datetime import date

    from app.workflow.models import Signatory

    agreement = world.agreement_a
    agreement.signatories.append(
        Signatory(
            side="partner",
            position=1,
            name="Arthur Mensch",
            organization_id=world.partner_a.id,
            signed_on=date(2025, 7, 1),
        )
    )
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert '<details class="card shadow-sm mb-4 past-stages" id="past-stages">' in page
    folded = page[page.index('id="past-stages"') :]
    assert "Arthur Mensch" in folded and "signature (1 signatory)" in folded
    assert page.index('id="past-stages"') > page.index('id="actions-heading"')
    assert "No signatories were recorded" not in page


def test_the_demo_records_the_signatories_the_reference_names():
    import yaml

    from app.demo.loader import PORTFOLIO_PATH

    entries = {entry["reference"]: entry for entry in yaml.safe_load(PORTFOLIO_PATH.read_text())["agreements"]}
    names = {name for entry in entries.values() for name in (s["name"] for s in entry.get("signatories", []))}
    assert {"Arthur Mensch", "Mohamed Saad Berrada", "Mohamed Fikrat", "Amal El Fallah Seghrouchni"} <= names


def test_the_demo_marks_what_it_invented_where_partners_and_officers_read_it(tmp_path):
    """The press reported MTNRA-2025-010's signing (the Mistral MoU) and its parties, not its deliverables;
    nor MTNRA-2025-004's end date. A probe signed in as UM6P's partner read "ends on 01/07/2030" unmarked
    (the only mark was in notes partners never see). Each invented fact and deliverable carries the
    "illustrative" mark on the agreement page, the lists, the portal and the mail; a reported fact none."""
    import re

    from sqlalchemy import select

    from app.agreements.models import Agreement
    from app.demo.loader import load_demo, read_portfolio
    from app.notifications.messages import detail
    from tests.conftest import SignedInClient, app_on_a_fresh_database

    def fact(page: str, day: str) -> str:  # a key fact's line, found by its date (pages speak each user's language)
        return re.search(rf'<dd><time datetime="{day}">.*?</dd>', page, re.S).group(0)

    with app_on_a_fresh_database(tmp_path, "demo_marks") as (app, _url):
        load_demo()
        db.session.commit()
        passwords = {user["email"]: user["password"] for user in read_portfolio()["users"]}
        ids = {reference: number for reference, number in db.session.execute(select(Agreement.reference, Agreement.id))}

        def client(email: str) -> SignedInClient:
            signed_in = SignedInClient(app, None)
            assert signed_in.sign_in(email, passwords[email]).status_code == 302
            return signed_in

        officer = client("youssef.officer@sharaka.example")
        for reader, reference in (
            (client("rachid.um6p@sharaka.example"), "MTNRA-2025-004"),
            (client("camille.mistral@sharaka.example"), "MTNRA-2025-010"),
            (officer, "MTNRA-2025-004"),
            (officer, "MTNRA-2025-010"),
        ):
            page = reader.get(f"/agreements/{ids[reference]}").get_data(as_text=True)
            if reference == "MTNRA-2025-004":  # its end date (and what happens on it) invented
                assert "data-illustrative" in fact(page, "2030-07-01")  # its end date
                scheduled = re.search(r"<div[^>]*data-scheduled>(.*?)</div>\s*</div>", page, re.S).group(1)
                assert "2030" in scheduled and "data-illustrative" in scheduled
            else:  # signed on the reported day, by the reported parties; its plan invented
                assert "data-illustrative" not in fact(page, "2025-09-12")  # its signature date
                parties = re.search(r'id="parties-heading">(.*?)</h2>', page, re.S).group(1)
                assert "data-illustrative" not in parties
                line = re.search(r'data-deliverable="\d+">.*?</h3>', page, re.S).group(0)
                assert "data-illustrative" in line and "illustrative" in line
        for reader, path in ((officer, "/deliverables/"), (client("camille.mistral@sharaka.example"), "/portal")):
            listed = reader.get(path).get_data(as_text=True)
            assert listed.count("data-illustrative") >= 1, path
        with app.test_request_context(headers={"Accept-Language": "fr"}):
            said = detail("deliverable_due", {"deliverable": {"en": "Report"}, "illustrative": True})
            assert "inventés" in said


def test_a_message_flashed_twice_shows_once(app):
    from flask import flash, render_template

    with app.test_request_context("/"):
        flash("Saved.", "success")
        flash("Saved.", "success")
        flash("Other.", "info")
        html = render_template("errors/generic.html", code=400, title="x", message="x")
    assert html.count("Saved.") == 1 and html.count("Other.") == 1


def test_sentences_the_app_wrote_are_shown_in_the_readers_language_without_a_file_path(app):
    from flask_babel import force_locale

    from app.core.stored_texts import DEMO_HISTORY, shown

    with app.test_request_context():
        with force_locale("fr"):
            assert shown(DEMO_HISTORY).startswith("Données de démonstration")
            old = shown("Loaded from the demo portfolio (app/demo/portfolio.yaml).")
            assert "portfolio.yaml" not in old and old.startswith("Chargé")
            assert shown("Typed by someone") == "Typed by someone"
            assert shown("Lab premises and staff") == "Locaux et personnel du laboratoire"  # a demo budget line
        with force_locale("ar"):
            assert "portfolio.yaml" not in shown("Loaded from the demo portfolio (app/demo/portfolio.yaml).")


def test_the_parent_list_of_the_new_agreement_form_shows_reference_and_title(world, signed_in):
    page = signed_in("officer").get("/agreements/new").get_data(as_text=True)
    parent = page[page.index('name="parent_id"') :]
    parent = parent[: parent.index("</select>")]
    assert f"{world.agreement_a.reference} — Accord avec A" in parent


def test_every_missing_required_field_is_reported_on_the_first_submit(world, signed_in):
    import re

    response = signed_in("officer").post(
        "/agreements/new", data={"type": "", "title_fr": ""}, csrf_from="/agreements/new"
    )
    assert response.status_code == 422
    errors = re.findall(r"invalid-feedback[^>]*>\s*([^<]+)", response.get_data(as_text=True))
    assert "Give a title in at least one language." in errors
    assert "Name at least one partner organisation." in errors
    assert any("required" in message for message in errors)  # the type


def test_the_parties_are_searchable_lists_that_find_a_name_in_any_language(world, signed_in):
    page = signed_in("officer").get("/agreements/new").get_data(as_text=True)
    partners = page[
        page.rindex("<select", 0, page.index('id="partners"')) : page.index("</select>", page.index('id="partners"'))
    ]
    assert "data-searchable" in partners and "multiple" in partners
    # Without JavaScript the help says how to choose several; the enhanced list says how to type.
    assert "Hold Ctrl (or Cmd) to choose several." in page and 'data-search-help="Type a name' in partners
    assert f'data-search="{world.partner_a.search_text}"' in partners
    assert "tom-select.complete.min.js" in page and "cdn" not in page.lower()


def test_a_manager_hands_someone_elses_late_approval_to_a_colleague_as_a_delegation(world, signed_in):
    from datetime import timedelta

    from app.core.audit import history_for
    from app.notifications.models import OutboxMessage
    from app.workflow.models import Delegation

    agreement, round_ = _waiting_on_legal(world)
    stand_in = factories.user("legal", world.ministry)
    db.session.commit()
    manager = signed_in("manager")
    late = manager.get("/dashboard").get_data(as_text=True)
    late = late[late.index('id="late-approvals') :]
    assert f"/approvals/{round_.id}/reassign" in late and "Reassign / delegate" in late

    # The agreement's own approvals panel offers it too, on the step that waits.
    assert f"/approvals/{round_.id}/reassign" in manager.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "/reassign" not in signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    form = manager.get(f"/approvals/{round_.id}/reassign").get_data(as_text=True)
    assert world.users["legal"].full_name in form and stand_in.full_name in form
    # Whoever asked for the approval may not take it (four-eyes), nor may partners or auditors.
    takers = form[form.index('name="to_id"') : form.index("</select>", form.index('name="to_id"'))]
    assert world.users["officer"].full_name not in takers and world.users["auditor"].full_name not in takers

    # Every wrong field is said at once; nothing is created.
    bad = manager.post(
        f"/approvals/{round_.id}/reassign",
        data={"from_id": world.users["officer"].id, "to_id": stand_in.id, "ends_on": "2000-01-01"},
    )
    assert bad.status_code == 422 and "The last day cannot be before today." in bad.get_data(as_text=True)
    assert "Choose someone this approval waits on." in bad.get_data(as_text=True)
    odd = manager.post(
        f"/approvals/{round_.id}/reassign", data={"from_id": "x", "to_id": str(10**20), "ends_on": "soon"}
    )
    assert odd.status_code == 422
    assert db.session.scalar(db.select(db.func.count()).select_from(Delegation)) == 0

    until = clock.today() + timedelta(days=5)
    response = manager.post(
        f"/approvals/{round_.id}/reassign",
        data={"from_id": world.users["legal"].id, "to_id": stand_in.id, "ends_on": until.isoformat()},
    )
    assert response.status_code == 303
    delegation = db.session.scalars(db.select(Delegation)).one()
    assert (delegation.delegator_id, delegation.delegate_id, delegation.ends_on) == (
        world.users["legal"].id,
        stand_in.id,
        until,
    )
    assert "approval_reassigned" in {event.action for event in history_for("agreements", agreement.id)}
    mail = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.to_address == stand_in.email)).one()
    assert world.users["manager"].full_name in mail.body_text and "/approvals/by-mail/" in mail.body_text
    # Handed over past its deadline: since when it is late, not "please decide by" a day gone.
    assert "This step is late since" in mail.body_text and "Please decide by" not in mail.body_text
    # The colleague now approves it, counted as the legal adviser's approval.
    engine.decide(
        agreement, "approve_review", by=stand_in, decision="approve", comment=None, expected_version=agreement.version
    )
    db.session.commit()
    assert agreement.state == "negotiation"


def test_handing_an_approval_again_to_who_holds_it_says_why_it_is_refused(world, signed_in):
    """The delegation's own refusal (that colleague already holds these approvals) names a field the reassign
    form does not have: the page had said only "Please correct the errors below", with nothing below."""
    agreement, round_ = _waiting_on_legal(world)
    stand_in = factories.user("legal", world.ministry)
    db.session.commit()
    manager = signed_in("manager")
    handed = {"from_id": world.users["legal"].id, "to_id": stand_in.id, "ends_on": clock.today().isoformat()}
    assert manager.post(f"/approvals/{round_.id}/reassign", data=handed).status_code == 303
    again = manager.post(f"/approvals/{round_.id}/reassign", data=handed, follow_redirects=True)
    assert again.status_code == 422
    assert f"{stand_in.full_name} already holds these approvals from" in again.get_data(as_text=True)


def test_only_managers_and_admins_reassign_and_an_unknown_approval_is_a_404(world, signed_in):
    _agreement, round_ = _late_review(world)
    for role in ("officer", "legal", "auditor"):
        assert signed_in(role).get(f"/approvals/{round_.id}/reassign").status_code == 403
    assert signed_in("partner").get(f"/approvals/{round_.id}/reassign").status_code in (403, 404)
    assert signed_in("manager").get("/approvals/999999/reassign").status_code == 404
    page = signed_in("officer").get("/dashboard").get_data(as_text=True)
    assert "/reassign" not in page


def test_an_approval_nobody_can_give_any_more_is_said_where_people_look(world, signed_in):
    """The only legal adviser deactivated: the admin was warned once, on saving, and afterwards the agreement
    waiting on them read "1 more approval needed", nothing on the dashboards flagged it, and the manager's
    "Reassign / delegate" offered a form with nobody in it that answered "Please correct the errors below"."""
    from app.auth.members import set_active
    from app.workflow.models import Delegation

    agreement, round_ = _waiting_on_legal(world, days_ago=1)  # not late yet: stuck all the same
    set_active(world.users["legal"], False, by=world.users["admin"])
    db.session.commit()  # now it waits on a legal adviser, and no active account is one

    nobody = "No active account can give this approval"
    for role in ("manager", "admin"):
        page = signed_in(role).get(f"/agreements/{agreement.id}").get_data(as_text=True)
        panel = page[page.index('id="approvals-heading"') :]
        panel = panel[: panel.index("</section>")]
        assert nobody in panel and "Legal adviser" in panel and "/reassign" not in panel
        assert ('href="/admin/users?role=legal"' in panel) == (role == "admin")  # where an admin gives it
        card = signed_in(role).get("/dashboard").get_data(as_text=True)
        card = card[card.index('id="nobody-to-approve"') :]
        card = card[: card.index("</section>")]
        assert agreement.reference in card and "Legal adviser" in card
        assert "Memorandum of understanding: Approve for negotiation, step 1 of 3" in card
        assert ('href="/admin/users?role=legal"' in card) == (role == "admin")

    manager = signed_in("manager")
    page = manager.get(f"/approvals/{round_.id}/reassign").get_data(as_text=True)
    assert nobody in page and "Legal adviser" in page
    assert 'name="to_id"' not in page and "Hand it over" not in page and "Please correct" not in page
    refused = manager.post(f"/approvals/{round_.id}/reassign", data={"ends_on": clock.today().isoformat()})
    assert refused.status_code == 409 and nobody in refused.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Delegation)) == 0

    # Given to someone again, it is no longer flagged.
    set_active(world.users["legal"], True, by=world.users["admin"])
    db.session.commit()
    assert nobody not in manager.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'id="nobody-to-approve"' not in manager.get("/dashboard").get_data(as_text=True)


def test_an_approval_only_its_requester_could_give_is_said_on_the_dashboard_as_on_its_panel(world, signed_in):
    """The only manager asked for the review of an MoU and the legal adviser approved: the head of department's
    place is the manager's, who may not approve their own request (four-eyes). The approvals panel said nobody
    could give it; the dashboard counted one manager for the role and said nothing. Both say it now, and neither
    once another manager holds the role."""
    manager = world.users["manager"]
    agreement = factories.agreement(by=manager, partners=[world.partner_a], title_fr="Demandée par le chef")
    db.session.commit()
    engine.take(agreement, "submit_for_review", by=manager, expected_version=agreement.version)
    db.session.commit()
    lawyer, version = world.users["legal"], agreement.version
    engine.decide(agreement, "approve_review", by=lawyer, decision="approve", comment=None, expected_version=version)
    db.session.commit()

    def said(role) -> tuple[bool, bool]:
        """(the panel says nobody can give it, the dashboard lists it among approvals nobody can give)"""
        page = signed_in(role).get(f"/agreements/{agreement.id}").get_data(as_text=True)
        panel = page[page.index('id="approvals-heading"') :]
        panel = panel[: panel.index("</section>")]
        card = signed_in(role).get("/dashboard").get_data(as_text=True)
        card = card[card.index('id="nobody-to-approve"') :] if 'id="nobody-to-approve"' in card else ""
        card = card[: card.index("</section>")] if card else ""
        if agreement.reference in card:
            assert "Memorandum of understanding: Approve for negotiation, step 1 of 3" in card and "Manager" in card
        return "No active account can give this approval" in panel, agreement.reference in card

    for role in ("manager", "admin"):
        assert said(role) == (True, True)
    factories.user("manager", world.ministry, email="second.manager@ministry.example")
    db.session.commit()
    assert said("manager") == (False, False)


def test_an_agreement_far_past_its_stages_deadline_is_flagged_on_the_dashboards(world, signed_in):
    stuck, _round = _late_review(world, days_ago=40)  # internal review allows 10 days: 40 is past three times
    late, _other = _late_review(world, days_ago=15)  # late, not stuck
    for role in ("manager", "officer"):
        page = signed_in(role).get("/dashboard").get_data(as_text=True)
        card = page[page.index('id="stuck"') :]
        card = card[: card.index("</section>")]
        assert stuck.reference in card and "Stuck" in card and late.reference not in card


def test_an_organisations_country_is_named_in_the_readers_language(world, signed_in):
    """ "FR" is what the form takes; the pages say France, فرنسا."""
    world.partner_a.country = "FR"
    db.session.commit()
    officer = signed_in("officer")
    assert "<dd><bdi>France</bdi></dd>" in officer.get(f"/organizations/{world.partner_a.id}").get_data(as_text=True)
    world.users["officer"].language = "ar"
    db.session.commit()
    assert "فرنسا" in officer.get(f"/organizations/{world.partner_a.id}").get_data(as_text=True)
    assert "فرنسا" in officer.get("/organizations/").get_data(as_text=True)


def test_a_new_account_starts_in_the_language_its_admin_works_in(world, signed_in):
    """As an invitation does: an account made from the French pages had its mail in Arabic, the install's."""
    world.users["admin"].language = "fr"
    db.session.commit()
    form = signed_in("admin").get("/admin/users/new").get_data(as_text=True)
    assert '<option selected value="fr">' in form or '<option value="fr" selected>' in form


@pytest.mark.parametrize(
    "language, label", [("en", "Approval step"), ("fr", "Niveau d’approbation"), ("ar", "خطوة الموافقة")]
)
def test_the_reassign_page_names_the_waiting_approvals_level_as_the_approvals_panel_does(
    world, signed_in, language, label
):
    """The label over the step says which approval waits, in the panel's word (Niveau, الخطوة), not the
    audit trail's job step (« Étape », المرحلة) it shared a message with; the audit trail's field says it in
    the same word (it read « Étape d’approbation », « مرحلة الموافقة »)."""
    _agreement, round_ = _waiting_on_legal(world)
    manager = factories.user("manager", world.ministry, language=language)
    db.session.commit()
    page = signed_in(manager).get(f"/approvals/{round_.id}/reassign").get_data(as_text=True)
    assert re.search(r"<dt>\s*([^<]*?)\s*</dt>\s*<dd data-step>", page).group(1) == label
    with force_locale(language):  # and the audit trail's name for the field a reassignment records
        assert str(AUDIT_FIELD_LABELS["step"]) == label
