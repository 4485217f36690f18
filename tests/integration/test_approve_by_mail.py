"""Approve from the e-mail: the links in approval request e-mails open a confirmation page (GET
never decides); the POST by the person the link was made for decides through the page's engine
verb; a link is dead once used, expired, or when its round moved on; never usable by another."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core import clock
from app.core.models import utcnow
from app.discussions.approval_links import find
from app.discussions.models import ApprovalLink
from app.extensions import db
from app.notifications.models import OutboxMessage
from app.workflow.models import ApprovalDecision
from tests import factories
from tests.support.pages import act

LINK = re.compile(r"/approvals/by-mail/([A-Za-z0-9_\-]+)")


@pytest.fixture
def mou(world):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="MoU par mail")
    db.session.commit()
    return agreement


def links_for(user) -> dict[str, str]:
    """The approve / send back paths of the newest approval request e-mail to `user`."""
    mail = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient_id == user.id, OutboxMessage.kind == "approval_requested")
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert mail is not None
    approve, reject = LINK.findall(mail.body_text)
    assert LINK.findall(mail.body_html) == [approve, reject]
    return {"approve": f"/approvals/by-mail/{approve}", "reject": f"/approvals/by-mail/{reject}"}


def decide(client, path, agreement, **data):
    db.session.refresh(agreement)
    return client.post(path, data={"version": str(agreement.version), **data}, csrf_from=path)


def decisions(agreement):
    return list(
        db.session.scalars(
            select(ApprovalDecision)
            .join(ApprovalDecision.round)
            .where(ApprovalDecision.round.has(agreement_id=agreement.id))
        )
    )


def test_open_confirm_approve_and_the_link_dies(app, world, signed_in, mou):
    assert act(signed_in("officer"), mou, "submit_for_review").status_code == 303
    legal = signed_in("legal")
    links = links_for(world.users["legal"])
    # Only hashes are stored.
    assert db.session.scalar(select(ApprovalLink.token_hash)) not in links["approve"]
    page = legal.get(links["approve"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert mou.reference in html and "MoU par mail" in html and "Approve this agreement?" in html
    assert decisions(mou) == []  # opening the link (a scanner, a preview) decides nothing
    response = decide(legal, links["approve"], mou, comment="Bon pour moi")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/agreements/{mou.id}")
    [decision] = decisions(mou)
    assert decision.approver_id == world.users["legal"].id and decision.comment == "Bon pour moi"
    from app.core.audit import AuditEvent

    assert (
        db.session.scalar(select(AuditEvent.changes).where(AuditEvent.action == "approval_link_used"))["decision"]
        == "approve"
    )
    # Single use, and its "send back" sibling dies with it.
    for path in links.values():
        again = legal.get(path)
        assert again.status_code == 410 and "already been used" in again.get_data(as_text=True)
    assert decide(legal, links["approve"], mou).status_code == 410
    assert len(decisions(mou)) == 1
    # The manager's link completes the quorum, as the page would.
    response = decide(signed_in("manager"), links_for(world.users["manager"])["approve"], mou)
    assert response.status_code == 303
    db.session.refresh(mou)
    assert mou.state == "negotiation"


def test_nobody_or_someone_else_signed_in_never_acts(app, world, signed_in, client, mou):
    act(signed_in("officer"), mou, "submit_for_review")
    path = links_for(world.users["legal"])["approve"]
    anonymous = client.get(path)
    assert anonymous.status_code == 401
    text = anonymous.get_data(as_text=True)
    assert "Sign in as the person this e-mail was sent to" in text and mou.reference not in text
    assert "/sign-in?next=" in text
    manager = signed_in("manager")
    other = manager.get(path)
    assert other.status_code == 403 and "sent to someone else" in other.get_data(as_text=True)
    assert mou.reference not in other.get_data(as_text=True)
    assert decide(manager, path, mou).status_code == 403
    assert decisions(mou) == []
    # The link still works for its own person afterwards.
    assert signed_in("legal").get(path).status_code == 200


def test_a_forged_or_unknown_token_is_refused(app, world, signed_in, mou):
    legal = signed_in("legal")
    for token in ("nope", "x" * 300):
        response = legal.get(f"/approvals/by-mail/{token}")
        assert response.status_code == 404 and "not valid" in response.get_data(as_text=True)


def test_an_expired_link_is_dead(app, world, signed_in, mou):
    act(signed_in("officer"), mou, "submit_for_review")
    path = links_for(world.users["legal"])["approve"]
    link = find(path.rsplit("/", 1)[1])
    link.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    legal = signed_in("legal")
    response = legal.get(path)
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)
    assert decide(legal, path, mou).status_code == 410
    assert decisions(mou) == []


def test_send_back_needs_a_comment_and_then_the_round_changed(app, world, signed_in, mou):
    officer = signed_in("officer")
    act(officer, mou, "submit_for_review")
    legal_links = links_for(world.users["legal"])
    manager = signed_in("manager")
    send_back = links_for(world.users["manager"])["reject"]
    refused = decide(manager, send_back, mou, comment="  ")
    assert refused.status_code == 422 and "Say why you send it back." in refused.get_data(as_text=True)
    assert decisions(mou) == []
    assert decide(manager, send_back, mou, comment="Article 5 à revoir").status_code == 303
    db.session.refresh(mou)
    assert mou.state == "draft"
    # The round is closed: legal's links from the first request no longer work.
    response = signed_in("legal").get(legal_links["approve"])
    assert response.status_code == 410 and "moved on" in response.get_data(as_text=True)
    assert "The approval round is closed (rejected)." in response.get_data(as_text=True)  # what happened, said
    # Resubmitted: a new round, new links; the old ones stay dead.
    act(officer, mou, "submit_for_review")
    assert links_for(world.users["legal"])["approve"] != legal_links["approve"]
    assert signed_in("legal").get(legal_links["approve"]).status_code == 410
    assert decide(signed_in("legal"), legal_links["approve"], mou).status_code == 410


def test_a_decision_taken_on_the_page_kills_the_link(app, world, signed_in, mou):
    act(signed_in("officer"), mou, "submit_for_review")
    path = links_for(world.users["legal"])["approve"]
    legal = signed_in("legal")
    assert act(legal, mou, "approve_review", decision="approve").status_code == 303
    response = legal.get(path)
    assert response.status_code == 410 and "already decided" in response.get_data(as_text=True)


def test_a_stale_page_is_a_conflict_not_a_double_decision(app, world, signed_in, mou):
    act(signed_in("officer"), mou, "submit_for_review")
    path = links_for(world.users["legal"])["approve"]
    legal = signed_in("legal")
    response = legal.post(path, data={"version": "1"}, csrf_from=path)
    assert response.status_code == 409
    assert decisions(mou) == []


def test_the_post_needs_its_csrf_token(app, world, signed_in, mou):
    act(signed_in("officer"), mou, "submit_for_review")
    path = links_for(world.users["legal"])["approve"]
    legal = signed_in("legal")
    response = legal.http.post(path, data={"version": str(mou.version)})
    assert response.status_code == 302  # the app's answer to a missing CSRF token: back, with a message
    assert decisions(mou) == []


def _delegate(world, delegator, delegate):

    from app.workflow.services import delegate as make_delegation

    make_delegation(
        delegator=world.users[delegator],
        delegate_user=world.users[delegate],
        starts_on=clock.today() - timedelta(days=1),
        ends_on=clock.today() + timedelta(days=5),
        by=world.users[delegator],
    )
    db.session.commit()


def test_a_delegate_decides_for_the_delegator_as_on_the_page(app, world, signed_in, mou):
    _delegate(world, "legal", "other_officer")
    act(signed_in("officer"), mou, "submit_for_review")
    path = links_for(world.users["other_officer"])["approve"]
    assert decide(signed_in("other_officer"), path, mou).status_code == 303
    [decision] = decisions(mou)
    assert decision.approver_id == world.users["other_officer"].id
    assert decision.counted_user_id == world.users["legal"].id


def test_four_eyes_holds_for_a_link_too(app, world, signed_in, mou):
    """The officer who asked for approval holds legal's delegation: they are not asked (the request went to
    them, with links, though the four-eyes rule refuses them); a link they hold anyway (made here) is
    refused as the page would refuse them (the same engine verb), and nothing is recorded."""
    from app.discussions.approval_links import create_links
    from app.workflow import engine

    _delegate(world, "legal", "officer")
    officer = signed_in("officer")
    act(officer, mou, "submit_for_review")
    mails = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.recipient_id == world.users["officer"].id, OutboxMessage.kind == "approval_requested"
        )
    ).all()
    assert mails == []  # not asked as legal's delegate
    db.session.refresh(mou)
    round_ = next(r for r in mou.approval_rounds if r.status == "open")
    step = engine.step_waiting(round_, engine.definition_for(mou), mou)[1].name
    path = "/approvals/by-mail/" + create_links(round_, step, world.users["officer"])["approve"].rsplit("/", 1)[1]
    db.session.commit()

    db.session.refresh(mou)
    option = next(o for o in engine.actions_for(mou, world.users["officer"]) if o.name == "approve_review")
    assert not option.is_allowed  # what the agreement page says
    page = officer.get(path).get_data(as_text=True)
    assert option.reasons[0] in page  # said before the button is pressed, in the page's words
    response = decide(officer, path, mou)
    assert response.status_code == 403
    assert decisions(mou) == []


def test_a_link_shows_nothing_to_an_approver_who_may_no_longer_read_the_agreement(app, world, signed_in, mou):
    """Legal moved to a partner's account kept their link: it showed an internal draft's key facts."""
    act(signed_in("officer"), mou, "submit_for_review")
    path = links_for(world.users["legal"])["approve"]
    legal = world.users["legal"]
    legal.role, legal.organization_id = "partner", world.partner_b.id
    db.session.commit()
    page = signed_in("legal").get(path)
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert mou.reference not in html and "MoU par mail" not in html and "no longer works for you" in html
    assert decide(signed_in("legal"), path, mou).status_code == 404 and decisions(mou) == []


def test_a_delegate_whose_delegation_ended_is_told_before_pressing(app, world, signed_in, mou):
    from app.workflow.models import Delegation

    _delegate(world, "legal", "other_officer")
    act(signed_in("officer"), mou, "submit_for_review")
    path = links_for(world.users["other_officer"])["approve"]
    for delegation in db.session.scalars(select(Delegation)):
        delegation.ends_on = clock.today() - timedelta(days=1)
    db.session.commit()
    page = signed_in("other_officer").get(path)
    assert page.status_code == 403 and "You can no longer decide on this approval." in page.get_data(as_text=True)
    assert "Approve this agreement?" not in page.get_data(as_text=True)


def test_the_approval_that_completes_the_step_says_where_the_agreement_went(app, world, signed_in, mou):
    act(signed_in("officer"), mou, "submit_for_review")
    assert decide(signed_in("legal"), links_for(world.users["legal"])["approve"], mou).status_code == 303
    manager = signed_in("manager")
    response = decide(manager, links_for(world.users["manager"])["approve"], mou)
    assert response.status_code == 303
    db.session.refresh(mou)
    assert mou.state == "negotiation"  # the round settled by this approval
    page = manager.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your approval is recorded: the agreement moves to “Negotiation”." in page


def test_a_request_after_a_send_back_says_so_with_the_reason_and_the_comment_in_each_language(tmp_path):
    """Sent back, then resubmitted with a comment: the approvers' new request (through a real SMTP server)
    says it was resubmitted, quotes why it was sent back and what the submitter answered, in each one's
    language and in both parts; it had read word for word as the first request."""
    from app.agreements.models import Agreement
    from app.auth.models import User
    from app.organizations.models import Organization
    from app.workflow import engine
    from tests.integration.test_notifications_mail import Inbox, html_of, mailroom

    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        with room.context():
            users = {name: db.session.get(User, room.ids[name][0]) for name in ("officer", "legal", "manager")}
            users["legal"].language, users["manager"].language = "fr", "ar"
            partner_a = db.session.get(Organization, room.ids["partner_a"][0])
            agreement = factories.agreement(by=users["officer"], partners=[partner_a])
            db.session.commit()
            agreement_id = agreement.id
            engine.take(agreement, "submit_for_review", by=users["officer"], expected_version=agreement.version)
            db.session.commit()
        # The first requests go out before the send-back (mail still held for a closed round is withdrawn).
        assert room.app.test_cli_runner().invoke(args=["outbox", "send"]).exit_code == 0
        inbox.wait_for(2)
        with room.context():
            users = {name: db.session.get(User, room.ids[name][0]) for name in ("officer", "legal", "manager")}
            agreement = db.session.get(Agreement, agreement_id)
            engine.decide(
                agreement,
                "approve_review",
                by=users["legal"],
                decision="reject",
                comment="Article 5 à revoir",
                expected_version=agreement.version,
            )
            db.session.commit()
            engine.take(
                agreement,
                "submit_for_review",
                by=users["officer"],
                comment="Article 5 réécrit avec le partenaire",
                expected_version=agreement.version,
            )
            db.session.commit()
            officer_name, legal_name = users["officer"].full_name, users["legal"].full_name
            reference = agreement.reference
        assert room.app.test_cli_runner().invoke(args=["outbox", "send"]).exit_code == 0
        inbox.wait_for(5)  # and the owner hears it was sent back
        requests = {}
        for recipients, message in inbox.received:
            if reference in message["Subject"] and "/approvals/by-mail/" in message.get_body(("plain",)).get_content():
                requests.setdefault(recipients[0], []).append(message)
        first, again = requests[room.ids["legal"][1]]
        assert first["Subject"].startswith("Votre approbation est demandée")
        assert " ".join(again["Subject"].split()).startswith("Resoumis : votre approbation est demandée")
        for part in (again.get_body(("plain",)).get_content(), html_of(again)):
            assert "Article 5 à revoir" in part and "Article 5 réécrit avec le partenaire" in part
            assert f"{legal_name} l’a renvoyé le" in part
            assert f"{officer_name} l’a resoumis avec ce commentaire" in part
        first_text = first.get_body(("plain",)).get_content()
        assert "Article 5" not in first_text and "resoumis" not in first_text
        _first, arabic = requests[room.ids["manager"][1]]
        for part in (arabic.get_body(("plain",)).get_content(), html_of(arabic)):
            assert "Article 5 à revoir" in part and "Article 5 réécrit avec le partenaire" in part
            assert "أعاد" in part


def test_the_page_of_a_link_shows_what_the_decision_rests_on(app, world, signed_in, mou):
    """The Minister's office step is there because of the budget (10 M MAD or more): the cabinet, deciding from
    the e-mail, had read the key facts and the summary only. The page now shows the budget total as the
    agreement's page writes it, the text's current version (a link), why the round before was sent back and
    what the submitter answered, and the way to the whole agreement."""
    from io import BytesIO

    from werkzeug.datastructures import FileStorage

    from app.budget import services as budget
    from app.workflow import engine
    from app.workflow import services as workflow_services

    officer, legal, manager = (world.users[name] for name in ("officer", "legal", "manager"))
    cabinet = factories.user("manager", world.ministry)  # the Minister's office: another manager (four-eyes)
    db.session.commit()

    def approve(by, decision="approve", comment=None):
        engine.decide(mou, "approve_review", by=by, decision=decision, comment=comment, expected_version=mou.version)
        db.session.commit()

    def take(name, **extra):
        engine.take(mou, name, by=officer, expected_version=mou.version, **extra)
        db.session.commit()

    take("submit_for_review")
    approve(legal)
    approve(manager)  # in negotiation: a version of the text is sent, then the draft is taken back
    upload = FileStorage(BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="texte-v1.pdf", content_type="application/pdf")
    version = workflow_services.send_version(mou, by=officer, upload=upload, note=None, expected_version=mou.version)
    db.session.commit()
    take("back_to_draft", comment="Le budget manque")
    budget.add_line(
        mou,
        budget.LineData(organization_id=world.ministry.id, label="Programme", amount="12500000", currency="MAD"),
        by=officer,
    )
    db.session.commit()
    take("submit_for_review")
    approve(legal, decision="reject", comment="Justifier le montant du budget")
    take("submit_for_review", comment="Justification jointe en annexe 2")
    approve(legal)
    approve(manager)
    approve(world.users["finance"])  # a budget: finance; the step of the Minister's office now waits on the cabinet

    client = signed_in(cabinet)
    path = links_for(cabinet)["approve"]
    html = client.get(path).get_data(as_text=True)
    agreement_page = client.get(f"/agreements/{mou.id}").get_data(as_text=True)
    total = re.search(r'<td class="text-end[^"]*"[^>]*>([^<]*MAD[^<]*)</td>', agreement_page).group(1)
    assert "12" in total and total in html  # written as the agreement's page writes it
    assert f'href="/agreements/{mou.id}/documents/{version.document_id}"' in html and "texte-v1.pdf" in html
    assert "Justifier le montant du budget" in html and legal.full_name in html
    assert "Justification jointe en annexe 2" in html
    assert f'href="/agreements/{mou.id}" data-full-agreement>Open the full agreement' in html
    # Which step of the round it is, and whose, as the approvals panel says it (the page named the approval only).
    step = re.search(r"<dd[^>]*data-step>(.*?)</dd>", html, re.S).group(1)
    holders = '· <span class="text-body-secondary">Manager (approver)</span>'
    assert "Approve for negotiation · Step 3" in step and holders in step, step
