"""A person hears of what changed about their own account: a new role, being made (or no longer) their
organisation's admin. Told in the bell and by mail in their language, a mail no preference silences."""

from __future__ import annotations

from sqlalchemy import select

from app.auth import services as accounts
from app.auth.models import User
from app.extensions import db
from app.notifications import services
from app.notifications.models import Notification, OutboxMessage
from tests.integration.test_notifications_mail import Inbox, mailroom


def _save(room, name: str, *, by: str = "admin", **changes) -> None:
    """The admin's account form saved for `name`, with `changes` over what the account holds."""
    with room.context():
        user = db.session.get(User, room.ids[name][0])
        values = dict(
            full_name=user.full_name,
            role=user.role,
            organization=user.organization,
            language=user.language,
            is_active=user.is_active_account,
            is_org_admin=user.is_org_admin,
        )
        accounts.update_user(user, by=db.session.get(User, room.ids[by][0]), **(values | changes))
        db.session.commit()


def _send(room) -> None:
    assert room.app.test_cli_runner().invoke(args=["outbox", "send"]).exit_code == 0


def test_a_new_role_is_told_in_the_persons_language_whatever_mail_they_switched_off(tmp_path):
    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        with room.context():
            officer = db.session.get(User, room.ids["officer"][0])
            officer.language = "fr"
            services.set_mail_choices(officer, set())  # every optional mail switched off
            db.session.commit()
        _save(room, "officer", role="manager")
        _send(room)
        inbox.wait_for(1)
        ((recipients, message),) = inbox.received
        assert recipients == [room.ids["officer"][1]]
        assert message["Subject"] == "Votre rôle dans Sharaka est désormais Gestionnaire (approbateur)"
        text = message.get_body(preferencelist=("plain",)).get_content()
        with room.context():
            admin_name = db.session.get(User, room.ids["admin"][0]).full_name
        assert f"{admin_name} a changé votre rôle de Chargé de dossiers en Gestionnaire (approbateur)." in text
        assert "Vous pouvez désormais approuver ou renvoyer des accords" in text
        assert "List-Unsubscribe-Post" not in message  # no one-click: not a mail one turns off
        with room.context():
            bell = list(db.session.scalars(select(Notification).where(Notification.kind == "role_changed")))
            assert [notice.user_id for notice in bell] == [room.ids["officer"][0]]


def test_an_organisation_admin_appointed_and_removed_hears_it_in_arabic(tmp_path):
    with mailroom(tmp_path) as room, Inbox(room.port) as inbox:
        with room.context():
            db.session.get(User, room.ids["partner"][0]).language = "ar"
            db.session.commit()
        _save(room, "partner", is_org_admin=True)
        _save(room, "partner", is_org_admin=False)
        _send(room)
        inbox.wait_for(2)
        subjects = [message["Subject"] for _rcpt, message in inbox.received]
        assert subjects == ["أصبحت الآن مسؤول مؤسستك في شراكة", "لم تعد مسؤول مؤسستك في شراكة"]
        assert {tuple(rcpt) for rcpt, _message in inbox.received} == {(room.ids["partner"][1],)}


def test_nothing_is_told_when_nothing_of_the_role_changed_or_the_account_is_closed(tmp_path):
    """A deactivated person cannot sign in: no notice, no mail of a role they no longer use. Nor is the admin
    told of saving their own account (they cannot change their own role: update_user refuses it)."""
    with mailroom(tmp_path) as room:
        _save(room, "officer", language="fr")
        _save(room, "legal", role="manager", is_active=False)
        _save(room, "admin", language="fr")
        with room.context():
            assert db.session.scalar(select(Notification).where(Notification.kind == "role_changed")) is None
            assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "role_changed")) is None
