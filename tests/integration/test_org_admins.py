"""Partner organisation admins: their own organisation's partner accounts only (anything else is a
404), deactivation ends sessions and tokens, and the agreements whose deliverables each colleague
sees are enforced in the pages, the API, the calendar feed and the reminders."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from io import BytesIO

import pytest
from sqlalchemy import select

from app.api.tokens import create_token
from app.auth.models import DeliverableGrant, User
from app.core import clock
from app.core.audit import AuditEvent
from app.deliverables import services as deliverables
from app.extensions import db
from app.notifications.calendar import build_calendar
from app.notifications.models import Notification
from app.notifications.reminders import candidates_at
from app.notifications.services import categories_for, create_calendar_feed
from tests import factories
from tests.conftest import SignedInClient

TODAY = clock.today()


def _fresh(model, object_id):
    db.session.expire_all()
    return db.session.get(model, object_id)


def _report(agreement_id: int) -> str:
    """The title of the deliverable planned on that agreement, bracketed: "Rapport 1" is also the start of
    "Rapport 11788"."""
    return f"Rapport [{agreement_id}]"


@pytest.fixture
def team(world):
    """Partner A's admin, a colleague, a second agreement of partner A, one deliverable on each."""
    boss = world.users["partner"]
    boss.is_org_admin = True
    colleague = factories.user("partner", world.partner_a, email="colleague@partner-a.example")
    officer = world.users["officer"]
    second = factories.agreement(
        by=officer, partners=[world.partner_a], title_fr="Second accord A", signed_on=date(2025, 8, 1), state="active"
    )
    occurrences = []
    for agreement in (world.agreement_a, second):
        planned = deliverables.plan_deliverable(
            agreement,
            deliverables.PlanData(
                title_fr=_report(agreement.id),
                title_ar=None,
                title_en=None,
                description=None,
                responsible_organization_id=world.partner_a.id,
                recurrence="once",
                first_due_on=TODAY + timedelta(days=3),
                until_on=None,
            ),
            by=officer,
        )
        occurrences.append(planned.occurrences[0])
    db.session.commit()
    return boss, colleague, second, occurrences


def test_the_partner_admin_lists_and_manages_only_their_own_organisation(app, world, signed_in, team):
    boss, colleague, _second, _occurrences = team
    client = SignedInClient(app, boss)
    listing = client.get("/team").get_data(as_text=True)
    assert colleague.email in listing and world.users["partner_b"].email not in listing
    assert world.users["officer"].email not in listing
    # Another organisation's user, a ministry account, an id that does not exist: all 404.
    for user_id in (world.users["partner_b"].id, world.users["officer"].id, world.users["admin"].id, 999999, 2**31, -1):
        assert client.get(f"/team/{user_id}").status_code == 404, user_id
        assert client.post(f"/team/{user_id}/deactivate", csrf_from="/team").status_code == 404, user_id
    db.session.refresh(world.users["partner_b"])
    assert world.users["partner_b"].is_active_account
    # A partner who is not their organisation's admin has no team page.
    assert SignedInClient(app, colleague).get("/team").status_code == 403
    assert SignedInClient(app, colleague).get(f"/team/{boss.id}").status_code == 403


def test_the_partner_admin_changes_a_colleagues_address_as_the_ministry_would(app, world, team):
    """A colleague's new mailbox: set by their organisation's admin, it is their sign-in from then on, the old
    address and the new one are both told, the trail records it. An address another organisation's account
    holds is refused without saying whose; another organisation's account is a 404; a colleague who is not
    their organisation's admin cannot."""
    from app.notifications.models import OutboxMessage

    boss, colleague, _second, _occurrences = team
    client = SignedInClient(app, boss)
    page = client.get(f"/team/{colleague.id}").get_data(as_text=True)
    assert 'id="email-form"' in page and 'value="colleague@partner-a.example"' in page
    moved = client.post(
        f"/team/{colleague.id}/email", data={"email": " New.Box@Partner-A.example "}, csrf_from=f"/team/{colleague.id}"
    )
    assert moved.status_code == 303
    colleague = _fresh(User, colleague.id)
    assert colleague.email == "new.box@partner-a.example"
    told = set(
        db.session.scalars(
            select(OutboxMessage.to_address).where(
                OutboxMessage.recipient_id == colleague.id, OutboxMessage.kind == "email_changed"
            )
        )
    )
    assert told == {"colleague@partner-a.example", "new.box@partner-a.example"}
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.object_type == "users", AuditEvent.object_id == colleague.id, AuditEvent.action == "updated"
        )
    )
    assert event.changes == {"before": {"email": "colleague@partner-a.example"}, "after": {"email": colleague.email}}
    assert SignedInClient(app, None).sign_in("new.box@partner-a.example", factories.PASSWORD).status_code == 302
    assert SignedInClient(app, None).sign_in("colleague@partner-a.example", factories.PASSWORD).status_code == 401

    # Another organisation's address: refused without naming it or its owner; nothing changes.
    taken = world.users["partner_b"].email
    refused = client.post(
        f"/team/{colleague.id}/email", data={"email": taken}, csrf_from=f"/team/{colleague.id}", follow_redirects=True
    ).get_data(as_text=True)
    assert "cannot be given from here" in refused and "already exists" not in refused
    assert _fresh(User, colleague.id).email == "new.box@partner-a.example"
    # Not an address: refused with the form's reason.
    refused = client.post(
        f"/team/{colleague.id}/email",
        data={"email": "not an address"},
        csrf_from=f"/team/{colleague.id}",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "valid e-mail address" in refused and _fresh(User, colleague.id).email == "new.box@partner-a.example"
    # Someone else's account, or no admin: no such page.
    other = world.users["partner_b"].id
    assert client.post(f"/team/{other}/email", data={"email": "x@y.example"}, csrf_from="/team").status_code == 404
    colleague_client = SignedInClient(app, _fresh(User, colleague.id))
    answer = colleague_client.post(f"/team/{boss.id}/email", data={"email": "x@y.example"}, csrf_from="/portal")
    assert answer.status_code == 403 and _fresh(User, boss.id).email == boss.email


def test_deactivation_ends_sessions_and_tokens_and_reactivation_lets_back_in(app, world, team):
    boss, colleague, _second, _occurrences = team
    elsewhere = SignedInClient(app, colleague)
    _token, secret = create_token(colleague, "script", by=colleague)
    feed = create_calendar_feed(colleague)
    db.session.commit()
    assert elsewhere.get("/portal").status_code == 200
    assert app.test_client().get(f"/calendar/{feed}.ics").status_code == 200
    client = SignedInClient(app, boss)
    assert client.post(f"/team/{colleague.id}/deactivate", csrf_from="/team").status_code == 303
    assert elsewhere.get("/portal").status_code == 302
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert app.test_client().get(f"/calendar/{feed}.ics").status_code == 404
    assert SignedInClient(app, None).sign_in(colleague.email, factories.PASSWORD).status_code == 401
    assert client.post(f"/team/{boss.id}/deactivate", csrf_from="/team").status_code == 303  # refused, flashed
    assert _fresh(User, boss.id).is_active_account
    assert client.post(f"/team/{colleague.id}/reactivate", csrf_from="/team").status_code == 303
    assert SignedInClient(app, None).sign_in(colleague.email, factories.PASSWORD).status_code == 302
    # Back in, but what was cut off stays cut off: a calendar address leaked meanwhile does not work again.
    assert app.test_client().get(f"/calendar/{feed}.ics").status_code == 404
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    actions = list(
        db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_type == "users", AuditEvent.object_id == colleague.id)
        )
    )
    assert "deactivated" in actions and "reactivated" in actions


def test_an_account_the_ministry_closed_stays_closed_to_the_partners_admin(app, world, team):
    """A leaver or a breach the ministry's admin closed had been reopened by the organisation's own admin."""
    boss, colleague, _second, _occurrences = team
    ministry = SignedInClient(app, world.users["admin"])
    assert ministry.post(f"/team/{colleague.id}/deactivate", csrf_from="/team").status_code == 303
    client = SignedInClient(app, boss)
    page = client.get(f"/team/{colleague.id}").get_data(as_text=True)
    assert 'id="member-closed-by-ministry"' in page and f"/team/{colleague.id}/reactivate" not in page
    refused = client.post(f"/team/{colleague.id}/reactivate", csrf_from="/team", follow_redirects=True)
    assert "only its administrator can reactivate it" in refused.get_data(as_text=True)
    assert not _fresh(User, colleague.id).is_active_account
    # What the organisation's admin closed, they reopen; what the ministry reopened is theirs again.
    assert ministry.post(f"/team/{colleague.id}/reactivate", csrf_from="/team").status_code == 303
    assert client.post(f"/team/{colleague.id}/deactivate", csrf_from="/team").status_code == 303
    assert f"/team/{colleague.id}/reactivate" in client.get(f"/team/{colleague.id}").get_data(as_text=True)
    assert client.post(f"/team/{colleague.id}/reactivate", csrf_from="/team").status_code == 303
    assert _fresh(User, colleague.id).is_active_account
    # The admin's account form closes it as the ministry too.
    from app.auth.services import update_user

    member = _fresh(User, colleague.id)
    update_user(
        member,
        full_name=member.full_name,
        role=member.role,
        organization=member.organization,
        language=member.language,
        is_active=False,
        by=world.users["admin"],
    )
    db.session.commit()
    assert client.post(f"/team/{colleague.id}/reactivate", csrf_from="/team").status_code == 303
    assert not _fresh(User, colleague.id).is_active_account


def test_the_ministry_keeps_closed_an_account_the_partners_admin_closed_first(app, world, team):
    """The organisation's admin closes a colleague; the ministry's admin then closes it too (a leaver, a
    breach): that had changed nothing, flashed as done, and the organisation's admin could reopen it."""
    boss, colleague, _second, _occurrences = team
    other = factories.user("partner", world.partner_a, email="other@partner-a.example")
    db.session.commit()
    client, ministry = SignedInClient(app, boss), SignedInClient(app, world.users["admin"])
    for person in (colleague, other):
        assert client.post(f"/team/{person.id}/deactivate", csrf_from="/team").status_code == 303
        assert not _fresh(User, person.id).deactivated_by_ministry
    taken = ministry.post(f"/team/{colleague.id}/deactivate", csrf_from="/team", follow_redirects=True)
    assert "now by the ministry" in taken.get_data(as_text=True)
    assert _fresh(User, colleague.id).deactivated_by_ministry
    again = ministry.post(f"/team/{colleague.id}/deactivate", csrf_from="/team", follow_redirects=True)
    page = again.get_data(as_text=True)
    assert "already deactivated: nothing changed" in page and "alert-success" not in page
    # The admin's account form, saved with the account still closed, takes it over too.
    form = {
        "email": other.email,
        "full_name": other.full_name,
        "role": "partner",
        "organization_id": str(world.partner_a.id),
        "language": "en",
    }
    assert ministry.post(f"/admin/users/{other.id}/edit", data=form).status_code == 302
    assert _fresh(User, other.id).deactivated_by_ministry
    for person in (colleague, other):
        refused = client.post(f"/team/{person.id}/reactivate", csrf_from="/team", follow_redirects=True)
        assert "only its administrator can reactivate it" in refused.get_data(as_text=True)
        assert not _fresh(User, person.id).is_active_account
    back = ministry.post(f"/team/{boss.id}/reactivate", csrf_from="/team", follow_redirects=True)
    assert "could already sign in: nothing changed" in back.get_data(as_text=True)


def test_a_partner_moved_to_another_organisation_sees_all_its_deliverables(app, world, team):
    """Limited to some of partner A's agreements, then moved to partner B: the ticked agreements were A's,
    so they had silently seen no deliverable of B (and A's grants came back on a move back)."""
    boss, colleague, second, _occurrences = team
    client = SignedInClient(app, boss)
    assert client.post(f"/team/{colleague.id}", data={"scope": "some", "agreements": [str(second.id)]}).status_code
    on_b = factories.plan_line(world.agreement_b, world.users["officer"], responsible=world.partner_b)
    db.session.commit()
    form = {
        "email": colleague.email,
        "full_name": colleague.full_name,
        "role": "partner",
        "organization_id": str(world.partner_b.id),
        "language": "en",
        "is_active": "y",
    }
    assert SignedInClient(app, world.users["admin"]).post(f"/admin/users/{colleague.id}/edit", data=form).status_code
    moved = _fresh(User, colleague.id)
    assert moved.organization_id == world.partner_b.id and not moved.deliverables_restricted
    assert db.session.scalar(select(DeliverableGrant).where(DeliverableGrant.user_id == colleague.id)) is None
    _token, secret = create_token(moved, "script", by=moved)
    db.session.commit()
    items = app.test_client().get("/api/v1/deliverables", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert {item["id"] for item in items["items"]} == {occurrence.id for occurrence in on_b.occurrences}
    updated = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == colleague.id, AuditEvent.action == "updated")
    ).all()
    assert updated[-1].changes["after"]["deliverable_grants_forgotten"] == [second.id]


def test_restricted_deliverables_are_hidden_everywhere(app, world, team):
    from app.notifications.services import Notice, notify

    boss, colleague, second, (on_a, on_second) = team
    # Told of the report on A before (its title in their bell and mail): narrowed, that goes too.
    notify(
        colleague,
        Notice(
            kind="deliverable_overdue",
            category="deliverable_overdue",
            params={"reference": "X", "title": {"fr": "Rapport confidentiel de A"}, "due_on": TODAY.isoformat()},
            link=f"/deliverables/{on_a.id}",
            object_type="deliverable_occurrences",
            object_id=on_a.id,
        ),
    )
    db.session.commit()
    seen = SignedInClient(app, colleague)
    assert "Rapport confidentiel de A" in seen.get("/notifications").get_data(as_text=True)
    client = SignedInClient(app, boss)
    response = client.post(f"/team/{colleague.id}", data={"scope": "some", "agreements": [str(second.id)]})
    assert response.status_code == 303
    assert _fresh(User, colleague.id).deliverables_restricted
    assert "Rapport confidentiel de A" not in seen.get("/notifications").get_data(as_text=True)
    assert db.session.scalar(select(Notification).where(Notification.user_id == colleague.id)) is None
    # Pages: the list, one occurrence, the hand-in, the portal.
    listing = seen.get("/deliverables/").get_data(as_text=True)
    assert f"/deliverables/{on_second.id}" in listing and f"/deliverables/{on_a.id}" not in listing
    assert seen.get(f"/deliverables/{on_a.id}").status_code == 404
    assert (
        seen.post(f"/deliverables/{on_a.id}/submissions", data={"version": "1"}, csrf_from="/portal").status_code == 404
    )
    assert f"/deliverables/{on_a.id}" not in seen.get("/portal").get_data(as_text=True)
    # The list's agreement filter offers only the agreements whose deliverables they see.
    offered = seen.get("/choices/planned").get_data(as_text=True)
    assert second.reference in offered and on_a.deliverable.agreement.reference not in offered
    # The API.
    _token, secret = create_token(colleague, "script", by=colleague)
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    api = app.test_client()
    items = api.get("/api/v1/deliverables", headers=headers).get_json()["items"]
    assert {item["id"] for item in items} == {on_second.id}
    assert api.get(f"/api/v1/deliverables/{on_a.id}", headers=headers).status_code == 404
    # The calendar feed.
    feed = build_calendar(_fresh(User, colleague.id), TODAY).decode()
    assert _report(second.id) in feed and _report(world.agreement_a.id) not in feed
    # The reminders: the colleague is reminded of the granted agreement only; the admin of both.
    now = datetime.combine(TODAY, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=8)
    due = [c for c in candidates_at(now) if c.rule == "deliverable_due"]
    reminded = {(c.recipient.id, c.object_id) for c in due}
    assert (colleague.id, on_second.id) in reminded and (colleague.id, on_a.id) not in reminded
    assert (boss.id, on_a.id) in reminded
    # Back to "all": everything again.
    client.post(f"/team/{colleague.id}", data={"scope": "all"})
    assert db.session.scalar(select(DeliverableGrant).where(DeliverableGrant.user_id == colleague.id)) is None
    assert seen.get(f"/deliverables/{on_a.id}").status_code == 200
    assert any(
        e.action == "deliverable_access_changed"
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.object_id == colleague.id, AuditEvent.object_type == "users")
        )
    )


def test_grants_only_among_the_organisations_agreements(app, world, team):
    boss, colleague, _second, _occurrences = team
    client = SignedInClient(app, boss)
    response = client.post(f"/team/{colleague.id}", data={"scope": "some", "agreements": [str(world.agreement_b.id)]})
    assert response.status_code == 422
    assert not _fresh(User, colleague.id).deliverables_restricted
    assert client.post(f"/team/{colleague.id}", data={"scope": "everything"}).status_code == 422


def test_the_agreements_are_boxes_a_browser_can_tick(app, world, team):
    """Each agreement is a checkbox named `agreements` (they were <option>s outside any <select>: a browser
    sent none, and "only these" with none ticked hid every deliverable); "only these" with none is refused."""
    import re

    boss, colleague, second, _occurrences = team
    client = SignedInClient(app, boss)
    page = client.get(f"/team/{colleague.id}").get_data(as_text=True)
    boxes = re.findall(r'<input[^>]*name="agreements"[^>]*>', page)
    assert boxes and all('type="checkbox"' in box for box in boxes), boxes
    assert any(f'value="{second.id}"' in box for box in boxes)
    assert "<option" not in page.split('id="access-form"')[1].split("</form>")[0]
    response = client.post(f"/team/{colleague.id}", data={"scope": "some"})
    assert response.status_code == 422
    assert "Tick the agreements" in response.get_data(as_text=True)
    assert not _fresh(User, colleague.id).deliverables_restricted


def test_only_a_sharaka_admin_makes_a_partner_their_organisations_admin(app, world, signed_in):
    admin = signed_in("admin")
    partner = world.users["partner_b"]
    data = {
        "email": partner.email,
        "full_name": partner.full_name,
        "role": "partner",
        "organization_id": str(world.partner_b.id),
        "language": "en",
        "is_active": "y",
        "is_org_admin": "y",
    }
    assert admin.post(f"/admin/users/{partner.id}/edit", data=data).status_code == 302
    assert _fresh(User, partner.id).is_org_admin
    # They are told, in the bell (and by mail: test_account_changes_told), by a notice no choice turns off.
    notice = db.session.scalar(select(Notification).where(Notification.user_id == partner.id))
    assert notice.kind == "role_changed" and notice.params["org_admin"] is True
    page = SignedInClient(app, _fresh(User, partner.id)).get("/notifications").get_data(as_text=True)
    assert "You are now your organisation&#39;s admin in Sharaka" in page
    assert "role_changed" not in categories_for(partner)
    officer = world.users["officer"]
    data = {
        "email": officer.email,
        "full_name": officer.full_name,
        "role": "officer",
        "organization_id": str(world.ministry.id),
        "language": "en",
        "is_active": "y",
        "is_org_admin": "y",
    }
    assert admin.post(f"/admin/users/{officer.id}/edit", data=data).status_code == 422
    assert not _fresh(User, officer.id).is_org_admin


def test_restricted_deliverables_stay_hidden_behind_every_other_door(app, world, team):
    """Threads, attachments, the plan and indicators through the API, the indicators on the agreement's
    page and the portfolio's, search and /verify: none shows the deliverables of an agreement the
    colleague was not granted (found by an outside probe: each answered)."""
    from app.discussions import services as discussions
    from app.discussions.models import DiscussionAttachment
    from app.indicators import services as indicators
    from tests.integration.test_api import PDF, upload

    boss, colleague, second, (on_a, on_second) = team
    officer = world.users["officer"]
    assert SignedInClient(app, boss).post(
        f"/team/{colleague.id}", data={"scope": "some", "agreements": [str(second.id)]}
    )
    hidden, shown = on_a.deliverable, on_second.deliverable
    made = {
        name: indicators.add_indicator(
            deliverable,
            indicators.IndicatorData(
                name_ar=None, name_fr=name, name_en=None, unit="u", baseline="0", target="10", target_scope="term"
            ),
            by=officer,
        )
        for deliverable, name in ((hidden, "Zanzibarites"), (shown, "Ouvertures"))
    }
    message = discussions.post_message(
        world.agreement_a,
        occurrence=on_a,
        audience="shared",
        body="Voici le brouillon",
        uploads=[upload(PDF + b"thread", "brouillon.pdf")],
        by=boss,
    )
    handed_in_bytes = PDF + b"hand-in of the hidden deliverable"
    deliverables.submit(
        on_a,
        [upload(handed_in_bytes, "cachette.pdf")],
        note=None,
        by=boss,
        expected_version=on_a.version,
        indicator_values={f"indicator_{made['Zanzibarites'].id}": "4"},
    )
    db.session.commit()
    attachment = db.session.scalar(select(DiscussionAttachment).where(DiscussionAttachment.message_id == message.id))
    seen = SignedInClient(app, colleague)
    _token, secret = create_token(colleague, "script", by=colleague)
    db.session.commit()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}

    # The thread's attachment, on the page and through the API.
    assert seen.get(f"/discussions/attachments/{attachment.id}").status_code == 404
    assert api.get(f"/api/v1/discussions/attachments/{attachment.id}/content", headers=headers).status_code == 404
    # The plan and the indicators through the API: empty for the hidden agreement, as its page shows.
    assert api.get(f"/api/v1/agreements/{world.agreement_a.id}/deliverables", headers=headers).get_json() == []
    assert api.get(f"/api/v1/agreements/{second.id}/deliverables", headers=headers).get_json() != []
    assert api.get(f"/api/v1/agreements/{world.agreement_a.id}/indicators", headers=headers).get_json() == []
    assert api.get(f"/api/v1/agreements/{second.id}/indicators", headers=headers).get_json() != []
    # The agreement's page and summary, the portfolio's indicators and their export.
    for path in (f"/agreements/{world.agreement_a.id}", f"/agreements/{world.agreement_a.id}/summary"):
        assert "Zanzibarites" not in seen.get(path).get_data(as_text=True), path
    for path in ("/portfolio/indicators", "/portfolio/indicators/export.csv"):
        page = seen.get(path).get_data(as_text=True)
        assert "Ouvertures" in page and "Zanzibarites" not in page, path
    # Search: the deliverable's title and its hand-in's file name find nothing; the granted one is found.
    assert _report(world.agreement_a.id) not in seen.get("/search?q=rapport").get_data(as_text=True)
    assert _report(second.id) in seen.get("/search?q=rapport").get_data(as_text=True)
    assert "cachette.pdf" not in seen.get("/search?q=cachette").get_data(as_text=True)
    assert "cachette.pdf" in SignedInClient(app, boss).get("/search?q=cachette").get_data(as_text=True)
    # /verify does not confirm the hand-in's copy.
    checked = seen.post("/verify", data={"file": (BytesIO(handed_in_bytes), "copie.pdf")}, csrf_from="/verify")
    assert "cachette.pdf" not in checked.get_data(as_text=True)
    assert "cachette.pdf" in SignedInClient(app, boss).post(
        "/verify", data={"file": (BytesIO(handed_in_bytes), "copie.pdf")}, csrf_from="/verify"
    ).get_data(as_text=True)
    # Nobody may @mention the colleague in the hidden deliverable's thread: they could not read it.
    refused = SignedInClient(app, boss).post(
        f"/deliverables/{on_a.id}/threads/shared/messages",
        data={"body": f"Pour @{colleague.email}"},
        csrf_from=f"/deliverables/{on_a.id}",
    )
    assert refused.status_code in (303, 422)
    assert not any(
        n.kind == "discussion_mention"
        for n in db.session.scalars(select(Notification).where(Notification.user_id == colleague.id))
    )


def test_a_leavers_agreements_are_handed_over_at_once_and_the_account_may_then_change(app, world, signed_in):
    """Deactivating an officer who owns agreements under way is refused until they have new owners; the
    account's page gives them all to one colleague at once (it had taken one edit page per agreement), each
    change recorded on its agreement."""
    from sqlalchemy import func, select

    from app.agreements.models import Agreement
    from app.core.audit import AuditEvent

    leaver, successor = world.users["officer"], world.users["other_officer"]

    def owned_by(person) -> int:
        return db.session.scalar(select(func.count()).select_from(Agreement).where(Agreement.owner_id == person.id))

    owned = owned_by(leaver)
    assert owned >= 2
    admin = signed_in("admin")
    page = admin.get(f"/admin/users/{leaver.id}/edit").get_data(as_text=True)
    assert 'id="hand-over"' in page and f'value="{successor.id}"' in page
    # Only an owner may take them: a partner, the leaver themselves, nobody, or a made-up id are refused.
    edit_page, hand_over = f"/admin/users/{leaver.id}/edit", f"/admin/users/{leaver.id}/hand-over"
    for refused in (world.users["partner"].id, leaver.id, 999999, "abc", ""):
        response = admin.post(hand_over, data={"successor_id": refused}, csrf_from=edit_page)
        assert response.status_code == 303
        assert owned_by(leaver) == owned
    response = admin.post(hand_over, data={"successor_id": successor.id}, csrf_from=edit_page)
    assert response.status_code == 303
    db.session.expire_all()
    assert owned_by(leaver) == 0 and owned_by(successor) >= owned
    recorded = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "agreements", AuditEvent.action == "updated")
    ).all()
    assert sum(1 for event in recorded if event.changes.get("after", {}).get("owner_id") == successor.id) == owned
    assert 'id="hand-over"' not in admin.get(f"/admin/users/{leaver.id}/edit").get_data(as_text=True)
    # Nobody else hands over: an officer may not, even their own.
    assert signed_in("officer").post(
        f"/admin/users/{successor.id}/hand-over", data={"successor_id": leaver.id}, csrf_from="/agreements/"
    ).status_code in (403, 404)


def test_a_colleagues_address_with_a_control_character_is_refused_not_cleaned(app, world, team):
    """The NUL was dropped by the forms' text cleaning, and the colleague's address became ab@…."""
    boss, colleague, _second, _occurrences = team
    refused = SignedInClient(app, boss).post(
        f"/team/{colleague.id}/email",
        data={"email": "a\x00b@partner-a.example"},
        csrf_from=f"/team/{colleague.id}",
        follow_redirects=True,
    )
    assert "An e-mail address cannot contain control characters" in refused.get_data(as_text=True)
    assert _fresh(User, colleague.id).email == "colleague@partner-a.example"


def test_no_id_is_used_twice_on_a_page_of_several_forms(app, world, team):
    """The account page and a colleague's page hold several forms, whose hidden fields each carried
    id="csrf_token"."""
    boss, colleague, _second, _occurrences = team
    client = SignedInClient(app, boss)
    for path in ("/account", f"/team/{colleague.id}"):
        page = client.get(path).get_data(as_text=True)
        ids = re.findall(r'\sid="([^"]+)"', page)
        assert page.count('name="csrf_token"') > 1, path
        assert not sorted({name for name in ids if ids.count(name) > 1}), path
