"""ASVS level 2 hardening: bounded decompression, sessions that end, passwords, throttling without
lock-out, no secrets in cookies, headers, and production refusing to start unsafe."""

from __future__ import annotations

import io
import os
import tracemalloc
import zipfile

import pytest
from sqlalchemy import func, select

from app.api.tokens import create_token
from app.auth.models import User, UserSession
from app.core import storage
from app.core.errors import ValidationFailed
from app.extensions import db
from tests import factories
from tests.conftest import SignedInClient

STRONG = "Tajine au citron, nuit étoilée sur Fès"


# --- bounded decompression -------------------------------------------------------------------


def _office_zip(kind: str, bomb_member: str, inflated_mb: int) -> bytes:
    """A real Office file whose one member inflates to `inflated_mb` MB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{kind}/placeholder.xml", "<x/>")
        chunk = b"\0" * (1024 * 1024)
        with archive.open(bomb_member, "w", force_zip64=True) as member:
            for _ in range(inflated_mb):
                member.write(chunk)
    return buffer.getvalue()


def _odf_bomb(inflated_mb: int) -> bytes:
    """The case found in the wild: an ODF whose `mimetype` member inflates to hundreds of MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("mimetype", "w", force_zip64=True) as member:
            for _ in range(inflated_mb):
                member.write(b"\0" * (1024 * 1024))
    return buffer.getvalue()


def _many_members(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            archive.writestr(f"f{index}", b"")
    return buffer.getvalue()


BOMBS = {
    "xlsx bomb (400 MB sheet)": lambda: _office_zip("xl", "xl/worksheets/sheet1.xml", 400),
    "docx bomb (300 MB document)": lambda: _office_zip("word", "word/document.xml", 300),
    "odt bomb (400 MB mimetype)": lambda: _odf_bomb(400),
    "zip with 50,000 members": lambda: _many_members(50_000),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_archive_bombs_are_refused_and_memory_stays_flat(app, world, name):
    payload = BOMBS[name]()
    assert len(payload) < 5 * 1024 * 1024  # well under the upload limit
    before = db.session.scalar(select(func.count()).select_from(storage.StoredFile))
    tracemalloc.start()
    try:
        with pytest.raises(ValidationFailed) as refused:
            storage.store(io.BytesIO(payload), field="files")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "expands to more than" in refused.value.message
    assert refused.value.field_errors == {"files": [refused.value.message]}
    # Inflating even one member would have cost hundreds of MB; the checks read headers only.
    assert peak < 20 * 1024 * 1024, f"{peak / 1e6:.0f} MB allocated while checking {name}"
    assert db.session.scalar(select(func.count()).select_from(storage.StoredFile)) == before


def test_a_partner_uploading_a_bomb_gets_a_clear_message(app, world, signed_in):
    from tests.integration.test_deliverables import plan

    occurrence = plan(world.agreement_a, world.users["officer"], responsible=world.partner_a).occurrences[0]
    db.session.commit()
    partner = signed_in("partner")
    bomb = _office_zip("xl", "xl/worksheets/sheet1.xml", 200)
    response = partner.post(
        f"/deliverables/{occurrence.id}/submissions",
        csrf_from=f"/deliverables/{occurrence.id}",
        data={"version": str(occurrence.version), "note": "", "files": [(io.BytesIO(bomb), "rapport.xlsx")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert "expands to more than" in partner.get(f"/deliverables/{occurrence.id}").get_data(as_text=True)
    db.session.refresh(occurrence)
    assert occurrence.status == "pending"


def test_real_office_files_still_pass(app):
    workbook = io.BytesIO()
    import openpyxl

    sheet = openpyxl.Workbook()
    sheet.active["A1"] = "Indicateurs"
    sheet.save(workbook)
    stored = storage.store(io.BytesIO(workbook.getvalue()))
    assert stored.content_type.endswith("spreadsheetml.sheet")


# --- sessions that end -----------------------------------------------------------------------


def _cookie(client, name):
    cookie = client.http.get_cookie(name)
    return cookie.value if cookie else None


def _replay(app, cookies: dict[str, str]):
    """A new browser holding copies of the given cookies: where does /dashboard take it?"""
    thief = app.test_client()
    for name, value in cookies.items():
        if value:
            thief.set_cookie(name, value)
    return thief.get("/dashboard")


def _remembered_browser(app, user):
    """A browser signed in with "keep me signed in", and copies of both its cookies."""
    browser = SignedInClient(app, None)
    token = browser.csrf("/sign-in")
    browser.http.post(
        "/sign-in", data={"email": user.email, "password": factories.PASSWORD, "remember": "y", "csrf_token": token}
    )
    stolen = {"session": _cookie(browser, "session"), "remember_token": _cookie(browser, "remember_token")}
    assert all(stolen.values())
    for name, value in stolen.items():
        assert _replay(app, {name: value}).status_code == 200, f"the {name} cookie alone should open a session"
    return browser, stolen


def _assert_dead(app, stolen):
    for name, value in stolen.items():
        assert _replay(app, {name: value}).status_code == 302, f"a copy of the {name} cookie still works"


def test_a_copied_session_cookie_dies_at_sign_out(app, world):
    officer = SignedInClient(app, world.users["officer"])
    stolen = {"session": _cookie(officer, "session")}
    assert _replay(app, stolen).status_code == 200
    officer.post("/sign-out", csrf_from="/dashboard")
    assert _replay(app, stolen).status_code == 302


def test_a_copied_remember_cookie_dies_at_sign_out(app, world):
    officer = SignedInClient(app, None)
    token = officer.csrf("/sign-in")
    officer.http.post(
        "/sign-in",
        data={
            "email": world.users["officer"].email,
            "password": factories.PASSWORD,
            "remember": "y",
            "csrf_token": token,
        },
    )
    remembered = {"remember_token": _cookie(officer, "remember_token")}
    assert remembered["remember_token"]
    assert _replay(app, remembered).status_code == 200  # the cookie alone opens a session
    officer.post("/sign-out", csrf_from="/dashboard")
    assert _replay(app, remembered).status_code == 302


def test_deactivation_ends_every_session_and_token(app, world, signed_in):
    victim = world.users["legal"]
    _browser, stolen = _remembered_browser(app, victim)
    _token, secret = create_token(victim, "script", by=victim)
    db.session.commit()
    admin = signed_in("admin")
    response = admin.post(
        f"/admin/users/{victim.id}/edit",
        data={
            "email": victim.email,
            "full_name": victim.full_name,
            "role": victim.role,
            "organization_id": world.ministry.id,
            "language": victim.language,
            "is_active": "",
        },
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    _assert_dead(app, stolen)
    assert app.test_client().get("/api/v1/agreements", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == victim.id, UserSession.ended_at.is_(None))
        )
        == 0
    )


def test_an_admin_signs_someone_out_everywhere_and_the_account_stays_on(app, world, signed_in):
    from app.core.audit import AuditEvent

    victim = world.users["legal"]
    _browser, stolen = _remembered_browser(app, victim)
    _token, secret = create_token(victim, "<b>leaked</b> script", by=victim)
    db.session.commit()
    admin = signed_in("admin")
    page = admin.get(f"/admin/users/{victim.id}/edit").get_data(as_text=True)
    panel = page.split('id="signed-in"')[1].split("</section>")[0]
    assert "Sign out everywhere" in panel and "data-session=" in panel
    assert "&lt;b&gt;leaked&lt;/b&gt; script" in panel and "<b>leaked" not in panel
    response = admin.post(f"/admin/users/{victim.id}/sign-out-everywhere", csrf_from=f"/admin/users/{victim.id}/edit")
    assert response.status_code == 303 and response.headers["Location"].endswith("#signed-in")
    _assert_dead(app, stolen)
    assert app.test_client().get("/api/v1/agreements", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    db.session.expire_all()
    assert victim.is_active_account  # they sign in again with their password
    assert SignedInClient(app, victim).get("/dashboard").status_code == 200
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "signed_out_everywhere"))
    assert event.object_id == victim.id and event.changes == {"sessions_ended": 1, "tokens_revoked": 1}
    after = admin.get(f"/admin/users/{victim.id}/edit").get_data(as_text=True).split('id="signed-in"')[1]
    assert "No API token that works." in after


def test_an_auditor_reads_an_account_with_its_sessions_and_tokens_and_changes_nothing(app, world, signed_in):
    """Auditors read all: they held `user.view` but the one page of an account was the admin's edit form
    (403). Its page shows who it is, where it is signed in and which tokens act as it; no button changes it."""
    person = world.users["legal"]
    _browser, _cookie = _remembered_browser(app, person)
    create_token(person, "nightly report", by=person)
    db.session.commit()
    auditor = signed_in("auditor")
    listing = auditor.get("/admin/users").get_data(as_text=True)
    assert f'href="/admin/users/{person.id}"' in listing
    page = auditor.get(f"/admin/users/{person.id}").get_data(as_text=True)
    assert person.email in page and person.role_label in page
    panel = page.split('id="signed-in"')[1].split("</section>")[0]
    assert "data-session=" in panel and "nightly report" in panel
    assert "Sign out everywhere" not in page and f"/admin/users/{person.id}/edit" not in page
    assert auditor.get(f"/admin/users/{person.id}/edit").status_code == 403
    as_admin = signed_in("admin").get(f"/admin/users/{person.id}").get_data(as_text=True)
    assert f"/admin/users/{person.id}/edit" in as_admin
    for role in ("officer", "manager", "partner"):
        assert signed_in(role).get(f"/admin/users/{person.id}").status_code in (403, 404), role


def test_an_admin_cannot_sign_themselves_out_from_the_admin_page(app, world, signed_in):
    admin = signed_in("admin")
    me = world.users["admin"]
    assert "Sign out everywhere" not in admin.get(f"/admin/users/{me.id}/edit").get_data(as_text=True)
    response = admin.post(f"/admin/users/{me.id}/sign-out-everywhere", csrf_from=f"/admin/users/{me.id}/edit")
    assert response.status_code == 303
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "use your own security page" in page  # still signed in, and told where to go


def test_a_password_change_ends_the_other_sessions_and_offers_to_revoke_tokens(app, world):
    person = world.users["manager"]
    elsewhere, stolen = _remembered_browser(app, person)
    here = SignedInClient(app, person)
    _token, kept_secret = create_token(person, "kept", by=person)
    db.session.commit()
    response = here.post(
        "/account/password",
        data={"current_password": factories.PASSWORD, "new_password": STRONG, "confirm": STRONG, "revoke_tokens": ""},
    )
    assert response.status_code in (302, 303)
    assert here.get("/dashboard").status_code == 200  # this session goes on
    assert elsewhere.get("/dashboard").status_code == 302  # the others end ...
    _assert_dead(app, stolen)  # ... with every copy of their cookies
    api = app.test_client()
    assert api.get("/api/v1/agreements", headers={"Authorization": f"Bearer {kept_secret}"}).status_code == 200

    _token, revoked_secret = create_token(person, "revoked", by=person)
    db.session.commit()
    here.post(
        "/account/password",
        data={
            "current_password": STRONG,
            "new_password": STRONG + " encore",
            "confirm": STRONG + " encore",
            "revoke_tokens": "y",
        },
    )
    for secret in (kept_secret, revoked_secret):
        assert api.get("/api/v1/agreements", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_people_see_and_end_their_own_sessions(app, world):
    person = world.users["officer"]
    laptop, phone = SignedInClient(app, person), SignedInClient(app, person)
    page = laptop.get("/account/security").get_data(as_text=True)
    assert page.count("data-session=") == 2 and 'data-current="yes"' in page
    other = db.session.scalars(
        select(UserSession).where(UserSession.user_id == person.id).order_by(UserSession.id.desc())
    ).first()  # the phone's
    assert laptop.post(f"/account/sessions/{other.id}/end", csrf_from="/account/security").status_code == 303
    assert phone.get("/dashboard").status_code == 302
    assert laptop.get("/dashboard").status_code == 200
    # Someone else's session does not exist for you.
    intruder = SignedInClient(app, world.users["partner"])
    mine = db.session.scalars(
        select(UserSession).where(UserSession.user_id == person.id, UserSession.ended_at.is_(None))
    ).first()
    assert intruder.post(f"/account/sessions/{mine.id}/end", csrf_from="/account/security").status_code == 404
    assert intruder.post("/account/sessions/99999999999/end", csrf_from="/account/security").status_code == 404
    assert laptop.get("/dashboard").status_code == 200


def test_remember_me_lasts_the_configured_days(app, world):
    client = SignedInClient(app, None)
    token = client.csrf("/sign-in")
    client.http.post(
        "/sign-in",
        data={
            "email": world.users["auditor"].email,
            "password": factories.PASSWORD,
            "remember": "y",
            "csrf_token": token,
        },
    )
    row = db.session.scalars(
        select(UserSession).where(UserSession.user_id == world.users["auditor"].id).order_by(UserSession.id.desc())
    ).first()
    assert row.is_remembered
    assert abs((row.expires_at - row.created_at).days - app.config["REMEMBER_COOKIE_DURATION"].days) <= 1


# --- passwords -------------------------------------------------------------------------------

WEAK = ["1234567890ab", "aaaaaaaaaaaa", "azertyuiop123", "motdepasse2026", "short", "Sharaka2026!!", "password1234"]


@pytest.mark.parametrize("password", WEAK)
def test_common_and_short_passwords_are_refused(app, world, password):
    with pytest.raises(ValidationFailed):
        _create(world, password)


def _create(world, password, email="amina.benali@example.org", full_name="Amina Benali"):
    from app.auth.services import create_user

    return create_user(email=email, full_name=full_name, role="officer", password=password, organization=world.ministry)


@pytest.mark.parametrize("password", ["amina.benali@example.org", "AminaBenali2026", "benali-amina-2026"])
def test_passwords_about_their_owner_are_refused(app, world, password):
    with pytest.raises(ValidationFailed) as refused:
        _create(world, password)
    assert "close to your name" in refused.value.message or "easy to guess" in refused.value.message


def test_an_admin_setting_someones_password_is_told_about_that_person(app, world):
    """Not "your name": the admin's own name has nothing to do with it."""
    from app.auth.services import create_user

    with pytest.raises(ValidationFailed) as refused:
        create_user(
            email="amina.benali@example.org",
            full_name="Amina Benali",
            role="officer",
            password="AminaBenali2026",
            organization=world.ministry,
            by=world.users["admin"],
        )
    assert "close to the person's name" in refused.value.message


@pytest.mark.parametrize("password", [STRONG, "جبال الأطلس في فصل الربيع", "vélo bleu sous la pluie d'octobre"])
def test_long_passphrases_in_any_language_are_welcome(app, world, password):
    assert _create(world, password).check_password(password)


@pytest.mark.parametrize("language, expected", [("en", "too common"), ("fr", "trop courant"), ("ar", "شائعة")])
def test_password_messages_speak_the_users_language(app, world, language, expected):
    client = SignedInClient(app, world.users["officer"])
    client.http.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    world.users["officer"].language = language
    db.session.commit()
    response = client.post(
        "/account/password",
        data={"current_password": factories.PASSWORD, "new_password": "azertyuiop123", "confirm": "azertyuiop123"},
    )
    assert response.status_code == 422
    assert expected in response.get_data(as_text=True)
    assert db.session.get(User, world.users["officer"].id).check_password(factories.PASSWORD)


# --- throttling without lock-out ---------------------------------------------------------------


def _try(app, email, password, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/sign-in").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})


def test_an_attacker_cannot_lock_a_known_user_out(app, world):
    victim = world.users["manager"].email
    assert _try(app, victim, factories.PASSWORD, "10.1.1.1").status_code == 302  # the victim's usual address
    codes = [_try(app, victim, f"guess-{n}", "203.0.113.66").status_code for n in range(12)]
    assert codes[:5] == [401] * 5 and 429 in codes  # the attacker is slowed down ...
    assert _try(app, victim, factories.PASSWORD, "203.0.113.66").status_code == 429  # ... even with the right one
    assert _try(app, victim, factories.PASSWORD, "10.1.1.1").status_code == 302  # the victim is not locked out


def test_many_addresses_guessing_one_account_stop_new_addresses_only(app, world):
    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES"] = 12
    try:
        victim = world.users["legal"].email
        assert _try(app, victim, factories.PASSWORD, "10.2.2.2").status_code == 302
        for n in range(14):
            _try(app, victim, "wrong-guess", f"198.51.100.{n}")
        assert _try(app, victim, factories.PASSWORD, "198.51.100.250").status_code == 429
        assert _try(app, victim, factories.PASSWORD, "10.2.2.2").status_code == 302
    finally:
        app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES"] = 50


# --- no secrets in cookies -----------------------------------------------------------------------


def _session_data(app, client) -> dict:
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.loads(_cookie(client, "session"))


def test_a_new_token_is_shown_once_and_never_travels_in_the_cookie(app, world):
    person = SignedInClient(app, world.users["partner"])
    response = person.post("/account/tokens", data={"name": "Reporting", "days": "30"})
    assert response.status_code == 303
    assert "shk_" not in str(_session_data(app, person))
    page = person.get(response.headers["Location"]).get_data(as_text=True)
    secret = page.split('id="new-token"')[1].split('value="')[1].split('"')[0]
    assert secret.startswith("shk_")
    assert "shk_" not in str(_session_data(app, person))
    assert 'id="new-token"' not in person.get(response.headers["Location"]).get_data(as_text=True)
    # The ticket in the address is worth nothing to anyone else.
    response = person.post("/account/tokens", data={"name": "Second", "days": "30"})
    other = SignedInClient(app, world.users["partner_b"])
    assert 'id="new-token"' not in other.get(response.headers["Location"]).get_data(as_text=True)


def test_the_tokens_page_is_one_of_the_account_tabs(app, world):
    person = SignedInClient(app, world.users["partner"])
    for path in ("/account", "/account/security", "/account/notifications", "/account/tokens"):
        page = person.get(path).get_data(as_text=True)
        tabs = page.split('aria-label="Your account"')[1].split("</nav>")[0]
        assert 'href="/account/tokens"' in tabs, path
        current = tabs.split('aria-current="page"')[1].split('"')[1]
        assert current == path, (path, current)


def test_a_new_calendar_address_never_travels_in_the_cookie(app, world):
    person = SignedInClient(app, world.users["officer"])
    response = person.post("/account/calendar", csrf_from="/account/notifications")
    assert response.status_code == 303
    assert ".ics" not in str(_session_data(app, person))
    assert ".ics" in person.get(response.headers["Location"]).get_data(as_text=True)


def test_someone_elses_one_time_link_neither_shows_nor_spends_the_address(app, world):
    """Another person who opened the link first had destroyed it: its owner then saw none."""
    person = SignedInClient(app, world.users["officer"])
    shown_at = person.post("/account/calendar", csrf_from="/account/notifications").headers["Location"]
    onlooker = SignedInClient(app, world.users["manager"])
    assert ".ics" not in onlooker.get(shown_at).get_data(as_text=True)
    assert ".ics" in person.get(shown_at).get_data(as_text=True)
    assert ".ics" not in person.get(shown_at).get_data(as_text=True)  # once


# --- headers and production -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, role",
    [
        ("/dashboard", "officer"),
        ("/agreements/", "partner"),
        ("/account/security", "auditor"),
        ("/sign-in", None),
        ("/api/v1/agreements", "api"),
        ("/no-such-page", None),
    ],
)
def test_private_answers_are_never_stored(app, world, path, role):
    if role == "api":
        _token, secret = create_token(world.users["officer"], "x", by=world.users["officer"])
        db.session.commit()
        response = app.test_client().get(path, headers={"Authorization": f"Bearer {secret}"})
    elif role:
        response = SignedInClient(app, world.users[role]).get(path)
    else:
        response = app.test_client().get(path)
    assert response.status_code == (404 if path == "/no-such-page" else 200)
    assert response.headers["Cache-Control"] == "no-store"


def test_static_assets_may_be_cached(app):
    response = app.test_client().get("/static/css/sharaka.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


@pytest.fixture
def production_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SHARAKA_INSTANCE_DIR", str(tmp_path))
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "key, reason",
    [
        ("", "is not set"),
        ("a" * 32, "guessable"),
        ("short-but-random-Xq9", "shorter than 32"),
        ("Sharaka-production-secret-key-2026-rabat", "guessable"),
        ("abcdefghijklmnopqrstuvwxyz012345", "guessable"),
        ("dev-only-not-secret", "is not set"),
        # deploy/sharaka.env.example's: long enough for the guess count, and public.
        ("change-me-to-64-hex-characters-from-python-secrets-token-hex-32", "placeholder"),
    ],
)
def test_production_refuses_a_weak_secret_key(production_env, key, reason):
    from app import create_app

    production_env.setenv("SECRET_KEY", key)
    with pytest.raises(RuntimeError) as refused:
        create_app("production")
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    "setting, value, named",
    [
        ("MFA_REQUIRED_ROLES", ("admn",), "admn"),
        ("MFA_REQUIRED_ROLES", ("Admin", "manager"), "Admin"),
        ("LDAP_LOCAL_ROLES", ("partnr", "admin"), "partnr"),
        ("ALLOWED_UPLOAD_TYPES", ("PDF", "DOCS"), "DOCS"),
    ],
)
def test_a_misspelt_role_or_file_type_stops_the_start(setting, value, named):
    """MFA_REQUIRED_ROLES=admn had started and asked nobody for a second factor."""
    from app import create_app
    from config import TestingConfig

    with pytest.raises(RuntimeError) as refused:
        create_app(type("Misspelt", (TestingConfig,), {setting: value}))
    assert setting in str(refused.value) and named in str(refused.value)


LDAP_ON = {"LDAP_URL": "ldap://127.0.0.1:1", "LDAP_BASE_DN": "ou=people,dc=example,dc=ma"}


@pytest.mark.parametrize(
    "settings, named",
    [
        # A misspelt role had locked out (and deactivated) that whole role at its sign-ins.
        ({"LDAP_GROUP_ROLES": "manger=cn=managers,dc=example,dc=ma"}, "manger"),
        ({"LDAP_GROUP_ROLES": "partner=cn=partners,dc=example,dc=ma"}, "partner"),
        ({"LDAP_GROUP_ROLES": "officer"}, "role=group DN"),
        # These had answered 500 to every directory sign-in.
        ({"LDAP_URL": "ldap://dc1.example.ma ldap://dc2.example.ma"}, "LDAP_URL"),
        ({"LDAP_CA_FILE": "/nowhere/ca.pem"}, "LDAP_CA_FILE"),
        ({"LDAP_USER_FILTER": "(uid=user"}, "LDAP_USER_FILTER"),
        ({"LDAP_BASE_DN": ""}, "LDAP_BASE_DN"),
    ],
)
def test_directory_settings_a_sign_in_would_trip_on_stop_the_start(settings, named):
    from app import create_app
    from config import TestingConfig

    with pytest.raises(RuntimeError) as refused:
        create_app(type("Misset", (TestingConfig,), LDAP_ON | settings))
    assert named in str(refused.value)


def test_production_refuses_debug_and_sends_hsts(production_env, caplog):
    import logging
    import secrets

    from app import create_app

    production_env.setenv("SECRET_KEY", secrets.token_hex(32))
    production_env.setenv("FLASK_DEBUG", "1")
    with pytest.raises(RuntimeError) as refused:
        create_app("production")
    assert "FLASK_DEBUG" in str(refused.value)
    production_env.delenv("FLASK_DEBUG")
    production_env.delenv("BASE_URL", raising=False)
    caplog.set_level(logging.WARNING)
    production = create_app("production")
    response = production.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert not production.debug
    # Without BASE_URL it starts, and says where its mailed links would lead (an operator probe's find).
    assert "BASE_URL is not set: the links in mail lead to http://127.0.0.1:5000" in caplog.text


def test_the_wsgi_entry_point_is_production_unless_told_otherwise(tmp_path):
    """A gunicorn started without its environment file had served the development configuration, signing
    sessions with its public key."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {key: value for key, value in os.environ.items() if key not in ("SHARAKA_CONFIG", "SECRET_KEY")}
    env["SHARAKA_INSTANCE_DIR"] = str(tmp_path)
    started = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=tmp_path, env=env | {"PYTHONPATH": str(root)}, capture_output=True
    )
    assert started.returncode != 0 and b"SECRET_KEY" in started.stderr
