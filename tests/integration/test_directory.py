"""Directory sign-in against a real OpenLDAP server (tests/ldap_server.py): good and bad passwords,
first sign-in creates the account, group changes change the role, a disabled entry or one removed
from the groups loses access (sessions end), an unreachable directory, local break-glass admins,
LDAP-injection characters in the user name, and resets pointing to the ministry's procedure."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.core.audit import AuditEvent
from app.extensions import db
from app.notifications.models import OutboxMessage
from tests import factories
from tests.conftest import SignedInClient
from tests.ldap_server import BASE_ENTRIES, SUFFIX, LdapServer, free_port, group, person, require_slapd

PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
AMINA = "Amina-mot-de-passe-annuaire"


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    require_slapd()
    server = LdapServer(tmp_path_factory.mktemp("slapd")).start()
    try:
        server.ldif(
            BASE_ENTRIES
            + "\n"
            + "\n".join(
                [
                    person("amina", "Amina Bennani", AMINA),
                    person("karim", "Karim Idrissi", "Karim-mot-de-passe-annuaire"),
                    person("leila", "Leila Tazi", "Leila-mot-de-passe-annuaire"),
                    person("nogroup", "Sans Groupe", "Nogroup-mot-de-passe"),
                    # "nobody" keeps each group valid (groupOfNames needs a member) when the tests move people.
                    group("sharaka-officers", "amina", "leila", "nobody"),
                    group("sharaka-managers", "karim", "nobody"),
                    group("sharaka-admins", "nobody"),
                ]
            )
        )
        yield server
    finally:
        server.stop()


def settings(url: str) -> dict:
    return {
        "LDAP_URL": url,
        "LDAP_BASE_DN": PEOPLE,
        "LDAP_USER_FILTER": "(&(objectClass=inetOrgPerson)(|(uid={login})(mail={login})))",
        "LDAP_ACTIVE_FILTER": "(!(employeeType=disabled))",
        "LDAP_BIND_DN": f"cn=sharaka-service,{SUFFIX}",
        "LDAP_BIND_PASSWORD": "service-secret",
        "LDAP_GROUP_BASE_DN": GROUPS,
        "LDAP_GROUP_ROLES": f"admin=cn=sharaka-admins,{GROUPS};manager=cn=sharaka-managers,{GROUPS};"
        f"officer=cn=sharaka-officers,{GROUPS}",
        "LDAP_TIMEOUT_SECONDS": 3,
        "LDAP_LOCAL_ROLES": ("partner", "admin"),
        "LDAP_PASSWORD_HELP": "",
    }


@pytest.fixture
def ldap_on(app, test_body_app, directory):
    """The directory settings on the app serving requests and on the one the test body runs in."""
    saved = {key: app.config.get(key) for key in settings(directory.url)}
    for each in (app, test_body_app):
        each.config.update(settings(directory.url))
    yield directory
    for each in (app, test_body_app):
        each.config.update(saved)


def _sign_in(app, login, password):
    client = SignedInClient(app, None)
    return client, client.sign_in(login, password)


def _user(email):
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def test_first_sign_in_creates_the_account_with_the_role_of_the_groups(app, world, ldap_on):
    client, response = _sign_in(app, "amina", AMINA)
    assert response.status_code == 302
    assert client.get("/agreements/").status_code == 200
    user = _user("amina@ministere.example.ma")
    assert (user.role, user.full_name, user.organization_id) == ("officer", "Amina Bennani", world.ministry.id)
    assert user.directory_dn == f"uid=amina,{PEOPLE}" and user.password_hash == ""
    # By e-mail address too, whatever its case.
    assert _sign_in(app, "Amina@Ministere.example.ma", AMINA)[1].status_code == 302


def test_a_wrong_or_empty_password_is_refused(app, world, ldap_on):
    for password in ("wrong-password", "x" * 200):
        response = _sign_in(app, "amina", password)[1]
        assert response.status_code == 401, password
        assert "Wrong e-mail or password" in response.get_data(as_text=True)
    assert _sign_in(app, "amina", " ")[1].status_code == 422  # an unauthenticated bind never happens
    assert _sign_in(app, "nobody-at-all", AMINA)[1].status_code == 401


def test_a_group_change_changes_the_role(app, world, ldap_on):
    assert _sign_in(app, "karim", "Karim-mot-de-passe-annuaire")[1].status_code == 302
    assert _user("karim@ministere.example.ma").role == "manager"
    ldap_on.modify(f"""dn: cn=sharaka-managers,{GROUPS}
changetype: modify
delete: member
member: uid=karim,{PEOPLE}

dn: cn=sharaka-officers,{GROUPS}
changetype: modify
add: member
member: uid=karim,{PEOPLE}
""")
    try:
        assert _sign_in(app, "karim", "Karim-mot-de-passe-annuaire")[1].status_code == 302
        assert _user("karim@ministere.example.ma").role == "officer"
        assert (
            db.session.scalar(
                select(AuditEvent).where(
                    AuditEvent.action == "directory_refreshed",
                    AuditEvent.object_id == _user("karim@ministere.example.ma").id,
                )
            )
            is not None
        )
    finally:
        ldap_on.modify(f"""dn: cn=sharaka-officers,{GROUPS}
changetype: modify
delete: member
member: uid=karim,{PEOPLE}

dn: cn=sharaka-managers,{GROUPS}
changetype: modify
add: member
member: uid=karim,{PEOPLE}
""")


def test_a_disabled_entry_or_one_in_no_group_loses_access_and_its_sessions(app, world, ldap_on):
    signed, response = _sign_in(app, "leila", "Leila-mot-de-passe-annuaire")
    assert response.status_code == 302 and signed.get("/agreements/").status_code == 200
    ldap_on.modify(f"""dn: uid=leila,{PEOPLE}
changetype: modify
replace: employeeType
employeeType: disabled
""")
    try:
        response = _sign_in(app, "leila", "Leila-mot-de-passe-annuaire")[1]
        assert response.status_code == 403 and "does not give access" in response.get_data(as_text=True)
        assert not _user("leila@ministere.example.ma").is_active_account
        assert signed.get("/agreements/").status_code == 302  # the open session ended too
    finally:
        ldap_on.modify(f"""dn: uid=leila,{PEOPLE}
changetype: modify
replace: employeeType
employeeType: active
""")
    # Enabled again in the directory: access comes back at the next sign-in.
    assert _sign_in(app, "leila", "Leila-mot-de-passe-annuaire")[1].status_code == 302
    assert _user("leila@ministere.example.ma").is_active_account
    response = _sign_in(app, "nogroup", "Nogroup-mot-de-passe")[1]
    assert response.status_code == 403 and _user("nogroup@ministere.example.ma") is None


INJECTIONS = [
    "am*",
    "*",
    "amina)(uid=*",
    "amina)(|(uid=*",
    "(uid=amina)",
    "amina\\",
    "amina\\2a",
    "*)(objectClass=*",
    "amina*",
    "amina\x00",
    "\x00",
    "amina\x00)(uid=*",
]


@pytest.mark.parametrize("login", INJECTIONS)
def test_injection_characters_in_the_user_name_match_nobody(app, world, ldap_on, login):
    # Unescaped, "am*" or "amina)(uid=*" would find Amina's entry and her password would open it.
    from app.auth import directory

    assert directory.authenticate(login, AMINA) is None
    response = _sign_in(app, login, AMINA)[1]
    if "\x00" in login and login.replace("\x00", "") == "amina":
        # The forms drop NUL bytes before anything sees them: this is just "amina".
        assert response.status_code == 302
    else:
        assert response.status_code in (401, 422), login
        assert _user("amina@ministere.example.ma") is None


def test_an_unreachable_directory_says_so_and_local_admins_still_sign_in(app, world, ldap_on):
    app.config["LDAP_URL"] = f"ldap://127.0.0.1:{free_port()}"
    response = _sign_in(app, "amina", AMINA)[1]
    assert response.status_code == 503
    assert "directory cannot be reached" in response.get_data(as_text=True)
    # The break-glass administrator (a local account) and partners sign in as before.
    assert _sign_in(app, world.users["admin"].email, factories.PASSWORD)[1].status_code == 302
    assert _sign_in(app, world.users["partner"].email, factories.PASSWORD)[1].status_code == 302
    # A local officer is not allowed a local password while the directory is on.
    assert _sign_in(app, world.users["officer"].email, factories.PASSWORD)[1].status_code == 503


def test_a_wrong_service_account_is_a_clear_error_not_a_crash(app, world, ldap_on):
    app.config["LDAP_BIND_PASSWORD"] = "not-the-service-password"
    assert _sign_in(app, "amina", AMINA)[1].status_code == 503


def test_directory_accounts_are_told_to_use_the_ministrys_procedure(app, world, ldap_on):
    app.config["LDAP_PASSWORD_HELP"] = "https://intranet.example.ma/mot-de-passe"
    _sign_in(app, "amina", AMINA)
    visitor = SignedInClient(app, None)
    visitor.post("/password/forgot", data={"email": "amina@ministere.example.ma"}, csrf_from="/password/forgot")
    mail = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_address == "amina@ministere.example.ma")
    ).one()
    assert mail.kind == "password_reset_directory"
    assert "intranet.example.ma/mot-de-passe" in mail.body_text and "/password/reset/" not in mail.body_text
    app.config["LDAP_PASSWORD_HELP"] = ""
