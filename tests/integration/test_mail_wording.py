"""What the reminders say, read as they arrive at a real SMTP server (aiosmtpd): who is addressed, and the
links that lead each reader to where they act (an approver's decision, a manager's reminder or reassignment,
a partner's hand-in)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.agreements.models import Agreement
from app.auth.models import User
from app.core import clock
from app.extensions import db
from app.organizations.models import Organization
from app.workflow.models import ApprovalRound
from tests import factories
from tests.conftest import SignedInClient
from tests.integration.test_notifications_mail import BASE_URL, Inbox, html_of, mailroom, set_language

pytestmark = pytest.mark.live
DECISION_LINK = re.compile(re.escape(BASE_URL) + r"(/approvals/by-mail/[A-Za-z0-9_\-]+)")


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def mails_of(room, inbox, kind: str, name: str) -> list:
    """The messages of `kind` the SMTP server received for the user `name`, in the order they arrived."""
    kept = {m.message_id for m in room.outbox() if m.kind == kind and m.recipient_id == room.ids[name][0]}
    return [message for _rcpts, message in inbox.received if message["Message-ID"] in kept]


def late_review(room, days: int) -> tuple[int, int]:
    """A MoU submitted for internal review (legal and manager approve; a 10-day step) `days` days ago, its
    requests sent; returns (agreement id, round id)."""
    from app.workflow import engine

    with room.context():
        officer = db.session.get(User, room.ids["officer"][0])
        agreement = factories.agreement(
            by=officer, partners=[db.session.get(Organization, room.ids["partner_a"][0])], title_fr="MoU en retard"
        )
        db.session.commit()
        engine.take(agreement, "submit_for_review", by=officer, expected_version=agreement.version)
        db.session.commit()
        round_ = db.session.scalar(select(ApprovalRound).where(ApprovalRound.agreement_id == agreement.id))
        round_.requested_at = clock.start_of(clock.today() - timedelta(days=days)) + timedelta(hours=12)
        db.session.commit()
        return agreement.id, round_.id


def test_an_approvers_reminder_speaks_to_them_and_links_where_they_decide(tmp_path):
    """The reminder of an approval past its deadline named its reader among "still to decide: …" and linked
    to the top of the agreement: it now says "you have been asked", since when, and links to the agreement's
    approvals, in the reader's language; one sent by hand ("Send a reminder") carries fresh approve-by-mail
    links of the reader's own, as the request did."""
    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        with room.context():
            db.session.get(User, room.ids["legal"][0]).language = "en"
            db.session.get(User, room.ids["manager"][0]).language = "fr"
            db.session.commit()
        agreement_id, round_id = late_review(room, days=12)
        room.flask("reminders", "run")
        asked_on = clock.today() - timedelta(days=12)
        panel = f"{BASE_URL}/agreements/{agreement_id}#approvals-heading"

        [english] = mails_of(room, inbox, "approval_overdue", "legal")
        for part in (text_of(english), html_of(english)):
            assert "You have been asked to approve “MoU en retard”, waiting since" in " ".join(part.split())
            assert f"{asked_on:%B} {asked_on.day}, {asked_on.year}" in part
            assert panel in part and "Still to decide" not in part
        [french] = mails_of(room, inbox, "approval_overdue", "manager")
        for part in (text_of(french), html_of(french)):
            assert "Votre approbation de «\u00a0MoU en retard\u00a0» est demandée depuis le" in part
            assert panel in part

        # By hand, the next day's reminder carries the reader's own links, and they work.
        with room.context():
            officer, legal = (db.session.get(User, room.ids[name][0]) for name in ("officer", "legal"))
        sent = SignedInClient(room.app, officer).post(f"/approvals/{round_id}/remind", csrf_from="/agreements/")
        assert sent.status_code in (302, 303), sent.get_data(as_text=True)
        assert room.app.test_cli_runner().invoke(args=["outbox", "send"]).exit_code == 0
        _sla, by_hand = mails_of(room, inbox, "approval_overdue", "legal")
        assert "You have been asked to approve" in text_of(by_hand) and panel in text_of(by_hand)
        links = DECISION_LINK.findall(text_of(by_hand))
        assert len(links) == 2 and DECISION_LINK.findall(html_of(by_hand)) == links
        page = SignedInClient(room.app, legal).get(links[0])
        assert page.status_code == 200 and "Approve this agreement?" in page.get_data(as_text=True)
        request = mails_of(room, inbox, "approval_requested", "legal")[0]
        assert not set(DECISION_LINK.findall(text_of(request))) & set(links)  # fresh ones


def test_a_managers_escalation_says_what_they_can_do_and_links_there(tmp_path):
    """Escalated past twice its deadline, a late approval reached the managers with who had not decided and
    nothing more: it now says they can send a reminder from their dashboard or reassign it, links to both,
    and the reassign link opens its form for them; in French too."""
    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        with room.context():
            second = factories.user("manager", db.session.get(User, room.ids["manager"][0]).organization)
            second.language = "fr"
            db.session.commit()
            room.ids["second_manager"] = (second.id, second.email)
        _agreement_id, round_id = late_review(room, days=25)  # the step has 10 days; managers hear past 20
        room.flask("reminders", "run")
        reassign = f"{BASE_URL}/approvals/{round_id}/reassign"

        [english] = mails_of(room, inbox, "approval_escalated", "manager")
        for part in (text_of(english), html_of(english)):
            flat = " ".join(part.split())
            assert "you can “Send a reminder” to them, or “Reassign / delegate” the approval" in flat
            assert f"{BASE_URL}/dashboard" in part and reassign in part
        with room.context():
            manager = db.session.get(User, room.ids["manager"][0])
        page = SignedInClient(room.app, manager).get(reassign.removeprefix(BASE_URL))
        assert page.status_code == 200 and "notifications/approvals" not in page.get_data(as_text=True)
        assert f'action="/approvals/{round_id}/reassign"' in page.get_data(as_text=True)
        # The step it waits at, and whom it asks, as the approvals panel says them (the page named the approval).
        step = re.search(r"<dd data-step>(.*?)</dd>", page.get_data(as_text=True), re.S).group(1)
        assert step.startswith("Approve for negotiation · ") and "Legal adviser" in step, step

        [french] = mails_of(room, inbox, "approval_escalated", "second_manager")
        for part in (text_of(french), html_of(french)):
            assert "«\u00a0Envoyer un rappel\u00a0»" in part and reassign in part


def test_a_partners_overdue_reminder_links_where_they_hand_it_in(tmp_path):
    """A partner's "overdue" mail said what was late but not where to hand it in: it now says "Hand it in
    here" with the deliverable's page, which opens its hand-in form for that partner (in Arabic, right to left);
    the agreement's owner, who does not hand it in, is not told to. That page is the one link: the mail had
    "Open in Sharaka" too, to the same address, in its HTML and text parts alike, in every language."""
    from tests.integration.test_notifications_mail import due_lately, moment, plan_reports, set_language

    due = due_lately()
    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        [occurrence_id] = plan_reports(room, due, ["Rapport trimestriel"])
        set_language(room, partner="ar", colleague="en", officer="en")
        with room.context():
            partner_a = db.session.get(Organization, room.ids["partner_a"][0])
            french = factories.user("partner", partner_a, email="francoise@partner-a.example", language="fr")
            db.session.commit()
            room.ids["french"] = (french.id, french.email)
        room.flask("reminders", "run", "--at", moment(due + timedelta(days=1)))
        page_url = f"{BASE_URL}/deliverables/{occurrence_id}"

        [english] = mails_of(room, inbox, "deliverable_overdue", "colleague")
        assert f"Owed by Partner A.\n\nHand it in here: {page_url}\n" in text_of(english).replace("\r\n", "\n")
        assert f'href="{page_url}"' in html_of(english) and "Hand it in here" in html_of(english)
        [arabic] = mails_of(room, inbox, "deliverable_overdue", "partner")
        assert 'dir="rtl"' in html_of(arabic) and page_url in text_of(arabic)
        assert f"سلِّمه من هنا: {page_url}" in " ".join(text_of(arabic).split()).replace("\u200f", "")
        [in_french] = mails_of(room, inbox, "deliverable_overdue", "french")
        assert f"Le remettre ici\u00a0: {page_url}" in text_of(in_french)
        opening = {"en": "Open in Sharaka", "ar": "فتح في منصة شراكة", "fr": "Ouvrir dans Sharaka"}
        for mail, opens in ((english, opening["en"]), (arabic, opening["ar"]), (in_french, opening["fr"])):
            assert text_of(mail).count(page_url) == 1, text_of(mail)
            assert html_of(mail).count(f'href="{page_url}"') == 1
            assert opens not in text_of(mail) and opens not in html_of(mail)
        [owner] = mails_of(room, inbox, "deliverable_overdue", "officer")
        assert "Hand it in here" not in text_of(owner) and "Open in Sharaka" in text_of(owner)
        with room.context():
            partner = db.session.get(User, room.ids["colleague"][0])
        page = SignedInClient(room.app, partner).get(page_url.removeprefix(BASE_URL))
        assert page.status_code == 200
        assert f'action="/deliverables/{occurrence_id}/submissions"' in page.get_data(as_text=True)


def test_the_weekly_digest_counts_hand_ins_waiting_for_review_in_its_summary(tmp_path):
    """The digest listed the hand-ins waiting for review under their heading, but the sentence under its
    headline counted only approvals, overdue reports and endings: it now counts them too, where its body lists
    them (between the overdue reports and the endings), in French and Arabic as in English."""
    from app.deliverables.models import Occurrence, Submission
    from tests.integration.test_notifications_mail import moment, plan_reports

    with mailroom(tmp_path, digest_mail=True) as room, Inbox(room.port) as inbox:
        handed_in = plan_reports(room, clock.today() + timedelta(days=20), ["Rapport A", "Rapport B"])
        with room.context():
            for number, occurrence_id in enumerate(handed_in, start=1):
                occurrence = db.session.get(Occurrence, occurrence_id)
                occurrence.status = "submitted"
                occurrence.submissions.append(
                    Submission(number=1, submitted_at=clock.utcnow() - timedelta(days=number))
                )
            second = factories.user("manager", db.session.get(User, room.ids["manager"][0]).organization)
            second.language = "fr"
            third = factories.user("manager", db.session.get(User, room.ids["manager"][0]).organization)
            third.language = "ar"
            db.session.commit()
            room.ids |= {"second_manager": (second.id, second.email), "third_manager": (third.id, third.email)}
        room.flask("reminders", "run", "--at", moment(clock.today() - timedelta(days=1)))

        [english] = mails_of(room, inbox, "weekly_digest", "manager")
        for part in (text_of(english), html_of(english)):
            flat = " ".join(part.split())
            assert "0 overdue deliverables, 2 hand-ins waiting for review, 0 agreements ending" in flat
            assert "Hand-ins waiting for review (2)" in flat and "Rapport B" in flat
        [french] = mails_of(room, inbox, "weekly_digest", "second_manager")
        for part in (text_of(french), html_of(french)):
            assert "2\u00a0remises en attente d’examen," in part
        [arabic] = mails_of(room, inbox, "weekly_digest", "third_manager")
        assert "تسليمان في انتظار المراجعة" in text_of(arabic)


def asked_while_mail_waits(room, type_: str = "mou", title: str = "Accord en attente") -> int:
    """Mail paused; an agreement of `type_` submitted for internal review: its requests, with their one-click
    links, wait in the outbox. Returns the agreement's id."""
    from app.notifications import services
    from app.workflow import engine

    with room.context():
        services.set_mail_paused(True, by=db.session.get(User, room.ids["admin"][0]))
        officer = db.session.get(User, room.ids["officer"][0])
        agreement = factories.agreement(
            by=officer, partners=[db.session.get(Organization, room.ids["partner_a"][0])], type=type_, title_fr=title
        )
        db.session.commit()
        engine.take(agreement, "submit_for_review", by=officer, expected_version=agreement.version)
        db.session.commit()
        return agreement.id


def send_when_links_expired(room) -> None:
    """Mail resumes once the requests' links have expired (APPROVAL_LINK_HOURS, and an hour more): the
    outbox sends what it holds as of then."""
    from app.notifications import services

    with room.context():
        services.set_mail_paused(False, by=db.session.get(User, room.ids["admin"][0]))
        db.session.commit()
    hours = room.app.config["APPROVAL_LINK_HOURS"] + 1
    with clock.frozen(clock.now() + timedelta(hours=hours)):
        result = room.app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output


def test_an_approval_request_held_past_its_links_is_sent_without_them_and_says_why(tmp_path):
    """An approval request whose approve-by-mail links expired while it waited in the outbox was withdrawn:
    the approver learnt they had been asked only from the reminder, days later. It now arrives, without the
    dead links, linking to the agreement's approvals where they decide, and saying why the links are gone;
    in their language."""
    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        set_language(room, legal="en", manager="fr")
        agreement_id = asked_while_mail_waits(room)
        send_when_links_expired(room)
        panel = f"{BASE_URL}/agreements/{agreement_id}#approvals-heading"

        [english] = mails_of(room, inbox, "approval_requested", "legal")
        for part in (text_of(english), html_of(english)):
            flat = " ".join(part.split())
            assert "“Accord en attente” is waiting for your decision" in flat
            assert not DECISION_LINK.findall(part) and "These links work once" not in flat
            assert panel in part
            assert "This e-mail waited too long to be sent: its links to approve or send back no longer work" in flat
        [french] = mails_of(room, inbox, "approval_requested", "manager")
        for part in (text_of(french), html_of(french)):
            assert not DECISION_LINK.findall(part) and panel in part
            assert "Ce courriel a attendu trop longtemps avant d’être envoyé" in part
        sent = {m.recipient_id: m for m in room.outbox() if m.kind == "approval_requested"}
        assert {sent[room.ids[name][0]].status for name in ("legal", "manager")} == {"sent"}
        # What the outbox keeps is what was sent.
        assert not DECISION_LINK.findall(sent[room.ids["legal"][0]].body_text)
        with room.context():
            legal = db.session.get(User, room.ids["legal"][0])
        page = SignedInClient(room.app, legal).get(panel.removeprefix(BASE_URL))
        assert page.status_code == 200 and 'id="approvals-heading"' in page.get_data(as_text=True)


def test_a_request_held_past_its_links_whose_step_moved_on_is_still_withdrawn(tmp_path):
    """A convention's legal step is decided by one legal adviser while the mail waits: the request to the
    other adviser asks about a step that no longer waits on anyone, and stays withdrawn; the finance
    controller's request for the next step, written then, is sent without its expired links."""
    from app.workflow import engine

    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        with room.context():
            other = factories.user("legal", db.session.get(User, room.ids["legal"][0]).organization)
            db.session.commit()
            room.ids["other_legal"] = (other.id, other.email)
        agreement_id = asked_while_mail_waits(room, type_="convention", title="Convention en attente")
        with room.context():
            agreement = db.session.get(Agreement, agreement_id)
            engine.decide(
                agreement,
                "approve_review",
                by=db.session.get(User, room.ids["legal"][0]),
                decision="approve",
                comment=None,
                expected_version=agreement.version,
            )
            db.session.commit()
        send_when_links_expired(room)

        requests = {m.recipient_id: m for m in room.outbox() if m.kind == "approval_requested"}
        withdrawn = requests[room.ids["other_legal"][0]]
        assert withdrawn.status == "withdrawn"
        assert withdrawn.last_error == "Its links have expired, and the step it asks about has moved on since."
        assert requests[room.ids["legal"][0]].status == "withdrawn"  # decided on the page meanwhile
        assert not mails_of(room, inbox, "approval_requested", "other_legal")
        [finance] = mails_of(room, inbox, "approval_requested", "finance")
        assert not DECISION_LINK.findall(text_of(finance))
        assert f"{BASE_URL}/agreements/{agreement_id}#approvals-heading" in text_of(finance)
