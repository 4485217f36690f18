"""Notification pages through the test client: the bell, one's own notices, mail choices,
the calendar feed and the administrators' outbox."""

import hashlib
from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from app.core import clock
from app.core.audit import AuditEvent
from app.extensions import db
from app.notifications import services
from app.notifications.models import CalendarFeed, MailOptOut, Notification, OutboxMessage, Setting
from tests import factories
from tests.databases import backend

JSON = {"Accept": "application/json"}
TODAY = clock.today()


def notice(user, reference="MTNRA-2026-0001", *, link=None, kind="agreement_ending", days=30):
    notification = services.notify(
        user,
        services.Notice(
            kind=kind,
            category="agreement_ending",
            params={
                "reference": reference,
                "title": {"fr": "Accord", "en": "Agreement", "ar": "اتفاق"},
                "days": days,
                "expires_on": "2027-01-31",
            },
            link=link if link is not None else "/agreements/",
            object_type="agreements",
            object_id=1,
        ),
    )
    db.session.commit()
    return notification


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def page(client, path="/notifications", **kwargs) -> str:
    response = client.get(path, **kwargs)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


# --- the bell and the list -----------------------------------------------------------------------


def test_the_bell_counts_unread_notices(world, signed_in):
    partner = world.users["partner"]
    for number in range(3):
        notice(partner, f"MTNRA-2026-010{number}")
    client = signed_in("partner")
    assert 'notification-count">3<' in page(client, "/portal")
    assert "notification-count" not in page(signed_in("partner_b"), "/portal")
    first = db.session.scalars(select(Notification).where(Notification.user_id == partner.id)).first()
    client.post(f"/notifications/{first.id}/read", csrf_from="/notifications")
    assert 'notification-count">2<' in page(client, "/portal")


def test_the_bell_stops_counting_where_it_shows_99_plus(world, signed_in):
    """Counting thousands of unread notices on every page cost more than the page; the bell shows 99+ past
    99, so it counts up to 100 and no further."""
    partner = world.users["partner"]
    db.session.add_all(
        Notification(user_id=partner.id, kind="agreement_moved", category="agreement_activity", params={})
        for _ in range(services.BELL_COUNTS_UP_TO + 30)
    )
    db.session.commit()
    assert 'notification-count">99+<' in page(signed_in("partner"), "/portal")
    assert services.unread_count(partner) == services.BELL_COUNTS_UP_TO


def test_the_list_shows_only_ones_own_notices(world, signed_in):
    mine = notice(world.users["partner"], "MTNRA-2026-0101")
    theirs = notice(world.users["partner_b"], "MTNRA-2026-0202")
    client = signed_in("partner")
    listing = page(client)
    assert "MTNRA-2026-0101 ends in 30 days" in listing and "MTNRA-2026-0202" not in listing
    assert f'data-notification="{mine.id}"' in listing and f'data-notification="{theirs.id}"' not in listing
    assert "MTNRA-2026-0202" in page(signed_in("partner_b"))
    # Another person's notice does not exist for me, even for an administrator.
    for who in ("partner", "admin"):
        other = signed_in(who)
        assert other.get(f"/notifications/{theirs.id}/open").status_code == 404
        assert other.post(f"/notifications/{theirs.id}/read", csrf_from="/notifications").status_code == 404
    assert client.get("/notifications/999999999999/open").status_code == 404
    db.session.refresh(theirs)
    assert theirs.read_at is None


def test_unread_tab(world, signed_in):
    read = notice(world.users["officer"], "MTNRA-2026-0301")
    notice(world.users["officer"], "MTNRA-2026-0302")
    services.mark_read(read)
    db.session.commit()
    unread = page(signed_in("officer"), "/notifications?unread=1")
    assert "MTNRA-2026-0302" in unread and "MTNRA-2026-0301" not in unread


def test_open_marks_read_and_follows_only_in_app_links(world, signed_in):
    officer = world.users["officer"]
    inside = notice(officer, link=f"/agreements/{world.agreement_a.id}")
    client = signed_in("officer")
    response = client.get(f"/notifications/{inside.id}/open")
    assert response.status_code == 302 and response.headers["Location"] == f"/agreements/{world.agreement_a.id}"
    db.session.refresh(inside)
    assert inside.read_at is not None
    for link in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "http://localhost/agreements/",
    ):
        hostile = notice(officer, link=link)
        response = client.get(f"/notifications/{hostile.id}/open")
        assert response.status_code == 302
        assert response.headers["Location"] == "/notifications", link
        db.session.refresh(hostile)
        assert hostile.read_at is not None


def test_open_never_leaves_the_site_even_under_a_forged_host(world, signed_in):
    hostile = notice(world.users["officer"], link="http://evil.example/phish")
    client = signed_in("officer")
    session = client.http.get_cookie("session", domain="localhost")
    client.http.set_cookie("session", session.value, domain="evil.example")
    response = client.http.get(f"/notifications/{hostile.id}/open", headers={"Host": "evil.example"})
    assert response.status_code == 302
    assert "evil.example/phish" not in response.headers["Location"]


def test_mark_one_and_all_read(world, signed_in):
    officer = world.users["officer"]
    notes = [notice(officer, f"MTNRA-2026-04{n:02d}") for n in range(4)]
    other = notice(world.users["legal"])
    client = signed_in("officer")
    response = client.post(f"/notifications/{notes[0].id}/read", csrf_from="/notifications", headers=JSON)
    assert response.status_code == 200 and response.get_json() == {"status": "ok", "id": notes[0].id, "read": True}
    assert services.unread_count(officer) == 3
    response = client.post("/notifications/read-all", csrf_from="/notifications")
    assert response.status_code == 303 and response.headers["Location"] == "/notifications"
    assert services.unread_count(officer) == 0
    assert services.unread_count(world.users["legal"]) == 1
    db.session.refresh(other)
    assert other.read_at is None
    notice(officer)
    response = client.post("/notifications/read-all", csrf_from="/notifications", headers=JSON)
    assert response.get_json() == {"status": "ok", "marked": 1}
    # Without the CSRF token nothing changes.
    notice(officer)
    assert client.http.post("/notifications/read-all", headers=JSON).status_code == 400
    assert services.unread_count(officer) == 1


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/notifications"),
        ("get", "/notifications/1/open"),
        ("post", "/notifications/1/read"),
        ("post", "/notifications/read-all"),
        ("get", "/account/notifications"),
        ("post", "/account/calendar"),
        ("post", "/account/calendar/revoke"),
        ("get", "/admin/outbox"),
        ("get", "/admin/outbox/1"),
        ("get", "/admin/outbox/1/html"),
        ("post", "/admin/outbox/1/retry"),
        ("post", "/admin/outbox/retry-failed"),
        ("post", "/admin/outbox/pause"),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, method, path):
    if method == "post":
        import re

        token = re.search(r'name="csrf_token"[^>]* value="([^"]+)"', client.get("/sign-in").get_data(as_text=True))
        response = client.post(path, data={"csrf_token": token.group(1), "paused": "y"})
    else:
        response = client.get(path)
    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith("/sign-in")
    assert not services.mail_paused()


# --- mail choices ---------------------------------------------------------------------------------


def test_preferences_save_opt_outs_and_keep_mandatory_categories(world, signed_in):
    partner = world.users["partner"]
    client = signed_in("partner")
    form = page(client, "/account/notifications")
    assert 'value="deliverable_due"' in form
    # Not the ministry's approvals nor its stalled agreements: a partner never receives them.
    assert 'value="approval_requested"' not in form and 'value="agreement_stalled"' not in form
    response = client.post("/account/notifications", {"categories": ["deliverable_activity", "agreement_ending"]})
    assert response.status_code == 303
    assert services.switched_off(partner) == {
        "deliverable_due",
        "agreement_activity",
        "export_ready",
        "discussion_mention",
        "discussion_activity",
    }  # not the managers' weekly digest, which the page does not offer a partner: it stays as it was
    # Unchecked mandatory categories stay on; asking to switch one off changes nothing.
    assert services.wants_mail(partner, "deliverable_overdue")
    response = client.post("/account/notifications", {"categories": []})
    assert response.status_code == 303
    assert "deliverable_overdue" not in services.switched_off(partner)
    assert count(MailOptOut, MailOptOut.user_id == partner.id) == 7  # every optional one offered, nothing more
    assert services.wants_mail(partner, "deliverable_overdue") and not services.wants_mail(partner, "deliverable_due")
    # The page shows what is switched off.
    shown = page(client, "/account/notifications")
    assert 'value="deliverable_due" id="category-deliverable_due">' in shown
    assert 'value="deliverable_overdue" id="category-deliverable_overdue" checked' in shown
    # Everything back on.
    client.post(
        "/account/notifications",
        {
            "categories": [
                "deliverable_due",
                "deliverable_activity",
                "agreement_activity",
                "agreement_ending",
                "agreement_stalled",
                "weekly_digest",
                "export_ready",
                "discussion_mention",
                "discussion_activity",
            ]
        },
    )
    assert services.switched_off(partner) == set()


def test_unknown_categories_are_refused_and_change_nothing(world, signed_in):
    partner = world.users["partner"]
    client = signed_in("partner")
    client.post("/account/notifications", {"categories": ["deliverable_activity"]})
    before = services.switched_off(partner)
    response = client.post("/account/notifications", {"categories": ["deliverable_activity", "everything_off"]})
    assert response.status_code == 422
    assert "is-invalid" in response.get_data(as_text=True)
    assert services.switched_off(partner) == before
    response = client.post("/account/notifications", {"categories": ["x" * 5000]})
    assert response.status_code == 422
    assert services.switched_off(partner) == before


# --- the calendar feed ------------------------------------------------------------------------------


@pytest.fixture
def dated(world):
    """Partner A and B each owe a report; both agreements end next year."""
    manager = world.users["manager"]
    world.agreement_a.expires_on = TODAY + timedelta(days=300)
    world.agreement_b.expires_on = TODAY + timedelta(days=310)
    for agreement, org, title in (
        (world.agreement_a, world.partner_a, "Rapport de A"),
        (world.agreement_b, world.partner_b, "Rapport de B"),
    ):
        factories.plan_line(agreement, manager, responsible=org, first=TODAY + timedelta(days=20), title=title)
    db.session.commit()


def _create_feed(client) -> str:
    response = client.post("/account/calendar", csrf_from="/account/notifications", headers=JSON)
    assert response.status_code == 200
    url = response.get_json()["url"]
    assert url.startswith("http://sharaka.test/calendar/") and url.endswith(".ics")
    return url.removeprefix("http://sharaka.test")


def _events(response) -> dict[str, str]:
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    return {str(event["UID"]): str(event["SUMMARY"]) for event in calendar.walk("VEVENT")}


def test_a_calendar_address_is_shown_once_and_stored_only_hashed(world, signed_in, client):
    partner = signed_in("partner")
    response = partner.post("/account/calendar", csrf_from="/account/notifications")
    assert response.status_code == 303
    shown_at = response.headers["Location"]
    flashed = page(partner, shown_at)
    path = flashed.split("http://sharaka.test/calendar/", 1)[1].split(".ics", 1)[0]
    token = path
    assert len(token) >= 40
    assert token not in page(partner, shown_at)  # shown once, even at the same address
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == world.users["partner"].id))
    assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert _nowhere_in_the_database(token)
    assert client.get(f"/calendar/{token}.ics").status_code == 200  # no session needed


def _nowhere_in_the_database(secret: str) -> bool:
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)):
            if any(secret in str(value) for value in row):
                return False
    return True


def test_a_partners_feed_holds_only_its_own_organisations_dates(world, signed_in, client, dated):
    events = _events(client.get(_create_feed(signed_in("partner"))))
    summaries = set(events.values())
    assert any("Rapport de A" in s for s in summaries)
    assert not any("Rapport de B" in s for s in summaries)
    assert f"Ends: {world.agreement_a.reference}" in summaries
    assert f"Due: Rapport de A ({world.agreement_a.reference})" in summaries
    assert not any(world.agreement_b.reference in s for s in summaries)
    assert all(uid.endswith("@sharaka.test") for uid in events)
    other = _events(client.get(_create_feed(signed_in("partner_b"))))
    assert any("Rapport de B" in s for s in other.values()) and not any("Rapport de A" in s for s in other.values())
    manager = _events(client.get(_create_feed(signed_in("manager"))))
    assert {"Rapport de A", "Rapport de B"} <= {
        s.split(": ", 1)[1].split(" (")[0] for s in manager.values() if s.startswith("Due: ")
    }


def test_a_feed_leaves_out_what_is_not_owed(world, signed_in, client, dated):
    """A plan drawn up during the talks, or a suspended agreement's, is owed by nobody yet: no "Due:" event."""
    manager = world.users["manager"]
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], state="negotiation")
    factories.plan_line(
        draft, manager, responsible=world.partner_a, first=TODAY + timedelta(days=5), title="Note du projet"
    )
    world.agreement_b.state = "suspended"
    db.session.commit()
    summaries = set(_events(client.get(_create_feed(signed_in("manager")))).values())
    assert f"Due: Rapport de A ({world.agreement_a.reference})" in summaries
    assert not any("Note du projet" in s or "Rapport de B" in s for s in summaries)


def test_the_feeds_events_link_to_base_url_and_are_all_day(world, signed_in, client, dated):
    response = client.get(_create_feed(signed_in("partner")), headers={"Host": "evil.example"})
    calendar = Calendar.from_ical(response.data)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 2
    assert all(str(e["URL"]).startswith("http://sharaka.test/") for e in events)
    assert {e.decoded("DTSTART") for e in events} == {TODAY + timedelta(days=20), TODAY + timedelta(days=300)}
    assert response.headers["Cache-Control"] == "private, no-store"


def test_regenerate_revoke_and_hostile_tokens(world, signed_in, client, dated):
    partner = signed_in("partner")
    first = _create_feed(partner)
    assert client.get(first).status_code == 200
    second = _create_feed(partner)
    assert second != first
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    response = partner.post("/account/calendar/revoke", csrf_from="/account/notifications", headers=JSON)
    assert response.status_code == 200 and response.get_json()["status"] == "ok"
    assert client.get(second).status_code == 404
    assert count(CalendarFeed, CalendarFeed.user_id == world.users["partner"].id) == 0
    for token in ("unknown", "a" * 43, "x" * 5000, "%00", "..%2F..%2Fetc%2Fpasswd", "' OR 1=1 --", "ت" * 50):
        assert client.get(f"/calendar/{token}.ics").status_code == 404, token


def test_an_inactive_users_feed_stops_working(world, signed_in, client, dated):
    feed = _create_feed(signed_in("partner"))
    assert client.get(feed).status_code == 200
    world.users["partner"].is_active_account = False
    db.session.commit()
    assert client.get(feed).status_code == 404


# --- the outbox, for administrators -----------------------------------------------------------------


def ending_notice(reference: str) -> services.Notice:
    return services.Notice(
        kind="agreement_ending",
        category="agreement_ending",
        params={"reference": reference, "title": {"fr": "Accord"}, "days": 30, "expires_on": "2027-01-31"},
        link="/agreements/",
    )


@pytest.fixture
def outbox(world):
    """Three messages: one waiting, one sent, one failed."""
    officer = world.users["officer"]
    rows = {}
    for status in ("pending", "sent", "failed"):
        message = services.queue_mail(officer, ending_notice(f"MTNRA-{status.upper()}"))
        message.status = status
        if status == "failed":
            message.attempts, message.last_error = 8, "550 no such user"
        rows[status] = message
    db.session.commit()
    return rows


def test_the_outbox_shows_held_messages_to_admins_and_auditors_only(world, signed_in, outbox, app):
    assert not app.config["MAIL_SERVER"]
    listing = page(signed_in("admin"), "/admin/outbox")
    assert outbox["pending"].subject in listing and "MTNRA-PENDING ends in 30 days" in listing
    assert "No SMTP server is configured" in listing
    assert "Pause all mail" in listing
    audit_view = page(signed_in("auditor"), "/admin/outbox")
    assert outbox["pending"].subject in audit_view
    assert "Pause all mail" not in audit_view and "/admin/outbox/pause" not in audit_view
    for role in ("officer", "partner", "manager", "legal"):
        assert signed_in(role).get("/admin/outbox").status_code == 403, role
        assert signed_in(role).get(f"/admin/outbox/{outbox['pending'].id}").status_code == 403, role
    filtered = page(signed_in("admin"), "/admin/outbox?status=failed")
    assert "MTNRA-FAILED" in filtered and "MTNRA-PENDING" not in filtered


def test_message_detail_and_its_sandboxed_html(world, signed_in, outbox):
    admin = signed_in("admin")
    failed = outbox["failed"]
    detail = page(admin, f"/admin/outbox/{failed.id}")
    assert failed.message_id.replace("<", "&lt;").replace(">", "&gt;") in detail
    assert "Send again" in detail
    assert "Send again" not in page(admin, f"/admin/outbox/{outbox['sent'].id}")
    assert "Send again" not in page(signed_in("auditor"), f"/admin/outbox/{failed.id}")
    # No mail server here: a waiting message says it is held, not when its next attempt (long past) was.
    assert "it leaves when mail is sent again" in page(admin, f"/admin/outbox/{outbox['pending'].id}")
    response = admin.get(f"/admin/outbox/{failed.id}/html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.get_data(as_text=True) == failed.body_html
    policy = response.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert admin.get("/admin/outbox/999999/html").status_code == 404
    assert signed_in("officer").get(f"/admin/outbox/{failed.id}/html").status_code == 403


def test_an_admin_sends_a_failed_message_again(world, signed_in, outbox):
    admin = signed_in("admin")
    failed = outbox["failed"]
    response = admin.post(f"/admin/outbox/{failed.id}/retry", csrf_from=f"/admin/outbox/{failed.id}", headers=JSON)
    assert response.status_code == 200 and response.get_json()["id"] == failed.id
    db.session.refresh(failed)
    assert failed.status == "pending" and failed.attempts == 0
    row = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "mail_requeued", AuditEvent.object_id == failed.id)
    )
    assert row.object_type == "outbox_messages" and row.actor_id == world.users["admin"].id


@pytest.mark.parametrize("status", ["sent", "pending"])
def test_only_a_failed_message_can_be_sent_again(world, signed_in, outbox, status):
    admin = signed_in("admin")
    message = outbox[status]
    response = admin.post(f"/admin/outbox/{message.id}/retry", csrf_from=f"/admin/outbox/{message.id}", headers=JSON)
    assert 400 <= response.status_code < 500
    assert "failed" in response.get_json()["detail"]
    db.session.refresh(message)
    assert message.status == status
    assert count(AuditEvent, AuditEvent.action == "mail_requeued") == 0


def test_an_admin_sends_every_failed_message_again_at_once(world, signed_in, outbox):
    """Only the messages that failed for good go back in the queue: one still being retried keeps its
    attempts and its time, a sent one stays sent; one audit row says how many."""
    second_failed = services.queue_mail(world.users["legal"], ending_notice("MTNRA-FAILED-2"))
    second_failed.status, second_failed.attempts, second_failed.last_error = "failed", 8, "550 no such user"
    retrying = outbox["pending"]
    retrying.attempts, retrying.last_error = 3, "421 try again later"
    db.session.commit()
    next_attempt_at = retrying.next_attempt_at
    admin = signed_in("admin")
    listing = page(admin, "/admin/outbox")
    assert "Send all failed again" in listing and "Send the 2 messages that failed again?" in listing
    response = admin.post("/admin/outbox/retry-failed", csrf_from="/admin/outbox", follow_redirects=True)
    assert response.status_code == 200
    assert "2 failed messages will be sent again." in response.get_data(as_text=True)
    for message in (outbox["failed"], second_failed):
        db.session.refresh(message)
        assert message.status == "pending" and message.attempts == 0
    db.session.refresh(retrying)
    assert (retrying.status, retrying.attempts, retrying.next_attempt_at) == ("pending", 3, next_attempt_at)
    db.session.refresh(outbox["sent"])
    assert outbox["sent"].status == "sent"
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("mail_requeued%"))).all()
    assert [(row.action, row.changes["count"], row.actor_id) for row in rows] == [
        ("mail_requeued_all", 2, world.users["admin"].id)
    ]
    # Nothing failed any more: the button is gone, and a second post (another tab) changes nothing.
    assert "Send all failed again" not in page(admin, "/admin/outbox")
    again = admin.post("/admin/outbox/retry-failed", csrf_from="/admin/outbox", headers=JSON)
    assert again.status_code == 200 and again.get_json() == {"status": "ok", "count": 0, "no_longer_true": 0}
    assert count(AuditEvent, AuditEvent.action == "mail_requeued_all") == 1


@pytest.mark.parametrize("role", ["auditor", "officer", "manager", "legal", "partner"])
def test_only_admins_send_every_failed_message_again(world, signed_in, outbox, role):
    client = signed_in(role)
    assert "Send all failed again" not in client.get("/admin/outbox").get_data(as_text=True)
    response = client.post("/admin/outbox/retry-failed", csrf_from="/notifications", headers=JSON)
    assert response.status_code == 403
    db.session.refresh(outbox["failed"])
    assert outbox["failed"].status == "failed"
    assert count(AuditEvent, AuditEvent.action == "mail_requeued_all") == 0


def test_sending_every_failed_message_again_needs_the_csrf_token(world, signed_in, outbox):
    response = signed_in("admin").http.post("/admin/outbox/retry-failed", headers=JSON)
    assert response.status_code == 400
    db.session.refresh(outbox["failed"])
    assert outbox["failed"].status == "failed"


def test_auditors_and_officers_cannot_retry_or_pause(world, signed_in, outbox):
    failed = outbox["failed"]
    for role, expected in (("auditor", 403), ("officer", 403), ("partner", 403)):
        client = signed_in(role)
        assert (
            client.post(f"/admin/outbox/{failed.id}/retry", csrf_from="/notifications", headers=JSON).status_code
            == expected
        )
        assert (
            client.post("/admin/outbox/pause", {"paused": "y"}, csrf_from="/notifications", headers=JSON).status_code
            == expected
        )
    db.session.refresh(failed)
    assert failed.status == "failed"
    assert not services.mail_paused()
    assert count(AuditEvent, AuditEvent.action.in_(("mail_paused", "mail_requeued"))) == 0


def test_pause_and_resume_mail(world, signed_in, outbox):
    admin = signed_in("admin")
    response = admin.post("/admin/outbox/pause", {"paused": "y"}, csrf_from="/admin/outbox")
    assert response.status_code == 303
    assert services.mail_paused()
    assert "Resume mail" in page(admin, "/admin/outbox")
    assert "paused" in page(signed_in("officer"), "/account/notifications")
    response = admin.post("/admin/outbox/pause", {}, csrf_from="/admin/outbox", headers=JSON)
    assert response.status_code == 200 and response.get_json() == {"status": "ok", "paused": False}
    assert not services.mail_paused()
    setting = db.session.get(Setting, "mail_paused")
    assert setting.value is False and setting.updated_by_id == world.users["admin"].id
    actions = list(
        db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_type == "settings").order_by(AuditEvent.id)
        )
    )
    assert actions == ["mail_paused", "mail_resumed"]
    assert count(OutboxMessage) == 3


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's one writer at a time is what this holds")
def test_a_busy_database_never_refuses_a_page_view_for_its_timestamps(tmp_path):
    """The feed's and the session's last use are written on their own, and given up when the database is
    busy: a calendar program and a person reading their dashboard get their page, not a 409. On a database
    of its own, which another connection can hold."""
    import sqlite3

    from app.auth.models import UserSession
    from tests import factories
    from tests.conftest import SignedInClient, app_on_a_fresh_database

    with app_on_a_fresh_database(tmp_path, "busy") as (app, url):
        world = factories.build_world()
        db.session.commit()
        manager = SignedInClient(app, world.users["manager"])
        feed_url = _create_feed(SignedInClient(app, world.users["partner"]))
        an_hour_and_more = clock.utcnow() - timedelta(hours=2)
        db.session.rollback()  # a fresh snapshot: the requests above wrote since this session read
        db.session.execute(CalendarFeed.__table__.update().values(last_used_at=an_hour_and_more))
        db.session.execute(UserSession.__table__.update().values(last_seen_at=an_hour_and_more))
        db.session.commit()
        db.session.remove()
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the database through both requests
            assert app.test_client().get(feed_url).status_code == 200
            assert manager.get("/dashboard").status_code == 200
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # Once the database is free, the next view writes them.
        assert app.test_client().get(feed_url).status_code == 200
        assert db.session.scalar(select(CalendarFeed.last_used_at)) > an_hour_and_more


def test_a_new_role_or_organisation_forgets_what_was_told_to_the_old_one(signed_in, world):
    """Notices keep the words they were written with (a ministry thread's text, another organisation's
    titles): after the account's role or organisation changes, its bell is emptied and its waiting mail
    withdrawn, here by an admin turning an officer into a partner."""
    officer = world.users["other_officer"]
    notice(officer, "MTNRA-2026-0042")
    other = world.users["officer"]
    notice(other, "MTNRA-2026-0043")
    waiting = count(OutboxMessage, OutboxMessage.recipient_id == officer.id, OutboxMessage.status == "pending")
    assert count(Notification, Notification.user_id == officer.id) == 1 and waiting == 1
    edited = signed_in("admin").post(
        f"/admin/users/{officer.id}/edit",
        data={
            "email": officer.email,
            "full_name": officer.full_name,
            "role": "partner",
            "organization_id": str(world.partner_a.id),
            "language": officer.language,
            "is_active": "y",
        },
    )
    assert edited.status_code in (302, 303), edited.get_data(as_text=True)[:500]
    # What is left is the news of the move itself, written for the new role (test_account_changes_told).
    left = db.session.scalars(select(Notification.kind).where(Notification.user_id == officer.id)).all()
    assert left == ["role_changed"]
    pending = (OutboxMessage.recipient_id == officer.id, OutboxMessage.status == "pending")
    assert db.session.scalars(select(OutboxMessage.kind).where(*pending)).all() == ["role_changed"]
    assert count(OutboxMessage, OutboxMessage.recipient_id == officer.id, OutboxMessage.status == "withdrawn") == 1
    assert "MTNRA-2026-0042" not in signed_in(officer).get("/notifications").get_data(as_text=True)
    # Someone else's notices stay; a change of name only keeps one's own.
    assert count(Notification, Notification.user_id == other.id) == 1
    renamed = signed_in("admin").post(
        f"/admin/users/{other.id}/edit",
        data={
            "email": other.email,
            "full_name": "Renamed Officer",
            "role": other.role,
            "organization_id": str(other.organization_id),
            "language": other.language,
            "is_active": "y",
        },
    )
    assert renamed.status_code in (302, 303)
    assert count(Notification, Notification.user_id == other.id) == 1
    changes = db.session.scalars(
        select(AuditEvent.changes).where(AuditEvent.object_type == "users", AuditEvent.object_id == officer.id)
    ).all()
    assert any((c or {}).get("after", {}).get("notices_removed") == 1 for c in changes)


def _move_to_partner(signed_in, world, person):
    return signed_in("admin").post(
        f"/admin/users/{person.id}/edit",
        data={
            "email": person.email,
            "full_name": person.full_name,
            "role": "partner",
            "organization_id": str(world.partner_b.id),
            "language": person.language,
            "is_active": "y",
        },
    )


def test_an_owner_is_moved_only_once_their_agreements_are_handed_over_and_their_exports_go(signed_in, world):
    """An officer owning agreements under way stays an officer until each has another owner: turned partner
    elsewhere, they had kept their agreements' reminders and hand-ins. Once moved, the spreadsheets they
    exported before (what they could see then) are forgotten."""
    from app.deliverables.services import OccurrenceFilters
    from app.exports import services as exports
    from app.exports.models import ExportJob

    officer, colleague = world.users["officer"], world.users["other_officer"]
    owned = [world.agreement_a, world.agreement_b]
    assert {a.owner_id for a in owned} == {officer.id}
    job = exports.request_export(officer, "deliverables", OccurrenceFilters(), language="en")
    db.session.commit()
    exports.write_export(job)
    db.session.commit()
    job_id = job.id
    assert job.status == "done" and signed_in(officer).get(f"/exports/{job_id}/download").status_code == 200

    refused = _move_to_partner(signed_in, world, officer)
    assert refused.status_code == 422
    assert "owns 2 agreements under way" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert (officer.role, officer.organization_id) == ("officer", world.ministry.id)

    for agreement in owned:
        agreement.owner_id = colleague.id
    db.session.commit()
    moved = _move_to_partner(signed_in, world, officer)
    assert moved.status_code in (302, 303), moved.get_data(as_text=True)[:500]
    db.session.expire_all()
    assert officer.role == "partner" and db.session.get(ExportJob, job_id) is None
    assert signed_in(officer).get(f"/exports/{job_id}/download").status_code == 404


def test_an_owner_is_deactivated_only_once_their_agreements_are_handed_over(signed_in, world):
    """Deactivating an officer who owns agreements under way follows the rule of a role change, on the admin's
    form and on the team page alike: it had gone through unsaid, leaving the agreements to nobody at the
    ministry and every later edit of them refused until someone chose a new owner."""
    from app.auth.members import set_active
    from app.core.errors import ValidationFailed

    officer, colleague, admin = world.users["officer"], world.users["other_officer"], world.users["admin"]
    form = {
        "email": officer.email,
        "full_name": officer.full_name,
        "role": officer.role,
        "organization_id": str(officer.organization_id),
        "language": officer.language,
    }
    client = signed_in("admin")
    refused = client.post(f"/admin/users/{officer.id}/edit", data=form)
    assert refused.status_code == 422
    assert "owns 2 agreements under way" in refused.get_data(as_text=True)
    assert "then deactivate the account" in refused.get_data(as_text=True)
    from_team = client.post(f"/team/{officer.id}/deactivate", csrf_from="/team", follow_redirects=True)
    assert "owns 2 agreements under way" in from_team.get_data(as_text=True)
    db.session.expire_all()
    assert officer.is_active_account
    with pytest.raises(ValidationFailed):
        set_active(officer, False, by=admin)

    world.agreement_a.owner_id = colleague.id
    db.session.commit()
    still = client.post(f"/team/{officer.id}/deactivate", csrf_from="/team", follow_redirects=True)
    assert "owns 1 agreement under way" in still.get_data(as_text=True)
    world.agreement_b.owner_id = colleague.id
    db.session.commit()
    assert client.post(f"/admin/users/{officer.id}/edit", data=form).status_code == 302
    db.session.expire_all()
    assert not officer.is_active_account


def test_an_admin_is_told_when_a_change_leaves_approvals_nobody_can_give(signed_in, world):
    """Deactivating the only legal adviser: approvals asked of legal would reach nobody. The admin hears
    it as the account is saved (only `flask workflows check` said so), and nothing is said for a change
    that strands nothing."""
    legal = world.users["legal"]
    form = {
        "email": legal.email,
        "full_name": legal.full_name,
        "role": legal.role,
        "organization_id": str(legal.organization_id),
        "language": legal.language,
    }
    admin = signed_in("admin")
    renamed = admin.post(f"/admin/users/{legal.id}/edit", data={**form, "is_active": "y"}, follow_redirects=True)
    assert "no active account can give these approvals" not in renamed.get_data(as_text=True)
    stopped = admin.post(f"/admin/users/{legal.id}/edit", data=form, follow_redirects=True).get_data(as_text=True)
    assert "no active account can give these approvals" in stopped
    # Named as the pages name them, not by the workflow files' ids.
    assert "Memorandum of understanding: Approve for negotiation, step 1 of 3" in stopped
    assert "approve_review" not in stopped


def test_the_team_page_warns_as_the_account_form_does_of_approvals_nobody_can_give(signed_in, world):
    """The admin deactivating the only legal adviser from "Team and invitations" had heard nothing of it."""
    legal = world.users["legal"]
    admin = signed_in("admin")
    stopped = admin.post(f"/team/{legal.id}/deactivate", csrf_from="/team", follow_redirects=True)
    page = stopped.get_data(as_text=True)
    assert "can no longer sign in" in page and "no active account can give these approvals" in page
    assert "Memorandum of understanding: Approve for negotiation, step 1 of 3" in page
    assert page.index("can no longer sign in") < page.index("no active account can give these approvals")
    partner = world.users["partner_b"]
    quiet = admin.post(f"/team/{partner.id}/deactivate", csrf_from="/team", follow_redirects=True)
    assert "no active account can give these approvals" not in quiet.get_data(as_text=True)


def test_a_second_tab_saving_an_account_changed_since_is_refused(signed_in, world):
    """An admin deactivates an account in one tab; the other tab, opened before, saves later: refused
    (409), the form shown as the account is now. It had reactivated the account without a word."""
    person = world.users["other_officer"]
    admin = signed_in("admin")
    url = f"/admin/users/{person.id}/edit"
    stale = admin.get(url).get_data(as_text=True)
    seen = stale.split('name="seen" type="hidden" value="')[1].split('"')[0]
    form = {
        "email": person.email,
        "full_name": person.full_name,
        "role": person.role,
        "organization_id": str(person.organization_id),
        "language": person.language,
    }
    assert admin.post(url, data={**form, "seen": seen}).status_code in (302, 303)  # deactivated
    later = admin.post(url, data={**form, "is_active": "y", "full_name": "Nom corrigé", "seen": seen})
    assert later.status_code == 409 and "changed since you opened it" in later.get_data(as_text=True)
    db.session.expire_all()
    assert not person.is_active_account and person.full_name != "Nom corrigé"


def test_switching_a_category_off_withdraws_its_mail_still_waiting(world, signed_in, client):
    """Mail paused: the one-click unsubscribe said "done", then the waiting mail of that category went out
    when mail resumed. Switching a category off (that link, or the account page) withdraws that person's
    waiting mail of it; their other mail, and other people's of that category, still go."""
    from app.notifications.unsubscribe import token_for

    partner, legal = world.users["partner"], world.users["legal"]

    def waiting(person, category):
        params = {"reference": "MTNRA-2026-0001", "title": {"en": "Agreement"}, "days": 30, "expires_on": "2027-01-31"}
        return services.queue_mail(
            person, services.Notice(kind="agreement_ending", category=category, params=params, link="/agreements/")
        )

    services.set_mail_paused(True, by=world.users["admin"])
    mails = {
        "ending": waiting(partner, "agreement_ending"),
        "due": waiting(partner, "deliverable_due"),
        "overdue": waiting(partner, "deliverable_overdue"),  # mandatory
        "colleague": waiting(legal, "agreement_ending"),
    }
    db.session.commit()
    one_click = client.post(f"/mail/unsubscribe/{token_for(partner.id, 'agreement_ending')}")
    assert one_click.status_code == 200
    offered = set(services.categories_for(partner))
    client_of_partner = signed_in("partner")
    saved = client_of_partner.post("/account/notifications", {"categories": sorted(offered - {"deliverable_due"})})
    assert saved.status_code == 303
    status = {name: db.session.get(OutboxMessage, mail.id) for name, mail in mails.items()}
    for mail in status.values():
        db.session.refresh(mail)
    assert {name: mail.status for name, mail in status.items()} == {
        "ending": "withdrawn",
        "due": "withdrawn",
        "overdue": "pending",
        "colleague": "pending",
    }
    assert status["ending"].last_error == "The recipient switched this kind of mail off."


def test_saving_ones_choices_leaves_the_categories_not_offered_alone(world, signed_in):
    """An officer's save had switched off the managers' weekly digest, never shown to them: made a
    manager, they never received it, and their page showed it switched off."""
    officer = world.users["officer"]
    client = signed_in("officer")
    assert 'value="weekly_digest"' not in page(client, "/account/notifications")
    assert client.post("/account/notifications", {"categories": ["agreement_ending"]}).status_code == 303
    assert "deliverable_due" in services.switched_off(officer)
    assert "weekly_digest" not in services.switched_off(officer)
    officer.role = "manager"
    db.session.commit()
    assert services.wants_mail(officer, "weekly_digest")


def test_a_feed_holds_the_last_day_for_a_notice_of_non_renewal(world, signed_in, client, dated):
    """The one date that commits the ministry to another term was in no calendar."""
    agreement = world.agreement_a
    agreement.renewal_terms, agreement.renewal_months = "tacit", 12
    agreement.notice_period, agreement.notice_unit = 3, "months"
    db.session.commit()
    summary = f"Last day for notice of non-renewal: {agreement.reference}"
    assert summary in _events(client.get(_create_feed(signed_in("officer")))).values()
    agreement.non_renewal_on = TODAY  # notice given: nothing left to decide
    db.session.commit()
    assert summary not in _events(client.get(_create_feed(signed_in("officer")))).values()


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's read transactions that cannot become writers")
@pytest.mark.parametrize("page", ["open a notice", "a new token shown once"])
def test_a_page_view_that_writes_is_not_refused_when_another_process_wrote_meanwhile(tmp_path, monkeypatch, page):
    """A GET that writes (a notice marked read as its link is followed, a one-time secret taken as it is
    shown) reads first, in a transaction SQLite cannot turn into a writer once another process committed
    after it began: it refused at once, "database is locked" (an outside probe met 503s under load on the
    token page and on a comparison's first viewing). The request is read again as a writer instead."""
    import sqlite3

    from app.core import reveal
    from tests import factories
    from tests.conftest import SignedInClient, app_on_a_fresh_database

    with app_on_a_fresh_database(tmp_path, "read_then_write") as (app, url):
        world = factories.build_world()
        manager = world.users["manager"]
        notification_id = notice(manager).id
        db.session.commit()
        client = SignedInClient(app, manager)
        db.session.remove()
        another_process = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
        writes = []

        def meanwhile(real):
            def with_a_write_before(*args, **kwargs):
                if not writes:  # another process commits once the request has read
                    another_process.execute("CREATE TABLE another_process_wrote (x)")
                    writes.append(1)
                return real(*args, **kwargs)

            return with_a_write_before

        try:
            if page == "open a notice":
                monkeypatch.setattr(services, "mark_read", meanwhile(services.mark_read))
                response = client.get(f"/notifications/{notification_id}/open")
                assert response.status_code == 302, response.get_data(as_text=True)[:500]
                assert db.session.get(Notification, notification_id).read_at is not None
            else:
                with app.test_request_context():
                    ticket = reveal.keep(manager, "calendar_url", "https://sharaka.test/feed/secret")
                    db.session.commit()
                monkeypatch.setattr(reveal, "_sweep", meanwhile(reveal._sweep))
                response = client.get(f"/account/notifications?shown={ticket}")
                assert response.status_code == 200 and "https://sharaka.test/feed/secret" in response.get_data(
                    as_text=True
                )
                assert db.session.scalar(select(func.count()).select_from(reveal.OneTimeSecret)) == 0
            assert writes == [1]
        finally:
            another_process.close()
