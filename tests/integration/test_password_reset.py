"""Forgot your password? A single-use link by e-mail, in the person's language."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from app.api.tokens import create_token
from app.auth.models import PasswordReset, User
from app.extensions import db
from app.notifications.models import OutboxMessage
from tests import factories
from tests.conftest import SignedInClient

NEW = "Une caravane de dromadaires au coucher du soleil"


def _ask(app, email, address="10.9.9.9"):
    client = SignedInClient(app, None)
    client.http.environ_base["REMOTE_ADDR"] = address
    return client.post("/password/forgot", data={"email": email}, csrf_from="/password/forgot")


def _link_for(user) -> str:
    mail = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.to_address == user.email, OutboxMessage.kind == "password_reset")
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert mail is not None, "no reset mail in the outbox"
    return re.search(r"http://sharaka\.test(/password/reset/[A-Za-z0-9_\-]+)", mail.body_text).group(1)


def test_the_same_answer_whether_or_not_the_account_exists(app, world):
    known = _ask(app, world.users["partner"].email)
    unknown = _ask(app, "nobody-here@example.org")
    assert known.status_code == unknown.status_code == 303
    assert known.headers["Location"] == unknown.headers["Location"]
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.to_address == "nobody-here@example.org")) is None


def test_a_link_resets_once_and_ends_every_session(app, world):
    person = world.users["partner"]
    elsewhere = SignedInClient(app, person)
    _ask(app, person.email.upper())  # the address is matched whatever its case
    link = _link_for(person)
    visitor = SignedInClient(app, None)
    assert visitor.get(link).status_code == 200
    response = visitor.post(link, data={"new_password": NEW, "confirm": NEW})
    assert response.status_code == 303
    assert elsewhere.get("/portal").status_code == 302  # every other session ended
    assert SignedInClient(app, None).sign_in(person.email, NEW).status_code == 302
    again = SignedInClient(app, None)
    assert again.get(link).status_code == 404  # single use
    assert 'id="link-dead"' in again.get(link).get_data(as_text=True)
    row = db.session.scalars(select(PasswordReset).where(PasswordReset.user_id == person.id)).one()
    assert link.rsplit("/", 1)[1] not in (row.token_hash or "")  # only the hash is kept


def test_a_reset_revokes_the_accounts_api_tokens_by_link_and_by_an_admin(app, world, signed_in):
    """A reset is asked when the account may be in other hands: a token made by those hands stops with it."""
    person = world.users["partner"]
    _token, secret = create_token(person, "script", by=person)
    db.session.commit()
    api = SignedInClient(app, None)
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    _ask(app, person.email)
    visitor = SignedInClient(app, None)
    assert visitor.post(_link_for(person), data={"new_password": NEW, "confirm": NEW}).status_code == 303
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    _token, secret = create_token(person, "script again", by=person)
    db.session.commit()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    edited = signed_in("admin").post(
        f"/admin/users/{person.id}/edit",
        data={
            "email": person.email,
            "full_name": person.full_name,
            "role": person.role,
            "organization_id": str(person.organization_id),
            "language": person.language,
            "is_active": "y",
            "password": "Un tout autre mot de passe pour la caravane",
        },
    )
    assert edited.status_code in (302, 303), edited.get_data(as_text=True)[:500]
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_the_mail_speaks_the_persons_language(app, world):
    person = factories.user("partner", world.partner_a, email="layla@example.org", language="ar")
    db.session.commit()
    _ask(app, person.email)
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == person.email)).one()
    assert mail.language == "ar" and "كلمة مرور" in mail.subject


def test_the_link_opens_in_the_language_of_its_mail(app, world):
    """The mail was in Arabic and the page it opened in the browser's English."""
    person = world.users["partner"]
    person.language = "ar"
    db.session.commit()
    _ask(app, person.email)
    page = SignedInClient(app, None).get(_link_for(person)).get_data(as_text=True)
    assert 'lang="ar"' in page and 'dir="rtl"' in page


def test_a_link_dies_when_it_expires_or_the_password_changes(app, world):
    person = world.users["legal"]
    _ask(app, person.email)
    link = _link_for(person)
    row = db.session.scalars(select(PasswordReset).where(PasswordReset.user_id == person.id)).one()
    row.expires_at = row.requested_at - timedelta(seconds=1)
    db.session.commit()
    assert SignedInClient(app, None).get(link).status_code == 404
    _ask(app, person.email)
    link = _link_for(person)
    user = db.session.get(User, person.id)
    user.set_password("Un autre mot de passe tout à fait solide")
    db.session.commit()
    assert SignedInClient(app, None).get(link).status_code == 404


def test_weak_passwords_and_mismatches_are_refused_and_the_link_survives(app, world):
    person = world.users["auditor"]
    _ask(app, person.email)
    link = _link_for(person)
    visitor = SignedInClient(app, None)
    for data in (
        {"new_password": "azertyuiop123", "confirm": "azertyuiop123"},
        {"new_password": NEW, "confirm": NEW + "x"},
        {"new_password": "", "confirm": ""},
    ):
        assert visitor.post(link, data=data).status_code == 422
    assert db.session.get(User, person.id).check_password(factories.PASSWORD)
    assert visitor.post(link, data={"new_password": NEW, "confirm": NEW}).status_code == 303


def test_requests_are_throttled_per_account_and_per_address(app, world):
    person = world.users["manager"]
    codes = [_ask(app, person.email, address=f"10.0.0.{n}").status_code for n in range(5)]
    assert codes[:3] == [303] * 3 and codes[3:] == [429, 429]
    codes = [_ask(app, f"someone{n}@example.org", address="192.0.2.7").status_code for n in range(12)]
    assert codes[:10] == [303] * 10 and codes[10:] == [429, 429]


def test_a_reset_unlocks_a_slowed_down_sign_in(app, world):
    from tests.integration.test_security import _try

    person = world.users["officer"]
    for n in range(7):
        _try(app, person.email, f"forgotten-{n}", "10.3.3.3")
    assert _try(app, person.email, factories.PASSWORD, "10.3.3.3").status_code == 429
    _ask(app, person.email, address="10.3.3.3")
    visitor = SignedInClient(app, None)
    assert visitor.post(_link_for(person), data={"new_password": NEW, "confirm": NEW}).status_code == 303
    assert _try(app, person.email, NEW, "10.3.3.3").status_code == 302


def test_the_outbox_never_shows_a_one_time_link(app, world):
    """An auditor (or another admin) reads the outbox: a reset link read there would take over the account."""
    admin = world.users["admin"]
    _ask(app, admin.email)
    link = _link_for(admin)
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "password_reset")).first()
    secret = link.rsplit("/", 1)[1]
    for reader in ("auditor", "admin"):
        staff = SignedInClient(app, world.users[reader])
        for page in (f"/admin/outbox/{mail.id}", f"/admin/outbox/{mail.id}/html"):
            shown = staff.get(page)
            assert shown.status_code == 200, page
            text = shown.get_data(as_text=True)
            assert secret not in text, page
            assert "/password/reset/" in text, page  # the reader still sees what kind of link it was
    # The mail itself keeps its link: the person it is for can use it.
    assert SignedInClient(app, None).get(link).status_code == 200


def test_a_link_used_in_a_browser_signed_in_as_someone_else_ends_that_sign_in(app, world):
    """The browser was signed out, but the other person's sign-in stayed open on the server: a copy of its
    cookie kept working."""
    from app.auth.models import UserSession

    person, colleague = world.users["partner"], world.users["officer"]
    _ask(app, person.email)
    link = _link_for(person)
    shared = SignedInClient(app, colleague)  # a shared computer, the colleague still signed in
    assert shared.post(link, data={"new_password": NEW, "confirm": NEW}).status_code == 303
    db.session.expire_all()
    open_sessions = db.session.scalars(
        select(UserSession).where(UserSession.user_id == colleague.id, UserSession.ended_at.is_(None))
    ).all()
    assert open_sessions == []


def test_the_page_says_whose_password_it_sets(app, world):
    """Opened in a browser where someone else is signed in, "your account" read as theirs."""
    person = world.users["partner"]
    _ask(app, person.email)
    link = _link_for(person)
    page = SignedInClient(app, None).get(link).get_data(as_text=True)
    assert f"For the account {person.email}." in page and 'autocomplete="username"' in page
    other = world.users["manager"]
    signed_in_as_other = SignedInClient(app, other).get(link).get_data(as_text=True)
    assert f"You are signed in as {other.full_name}" in signed_in_as_other


def test_the_sign_in_page_after_a_reset_speaks_the_persons_language(app, world):
    """The reset's mail and page speak French for a French reader; the sign-in page after it had come back in
    the install's language (the session's language went with the sign-out)."""
    person = world.users["partner"]
    person.language = "fr"
    db.session.commit()
    _ask(app, person.email)
    visitor = SignedInClient(app, None)
    link = _link_for(person)
    assert visitor.get(link).status_code == 200
    response = visitor.post(link, data={"new_password": NEW, "confirm": NEW})
    assert response.status_code == 303
    page = visitor.get(response.headers["Location"]).get_data(as_text=True)
    assert '<html lang="fr"' in page and "Votre mot de passe a été changé" in page
