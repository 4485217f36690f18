"""Invitations by e-mail: single-use expiring links stored hashed, resend and revoke, in the
invitee's language; who may invite whom."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.auth import invitations
from app.auth.models import Invitation, User
from app.core.audit import AuditEvent
from app.core.errors import ValidationFailed
from app.extensions import db
from app.notifications.models import OutboxMessage
from tests import factories
from tests.conftest import SignedInClient

PASSWORD = "Une caravane de dromadaires au coucher du soleil"


def _link(email: str) -> str:
    mail = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.to_address == email, OutboxMessage.kind == "invitation")
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert mail is not None, "no invitation in the outbox"
    return re.search(r"http://sharaka\.test(/invitation/[A-Za-z0-9_\-]+)", mail.body_text).group(1)


def _invite(client, email, role="partner", organization=None, language="en"):
    data = {
        "email": email,
        "role": role,
        "language": language,
        "organization_id": str(organization.id) if organization else "",
    }
    return client.post("/invitations/new", data=data)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_admin_invites_and_the_invitee_chooses_name_and_password_once(app, world, signed_in):
    admin = signed_in("admin")
    response = _invite(admin, "New.Officer@Example.org", role="officer", organization=world.ministry, language="ar")
    assert response.status_code == 303
    invitation = db.session.scalars(select(Invitation).where(Invitation.email == "new.officer@example.org")).one()
    link = _link("new.officer@example.org")
    assert link.rsplit("/", 1)[1] not in invitation.token_hash  # only the hash is kept
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "invitation")).one()
    assert mail.language == "ar"
    visitor = SignedInClient(app, None)
    page = visitor.get(link)
    assert page.status_code == 200 and 'lang="ar"' in page.get_data(as_text=True)  # in the invitee's language
    # A weak password: a clear message, nothing stored.
    weak = visitor.post(link, data={"full_name": "Nadia", "password": "password123", "confirm": "password123"})
    assert weak.status_code == 422
    assert db.session.scalar(select(User).where(User.email == "new.officer@example.org")) is None
    done = visitor.post(link, data={"full_name": "Nadia Alami", "password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 303
    user = db.session.scalars(select(User).where(User.email == "new.officer@example.org")).one()
    assert (user.role, user.full_name, user.language, user.organization_id) == (
        "officer",
        "Nadia Alami",
        "ar",
        world.ministry.id,
    )
    assert SignedInClient(app, None).sign_in(user.email, PASSWORD).status_code == 302
    again = SignedInClient(app, None).get(link)
    assert again.status_code == 410 and 'data-status="accepted"' in again.get_data(as_text=True)
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "invitations")))
    assert {"invited", "invitation_accepted"} <= actions


def test_an_admin_invites_a_finance_controller_and_the_account_form_offers_the_role(app, world, signed_in):
    """The finance controller's role, offered wherever an admin picks a role: the invitation and account forms."""
    admin = signed_in("admin")
    for page in ("/invitations/new", "/admin/users/new", f"/admin/users/{world.users['legal'].id}/edit"):
        assert '<option value="finance">Finance controller</option>' in admin.get(page).get_data(as_text=True), page
    assert _invite(admin, "nadia@example.org", role="finance", organization=world.ministry).status_code == 303
    invitation = db.session.scalars(select(Invitation).where(Invitation.email == "nadia@example.org")).one()
    assert invitation.role == "finance"
    done = SignedInClient(app, None).post(
        _link("nadia@example.org"), data={"full_name": "Nadia Alami", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert done.status_code == 303
    user = db.session.scalars(select(User).where(User.email == "nadia@example.org")).one()
    assert (user.role, user.organization_id) == ("finance", world.ministry.id)


def test_expired_revoked_and_replaced_links_say_so(app, world, signed_in):
    admin = signed_in("admin")
    _invite(admin, "late@example.org", organization=world.partner_a)
    first = _link("late@example.org")
    invitation = db.session.scalars(select(Invitation).where(Invitation.email == "late@example.org")).one()
    invitation.expires_at = invitation.created_at - timedelta(seconds=1)
    db.session.commit()
    expired = SignedInClient(app, None).get(first)
    assert expired.status_code == 410 and 'data-status="expired"' in expired.get_data(as_text=True)
    assert "expired" in SignedInClient(app, None).post(
        first, data={"full_name": "X", "password": PASSWORD, "confirm": PASSWORD}, csrf_from="/sign-in"
    ).get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "late@example.org")) is None
    # Resend: a new link works, the old one is unknown.
    assert admin.post(f"/invitations/{invitation.id}/resend", csrf_from="/team").status_code == 303
    second = _link("late@example.org")
    assert second != first
    assert SignedInClient(app, None).get(first).status_code == 404
    assert SignedInClient(app, None).get(second).status_code == 200
    # Revoke: the link says it was withdrawn.
    assert admin.post(f"/invitations/{invitation.id}/revoke", csrf_from="/team").status_code == 303
    revoked = SignedInClient(app, None).get(second)
    assert revoked.status_code == 410 and 'data-status="revoked"' in revoked.get_data(as_text=True)
    assert admin.post(f"/invitations/{invitation.id}/resend", csrf_from="/team").status_code == 303  # refused, flashed
    assert SignedInClient(app, None).get(second).status_code == 410
    assert SignedInClient(app, None).get("/invitation/not-a-real-token").status_code == 404


def test_an_invitation_dies_with_its_senders_right_to_invite(app, world, signed_in):
    """A deactivated admin's invitation to an admin account (a leaver's way back in), or one sent by an
    organisation's admin who is no longer one, creates nothing."""
    second_admin = factories.user("admin", world.ministry, email="admin2@ministry.example")
    partner_admin = world.users["partner"]
    partner_admin.is_org_admin = True
    db.session.commit()
    by_leaver = _invite(signed_in(second_admin), "way-back@example.org", role="admin", organization=world.ministry)
    by_org_admin = _invite(signed_in(partner_admin), "late.partner@example.org", organization=world.partner_a)
    assert by_leaver.status_code == by_org_admin.status_code == 303
    leaver_link, demoted_link = _link("way-back@example.org"), _link("late.partner@example.org")
    second_admin.is_active_account = False
    partner_admin.is_org_admin = False
    db.session.commit()
    for link, email in ((leaver_link, "way-back@example.org"), (demoted_link, "late.partner@example.org")):
        # Said when the link opens, before the invitee fills the form in (it had been refused only after).
        opened = SignedInClient(app, None).get(link)
        assert opened.status_code == 410
        assert "may no longer invite" in opened.get_data(as_text=True) and "accept-form" not in opened.get_data(
            as_text=True
        )
        answer = {"full_name": "X", "password": PASSWORD, "confirm": PASSWORD}
        assert SignedInClient(app, None).post(link, data=answer, csrf_from="/sign-in").status_code == 410
        assert db.session.scalar(select(User).where(User.email == email)) is None
        with pytest.raises(ValidationFailed, match="may no longer invite"):
            invitations.accept(_invitation(email), full_name="X", password=PASSWORD)


def _invitation(email: str) -> Invitation:
    db.session.expire_all()
    return db.session.scalar(select(Invitation).where(Invitation.email == email))


def test_whoever_resends_an_invitation_stands_behind_it(app, world, signed_in):
    """An organisation's admin invites, then loses the right to invite: the team page marks the invitation, and
    the admin who resends it becomes its sender, so its new link works (it had been resent in vain)."""
    partner_admin = world.users["partner"]
    partner_admin.is_org_admin = True
    db.session.commit()
    assert _invite(signed_in(partner_admin), "late.partner@example.org", organization=world.partner_a).status_code
    partner_admin.is_org_admin = False
    db.session.commit()
    admin = signed_in("admin")
    invitation = _invitation("late.partner@example.org")
    row = re.search(rf'<tr data-invitation="{invitation.id}">.*?</tr>', admin.get("/team").get_data(as_text=True), re.S)
    assert "data-unbacked" in row.group(0)
    assert admin.post(f"/invitations/{invitation.id}/resend", csrf_from="/team").status_code == 303
    assert _invitation("late.partner@example.org").invited_by_id == world.users["admin"].id
    mail = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_address == "late.partner@example.org").order_by(OutboxMessage.id)
    ).all()[-1]
    assert world.users["admin"].full_name in mail.body_text
    assert "data-unbacked" not in admin.get("/team").get_data(as_text=True)
    visitor = SignedInClient(app, None)
    link = _link("late.partner@example.org")
    accepted = visitor.post(link, data={"full_name": "Late Partner", "password": PASSWORD, "confirm": PASSWORD})
    assert accepted.status_code == 303
    assert db.session.scalar(select(User).where(User.email == "late.partner@example.org")) is not None


def test_inviting_an_existing_address_is_a_form_error_and_stores_nothing(app, world, signed_in):
    admin = signed_in("admin")
    before = (_count(Invitation), _count(OutboxMessage))
    response = _invite(admin, world.users["partner"].email.upper(), organization=world.partner_a)
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    _invite(admin, "twice@example.org", organization=world.partner_a)
    second = _invite(admin, "twice@example.org", organization=world.partner_a)
    assert second.status_code == 422 and "already waiting" in second.get_data(as_text=True)
    assert (_count(Invitation), _count(OutboxMessage)) == (before[0] + 1, before[1] + 1)
    # Bad input: a clear message, nothing stored.
    for data in (
        {"email": "not-an-address", "role": "partner", "organization_id": str(world.partner_a.id)},
        {"email": "x@example.org", "role": "emperor", "organization_id": ""},
        {"email": "x@example.org", "role": "partner", "organization_id": ""},
        {"email": "x@example.org", "role": "partner", "organization_id": str(world.ministry.id)},
        {"email": "x@example.org", "role": "partner", "organization_id": "99999999999999999999"},
    ):
        assert admin.post("/invitations/new", data={**data, "language": "en"}).status_code == 422, data
    assert _count(Invitation) == before[0] + 1


def test_a_partner_admin_invites_only_partners_of_their_own_organisation(app, world, signed_in):
    partner = world.users["partner"]
    partner.is_org_admin = True
    db.session.commit()
    client = signed_in("partner")
    assert _invite(client, "colleague@partner-a.example", organization=world.partner_a).status_code == 303
    invitation = db.session.scalars(select(Invitation).where(Invitation.email == "colleague@partner-a.example")).one()
    assert (invitation.role, invitation.organization_id) == ("partner", world.partner_a.id)
    before = _count(Invitation)
    assert _invite(client, "boss@example.org", role="admin").status_code == 422
    assert _invite(client, "spy@example.org", organization=world.partner_b).status_code == 422
    assert _count(Invitation) == before
    # Another organisation's invitation does not exist for them.
    other = signed_in("admin")
    _invite(other, "b-person@example.org", organization=world.partner_b)
    theirs = db.session.scalars(select(Invitation).where(Invitation.email == "b-person@example.org")).one()
    for change in ("resend", "revoke"):
        assert client.post(f"/invitations/{theirs.id}/{change}", csrf_from="/team").status_code == 404
    assert "b-person@example.org" not in client.get("/team").get_data(as_text=True)
    # Nor does it, or any account outside their organisation, answer differently from an unknown address
    # already taken: one refusal, which says neither where nor what.
    said = {
        address: _invite(client, address, organization=world.partner_a).get_data(as_text=True)
        for address in ("b-person@example.org", world.users["officer"].email, world.users["partner_b"].email)
    }
    assert all("cannot be invited from here" in page for page in said.values()), said
    assert not any("already exists" in page or "already waiting" in page for page in said.values())
    # Their own organisation's are told as they are.
    own = _invite(client, "colleague@partner-a.example", organization=world.partner_a).get_data(as_text=True)
    assert "already waiting" in own
    # A plain partner (not their organisation's admin) cannot invite at all.
    assert signed_in("partner_b").get("/invitations/new").status_code == 403
    assert signed_in("officer").get("/team").status_code == 403


def test_past_the_drop_downs_limit_an_admin_finds_the_organisation_by_typing(app, world, signed_in, monkeypatch):
    """Every organisation of a government is too many to list: past CHOICES_LISTED the form carries only what
    is chosen and the search's address; an organisation found that way is accepted, a made-up id is not."""
    monkeypatch.setitem(app.config, "CHOICES_LISTED", 1)
    admin = signed_in("admin")
    page = admin.get("/invitations/new").get_data(as_text=True)
    field = re.search(r'<select[^>]*name="organization_id"[^>]*>(.*?)</select>', page, re.S)
    assert 'data-remote="/choices/organizations' in field.group(0)
    assert "tom-select.complete.min.js" in page  # what turns the field into a search as one types
    assert world.partner_b.name not in field.group(1)
    found = admin.get("/choices/organizations?q=" + world.partner_b.slug).get_json()["results"]
    assert str(world.partner_b.id) in [choice["value"] for choice in found]
    assert _invite(admin, "found@partner-b.example", organization=world.partner_b).status_code == 303
    invitation = db.session.scalars(select(Invitation).where(Invitation.email == "found@partner-b.example")).one()
    assert invitation.organization_id == world.partner_b.id
    before = _count(Invitation)
    response = admin.post(
        "/invitations/new",
        data={"email": "nowhere@example.org", "role": "partner", "language": "en", "organization_id": "99999"},
    )
    assert response.status_code == 422 and _count(Invitation) == before


def test_an_account_made_for_an_invited_address_spends_the_invitation(app, world, signed_in):
    """The admin made the account by hand: the invitation stayed "pending" on /team, and its link said only
    that the account exists."""
    admin = signed_in("admin")
    assert _invite(admin, "both.ways@example.org", organization=world.partner_a).status_code == 303
    link = _link("both.ways@example.org")
    made = admin.post(
        "/admin/users/new",
        data={
            "email": "Both.Ways@example.org",
            "full_name": "Both Ways",
            "role": "partner",
            "organization_id": str(world.partner_a.id),
            "language": "en",
            "is_active": "y",
            "password": PASSWORD,
        },
    )
    assert made.status_code in (302, 303), made.get_data(as_text=True)[:300]
    invitation = db.session.scalars(select(Invitation).where(Invitation.email == "both.ways@example.org")).one()
    db.session.refresh(invitation)
    assert invitation.status == "revoked"
    assert SignedInClient(app, None).get(link).status_code == 410


def test_an_invitation_opened_where_someone_is_signed_in_warns_before_signing_them_out(app, world, signed_in):
    """Creating the account signs out whoever is signed in in that browser: the page said nothing of it."""
    _invite(signed_in("admin"), "newcomer@example.org", organization=world.partner_a)
    link = _link("newcomer@example.org")
    manager = world.users["manager"]
    client = signed_in(manager)
    page = client.get(link).get_data(as_text=True)
    assert (
        f"You are signed in as {manager.full_name}: creating this account signs you out, and the new account is "
        "newcomer@example.org." in page
    )
    assert "You are signed in as" not in SignedInClient(app, None).get(link).get_data(as_text=True)
    created = client.post(link, data={"full_name": "Newcomer", "password": PASSWORD, "confirm": PASSWORD})
    assert created.status_code == 303
    assert client.get("/dashboard").status_code == 302  # signed out, as the page said


@pytest.mark.parametrize("address", ["a\x00b@example.org", "ab@example.org\x00", "a\x1bb@example.org"])
def test_an_address_with_a_control_character_is_refused_not_cleaned(world, signed_in, address):
    """The forms' text cleaning dropped the NUL out of "a\\x00b@example.org", and the invitation went to
    ab@example.org: someone else's mailbox."""
    answer = _invite(signed_in("admin"), address, organization=world.partner_a)
    assert answer.status_code == 422
    assert "An e-mail address cannot contain control characters" in answer.get_data(as_text=True)
    assert _count(Invitation) == 0
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "invitation")) is None
    with pytest.raises(ValidationFailed) as refused:  # the service under the form says it too
        invitations.invite(
            email=address, role="partner", organization=world.partner_a, language="en", by=world.users["admin"]
        )
    assert "control characters" in refused.value.field_errors["email"][0]
