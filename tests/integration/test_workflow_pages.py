"""A whole MoU lifecycle through the pages, as each person would click it."""

import re
from datetime import date, timedelta
from io import BytesIO

import pytest

from app.core import clock
from app.extensions import db
from tests import factories
from tests.support.pages import act, partner_turns

PDF = b"%PDF-1.4\n%test\n%%EOF\n"


@pytest.fixture
def mou(world):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="MoU pages")
    db.session.commit()
    return agreement


def post(client, agreement, path, data, csrf_from=None):
    db.session.refresh(agreement)
    return client.post(
        f"/agreements/{agreement.id}/{path}",
        data={"version": str(agreement.version), **data},
        csrf_from=csrf_from or f"/agreements/{agreement.id}",
        content_type="multipart/form-data",
    )


def test_lifecycle_through_the_pages(app, world, signed_in, mou):
    officer, legal, manager, partner = (signed_in(r) for r in ("officer", "legal", "manager", "partner"))
    page = officer.get(f"/agreements/{mou.id}").get_data(as_text=True)
    assert "Submit for internal review" in page
    assert act(officer, mou, "submit_for_review").status_code == 303
    moved_today = officer.get(f"/agreements/{mou.id}").get_data(as_text=True)
    assert "In this stage since today" in moved_today and "0 days in this stage" not in moved_today
    assert "Approve for negotiation" in legal.get(f"/agreements/{mou.id}").get_data(as_text=True)
    inbox = legal.get("/inbox").get_data(as_text=True)
    assert mou.reference in inbox
    assert act(legal, mou, "approve_review", decision="approve").status_code == 303
    assert act(manager, mou, "approve_review", decision="approve").status_code == 303
    db.session.refresh(mou)
    assert mou.state == "negotiation"

    response = post(officer, mou, "negotiation/versions", {"file": (BytesIO(PDF), "projet v1.pdf"), "note": "v1"})
    assert response.status_code == 303
    assert f'data-agreement="{mou.reference}"' in partner_turns(partner)
    assert post(partner, mou, "negotiation/accept", {}).status_code == 303
    db.session.refresh(mou)
    assert mou.agreed_round_id is not None

    assert act(officer, mou, "open_signature").status_code == 303
    for side, name in (("ministry", "La ministre"), ("partner", "Le PDG")):
        assert post(officer, mou, "signatories", {"side": side, "name": name}).status_code == 303
    db.session.refresh(mou)
    # No signature after today on the ministry's clock (the browser's own zone had set the bound).
    page = officer.get(f"/agreements/{mou.id}").get_data(as_text=True)
    assert re.search(rf'name="signed_on"\s+required max="{clock.today().isoformat()}"', page)
    for signatory in mou.signatories:
        assert post(officer, mou, f"signatories/{signatory.id}/sign", {"signed_on": "2026-03-02"}).status_code == 303
    assert post(officer, mou, "signed-copy", {"file": (BytesIO(PDF + b"signed"), "signé.pdf")}).status_code == 303
    assert act(officer, mou, "record_signed").status_code == 303
    assert act(officer, mou, "activate", effective_on="2026-03-15", expires_on="2029-03-15").status_code == 303
    db.session.refresh(mou)
    assert mou.state == "active" and mou.signed_on == date(2026, 3, 2)
    history = officer.get(f"/agreements/{mou.id}").get_data(as_text=True)
    assert "signé.pdf" in history


def test_the_signed_copy_downloads_only_for_those_who_may_see_it(app, world, signed_in, mou):
    from app.workflow import services

    document = services.attach_document(mou, "other", _upload(PDF, "note.pdf"), by=world.users["officer"])
    factories.shown_to_partners(mou)  # the partner reads what it was shown
    db.session.commit()
    url = f"/agreements/{mou.id}/documents/{document.id}"
    response = signed_in("partner").get(url)
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in response.headers["Content-Disposition"]
    assert signed_in("partner_b").get(url).status_code == 404
    assert signed_in("auditor").get(url).status_code == 200
    other = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    db.session.commit()
    assert signed_in("officer").get(f"/agreements/{other.id}/documents/{document.id}").status_code == 404


def _upload(body, name):
    from werkzeug.datastructures import FileStorage

    return FileStorage(stream=BytesIO(body), filename=name)


def test_refusals_are_clear_and_change_nothing(app, world, signed_in, mou):
    officer = signed_in("officer")
    # A comment is required to cancel.
    response = act(officer, mou, "cancel")
    assert response.status_code == 303
    assert "A comment is required" in officer.get(f"/agreements/{mou.id}").get_data(as_text=True)
    db.session.refresh(mou)
    assert mou.state == "draft"
    # Unknown transition, stale version, garbage version.
    assert act(officer, mou, "teleport").status_code == 303
    stale = officer.post(
        f"/agreements/{mou.id}/actions/submit_for_review",
        data={"version": "0"},
        csrf_from=f"/agreements/{mou.id}",
        headers={"Accept": "application/json"},
    )
    assert stale.status_code == 409 and stale.get_json()["status"] == 409
    garbage = officer.post(
        f"/agreements/{mou.id}/actions/submit_for_review",
        data={"version": "x" * 50},
        csrf_from=f"/agreements/{mou.id}",
        headers={"Accept": "application/json"},
    )
    assert garbage.status_code == 409
    db.session.refresh(mou)
    assert mou.state == "draft"


@pytest.mark.parametrize(
    # The partner too does not see the draft: it is the ministry's own until shown to the partners.
    "role, expected",
    [("auditor", 403), ("partner_b", 404), ("other_officer", 403), ("partner", 404), ("legal", 403)],
)
def test_who_may_not_move_it(app, world, signed_in, mou, role, expected):
    response = signed_in(role).post(
        f"/agreements/{mou.id}/actions/submit_for_review",
        data={"version": str(mou.version)},
        csrf_from="/agreements/",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == expected
    db.session.refresh(mou)
    assert mou.state == "draft"


def test_workflow_pages_show_the_rules(app, world, signed_in):
    client = signed_in("manager")
    assert "mou" in client.get("/workflows/").get_data(as_text=True)
    page = client.get("/workflows/mou").get_data(as_text=True)
    assert "Internal review" in page and "Approve for negotiation" in page
    assert client.get("/workflows/treaty").status_code == 404
    assert signed_in("partner").get("/workflows/mou").status_code == 403


def test_the_diagram_reads_the_pages_way_and_shows_no_identifiers(app, world, signed_in):
    import shutil

    from app.workflow.diagram import to_dot
    from app.workflow.engine import current_definitions

    mou = current_definitions()["mou"]
    assert "rankdir=LR" in to_dot(mou, "fr") and "rankdir=RL" in to_dot(mou, "ar")
    if shutil.which("dot") is None:
        return  # the table alone (Graphviz is not installed here)
    page = signed_in("manager").get("/workflows/mou").get_data(as_text=True)
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "<title>" not in svg and "internal_review" not in svg and "Internal review" in svg


def test_delegations_page(app, world, signed_in):
    legal = signed_in("legal")
    today = clock.today()
    response = legal.post(
        "/account/delegations",
        data={
            "delegate_id": str(world.users["other_officer"].id),
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=9)).isoformat(),
        },
    )
    assert response.status_code == 303
    assert world.users["other_officer"].full_name in legal.get("/account/delegations").get_data(as_text=True)
    bad = legal.post(
        "/account/delegations",
        data={"delegate_id": str(world.users["other_officer"].id), "starts_on": "2026-02-01", "ends_on": "2026-01-10"},
    )
    assert bad.status_code == 422
    # One that ended before today would never apply: refused too.
    past = legal.post(
        "/account/delegations",
        data={"delegate_id": str(world.users["other_officer"].id), "starts_on": "2026-01-01", "ends_on": "2026-01-10"},
    )
    assert past.status_code == 422
    assert signed_in("partner").get("/account/delegations").status_code == 403
    # Each says where it stands: in effect, yet to start, over, revoked.
    from app.workflow.models import Delegation

    legal_user, stand_in = world.users["legal"], world.users["other_officer"]
    for starts, ends, revoked in ((3, 5, False), (-9, -2, False), (0, 1, True)):
        db.session.add(
            Delegation(
                delegator=legal_user,
                delegate=stand_in,
                starts_on=today + timedelta(days=starts),
                ends_on=today + timedelta(days=ends),
                revoked_at=clock.utcnow() if revoked else None,
            )
        )
    db.session.commit()
    page = legal.get("/account/delegations").get_data(as_text=True)
    assert page.count('data-delegation-status="current"') == 1 and "In effect" in page
    assert page.count('data-delegation-status="upcoming"') == 1 and "Starts on" in page
    assert "Ended" in page and "Revoked" in page
    assert page.count('action="/account/delegations/') == 2  # only the current and the upcoming can be revoked


def test_a_sent_back_agreement_shows_the_review_still_to_come_and_the_send_back_as_one(app, world, signed_in, mou):
    """Sent back from internal review to draft: the review is a stage to come again, not a passed one
    (a tick read as "the review passed"), and its history names the send-back, not the approval's label."""
    import re

    from app.workflow import engine

    officer = world.users["officer"]
    engine.take(mou, "submit_for_review", by=officer, expected_version=mou.version)
    legal = world.users["legal"]
    engine.decide(mou, "approve_review", by=legal, decision="reject", comment="Article 3", expected_version=mou.version)
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{mou.id}").get_data(as_text=True)
    drawn = re.findall(r'<li class="stage stage-(\w+)".*?<span class="stage-label">([^<]*)<', page, re.S)
    stages = {label.strip(): status for status, label in drawn}
    assert stages["Draft"] == "current" and stages["Internal review"] == "todo", stages
    history = page.split('id="history-heading"')[1]
    assert "Approve for negotiation" not in history
    assert 'text-bg-warning">Sent back<' in history
    # Above the page's work: it was sent back, by whom, from where and why.
    note = page.split("data-sent-back")[1].split("</div>\n  </div>")[0]
    assert "Sent back from “Internal review”" in note and "Article 3" in note and legal.full_name in note
    # Gone once it moves on; a partner, who does not read the internal review's rounds, never sees it.
    assert "data-sent-back" not in signed_in("partner").get(f"/agreements/{mou.id}").get_data(as_text=True)
    engine.take(mou, "submit_for_review", by=officer, expected_version=mou.version)
    db.session.commit()
    assert "data-sent-back" not in signed_in("officer").get(f"/agreements/{mou.id}").get_data(as_text=True)


def test_a_move_waiting_for_a_detail_links_to_the_form_that_gives_it(app, world, signed_in):
    """An Arabic-only MoU saves, but submitting it needs its French title: the blocked move says so and
    offers the edit form (the officer had to find "Edit" at the top of the page), at the missing field (it
    opened at the top, far from it on a phone)."""
    mou = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="", title_ar="مذكرة")
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{mou.id}").get_data(as_text=True)
    move = page.split('id="action-submit_for_review"')[1].split('class="list-group-item')[0]
    assert "Title (French)" in move and f'href="/agreements/{mou.id}/edit#title_fr"' in move
    # Not offered to someone who may not edit it, nor once nothing is missing.
    assert "data-complete-details" not in signed_in("other_officer").get(f"/agreements/{mou.id}").get_data(as_text=True)
    mou.title_fr = "Mémorandum"
    db.session.commit()
    assert "data-complete-details" not in signed_in("officer").get(f"/agreements/{mou.id}").get_data(as_text=True)


def test_activating_before_the_effective_date_keeps_the_dates_for_that_day(app, world, signed_in):
    """Activated with an effective date to come, the agreement was "Active" at once (counted in force on
    the dashboards). Its dates are now kept, it stays signed, says when it will move, leaves its owner's
    actions, and the daily tick activates it on that day."""
    from datetime import timedelta

    from app.core import clock
    from app.workflow import date_moves

    today = clock.today()
    signed = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], state="signed", signed_on=today - timedelta(days=3)
    )
    db.session.commit()
    officer = signed_in("officer")
    assert f"/agreements/{signed.id}#action-activate" in officer.get("/inbox").get_data(as_text=True)
    start, end = today + timedelta(days=20), today + timedelta(days=400)
    response = act(officer, signed, "activate", effective_on=start.isoformat(), expires_on=end.isoformat())
    assert response.status_code in (302, 303)
    db.session.refresh(signed)
    assert signed.state == "signed" and signed.effective_on == start and signed.expires_on == end
    page = officer.get(f"/agreements/{signed.id}").get_data(as_text=True)
    assert "data-scheduled" in page and "by itself on" in page
    assert f"/agreements/{signed.id}#action-activate" not in officer.get("/inbox").get_data(as_text=True)
    assert date_moves.run_date_transitions(start - timedelta(days=1)) == [] or signed.state == "signed"
    date_moves.run_date_transitions(start)
    db.session.commit()
    db.session.refresh(signed)
    assert signed.state == "active"
    # Activated on or after its effective date: at once, as before.
    other = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], state="signed", signed_on=today - timedelta(days=3)
    )
    db.session.commit()
    act(officer, other, "activate", effective_on=today.isoformat(), expires_on=end.isoformat())
    db.session.refresh(other)
    assert other.state == "active"


def test_the_history_names_the_accepting_party_in_the_readers_language(app, world, signed_in):
    """The partner accepted while reading English: an Arabic reader's history named it in English
    ("قُبلت باسم Partner A"); the party's id is kept, so each reader reads its own language's name."""
    world.partner_a.name_ar = "الشريك أ"
    mou = factories.agreement(by=world.users["officer"], partners=[world.partner_a], state="negotiation")
    db.session.commit()
    officer, partner = signed_in("officer"), signed_in("partner")  # both read English
    post(officer, mou, "negotiation/versions", {"file": (BytesIO(PDF), "projet v1.pdf")})
    assert post(partner, mou, "negotiation/accept", {}).status_code == 303
    world.users["officer"].language = "ar"
    db.session.commit()
    history = officer.get(f"/agreements/{mou.id}").get_data(as_text=True).split('id="history-heading"')[1]
    assert "الشريك أ" in history and "Partner A" not in history


def test_a_drafts_deliverables_can_be_planned_from_its_page(app, world, signed_in, mou):
    """The plan could be made from the draft on (the route allowed it) but the page offered it only once in
    force; its owner sees the panel and its link now, a partner sees no empty plan."""
    plan_link = f'href="/agreements/{mou.id}/deliverables/new"'
    owner_page = signed_in("officer").get(f"/agreements/{mou.id}").get_data(as_text=True)
    assert 'id="deliverables"' in owner_page and plan_link in owner_page
    assert 'id="deliverables"' not in signed_in("partner").get(f"/agreements/{mou.id}").get_data(as_text=True)


def test_an_agreement_links_to_the_version_it_follows_and_the_page_lists_the_versions(world, signed_in):
    """After an edit, "How this workflow works" had shown today's definition to the readers of an agreement
    still on the earlier one (a stage and a move it no longer has), and no page said which version it ran on."""
    import copy

    from app.workflow import engine
    from app.workflow.definitions import checksum_of
    from app.workflow.models import WorkflowVersion
    from tests import factories

    body = copy.deepcopy(engine.current_definitions()["mou"].body)
    body["states"]["draft"]["label"] = {"fr": "Brouillon d'avant", "en": "Former draft", "ar": "مسودة سابقة"}
    older = WorkflowVersion(type="mou", version=995, checksum=checksum_of(body), body=body)
    db.session.add(older)
    db.session.commit()
    engine.forget_definitions_in_use()
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    agreement.workflow_version = older
    db.session.commit()
    officer = signed_in("officer")
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "/workflows/mou?version=995" in page
    old = officer.get("/workflows/mou?version=995").get_data(as_text=True)
    assert "Former draft" in old and "This is version 995" in old and "See today’s version" in old
    today = officer.get("/workflows/mou").get_data(as_text=True)
    assert "Former draft" not in today and "Version 995" in today and "Today’s" in today
    assert officer.get("/workflows/mou?version=994").status_code == 404
    assert officer.get("/workflows/mou?version=x").status_code == 404
    assert signed_in("partner").get("/workflows/mou?version=995").status_code == 403


def test_a_delegation_to_someone_who_can_no_longer_approve_says_it_has_no_effect(world, signed_in):
    """The delegate made a partner, or closed: the delegator's page still said "In effect" (the engine lent
    nothing), and they believed they were covered."""
    from app.workflow.models import Delegation

    legal, stand_in = world.users["legal"], world.users["other_officer"]
    db.session.add(
        Delegation(
            delegator_id=legal.id,
            delegate_id=stand_in.id,
            starts_on=clock.today(),
            ends_on=clock.today() + timedelta(days=5),
        )
    )
    db.session.commit()
    page = signed_in("legal").get("/account/delegations").get_data(as_text=True)
    assert 'data-delegation-status="current"' in page and "no effect" not in page
    stand_in.is_active_account = False
    db.session.commit()
    page = signed_in("legal").get("/account/delegations").get_data(as_text=True)
    assert 'data-delegation-status="void"' in page and 'data-delegation-status="current"' not in page
    assert "account is closed: this delegation has no effect" in page


def test_an_approval_request_no_longer_waiting_on_its_reader_is_marked_read(world, signed_in, mou):
    """Two managers are asked for the same place in a parallel step: once one has given it, the other's request
    no longer waits on her (it still asked for her decision, unread); the legal adviser's still does, until
    the round closes. The one who decided has nothing left to read either."""
    from sqlalchemy import func, select

    from app.notifications.models import Notification

    cabinet = factories.user("manager", world.ministry)
    db.session.commit()
    legal, manager = world.users["legal"], world.users["manager"]

    def unread_requests(person):
        return db.session.scalar(
            select(func.count()).where(
                Notification.user_id == person.id,
                Notification.kind == "approval_requested",
                Notification.read_at.is_(None),
            )
        )

    assert act(signed_in("officer"), mou, "submit_for_review").status_code == 303
    assert [unread_requests(p) for p in (legal, manager, cabinet)] == [1, 1, 1]
    assert act(signed_in("manager"), mou, "approve_review", decision="approve").status_code == 303
    db.session.expire_all()
    assert [unread_requests(p) for p in (legal, manager, cabinet)] == [1, 0, 0]
    assert act(signed_in("legal"), mou, "approve_review", decision="approve").status_code == 303
    db.session.expire_all()
    assert [unread_requests(p) for p in (legal, manager, cabinet)] == [0, 0, 0]


def test_a_version_to_answer_is_marked_read_once_the_readers_side_has_answered(world, signed_in):
    """ "Version 1 waits for your answer" stayed unread after the partner had answered with version 2; the
    owner's notice of version 2 is read once the ministry accepts it."""
    from sqlalchemy import func, select

    from app.notifications.models import Notification

    partner, officer = world.users["partner"], world.users["officer"]

    def unread_versions(person):
        return db.session.scalar(
            select(func.count()).where(
                Notification.user_id == person.id, Notification.kind == "version_sent", Notification.read_at.is_(None)
            )
        )

    mou = factories.agreement(by=officer, partners=[world.partner_a], state="negotiation", title_fr="Texte")
    db.session.commit()
    sent = post(signed_in("officer"), mou, "negotiation/versions", {"file": (BytesIO(PDF), "v1.pdf")})
    assert sent.status_code == 303 and unread_versions(partner) == 1
    answer = post(signed_in("partner"), mou, "negotiation/versions", {"file": (BytesIO(PDF + b"2"), "v2.pdf")})
    assert answer.status_code == 303
    db.session.expire_all()
    assert unread_versions(partner) == 0 and unread_versions(officer) == 1
    assert post(signed_in("officer"), mou, "negotiation/accept", {}).status_code == 303
    db.session.expire_all()
    assert unread_versions(officer) == 0


def test_every_guard_is_named_in_words_on_the_workflow_pages(world, signed_in):
    """A move's conditions are said in the reader's words: "negotiated_here" had shown as its code."""
    from app.workflow import engine
    from app.workflow.rules import GUARDS

    officer = signed_in("officer")
    for workflow_type in engine.current_definitions():
        page = officer.get(f"/workflows/{workflow_type}").get_data(as_text=True)
        text = re.sub(r"<[^>]+>", " ", page.split("<main", 1)[1])
        assert not [name for name in GUARDS if re.search(rf"\b{name}\b", text)], workflow_type
