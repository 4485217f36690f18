"""Directory sign-in (LDAP / Active Directory) for ministry staff, with ldap3.

A service account searches for the person (the typed name escaped into LDAP_USER_FILTER),
then Sharaka binds as the entry found with the typed password. The role comes from the
person's groups (LDAP_GROUP_ROLES, first match wins); an entry that no longer matches
LDAP_ACTIVE_FILTER, or is in no mapped group, loses access: the account is deactivated,
its sessions end and its API tokens are revoked. The account is created at first sign-in
and refreshed at every one.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import func, select

from app.auth.models import User, normalize_email
from app.core import audit
from app.core.models import utcnow
from app.core.permissions import is_ministry_role
from app.core.text import storable
from app.extensions import db

if TYPE_CHECKING:
    from ldap3 import Connection, Server

# ldap3 is imported by the functions that talk to the directory: ~5 MB in every web worker of a
# ministry that signs in with passwords only.


class DirectoryUnavailable(Exception):
    """The directory could not be reached (or refused the service account)."""


class DirectoryNoAccess(Exception):
    """The password was right, but the directory gives this person no access (disabled, no group)."""


@dataclass
class Entry:
    dn: str
    email: str
    full_name: str
    groups: set[str] = field(default_factory=set)
    is_enabled: bool = True


def is_enabled() -> bool:
    return bool(current_app.config.get("LDAP_URL"))


def normalize_dn(dn: str) -> str:
    return ",".join(part.strip() for part in (dn or "").lower().split(","))


def group_roles(setting: str) -> list[tuple[str, str]]:
    """LDAP_GROUP_ROLES "role=group DN;role=group DN" → [(role, normalized DN)], ministry roles only."""
    pairs = []
    for item in (setting or "").split(";"):
        role, _sep, dn = item.strip().partition("=")
        if is_ministry_role(role.strip()) and dn.strip():
            pairs.append((role.strip(), normalize_dn(dn)))
    return pairs


def role_for(groups: set[str]) -> str | None:
    normalized = {normalize_dn(group) for group in groups}
    return next((role for role, dn in group_roles(current_app.config["LDAP_GROUP_ROLES"]) if dn in normalized), None)


def _server() -> Server:
    from ldap3 import NONE, Server, Tls

    config = current_app.config
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config["LDAP_CA_FILE"] or None)
    return Server(config["LDAP_URL"], connect_timeout=config["LDAP_TIMEOUT_SECONDS"], get_info=NONE, tls=tls)


def _connect(server: Server, user: str | None, password: str | None) -> Connection | None:
    """An open, bound connection; None when the credentials are refused; raises DirectoryUnavailable."""
    from ldap3 import Connection
    from ldap3.core.exceptions import LDAPException

    config = current_app.config
    connection = Connection(
        server,
        user=user or None,
        password=password or None,
        receive_timeout=config["LDAP_TIMEOUT_SECONDS"],
        raise_exceptions=False,
    )
    try:
        connection.open()
        if config["LDAP_START_TLS"]:
            connection.start_tls()
        if connection.bind():
            return connection
    except LDAPException as error:
        raise DirectoryUnavailable(str(error)) from error
    result = connection.result or {}
    connection.unbind()
    if result.get("description") in ("invalidCredentials", "inappropriateAuthentication"):
        return None
    raise DirectoryUnavailable(str(result.get("description") or "bind failed"))


def _search(connection: Connection, base: str, search_filter: str, *, scope=None, attributes=None, limit=0):
    from ldap3 import SUBTREE
    from ldap3.core.exceptions import LDAPException

    try:
        connection.search(
            base, search_filter, search_scope=scope or SUBTREE, attributes=attributes or [], size_limit=limit
        )
    except LDAPException as error:
        raise DirectoryUnavailable(str(error)) from error
    return [entry for entry in connection.response or [] if entry.get("type") == "searchResEntry"]


def authenticate(login: str, password: str) -> Entry | None:
    """The person's directory entry when `password` is theirs; None when unknown or wrong."""
    from ldap3 import BASE
    from ldap3.utils.conv import escape_filter_chars

    config = current_app.config
    # An empty password would make an "unauthenticated bind", which many servers accept.
    if not login or not password or "\x00" in password:
        return None
    server = _server()
    service = _connect(server, config["LDAP_BIND_DN"], config["LDAP_BIND_PASSWORD"])
    if service is None:
        raise DirectoryUnavailable("the service account was refused")
    try:
        mail_attr, name_attr = config["LDAP_MAIL_ATTRIBUTE"], config["LDAP_NAME_ATTRIBUTE"]
        search_filter = config["LDAP_USER_FILTER"].replace("{login}", escape_filter_chars(login))
        found = _search(
            service, config["LDAP_BASE_DN"], search_filter, attributes=[mail_attr, name_attr, "memberOf"], limit=2
        )
        if len(found) != 1:
            return None
        dn = found[0]["dn"]
        attributes = found[0].get("attributes", {})
        person = _connect(server, dn, password)
        if person is None:
            return None
        person.unbind()
        entry = Entry(
            dn=dn,
            email=_first(attributes.get(mail_attr)),
            full_name=_first(attributes.get(name_attr)),
            groups={str(g) for g in attributes.get("memberOf") or []},
        )
        escaped_dn = escape_filter_chars(dn)
        groups = _search(
            service,
            config["LDAP_GROUP_BASE_DN"] or config["LDAP_BASE_DN"],
            f"(|(member={escaped_dn})(uniqueMember={escaped_dn}))",
        )
        entry.groups |= {group["dn"] for group in groups}
        if config["LDAP_ACTIVE_FILTER"]:
            entry.is_enabled = bool(_search(service, dn, config["LDAP_ACTIVE_FILTER"], scope=BASE))
        return entry
    finally:
        service.unbind()


def _first(value) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return str(value or "").strip()


def sync(entry: Entry) -> User:
    """Create or refresh the account of `entry`; raises DirectoryNoAccess (after deactivating the
    account) when the directory no longer gives access."""
    from app.auth.leavers import cut_off
    from app.organizations.models import Organization

    role = role_for(entry.groups) if entry.is_enabled else None
    email = normalize_email(entry.email)[:254]
    user = db.session.scalar(select(User).where(func.lower(User.directory_dn) == entry.dn.lower()))
    if user is None and email:
        user = db.session.scalar(select(User).where(User.email == email))
    if role is None or not email:
        if user is not None and user.is_active_account:
            user.is_active_account = False
            user.deactivated_by_ministry = True
            audit.record(
                "directory_access_lost",
                user,
                actor=None,
                changes=cut_off(user, by=None, reason="directory_disabled") | {"enabled": entry.is_enabled},
            )
        raise DirectoryNoAccess()
    home = db.session.scalar(select(Organization).where(Organization.is_home.is_(True)).limit(1))
    name = storable(entry.full_name or email)[:200]
    if user is None:
        user = User(
            email=email,
            full_name=name,
            role=role,
            organization=home,
            password_hash="",
            language=current_app.config["BABEL_DEFAULT_LOCALE"],
            directory_dn=entry.dn,
            is_active_account=True,
        )
        db.session.add(user)
        db.session.flush()
        audit.record(
            "created", user, actor=None, changes={"after": {"email": email, "role": role, "directory_dn": entry.dn}}
        )
        return user
    before = {
        "role": user.role,
        "is_active": user.is_active_account,
        "full_name": user.full_name,
        "directory_dn": user.directory_dn,
        "email": user.email,
    }
    user.role, user.is_active_account, user.full_name, user.directory_dn = role, True, name, entry.dn
    if user.organization is None or not user.organization.is_home:
        user.organization = home
    if user.email != email and db.session.scalar(select(User.id).where(User.email == email)) is None:
        user.email = email
    # A linked account signs in through the directory only: its old local password is dropped.
    user.password_hash = ""
    after = {
        "role": user.role,
        "is_active": user.is_active_account,
        "full_name": user.full_name,
        "directory_dn": user.directory_dn,
        "email": user.email,
    }
    changes = audit.diff(before, after)
    if changes["after"]:
        audit.record("directory_refreshed", user, actor=None, changes=changes)
    user.last_sign_in_at = utcnow()
    return user
