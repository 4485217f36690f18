"""A person's own new sign-in address: it takes effect only through the link sent to it (once, in time, for
an address nobody took meanwhile); the old address is told, without a link; the profile shows what waits."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.auth import email_changes
from app.auth import services as accounts
from app.auth.models import EmailChange, User
from app.core.audit import AuditEvent
from app.core.models import utcnow
from app.extensions import db
from app.notifications.models import OutboxMessage
from tests import factories
from tests.conftest import SignedInClient
from tests.integration.test_notifications_mail import Inbox, mailroom

LINK = re.compile(r"/account/email/confirm/([A-Za-z0-9_\-]+)")


def _fresh(user_id: int) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def _asked(client: SignedInClient, email: str, password: str = factories.PASSWORD):
    return client.post(
        "/account/email", data={"email": email, "password": password}, csrf_from="/account", follow_redirects=True
    )


def _link_sent_to(address: str) -> str:
    """The confirmation link in the newest mail queued for `address`."""
    body = db.session.scalars(
        select(OutboxMessage.body_text)
        .where(OutboxMessage.to_address == address, OutboxMessage.kind == "email_change_confirm")
        .order_by(OutboxMessage.id.desc())
    ).first()
    return "/account/email/confirm/" + LINK.search(body).group(1)


def test_the_link_arrives_at_the_new_address_and_the_old_one_is_told_without_it(tmp_path):
    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        legal_id, old = room.ids["legal"]
        with room.context():
            legal = db.session.get(User, legal_id)
            legal.language = "fr"
            db.session.commit()
        answer = _asked(SignedInClient(room.app, _fresh_in(room, legal_id)), "Nouvelle.Adresse@Example.org")
        assert "Un lien est envoyé à nouvelle.adresse@example.org" in answer.get_data(as_text=True)
        assert room.app.test_cli_runner().invoke(args=["outbox", "send"]).exit_code == 0
        inbox.wait_for(2)
        by_address = {rcpt[0]: message for rcpt, message in inbox.received}
        assert set(by_address) == {old, "nouvelle.adresse@example.org"}
        new_mail = by_address["nouvelle.adresse@example.org"]
        assert new_mail["Subject"] == "Confirmez votre nouvelle adresse de connexion à Sharaka"
        link = LINK.search(new_mail.get_body(preferencelist=("plain",)).get_content())
        old_text = by_address[old].get_body(preferencelist=("plain",)).get_content()
        assert "nouvelle.adresse@example.org" in old_text and not LINK.search(old_text)
        assert "/reset" not in old_text
        with room.context():
            assert db.session.get(User, legal_id).email == old  # nothing changes until the link is followed
        anonymous = SignedInClient(room.app, None)
        path = link.group(0)
        assert anonymous.get(path).status_code == 200  # shown, not spent: a mail scanner may open it
        assert anonymous.post(path, data={}, csrf_from=path).status_code == 303
        with room.context():
            assert db.session.get(User, legal_id).email == "nouvelle.adresse@example.org"
            event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "email_changed"))
            assert event.object_id == legal_id and event.actor_id == legal_id
            assert event.changes == {"before": {"email": old}, "after": {"email": "nouvelle.adresse@example.org"}}
        # Used once: the same link again says so, and changes nothing.
        again = anonymous.get(path)
        assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
        assert anonymous.sign_in("nouvelle.adresse@example.org", factories.PASSWORD).status_code == 302


def _fresh_in(room, user_id: int) -> User:
    with room.context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def test_the_profile_shows_the_waiting_address_and_cancels_it(app, world, signed_in):
    officer = world.users["officer"]
    client = signed_in(officer)
    _asked(client, "first@example.org")
    first = _link_sent_to("first@example.org")
    _asked(client, "second@example.org")  # a second request replaces the first
    second = _link_sent_to("second@example.org")
    page = client.get("/account").get_data(as_text=True)
    assert "Waiting for confirmation: second@example.org" in page and "first@example.org" not in page
    replaced = client.get(first)
    assert replaced.status_code == 410 and "asked again with a newer link" in replaced.get_data(as_text=True)
    assert client.post("/account/email/cancel", data={}, csrf_from="/account").status_code == 303
    assert "Waiting for confirmation" not in client.get("/account").get_data(as_text=True)
    assert client.get(second).status_code == 410
    assert _fresh(officer.id).email == officer.email
    # Their mail, had it not left yet (mail paused, the server down), is withdrawn with them.
    links = (OutboxMessage.kind == "email_change_confirm", OutboxMessage.recipient_id == officer.id)
    statuses = db.session.scalars(select(OutboxMessage.status).where(*links)).all()
    assert statuses == ["withdrawn", "withdrawn"]


def test_an_expired_link_changes_nothing(app, world, signed_in):
    partner = world.users["partner"]
    _asked(signed_in(partner), "later@example.org")
    link = _link_sent_to("later@example.org")
    db.session.execute(
        EmailChange.__table__.update().where(EmailChange.user_id == partner.id).values(expires_at=utcnow())
    )
    anonymous = SignedInClient(app, None)
    shown = anonymous.get(link)
    assert shown.status_code == 410 and "This link has expired" in shown.get_data(as_text=True)
    assert anonymous.post(link, data={}, csrf_from="/sign-in").status_code == 410
    assert _fresh(partner.id).email == partner.email


def test_a_link_for_an_address_taken_meanwhile_is_refused(app, world, signed_in):
    officer = world.users["officer"]
    _asked(signed_in(officer), "wanted@example.org")
    link = _link_sent_to("wanted@example.org")
    factories.user("legal", world.ministry, email="wanted@example.org")
    anonymous = SignedInClient(app, None)
    refused = anonymous.post(link, data={}, csrf_from=link)
    assert refused.status_code == 422
    assert "This address now belongs to another Sharaka account" in refused.get_data(as_text=True)
    assert _fresh(officer.id).email == officer.email


def test_what_is_refused_when_asking(app, world, signed_in):
    """An address another account holds, without saying so; one's own address; a directory account's."""
    partner = world.users["partner"]
    client = signed_in(partner)
    taken = _asked(client, world.users["officer"].email).get_data(as_text=True)
    assert "cannot be given from here" in taken and "already exists" not in taken
    assert "That is already your address" in _asked(client, partner.email.upper()).get_data(as_text=True)
    assert "valid e-mail address" in _asked(client, "no address").get_data(as_text=True)
    assert db.session.scalar(select(EmailChange).where(EmailChange.user_id == partner.id)) is None
    partner.directory_dn = "uid=p,ou=people,dc=example"
    db.session.flush()
    refused = _asked(client, "fresh@example.org").get_data(as_text=True)
    assert "comes from the ministry directory" in refused


def test_an_admins_change_is_direct_told_at_both_addresses_and_overtakes_a_waiting_request(app, world, signed_in):
    officer = world.users["officer"]
    _asked(signed_in(officer), "mine@example.org")
    link = _link_sent_to("mine@example.org")
    old = officer.email
    accounts.update_user(
        officer,
        full_name=officer.full_name,
        role=officer.role,
        organization=officer.organization,
        language=officer.language,
        is_active=True,
        by=world.users["admin"],
        email="given@example.org",
    )
    db.session.flush()
    told = set(
        db.session.scalars(
            select(OutboxMessage.to_address).where(
                OutboxMessage.recipient_id == officer.id, OutboxMessage.kind == "email_changed"
            )
        )
    )
    assert told == {old, "given@example.org"}
    assert email_changes.pending_change(officer) is None
    assert SignedInClient(app, None).get(link).status_code == 410


def test_ones_own_address_is_changed_only_with_ones_password(world, signed_in):
    """A session left open must not be enough to move the account, and its password resets, to another
    mailbox; a wrong password counts as a failed sign-in (the throttle applies)."""
    officer = world.users["officer"]
    client = signed_in("officer")
    page = _asked(client, "elsewhere@example.org", password="not the password").get_data(as_text=True)
    assert "The current password is wrong." in page
    assert email_changes.pending_change(_fresh(officer.id)) is None
    assert db.session.scalar(select(EmailChange).where(EmailChange.new_email == "elsewhere@example.org")) is None
    missing = client.post("/account/email", data={"email": "elsewhere@example.org"}, csrf_from="/account")
    assert missing.status_code in (303, 422)
    assert email_changes.pending_change(_fresh(officer.id)) is None
    assert "elsewhere@example.org" in _asked(client, "elsewhere@example.org").get_data(as_text=True)
    assert email_changes.pending_change(_fresh(officer.id)).new_email == "elsewhere@example.org"


def test_a_link_opened_where_someone_else_is_signed_in_says_whose_address_it_changes(app, world, signed_in):
    """A manager signed in confirmed a partner's link and read "Your sign-in address is now …" on his own
    profile, and the link again said the address was "already yours": the page now warns, as a password
    reset's does, and what follows is said of that account."""
    partner, manager = world.users["partner"], world.users["manager"]
    _asked(signed_in(partner), "changed.partner@example.org")
    link = _link_sent_to("changed.partner@example.org")
    client = signed_in(manager)
    page = client.get(link).get_data(as_text=True)
    assert f"You are signed in as {manager.full_name}, but this link is for another account, {partner.email}" in page
    assert "that account signs in" in page and "you will sign in" not in page
    assert "You are signed in as" not in SignedInClient(app, None).get(link).get_data(as_text=True)
    assert "You are signed in as" not in signed_in(partner).get(link).get_data(as_text=True)
    confirmed = client.post(link, data={}, csrf_from=link)
    assert confirmed.status_code == 303 and not confirmed.location.endswith("/account")
    said = client.get(confirmed.location, follow_redirects=True).get_data(as_text=True)
    assert "That account&#39;s sign-in address is now changed.partner@example.org." in said
    assert f"You are still signed in as {manager.full_name}." in said and "Your sign-in address" not in said
    assert _fresh(partner.id).email == "changed.partner@example.org"
    assert _fresh(manager.id).email == manager.email
    again = client.get(link)
    assert again.status_code == 410 and "already yours" not in again.get_data(as_text=True)


def test_a_new_address_with_a_control_character_is_refused_not_cleaned(world, signed_in):
    """A NUL was dropped by the forms' text cleaning: "a\\x00b@example.org" asked for ab@example.org."""
    partner = world.users["partner"]
    page = _asked(signed_in(partner), "a\x00b@example.org").get_data(as_text=True)
    assert "An e-mail address cannot contain control characters" in page
    assert db.session.scalar(select(EmailChange).where(EmailChange.user_id == partner.id)) is None


def _reset_by_link(app, person, new_password: str) -> None:
    asker = SignedInClient(app, None)
    asker.post("/password/forgot", data={"email": person.email}, csrf_from="/password/forgot")
    body = db.session.scalars(
        select(OutboxMessage.body_text)
        .where(OutboxMessage.to_address == person.email, OutboxMessage.kind == "password_reset")
        .order_by(OutboxMessage.id.desc())
    ).first()
    link = re.search(r"(/password/reset/[A-Za-z0-9_\-]+)", body).group(1)
    done = SignedInClient(app, None).post(link, data={"new_password": new_password, "confirm": new_password})
    assert done.status_code == 303


def test_a_reset_password_kills_a_waiting_change_of_address(app, world, signed_in):
    """Someone holding the password asked to move the account to their mailbox; the person then reset the
    password, which ends every session and token. The waiting link had still worked: its holder confirmed it,
    the account's sign-in address became theirs, and a "forgot your password?" took the account back."""
    officer = world.users["officer"]
    _asked(signed_in(officer), "thief@example.org")
    link = _link_sent_to("thief@example.org")
    _reset_by_link(app, officer, "Une caravane de dromadaires au coucher du soleil")
    thief = SignedInClient(app, None)
    shown = thief.get(link)
    assert shown.status_code == 410 and "the change was cancelled" in shown.get_data(as_text=True)
    assert thief.post(link, data={}, csrf_from="/sign-in").status_code == 410
    assert _fresh(officer.id).email == officer.email
    assert email_changes.pending_change(_fresh(officer.id)) is None


def test_a_password_changed_or_an_account_signed_out_everywhere_kills_a_waiting_change_of_address(
    app, world, signed_in
):
    """Both are done when the account may be in other hands; the person changing their own password is told
    that their waiting change is cancelled, so that a change of their own is asked again, not wondered about."""
    officer = world.users["officer"]
    client = signed_in(officer)
    _asked(client, "first@example.org")
    link = _link_sent_to("first@example.org")
    new = "Une caravane de dromadaires au coucher du soleil"
    changed = client.post(
        "/account/password",
        data={"current_password": factories.PASSWORD, "new_password": new, "confirm": new},
        csrf_from="/account/password",
        follow_redirects=True,
    )
    assert "The change of sign-in address to first@example.org is cancelled" in changed.get_data(as_text=True)
    assert SignedInClient(app, None).get(link).status_code == 410

    _asked(client, "second@example.org", password=new)
    link = _link_sent_to("second@example.org")
    ended = signed_in("admin").post(
        f"/admin/users/{officer.id}/sign-out-everywhere", csrf_from=f"/admin/users/{officer.id}/edit"
    )
    assert ended.status_code in (302, 303)
    assert SignedInClient(app, None).get(link).status_code == 410
    assert _fresh(officer.id).email == officer.email
