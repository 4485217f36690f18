import ipaddress

import pytest

from app.auth.models import LoginAttempt, User
from app.extensions import db
from config import ProductionConfig
from tests import factories
from tests.conftest import SignedInClient, make_test_app


def test_sign_in_and_out(app, world):
    client = SignedInClient(app, world.users["officer"])
    assert client.get("/agreements/").status_code == 200
    token = client.csrf("/agreements/")
    assert client.http.post("/sign-out", data={"csrf_token": token}).status_code == 302
    assert client.get("/agreements/").status_code == 302


def test_email_is_case_insensitive(app, world):
    client = SignedInClient(app, None)
    response = client.sign_in(world.users["officer"].email.upper(), factories.PASSWORD)
    assert response.status_code == 302


def test_wrong_password_and_unknown_account_get_the_same_answer(app, world):
    client = SignedInClient(app, None)
    wrong = client.sign_in(world.users["officer"].email, "nope nope nope")
    unknown = client.sign_in("nobody@example.org", "nope nope nope")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong e-mail or password" in wrong.get_data(as_text=True)
    assert "Wrong e-mail or password" in unknown.get_data(as_text=True)


def test_repeated_failures_block_the_account_with_a_clear_message(app, world):
    client = SignedInClient(app, None)
    email = world.users["manager"].email
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]):
        assert client.sign_in(email, "wrong password!").status_code == 401
    blocked = client.sign_in(email, factories.PASSWORD)  # even the right password waits
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.get_data(as_text=True)
    # The same message for an account that does not exist: no enumeration.
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]):
        client.sign_in("ghost@example.org", "wrong password!")
    assert client.sign_in("ghost@example.org", "wrong password!").status_code == 429


def test_failures_from_one_address_are_limited_across_accounts(app, world):
    client = SignedInClient(app, None)
    limit = app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    for number in range(limit):
        client.sign_in(f"guess{number}@example.org", "wrong password!")
    assert client.sign_in(world.users["legal"].email, factories.PASSWORD).status_code == 429


def test_behind_a_trusted_proxy_each_client_is_counted_under_its_own_address(database_url, app, world):
    """Behind nginx every connection comes from the proxy: counted under it, twenty wrong passwords from
    anyone locked everyone out. From a TRUSTED_PROXIES address the client the proxy names is counted; a
    client reaching the app directly cannot choose the address it is counted under."""
    proxied = make_test_app(
        database_url, UPLOAD_DIR=app.config["UPLOAD_DIR"], TRUSTED_PROXIES=(ipaddress.ip_network("127.0.0.1/32"),)
    )
    limit, legal = app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"], world.users["legal"]

    def through_proxy(client_address: str) -> SignedInClient:
        client = SignedInClient(proxied, None)
        client.http.environ_base["HTTP_X_FORWARDED_FOR"] = client_address
        return client

    guesser = through_proxy("198.51.100.7")
    for number in range(limit):
        assert guesser.sign_in(f"guess{number}@example.org", "wrong password!").status_code == 401
    assert guesser.sign_in(legal.email, factories.PASSWORD).status_code == 429
    assert through_proxy("203.0.113.5").sign_in(legal.email, factories.PASSWORD).status_code == 302

    direct = SignedInClient(proxied, None)
    direct.http.environ_base["REMOTE_ADDR"] = "192.0.2.50"
    for number in range(limit):
        direct.http.environ_base["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{number + 10}"
        direct.sign_in(f"direct{number}@example.org", "wrong password!")
    direct.http.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.200"
    assert direct.sign_in(legal.email, factories.PASSWORD).status_code == 429


def test_inactive_account_cannot_sign_in(app, world):
    user = world.users["legal"]
    user.is_active_account = False
    db.session.commit()
    assert SignedInClient(app, None).sign_in(user.email, factories.PASSWORD).status_code == 401


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "http:evil.example",
        "\\\\evil",
        " //evil.example",
        "javascript:alert(1)",
    ],
)
def test_next_cannot_leave_the_site(app, world, target):
    client = SignedInClient(app, None)
    token = client.csrf("/sign-in")
    response = client.http.post(
        "/sign-in",
        data={
            "email": world.users["officer"].email,
            "password": factories.PASSWORD,
            "next": target,
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_within_the_site_is_followed(app, world):
    client = SignedInClient(app, None)
    token = client.csrf("/sign-in")
    response = client.http.post(
        "/sign-in",
        data={
            "email": world.users["officer"].email,
            "password": factories.PASSWORD,
            "next": f"/agreements/{world.agreement_a.id}",
            "csrf_token": token,
        },
    )
    assert response.headers["Location"] == f"/agreements/{world.agreement_a.id}"


def test_forms_without_csrf_token_are_refused(app, world):
    client = SignedInClient(app, world.users["officer"])
    before = db.session.scalar(db.select(db.func.count()).select_from(User))
    response = client.http.post("/admin/users/new", data={"email": "x@example.org"})
    assert response.status_code in (302, 400)
    response = client.http.post("/sign-in", data={"email": "a@b.c", "password": "x"})
    assert response.status_code in (302, 400)
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == before


def test_session_cookie_is_httponly_and_samesite(app, world):
    client = SignedInClient(app, None)
    token = client.csrf("/sign-in")
    response = client.http.post(
        "/sign-in", data={"email": world.users["officer"].email, "password": factories.PASSWORD, "csrf_token": token}
    )
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookies_are_secure_and_a_real_secret_is_required(monkeypatch):
    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    monkeypatch.delenv("SECRET_KEY", raising=False)
    from app import create_app

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")


def test_password_change_ends_other_sessions(app, world):
    user = world.users["auditor"]
    first = SignedInClient(app, user)
    second = SignedInClient(app, user)
    response = first.post(
        "/account/password",
        data={
            "current_password": factories.PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert first.get("/agreements/").status_code == 200
    assert second.get("/agreements/").status_code == 302
    assert SignedInClient(app, None).sign_in(user.email, "a brand new passphrase").status_code == 302


def test_password_change_with_wrong_current_password_is_a_form_error(app, world):
    client = SignedInClient(app, world.users["auditor"])
    response = client.post(
        "/account/password",
        data={
            "current_password": "not it at all",
            "new_password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )
    assert response.status_code == 422
    assert "current password is wrong" in response.get_data(as_text=True)


def test_attempts_are_recorded(app, world):
    SignedInClient(app, None).sign_in(world.users["officer"].email, "wrong wrong wrong")
    assert db.session.scalar(db.select(db.func.count()).select_from(LoginAttempt)) >= 1


def test_the_language_picked_on_the_sign_in_page_is_kept_at_sign_in(app, world):
    """Picked on the sign-in page, English stays after signing in as someone whose stored language is
    Arabic, and becomes theirs; with no pick, their stored language is used."""
    officer = world.users["officer"]
    officer.language = "ar"
    db.session.commit()
    visitor = SignedInClient(app, None)
    token = visitor.csrf("/sign-in")
    switched = visitor.http.post("/language", data={"language": "en", "next": "/sign-in", "csrf_token": token})
    assert switched.status_code == 302
    assert visitor.sign_in(officer.email, factories.PASSWORD).status_code == 302
    assert 'lang="en"' in visitor.get("/dashboard").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, officer.id).language == "en"
    # Signed out and in again without a pick: the stored language.
    officer.language = "ar"
    db.session.commit()
    again = SignedInClient(app, None)
    assert again.sign_in(officer.email, factories.PASSWORD).status_code == 302
    assert 'lang="ar"' in again.get("/dashboard").get_data(as_text=True)


def test_on_a_shared_computer_the_last_persons_language_is_not_the_next_ones(app, world):
    """Youssef switched to English and signed out; Hind, whose language is French, signed in on the same
    browser: the sign-in page spoke English (as Youssef's pages did), and signing in made English hers, her
    mail's too. The page still speaks on as the pages did; only a language picked there is kept."""
    first, second = world.users["officer"], world.users["manager"]
    second.language = "fr"
    db.session.commit()
    browser = SignedInClient(app, None)
    assert browser.sign_in(first.email, factories.PASSWORD).status_code == 302
    token = browser.csrf("/dashboard")
    browser.http.post("/language", data={"language": "en", "next": "/dashboard", "csrf_token": token})
    browser.http.post("/sign-out", data={"csrf_token": browser.csrf("/dashboard")})
    assert 'lang="en"' in browser.get("/sign-in").get_data(as_text=True)
    assert browser.sign_in(second.email, factories.PASSWORD).status_code == 302
    assert 'lang="fr"' in browser.get("/dashboard").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, second.id).language == "fr"
    # Picked on the sign-in page after that sign-out, it is kept, as ever.
    browser.http.post("/sign-out", data={"csrf_token": browser.csrf("/dashboard")})
    token = browser.csrf("/sign-in")
    browser.http.post("/language", data={"language": "ar", "next": "/sign-in", "csrf_token": token})
    assert browser.sign_in(second.email, factories.PASSWORD).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, second.id).language == "ar"
