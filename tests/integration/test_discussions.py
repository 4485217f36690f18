"""Discussion threads on agreements and deliverables, through the pages and the API: who reads
which thread (a partner never sees the internal one: 404 at both doors), mentions notified in
the mentioned person's language, attachments under the storage rules, edits kept, nothing
deletable, every post and edit audited, and bad input refused with nothing stored."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from sqlalchemy import func, select

from app.api.tokens import create_token
from app.core import clock
from app.core.audit import AuditEvent
from app.core.storage import StoredFile
from app.deliverables import services as deliverables
from app.discussions.models import DiscussionAttachment, DiscussionMessage, DiscussionRevision
from app.extensions import db
from app.notifications.models import Notification, OutboxMessage

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"


def thread_url(agreement, audience="shared"):
    return f"/agreements/{agreement.id}/threads/{audience}/messages"


def post(client, agreement, body, audience="shared", files=None, **kwargs):
    data = {"body": body}
    if files:
        data["files"] = [(BytesIO(content), name) for content, name in files]
    return client.post(
        thread_url(agreement, audience),
        data=data,
        csrf_from=f"/agreements/{agreement.id}",
        content_type="multipart/form-data",
        **kwargs,
    )


def counts():
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (DiscussionMessage, DiscussionAttachment, StoredFile, Notification, OutboxMessage)
    )


@pytest.fixture
def api(app, world):
    def make(role):
        user = world.users[role]
        secret = create_token(user, "test", by=user)[1]
        db.session.commit()
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
        return client

    return make


def test_shared_thread_post_read_and_isolation(app, world, signed_in):
    agreement = world.agreement_a
    partner, officer = signed_in("partner"), signed_in("officer")
    assert post(partner, agreement, "Bonjour, voici nos remarques.").status_code == 303
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Bonjour, voici nos remarques." in page and 'id="thread-shared"' in page
    # Another organisation's partner: the agreement, so its threads, do not exist.
    assert post(signed_in("partner_b"), agreement, "intrus").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(DiscussionMessage)) == 1
    # The auditor reads every thread but writes in none.
    assert "Bonjour, voici nos remarques." in signed_in("auditor").get(f"/agreements/{agreement.id}").get_data(
        as_text=True
    )
    response = post(signed_in("auditor"), agreement, "audit", headers={"Accept": "application/json"})
    assert response.status_code == 403


def test_each_message_says_whose_side_its_author_speaks_for(app, world, signed_in, api):
    """A partner who renames themselves after a ministry official cannot pass as them: each author's
    organisation (or "Ministry") is shown beside the name they chose."""
    import re

    agreement, admin = world.agreement_a, world.users["admin"]
    partner = world.users["partner"]
    partner.full_name = admin.full_name
    db.session.commit()
    assert post(signed_in("officer"), agreement, "Message du ministère.").status_code == 303
    posted = api("partner").post(
        f"/api/v1{thread_url(agreement)}", data={"body": "Signé: l'admin"}, content_type="multipart/form-data"
    )
    assert posted.status_code == 201
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    sides = re.findall(r"data-author-side>\s*(.*?)\s*</span>", page, re.S)
    assert sides == ["Ministry", f"<bdi>{world.partner_a.name}</bdi>"]


def test_a_direction_override_in_a_message_or_a_note_is_dropped(app, world, signed_in):
    """ "Pay to account \u202e1234-5678\u202c" was kept, and shown as 8765-4321; a negotiation note lost
    the override's closing character only. Arabic and its direction marks are kept as typed."""
    from werkzeug.datastructures import FileStorage

    from app.workflow import services as workflow
    from tests import factories

    agreement = world.agreement_a
    body = "Pay to account \u202e1234-5678\u202c.\nالمبلغ\u200f 1000\u200e درهم \u2067x\u2069"
    assert post(signed_in("partner"), agreement, body).status_code == 303
    kept = "Pay to account 1234-5678.\nالمبلغ\u200f 1000\u200e درهم x"
    assert db.session.scalar(select(DiscussionMessage.body)) == kept
    assert "\u202e" not in signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)

    officer = world.users["officer"]
    negotiated = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Note", state="negotiation")
    db.session.commit()
    version = workflow.send_version(
        negotiated,
        by=officer,
        upload=FileStorage(BytesIO(PDF), filename="v1.pdf"),
        note="IBAN \u202e0001\u202c ok",
        expected_version=negotiated.version,
    )
    assert version.note == "IBAN 0001 ok"


def test_a_partner_is_told_that_other_parties_read_the_shared_thread(app, world, signed_in):
    """With two partner organisations, each reads the other's messages in the one shared thread: it had been
    headed "Discussion with the ministry" for both, as if it were a channel of their own."""
    from tests import factories

    officer = world.users["officer"]
    alone = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Seul")
    together = factories.agreement(by=officer, partners=[world.partner_a, world.partner_b], title_fr="Ensemble")
    for agreement in (alone, together):
        factories.shown_to_partners(agreement)
    db.session.commit()
    partner = signed_in("partner")
    heading = 'id="thread-shared-heading">'

    def shared_heading(client, agreement):
        return client.get(f"/agreements/{agreement.id}").get_data(as_text=True).split(heading)[1].split("<span")[0]

    assert "Discussion with the ministry and the other parties" in shared_heading(partner, together)
    assert "Discussion with the ministry and the other parties" in shared_heading(signed_in("partner_b"), together)
    assert "other parties" not in shared_heading(partner, alone) and "Discussion with the ministry" in shared_heading(
        partner, alone
    )
    assert "Discussion with the partners" in shared_heading(signed_in("officer"), together)


def test_internal_thread_is_404_for_a_partner_through_page_and_api(app, world, signed_in, api):
    agreement = world.agreement_a
    officer, partner = signed_in("officer"), signed_in("partner")
    assert post(officer, agreement, "Position interne : ne pas céder sur l'article 4.", "internal").status_code == 303
    message = db.session.scalar(select(DiscussionMessage))
    page = partner.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "article 4" not in page and 'id="thread-internal"' not in page
    assert 'id="thread-internal"' in officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert post(partner, agreement, "je lis ?", "internal").status_code == 404
    edit = partner.post(
        f"{thread_url(agreement, 'internal')}/{message.id}/edit",
        data={"body": "x"},
        csrf_from=f"/agreements/{agreement.id}",
    )
    assert edit.status_code == 404
    # Through the shared thread's address, the internal message does not exist either.
    edit = partner.post(
        f"{thread_url(agreement, 'shared')}/{message.id}/edit",
        data={"body": "x"},
        csrf_from=f"/agreements/{agreement.id}",
    )
    assert edit.status_code == 404
    client = api("partner")
    assert client.get(f"/api/v1{thread_url(agreement, 'internal')}").status_code == 404
    assert (
        client.patch(f"/api/v1{thread_url(agreement, 'internal')}/{message.id}", json={"body": "x"}).status_code == 404
    )
    assert client.get(f"/api/v1{thread_url(agreement, 'shared')}").get_json()["items"] == []
    listed = api("legal").get(f"/api/v1{thread_url(agreement, 'internal')}").get_json()["items"]
    assert [m["body"] for m in listed] == ["Position interne : ne pas céder sur l'article 4."]
    assert db.session.get(DiscussionMessage, message.id).body.startswith("Position interne")


def test_mentions_notify_in_the_persons_language(app, world, signed_in):
    legal = world.users["legal"]
    legal.language = "fr"
    db.session.commit()
    agreement = world.agreement_a
    response = post(signed_in("officer"), agreement, f"@{legal.email} peux-tu relire l'article 3 ?", "internal")
    assert response.status_code == 303
    notice = db.session.scalar(select(Notification).where(Notification.user_id == legal.id))
    assert notice.kind == "discussion_mention" and "#message-" in notice.link and "thread=internal" in notice.link
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient_id == legal.id))
    assert mail.language == "fr" and "vous a mentionné" in mail.subject
    assert "article 3" in mail.body_text
    message = db.session.scalar(select(DiscussionMessage))
    assert [m.user_id for m in message.mentions] == [legal.id]


def test_a_mention_in_an_arabic_message_reads_left_to_right_on_the_page_the_bell_and_the_mail(app, world, signed_in):
    """A bare @mention in Arabic read "name@example.org@" (its @ at the far end): each is isolated left to
    right, in HTML on the thread and the notifications pages, in Unicode isolates in the notice's e-mail."""
    legal = world.users["legal"]
    legal.language = "ar"
    db.session.commit()
    agreement = world.agreement_a
    mention = f"@{legal.email}"
    assert post(signed_in("officer"), agreement, f"شكرا {mention} على المراجعة", "internal").status_code == 303
    thread = signed_in("legal").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert f'شكرا <bdi dir="ltr">{mention}</bdi> على المراجعة' in thread
    isolated = f"\u2066{mention}\u2069"
    assert isolated in signed_in("legal").get("/notifications").get_data(as_text=True)
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient_id == legal.id))
    assert isolated in mail.body_text and isolated in mail.body_html


def test_those_taking_part_are_told_of_a_new_message_each_in_their_language(app, world, signed_in):
    """A partner's question reaches the agreement's owner, and the owner's answer reaches the partner who
    asked, without an @mention (an answer had reached nobody); the author is never told of their own
    message, someone mentioned is told once (by the mention), and nobody outside the thread is told."""
    partner, officer, legal = world.users["partner"], world.users["officer"], world.users["legal"]
    partner.language, officer.language = "ar", "fr"
    db.session.commit()
    agreement = world.agreement_a

    def told(person):
        return [
            (notice.kind, notice.link)
            for notice in db.session.scalars(
                select(Notification).where(Notification.user_id == person.id).order_by(Notification.id)
            )
        ]

    assert post(signed_in("partner"), agreement, "Quand recevrons-nous le projet ?").status_code == 303
    [(kind, link)] = told(officer)
    assert kind == "discussion_message" and "thread=shared" in link and "#message-" in link
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient_id == officer.id))
    assert mail.language == "fr" and "a écrit à propos de" in mail.subject and "Partenaire A" in mail.subject
    assert told(partner) == []

    assert post(signed_in("officer"), agreement, "Vendredi.").status_code == 303
    assert [kind for kind, _ in told(partner)] == ["discussion_message"]
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient_id == partner.id))
    assert mail.language == "ar" and "كتب" in mail.subject and "Vendredi" in mail.body_text
    assert len(told(officer)) == 1  # not of their own answer

    # Mentioned: told once, by the mention. Never told: the other partner, nor the partner of the internal thread.
    assert post(signed_in("officer"), agreement, f"@{legal.email} à relire").status_code == 303
    assert [kind for kind, _ in told(legal)] == ["discussion_mention"]
    assert post(signed_in("legal"), agreement, "Relu.", "internal").status_code == 303
    assert [kind for kind, _ in told(officer)] == ["discussion_message", "discussion_message"]
    assert len(told(partner)) == 2 and told(world.users["partner_b"]) == []
    assert all("thread=shared" in link for _, link in told(partner))


def test_someone_mentioned_who_switched_mention_mail_off_still_gets_the_new_message_mail(app, world, signed_in):
    """The owner switched "mentions of me" off but kept "new messages in discussions I take part in": a
    message mentioning her mailed nothing at all (those mentioned were left out of the new message's mail).
    She now gets that mail; the bell has the mention only. With both kept, the mention's mail alone."""
    from app.notifications import services as notifications

    officer, legal = world.users["officer"], world.users["legal"]
    agreement = world.agreement_a
    assert agreement.owner_id == officer.id

    def mailed(person):
        return list(db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.recipient_id == person.id)))

    def told(person):
        return [n.kind for n in db.session.scalars(select(Notification).where(Notification.user_id == person.id))]

    assert post(signed_in("legal"), agreement, f"@{officer.email} à relire", "internal").status_code == 303
    assert mailed(officer) == ["discussion_mention"] and told(officer) == ["discussion_mention"]
    notifications.switch_off_mail(officer, "discussion_mention")
    db.session.commit()
    assert post(signed_in("legal"), agreement, f"@{officer.email} relu ?", "internal").status_code == 303
    assert mailed(officer) == ["discussion_mention", "discussion_message"]
    assert told(officer) == ["discussion_mention", "discussion_mention"]
    assert "relu ?" in db.session.scalars(select(OutboxMessage.body_text).order_by(OutboxMessage.id.desc())).first()
    notifications.switch_off_mail(officer, "discussion_activity")
    db.session.commit()
    assert post(signed_in("legal"), agreement, f"@{officer.email} encore", "internal").status_code == 303
    assert mailed(officer) == ["discussion_mention", "discussion_message"]  # both off: no mail, as chosen
    assert mailed(legal) == []


@pytest.mark.parametrize("who", ["partner_b", "nobody"])
def test_a_mention_of_someone_the_author_cannot_see_is_refused_without_leaking(app, world, signed_in, who):
    """A partner mentioning another organisation's user, or an address with no account: the same
    words, and nothing stored."""
    address = world.users["partner_b"].email if who == "partner_b" else "personne@example.org"
    partner = signed_in("partner")
    before = counts()
    response = post(partner, world.agreement_a, f"Voir @{address} svp", headers={"Accept": "application/json"})
    assert response.status_code == 422
    assert response.get_json()["detail"] == (
        f"No one you can mention here answers to @{address}. Remove the mention or check the address."
    )
    assert counts() == before


def test_a_refused_mention_in_arabic_reads_left_to_right_in_an_arabic_list(app, world, signed_in):
    """In Arabic the refusal read "…يطابق leila@example.org@." (the @ at the far end) and two addresses were
    joined by a Latin comma: each is isolated, and they are listed the Arabic way."""
    partner = world.users["partner"]
    partner.language = "ar"
    db.session.commit()
    response = post(
        signed_in("partner"),
        world.agreement_a,
        "@personne@example.org و @autre@example.org راجعا المبلغ",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422
    detail = response.get_json()["detail"]
    assert "\u2068@personne@example.org\u2069، \u2068@autre@example.org\u2069" in detail


def test_a_partner_cannot_mention_a_ministry_person_outside_the_thread(app, world, signed_in):
    partner = signed_in("partner")
    legal = world.users["legal"]
    response = post(partner, world.agreement_a, f"@{legal.email} ?", headers={"Accept": "application/json"})
    assert response.status_code == 422
    # Once legal writes in the shared thread, the partner knows of them.
    assert post(signed_in("legal"), world.agreement_a, "Je suis le juriste.").status_code == 303
    assert post(partner, world.agreement_a, f"@{legal.email} merci").status_code == 303
    # Nobody can be mentioned into a thread they may not read: a partner in the internal thread.
    response = post(
        signed_in("officer"),
        world.agreement_a,
        f"@{world.users['partner'].email} ?",
        "internal",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422


BAD = [
    ("empty", "   ", None, "Write a message first."),
    ("too long", "x" * 10_001, None, "at most 10000 characters"),
    ("executable named pdf", "voir pièce", [(b"MZ\x90\x00" + b"\x00" * 100, "rapport.pdf")], "not accepted"),
    ("empty file", "voir pièce", [(b"", "vide.pdf")], "empty"),
    ("broken zip as docx", "voir", [(b"PK\x03\x04" + b"\x00" * 50, "x.docx")], "not accepted"),
    ("six files", "voir", [(PDF + bytes([i]), f"f{i}.pdf") for i in range(6)], "At most 5 files"),
]


@pytest.mark.parametrize("name, body, files, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_clear_message_and_stores_nothing(app, world, signed_in, name, body, files, message):
    partner = signed_in("partner")
    before = counts()
    response = post(partner, world.agreement_a, body, files=files)
    assert response.status_code == 303
    assert message in partner.get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    assert counts() == before


def test_a_huge_attachment_is_refused(app, world, signed_in):
    partner = signed_in("partner")
    before = counts()
    big = b"%PDF-1.4\n" + b"0" * (app.config["MAX_UPLOAD_BYTES"] + 10)
    response = post(
        partner, world.agreement_a, "gros", files=[(big, "gros.pdf")], headers={"Accept": "application/json"}
    )
    assert response.status_code in (413, 422)
    assert "MB" in response.get_json()["detail"]
    assert counts()[:2] == before[:2]


def test_attachments_download_only_for_readers(app, world, signed_in):
    officer = signed_in("officer")
    assert post(officer, world.agreement_a, "la note", "internal", files=[(PDF, "note interne.pdf")]).status_code == 303
    attachment = db.session.scalar(select(DiscussionAttachment))
    url = f"/discussions/attachments/{attachment.id}"
    assert officer.get(url).data == PDF
    assert signed_in("partner").get(url).status_code == 404
    assert signed_in("partner_b").get(url).status_code == 404


def test_a_file_sent_without_a_name_is_kept_named_by_its_content(app, world, signed_in):
    """A part with bytes but an empty file name was dropped in silence (the answer said it was posted)."""
    officer = signed_in("officer")
    assert post(officer, world.agreement_a, "sans nom", "internal", files=[(PDF, "")]).status_code == 303
    attachment = db.session.scalar(select(DiscussionAttachment))
    assert attachment is not None and attachment.original_name.endswith(".pdf")


def test_edits_are_shown_kept_and_audited_and_only_by_the_author(app, world, signed_in):
    partner = signed_in("partner")
    agreement = world.agreement_a
    assert post(partner, agreement, "Première version").status_code == 303
    message = db.session.scalar(select(DiscussionMessage))
    url = f"{thread_url(agreement)}/{message.id}/edit"
    assert (
        partner.post(url, data={"body": "Seconde version"}, csrf_from=f"/agreements/{agreement.id}").status_code == 303
    )
    db.session.refresh(message)
    assert message.body == "Seconde version" and message.is_edited
    assert [r.body for r in db.session.scalars(select(DiscussionRevision))] == ["Première version"]
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "edited" in page and "Première version" in page and "Seconde version" in page
    # Someone else who reads the thread cannot edit it.
    response = signed_in("officer").post(
        url, data={"body": "réécrit"}, csrf_from=f"/agreements/{agreement.id}", headers={"Accept": "application/json"}
    )
    assert response.status_code == 403
    # An empty edit is refused and changes nothing.
    partner.post(url, data={"body": ""}, csrf_from=f"/agreements/{agreement.id}")
    db.session.refresh(message)
    assert message.body == "Seconde version"
    actions = list(
        db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "discussion_messages", AuditEvent.object_id == message.id
            )
        )
    )
    assert sorted(actions) == ["discussion_edited", "discussion_posted"]
    # Nothing deletes a message: no route answers DELETE.
    assert partner.http.delete(url.replace("/edit", "")).status_code in (404, 405)


def test_deliverable_threads(app, world, signed_in, api):
    officer_user = world.users["officer"]
    occurrence = deliverables.plan_deliverable(
        world.agreement_a,
        deliverables.PlanData(
            title_fr="Rapport",
            title_ar=None,
            title_en=None,
            description=None,
            responsible_organization_id=world.partner_a.id,
            recurrence="once",
            first_due_on=clock.today() + timedelta(days=5),
            until_on=None,
        ),
        by=officer_user,
    ).occurrences[0]
    db.session.commit()
    partner = signed_in("partner")
    url = f"/deliverables/{occurrence.id}/threads/shared/messages"
    assert (
        partner.post(
            url, data={"body": "Le rapport arrive vendredi."}, csrf_from=f"/deliverables/{occurrence.id}"
        ).status_code
        == 303
    )
    page = signed_in("officer").get(f"/deliverables/{occurrence.id}").get_data(as_text=True)
    assert "Le rapport arrive vendredi." in page
    assert "Le rapport arrive vendredi." not in signed_in("officer").get(
        f"/agreements/{world.agreement_a.id}"
    ).get_data(as_text=True)  # its own thread, not the agreement's
    assert signed_in("partner_b").post(url, data={"body": "x"}, csrf_from="/agreements/").status_code == 404
    assert api("partner").get(f"/api/v1/deliverables/{occurrence.id}/threads/internal/messages").status_code == 404
    items = api("officer").get(f"/api/v1/deliverables/{occurrence.id}/threads/shared/messages").get_json()["items"]
    assert [i["body"] for i in items] == ["Le rapport arrive vendredi."]


def test_api_post_edit_and_errors(app, world, api):
    agreement = world.agreement_a
    client = api("partner")
    response = client.post(
        f"/api/v1{thread_url(agreement)}",
        data={"body": f"Avec pièce @{world.users['officer'].email}", "files": [(BytesIO(PDF), "annexe.pdf")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["attachments"][0]["name"] == "annexe.pdf"
    assert created["mentions"] == [{"id": world.users["officer"].id, "name": world.users["officer"].full_name}]
    download = client.get(created["attachments"][0]["download_url"])
    assert download.status_code == 200 and download.data == PDF
    patched = client.patch(f"/api/v1{thread_url(agreement)}/{created['id']}", json={"body": "Corrigé"})
    assert patched.status_code == 200 and patched.get_json()["is_edited"]
    assert patched.get_json()["earlier_versions"][0]["body"].startswith("Avec pièce")
    empty = client.post(f"/api/v1{thread_url(agreement)}", data={"body": " "}, content_type="multipart/form-data")
    assert empty.status_code == 422 and empty.headers["Content-Type"].startswith("application/problem+json")
    assert api("partner_b").get(f"/api/v1{thread_url(agreement)}").status_code == 404
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/agreements/{agreement_id}/threads/{audience}/messages" in spec["paths"]


@pytest.mark.parametrize("path", ["/agreements/{id}", "/api/v1/agreements/{id}/threads/shared/messages"])
def test_a_thread_costs_the_same_queries_with_few_or_many_messages(app, world, signed_in, api, path):
    """Messages, their authors, mentions, attachments and earlier texts load in a fixed number of queries."""
    from app.discussions import services
    from tests.bulk import counting_queries

    agreement, officer, partner = world.agreement_a, world.users["officer"], world.users["partner"]
    client = api("officer") if path.startswith("/api/") else signed_in("officer").http
    url = path.format(id=agreement.id)

    def add(count):
        for number in range(count):
            author = officer if number % 2 else partner
            message = services.post_message(
                agreement,
                audience="shared",
                by=author,
                body=f"Message {number} @{(partner if author is officer else officer).email}",
            )
            services.edit_message(message, body=f"Message {number} (corrigé)", by=author, agreement=agreement)
        db.session.commit()

    add(2)
    assert client.get(url).status_code == 200
    with counting_queries() as few:
        client.get(url)
    add(20)
    with counting_queries() as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few), "\n\n".join(s[:200] for s in many)


def test_a_mention_says_whose_side_its_author_speaks_for(app, world, signed_in, api):
    """A partner renamed after a ministry official passed as them in the mention's mail and bell (the
    thread showed their organisation): the mail says it too."""
    officer, partner = world.users["officer"], world.users["partner"]
    partner.full_name = world.users["manager"].full_name
    db.session.commit()
    posted = api("partner").post(
        f"/api/v1{thread_url(world.agreement_a)}",
        data={"body": f"@{officer.email} merci de valider"},
        content_type="multipart/form-data",
    )
    assert posted.status_code == 201
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient_id == officer.id))
    assert world.partner_a.name in mail.subject and partner.full_name in mail.subject


def test_before_the_partners_see_an_agreement_its_shared_thread_says_they_will_read_it(world, signed_in):
    """On a draft, a "2 MDH floor" written in the partners' thread reached them at the end of the review, and
    nothing had said so."""
    from tests import factories

    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Brouillon")
    draft.shared_at = None
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{draft.id}").get_data(as_text=True)
    assert "data-not-shared-yet" in page
    shared = signed_in("officer").get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    assert "data-not-shared-yet" not in shared


def test_the_hand_in_hint_under_the_partner_thread_is_for_who_may_hand_in(world, signed_in):
    """ "To hand in the deliverable, use Hand in" is said to whoever has that button: the partner responsible
    for it, or the ministry's staff for a deliverable the ministry itself owes; not to the ministry's staff
    under a partner's deliverable, who have no such button."""
    from tests.integration.test_api import plan

    hint = "to hand in the deliverable, use “Hand in”"
    partners = plan(world.agreement_a, world.partner_a, world.users["officer"])
    ministrys = plan(world.agreement_a, world.ministry, world.users["officer"])
    db.session.commit()
    assert hint in signed_in("partner").get(f"/deliverables/{partners.id}").get_data(as_text=True)
    assert hint not in signed_in("officer").get(f"/deliverables/{partners.id}").get_data(as_text=True)
    assert hint not in signed_in("manager").get(f"/deliverables/{partners.id}").get_data(as_text=True)
    assert hint in signed_in("officer").get(f"/deliverables/{ministrys.id}").get_data(as_text=True)
