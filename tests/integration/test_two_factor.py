"""Two-factor sign-in: TOTP enrolment with a server-drawn QR code, the second step before the
session opens, recovery codes (hashed, single use), required roles, wrong codes throttled, an
admin's reset (audited)."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import func, select

from app.auth.models import LoginAttempt, RecoveryCode, User, UserSession
from app.core.audit import AuditEvent
from app.extensions import db
from tests import factories
from tests.conftest import SignedInClient


def _fresh(user):
    db.session.expire_all()
    return db.session.get(User, user.id)


def _secret_from(page: str) -> str:
    return re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)


def _enrol(client) -> tuple[str, list[str]]:
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in page and "otpauth" not in page.split("<svg", 1)[0][-200:]  # drawn here, inline
    secret = _secret_from(page)
    wrong = client.post("/account/two-factor", data={"code": "000000"}, csrf_from="/account")
    assert wrong.status_code == 422 and "is-invalid" in wrong.get_data(as_text=True)
    done = client.post("/account/two-factor", data={"code": pyotp.TOTP(secret).now()}, csrf_from="/account")
    assert done.status_code == 200
    codes = re.findall(r'class="recovery-code">([a-z0-9\-]+)<', done.get_data(as_text=True))
    return secret, codes


def _later(user):
    """As if the enrolment's time step were past: its code is spent, the next one is not."""
    user = _fresh(user)
    user.totp_last_step -= 2
    db.session.commit()


def _password_step(app, user, password=factories.PASSWORD):
    client = SignedInClient(app, None)
    response = client.sign_in(user.email, password)
    return client, response


def test_enrol_then_sign_in_asks_for_the_code_before_any_session(app, world, signed_in):
    person = world.users["officer"]
    secret, codes = _enrol(signed_in("officer"))
    assert len(codes) == 10 and _fresh(person).has_totp
    _later(person)
    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == person.id)).all()
    assert codes[0].replace("-", "") not in stored  # only hashes are kept
    sessions_before = db.session.query(UserSession).filter_by(user_id=person.id).count()
    client, response = _password_step(app, person)
    assert response.status_code == 303 and response.headers["Location"].endswith("/sign-in/code")
    assert client.get("/agreements/").status_code == 302  # not signed in yet
    assert db.session.query(UserSession).filter_by(user_id=person.id).count() == sessions_before
    wrong = client.post("/sign-in/code", data={"code": "123456"})
    assert wrong.status_code == 422
    assert client.get("/agreements/").status_code == 302
    code = pyotp.TOTP(secret).now()
    right = client.post("/sign-in/code", data={"code": code})
    assert right.status_code == 302
    assert client.get("/agreements/").status_code == 200
    # The same code is never accepted twice.
    again, _ = _password_step(app, person)
    assert again.post("/sign-in/code", data={"code": code}).status_code == 422


def test_recovery_codes_work_once(app, world, signed_in):
    person = world.users["legal"]
    _secret, codes = _enrol(signed_in("legal"))
    client, _ = _password_step(app, person)
    assert client.post("/sign-in/code", data={"code": codes[0].upper()}).status_code == 302
    client, _ = _password_step(app, person)
    assert client.post("/sign-in/code", data={"code": codes[0]}).status_code == 422
    assert (
        db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "mfa_recovery_code_used", AuditEvent.object_id == person.id)
        )
        is not None
    )


def test_a_code_already_used_is_said_to_be_used_not_wrong(app, world, signed_in):
    """Someone signing in again within the half-minute, or typing a recovery code crossed off already, was told
    the code was not right and to check the time on their phone: nothing was wrong with the phone. Still a
    failed attempt, which the throttle counts."""
    person = world.users["legal"]
    secret, codes = _enrol(signed_in("legal"))
    user = _fresh(person)
    user.totp_last_step = int(time.time()) // 30 + 1  # the code the app shows now, and the next, are spent
    db.session.commit()
    client, _ = _password_step(app, person)
    reused = client.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()})
    said = reused.get_data(as_text=True)
    assert reused.status_code == 422
    assert "This code was already used" in said and "Check the time on your phone" not in said
    failed = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.succeeded.is_(False))
    failed = failed.where(LoginAttempt.email == person.email)
    assert db.session.scalar(failed) == 1
    assert client.post("/sign-in/code", data={"code": codes[0]}).status_code == 302  # forgives the failure
    client, _ = _password_step(app, person)
    again = client.post("/sign-in/code", data={"code": codes[0]})
    said = again.get_data(as_text=True)
    assert again.status_code == 422
    assert "This recovery code was already used" in said and "Check the time on your phone" not in said
    assert db.session.scalar(failed) == 1


def test_wrong_codes_are_throttled(app, world, signed_in):
    person = world.users["auditor"]
    secret, _codes = _enrol(signed_in("auditor"))
    _later(person)
    client, _ = _password_step(app, person)
    statuses = [client.post("/sign-in/code", data={"code": f"{n:06d}"}).status_code for n in range(1, 8)]
    assert statuses[:5] == [422] * 5 and statuses[-1] == 429
    # Even the right code waits now.
    assert client.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 429
    assert client.get("/agreements/").status_code == 302


def test_a_required_role_enrols_at_next_sign_in(app, world):
    app.config["MFA_REQUIRED_ROLES"] = ("admin", "manager")
    try:
        person = world.users["manager"]
        client, response = _password_step(app, person)
        assert response.headers["Location"].endswith("/sign-in/code")
        page = client.get("/sign-in/code").get_data(as_text=True)
        assert "<svg" in page
        assert client.get("/agreements/").status_code == 302
        secret = _secret_from(page)
        done = client.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()})
        assert done.status_code == 200 and "recovery-code" in done.get_data(as_text=True)
        assert client.get("/agreements/").status_code == 200
        assert _fresh(person).has_totp
        # A required role cannot turn it off.
        off = client.post(
            "/account/two-factor/off",
            data={"password": factories.PASSWORD, "code": "000000"},
            csrf_from="/account/security",
        )
        assert off.status_code == 303 and _fresh(person).has_totp
        # Other roles are not asked.
        assert _password_step(app, world.users["officer"])[1].status_code == 302
    finally:
        app.config["MFA_REQUIRED_ROLES"] = ()


def test_turning_off_needs_password_and_code(app, world, signed_in):
    person = world.users["officer"]
    client = signed_in("officer")
    _secret, codes = _enrol(client)
    # (The code of this time step was spent by the enrolment: a recovery code stands in for it.)
    client.post("/account/two-factor/off", data={"password": "wrong", "code": codes[0]}, csrf_from="/account/security")
    assert _fresh(person).has_totp
    client.post(
        "/account/two-factor/off",
        data={"password": factories.PASSWORD, "code": codes[0]},
        csrf_from="/account/security",
    )
    assert not _fresh(person).has_totp
    assert db.session.scalar(select(RecoveryCode).where(RecoveryCode.user_id == person.id)) is None


def test_an_admin_resets_a_second_factor_and_it_is_audited(app, world, signed_in):
    person = world.users["officer"]
    on_the_lost_phone = signed_in("officer")
    _enrol(on_the_lost_phone)
    assert (
        signed_in("manager").post(f"/admin/users/{person.id}/two-factor/reset", csrf_from="/agreements/").status_code
        == 403
    )
    assert on_the_lost_phone.get("/dashboard").status_code == 200
    admin = signed_in("admin")
    response = admin.post(f"/admin/users/{person.id}/two-factor/reset", csrf_from=f"/admin/users/{person.id}/edit")
    assert response.status_code == 303 and not _fresh(person).has_totp
    # A browser signed in on the lost phone is signed out.
    assert on_the_lost_phone.get("/dashboard").status_code == 302
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "mfa_reset", AuditEvent.object_id == person.id)
    )
    assert event is not None and event.actor_id == world.users["admin"].id
    assert _password_step(app, person)[1].status_code == 302  # no code asked any more
    assert admin.post("/admin/users/999999/two-factor/reset", csrf_from="/admin/users").status_code == 404


@pytest.mark.parametrize("language, words", [("ar", "رمز"), ("fr", "code")])
def test_the_second_step_speaks_the_persons_language(app, world, signed_in, language, words):
    person = factories.user("officer", world.ministry, email=f"mfa-{language}@example.org", language=language)
    db.session.commit()
    _enrol(SignedInClient(app, person))
    client, _ = _password_step(app, person)
    client.http.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    page = client.post("/sign-in/code", data={"code": "111111"}).get_data(as_text=True)
    assert words in page.lower()


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize("typed", ["²²²²²²", "①②③④⑤⑥", "12345６", "١٢٣٤٥"])
def test_codes_of_digits_no_clock_gives_are_wrong_codes(signed_in, typed):
    client = signed_in("officer")
    client.get("/account/two-factor")
    response = client.post("/account/two-factor", data={"code": typed}, csrf_from="/account")
    assert response.status_code == 422 and "That code is not right" in response.get_data(as_text=True)


def test_a_code_typed_on_an_arabic_keyboard_is_the_same_code(app, world, signed_in):
    """An authenticator shows 0-9; a phone set to Arabic may type ٠-٩. Both are the same six digits."""
    person = world.users["manager"]
    client = signed_in("manager")
    secret = _secret_from(client.get("/account/two-factor").get_data(as_text=True))
    typed = pyotp.TOTP(secret).now().translate(ARABIC_INDIC)
    done = client.post("/account/two-factor", data={"code": typed}, csrf_from="/account")
    assert done.status_code == 200 and _fresh(person).has_totp
    _later(person)
    second, response = _password_step(app, person)
    right = second.post("/sign-in/code", data={"code": " ".join(pyotp.TOTP(secret).now().translate(ARABIC_INDIC))})
    assert right.status_code == 302 and second.get("/agreements/").status_code == 200


# --- what a password alone, or a signing key alone, may not give (an outside probe's findings) ---------


def test_each_sign_in_that_must_enrol_gets_its_own_secret(app, world):
    """A secret shown to one person past the password, never confirmed, had been shown again to the next
    one: the real person enrolled it, and the first one then held the second factor too."""
    app.config["MFA_REQUIRED_ROLES"] = ("manager",)
    try:
        person = world.users["manager"]
        intruder, _response = _password_step(app, person)
        seen_by_intruder = _secret_from(intruder.get("/sign-in/code").get_data(as_text=True))
        owner, _response = _password_step(app, person)
        secret = _secret_from(owner.get("/sign-in/code").get_data(as_text=True))
        assert secret != seen_by_intruder
        assert owner.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 200
        # The intruder's pending step was replaced by the owner's: it no longer leads anywhere.
        late = intruder.post("/sign-in/code", data={"code": pyotp.TOTP(seen_by_intruder).now()}, csrf_from="/sign-in")
        assert late.status_code == 302 and late.headers["Location"].endswith("/sign-in")
        assert intruder.get("/agreements/").status_code == 302
    finally:
        app.config["MFA_REQUIRED_ROLES"] = ()


def test_a_signed_cookie_without_the_password_step_opens_no_second_step(app, world):
    """With SECRET_KEY, a forged `mfa_pending` had let anyone enrol their own code on an account without one."""
    target = world.users["admin"]
    client = SignedInClient(app, None)
    with client.http.session_transaction() as session:
        session["mfa_pending"] = {"user_id": target.id, "remember": False, "next": "/", "at": int(time.time())}
    response = client.get("/sign-in/code")
    assert response.status_code == 302 and response.headers["Location"].endswith("/sign-in")
    with client.http.session_transaction() as session:
        session["mfa_pending"] = {"user_id": target.id, "key": "guessed", "next": "/", "at": int(time.time())}
    assert client.get("/sign-in/code").status_code == 302
    assert _fresh(target).totp_secret is None


def test_the_enrolment_page_draws_a_new_secret_each_time_it_is_shown(world, signed_in):
    client = signed_in("officer")
    first = _secret_from(client.get("/account/two-factor").get_data(as_text=True))
    assert _secret_from(client.get("/account/two-factor").get_data(as_text=True)) != first


def test_turning_two_factor_on_ends_the_accounts_other_sessions(app, world, signed_in):
    other = signed_in("officer")
    _enrol(signed_in("officer"))
    assert other.get("/agreements/").status_code == 302


def test_the_current_password_cannot_be_guessed_from_an_open_session(app, world, signed_in):
    """A session left open had been a way to guess the account's password without limit."""
    client = signed_in("officer")
    new = {"new_password": "Une-phrase-longue-2026", "confirm": "Une-phrase-longue-2026"}
    for guess in range(5):
        response = client.post("/account/password", data={"current_password": f"guess-{guess}", **new})
        assert response.status_code == 422 and "The current password is wrong." in response.get_data(as_text=True)
    response = client.post("/account/password", data={"current_password": factories.PASSWORD, **new})
    assert response.status_code == 429  # the right one now waits too, as at the sign-in
    assert "Too many failed sign-in attempts" in response.get_data(as_text=True)


def test_new_recovery_codes_cannot_be_had_by_guessing_codes_from_an_open_session(app, world, signed_in):
    """A session taken (and the password) had guessed codes on "new recovery codes" without limit, into a
    fresh set: a lasting way round the second factor. It obeys the throttle of /sign-in/code."""
    person = world.users["manager"]
    client = signed_in("manager")
    secret, _codes = _enrol(client)
    _later(person)
    url = "/account/two-factor/recovery-codes"
    for n in range(1, 8):
        client.post(url, data={"code": f"{n:06d}"}, csrf_from="/account/security")
    failures = db.session.scalar(
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.email == person.email)
    )
    refused = client.post(url, data={"code": pyotp.TOTP(secret).now()}, csrf_from="/account/security")
    assert refused.status_code == 303  # back to the security page, no new codes
    assert "Too many failed sign-in attempts" in client.get("/account/security").get_data(as_text=True)
    assert failures <= 6  # the guesses past the limit were not even checked
    assert (
        db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "mfa_recovery_codes_renewed", AuditEvent.object_id == person.id
            )
        )
        is None
    )


def test_two_factor_cannot_be_turned_off_by_guessing_codes_from_an_open_session(app, world, signed_in):
    """With the password, "turn off" had checked codes without limit and recorded no failure: a taken
    session guessed its way to two-factor off for good."""
    person = world.users["manager"]
    client = signed_in("manager")
    secret, _codes = _enrol(client)
    _later(person)
    for n in range(1, 9):
        client.post(
            "/account/two-factor/off",
            data={"password": factories.PASSWORD, "code": f"{n:06d}"},
            csrf_from="/account/security",
        )
    failures = db.session.scalar(
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.email == person.email)
    )
    assert 5 <= failures <= 6  # counted, and the guesses past the limit were not even checked
    client.post(
        "/account/two-factor/off",
        data={"password": factories.PASSWORD, "code": pyotp.TOTP(secret).now()},
        csrf_from="/account/security",
    )
    db.session.expire_all()
    assert person.has_totp


def test_a_changed_password_ends_the_calendar_address_and_a_second_factor_begun(world, signed_in):
    from app.notifications.services import calendar_feed_of, create_calendar_feed

    person = world.users["officer"]
    client = signed_in("officer")
    client.get("/account/two-factor")  # a secret drawn, never confirmed
    create_calendar_feed(_fresh(person))
    db.session.commit()
    new = {"new_password": "Une-phrase-longue-2026", "confirm": "Une-phrase-longue-2026"}
    response = client.post("/account/password", data={"current_password": factories.PASSWORD, **new})
    assert response.status_code == 302
    person = _fresh(person)
    assert calendar_feed_of(person) is None and person.totp_secret is None


def test_a_wrong_code_is_not_drawn_back_into_the_field(app, world, signed_in):
    """The right code typed after a wrong one had been joined onto it and refused again."""
    client = signed_in("officer")
    client.get("/account/two-factor")
    page = client.post("/account/two-factor", data={"code": "257816"}, csrf_from="/account").get_data(as_text=True)
    assert "257816" not in page and "That code is not right" in page


def test_a_second_password_sign_in_does_not_cancel_the_first_ones_code_step(app, world, signed_in):
    """One slot had let anyone who knew the password cancel the owner's code step, as often as they liked."""
    person = world.users["officer"]
    secret, _codes = _enrol(signed_in("officer"))
    _later(person)
    owner, _response = _password_step(app, person)
    other, _response = _password_step(app, person)  # another browser, or someone with the password only
    assert owner.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert owner.get("/agreements/").status_code == 200


def test_a_code_step_under_way_ends_when_the_password_or_second_factor_is_reset(app, world, signed_in):
    """A step begun before had gone on to a full session after the owner reset the password, or (after an
    admin's reset of the second factor) to enrolling the holder's own authenticator."""
    from app.auth import services

    person = world.users["officer"]
    _enrol(signed_in("officer"))
    _later(person)
    holder, _response = _password_step(app, person)
    services.update_user(
        _fresh(person),
        full_name=person.full_name,
        role=person.role,
        organization=person.organization,
        language=person.language,
        is_active=True,
        by=world.users["admin"],
        new_password="Une-phrase-toute-neuve-2026",
    )
    db.session.commit()
    assert holder.get("/sign-in/code").headers["Location"].endswith("/sign-in")
    holder, _response = _password_step(app, person, "Une-phrase-toute-neuve-2026")
    admin = signed_in("admin")
    edit = f"/admin/users/{person.id}/edit"
    reset = admin.post(f"/admin/users/{person.id}/two-factor/reset", data={}, csrf_from=edit)
    assert reset.status_code in (302, 303) and not _fresh(person).has_totp
    page = holder.get("/sign-in/code")
    assert page.status_code == 302 and page.headers["Location"].endswith("/sign-in")  # not an enrolment


def test_the_password_alone_makes_no_address_known_and_says_no_sign_in(app, world, signed_in):
    """The password step recorded a sign-in: the address became one "this person signed in from", which the
    throttle spares once the account's failures pass their cap (a probe guessed codes from 60 addresses so),
    and the audit trail said "signed in" for people who never gave the code. Both wait for the code now."""
    person = world.users["manager"]
    secret, _codes = _enrol(signed_in("manager"))
    _later(person)
    before = _fresh(person).last_sign_in_at
    signed_in_rows = (
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "signed_in", AuditEvent.object_id == person.id)
    )
    audited = db.session.scalar(signed_in_rows)
    successes = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.succeeded.is_(True))
    recorded = db.session.scalar(successes)
    client, response = _password_step(app, person)
    assert response.status_code == 303
    assert db.session.scalar(successes) == recorded and db.session.scalar(signed_in_rows) == audited
    assert _fresh(person).last_sign_in_at == before
    assert client.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert db.session.scalar(successes) == recorded + 1 and db.session.scalar(signed_in_rows) == audited + 1
    assert _fresh(person).last_sign_in_at != before
