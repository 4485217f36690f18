"""Directory sign-in (LDAP / Active Directory) for ministry staff, with ldap3.

A service account searches for the person (the typed name escaped into LDAP_USER_FILTER),
then Sharaka binds as the entry found with the typed password. The role comes from the
person's groups (LDAP_GROUP_ROLES, first match wins); an entry that no longer matches
LDAP_ACTIVE_FILTER, or is in no mapped group, loses access: the account is deactivated,
its sessions end and its API tokens are revoked. The account is created at first sign-in
and refreshed at every one; between sign-ins the scheduler looks every linked account up
again (`sweep`), so a leaver who never signs in again is cut off too.

A directory entry takes over an existing account by its e-mail address only when that account is a
local ministry account the directory may own (not a partner's, not a break-glass admin's, not one
another entry is linked to): an entry carrying a partner's or the admin's address had turned that
account into its own.
"""

from __future__ import annotations

import logging
import math
import ssl
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import func, select

from app.auth.models import User, normalize_email
from app.core import audit
from app.core.mail import smtp_address
from app.core.models import utcnow
from app.core.permissions import is_ministry_role, may_sign_in_locally
from app.core.text import storable
from app.extensions import db

if TYPE_CHECKING:
    from ldap3 import Connection, Server

# ldap3 is imported by the functions that talk to the directory: ~5 MB in every web worker of a
# ministry that signs in with passwords only.

log = logging.getLogger("sharaka.directory")


class DirectoryUnavailable(Exception):
    """The directory could not be reached (or refused the service account)."""


class DirectoryNoAccess(Exception):
    """The password was right, but the directory gives this person no access (disabled, no group)."""


class DirectoryConflict(Exception):
    """The entry's e-mail address is another Sharaka account's, which the directory may not take over."""


class AccountClosed(Exception):
    """The ministry's admin closed this account: the directory does not reopen it."""


class PasswordExpired(Exception):
    """The password is right but the directory wants it changed first (Active Directory)."""


class _Deadline:
    """One sign-in waits on the directory LDAP_TIMEOUT_SECONDS in all, not that much for each of its five
    round trips (12.75 s at a 3 s setting; a 10 s one went past the web worker's 30 s and answered 500)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def left(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise _unavailable(f"no answer within LDAP_TIMEOUT_SECONDS ({self.seconds} s)")
        return left

    def bound(self, connection) -> None:
        """The next operation on `connection` gives up when the sign-in's time is spent."""
        left = self.left()
        if getattr(connection, "socket", None) is not None:
            connection.socket.settimeout(left)


def _unavailable(reason: str) -> DirectoryUnavailable:
    """Logged for the operator (a StartTLS mistake, a wrong service password or base DN had all read "cannot
    be reached" on the page and left no trace), never with a password."""
    log.warning("directory sign-in unavailable: %s", reason)
    return DirectoryUnavailable(reason)


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


def _server(deadline: _Deadline) -> Server:
    from ldap3 import NONE, Server, Tls
    from ldap3.core.exceptions import LDAPException

    config = current_app.config
    try:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config["LDAP_CA_FILE"] or None)
        return Server(config["LDAP_URL"], connect_timeout=deadline.left(), get_info=NONE, tls=tls)
    except LDAPException as error:  # a CA file gone since the start, say
        raise _unavailable(f"{type(error).__name__}: {error}") from error


# Active Directory's reasons for refusing a right password (the "data" of its error 49).
AD_DISABLED = ("data 533", "data 701", "data 775")  # disabled, account expired, locked out
AD_PASSWORD_EXPIRED = ("data 532", "data 773")  # password expired, must be changed at next sign-in


def _connect(server: Server, user: str | None, password: str | None, deadline: _Deadline) -> Connection | None:
    """An open, bound connection; None when the credentials are refused; raises DirectoryUnavailable, or
    PasswordExpired when Active Directory says the password is right but must be changed."""
    from ldap3 import Connection
    from ldap3.core.exceptions import LDAPException

    config = current_app.config
    connection = Connection(
        server,
        user=user or None,
        password=password or None,
        receive_timeout=math.ceil(deadline.left()),  # whole seconds for ldap3; bound() narrows it per operation
        raise_exceptions=False,
    )
    try:
        connection.open()
        if config["LDAP_START_TLS"]:
            deadline.bound(connection)
            connection.start_tls()
        deadline.bound(connection)
        if connection.bind():
            return connection
    except LDAPException as error:
        raise _unavailable(f"{type(error).__name__}: {error}") from error
    result = connection.result or {}
    connection.unbind()
    if result.get("description") in ("invalidCredentials", "inappropriateAuthentication"):
        if any(code in str(result.get("message") or "") for code in AD_PASSWORD_EXPIRED):
            raise PasswordExpired()
        return None
    raise _unavailable(f"bind as {user or 'anonymous'} refused: {result.get('description') or 'no answer'}")


def _search(
    connection: Connection, base: str, search_filter: str, deadline: _Deadline, *, scope=None, attributes=None, limit=0
):
    """The entries found; [] for a base that does not exist when `scope` is BASE (an entry looked up by its DN,
    gone since); a search base that does not exist otherwise is a setting's mistake, said as one."""
    from ldap3 import BASE, SUBTREE
    from ldap3.core.exceptions import LDAPException

    deadline.bound(connection)
    try:
        connection.search(
            base, search_filter, search_scope=scope or SUBTREE, attributes=attributes or [], size_limit=limit
        )
    except LDAPException as error:
        raise _unavailable(f"search of {base}: {type(error).__name__}: {error}") from error
    description = (connection.result or {}).get("description")
    if description == "noSuchObject":
        if scope == BASE:
            return []
        # A typo in LDAP_BASE_DN had told every directory person "wrong e-mail or password", silently.
        raise _unavailable(f"the search base {base!r} does not exist (LDAP_BASE_DN or LDAP_GROUP_BASE_DN)")
    if description not in (None, "success", "sizeLimitExceeded"):
        raise _unavailable(f"search of {base} refused: {description}")
    return [entry for entry in connection.response or [] if entry.get("type") == "searchResEntry"]


def _service(deadline: _Deadline):
    """(server, the service account's connection)."""
    config = current_app.config
    server = _server(deadline)
    try:
        service = _connect(server, config["LDAP_BIND_DN"], config["LDAP_BIND_PASSWORD"], deadline)
    except PasswordExpired:  # the service account's, not the person's: everyone had been told theirs expired
        raise _unavailable("the service account's password (LDAP_BIND_PASSWORD) has expired") from None
    if service is None:
        raise _unavailable("the service account (LDAP_BIND_DN, LDAP_BIND_PASSWORD) was refused")
    return server, service


def _entry(service, found: dict, deadline: _Deadline) -> Entry:
    """The person's entry as the search found it, with their groups and whether LDAP_ACTIVE_FILTER holds."""
    from ldap3 import BASE
    from ldap3.utils.conv import escape_filter_chars

    config = current_app.config
    dn = found["dn"]
    attributes = found.get("attributes", {})
    entry = Entry(
        dn=dn,
        email=_first(attributes.get(config["LDAP_MAIL_ATTRIBUTE"])),
        full_name=_first(attributes.get(config["LDAP_NAME_ATTRIBUTE"])),
        groups={str(g) for g in attributes.get("memberOf") or []},
    )
    escaped_dn = escape_filter_chars(dn)
    groups = _search(
        service,
        config["LDAP_GROUP_BASE_DN"] or config["LDAP_BASE_DN"],
        f"(|(member={escaped_dn})(uniqueMember={escaped_dn}))",
        deadline,
    )
    entry.groups |= {group["dn"] for group in groups}
    if config["LDAP_ACTIVE_FILTER"]:
        entry.is_enabled = bool(_search(service, dn, config["LDAP_ACTIVE_FILTER"], deadline, scope=BASE))
    return entry


def _attributes() -> list[str]:
    config = current_app.config
    return [config["LDAP_MAIL_ATTRIBUTE"], config["LDAP_NAME_ATTRIBUTE"], "memberOf"]


def user_filter(login: str) -> str:
    """LDAP_USER_FILTER for a typed name or an address. An address with an internationalised domain is
    sought in both spellings: Sharaka keeps the Unicode one (auth.models.normalize_email), a directory's
    `mail` often the ASCII one (core/mail.smtp_address)."""
    from ldap3.utils.conv import escape_filter_chars

    template = current_app.config["LDAP_USER_FILTER"]
    spellings = dict.fromkeys((login, smtp_address(login)))
    filters = [template.replace("{login}", escape_filter_chars(spelling)) for spelling in spellings]
    return filters[0] if len(filters) == 1 else f"(|{''.join(filters)})"


def _users_named(service, login: str, deadline) -> list:
    """The entries (two at most: more than one is as good as none) the user filter finds for `login`."""
    return _search(
        service, current_app.config["LDAP_BASE_DN"], user_filter(login), deadline, attributes=_attributes(), limit=2
    )


def authenticate(login: str, password: str, *, before_bind=None) -> Entry | None:
    """The person's directory entry when `password` is theirs; None when unknown or wrong. `before_bind(entry)`
    is called once the typed name is known to be an entry, before its password is tried (the sign-in
    throttle, counted against the person however they typed their name). A wrong password for an entry the
    directory disables (Active Directory refuses those passwords too) closes the account linked to it."""
    config = current_app.config
    # An empty password would make an "unauthenticated bind", which many servers accept.
    if not login or not password or "\x00" in password:
        return None
    deadline = _Deadline(config["LDAP_TIMEOUT_SECONDS"])
    server, service = _service(deadline)
    try:
        found = _users_named(service, login, deadline)
        if len(found) != 1:
            return None
        entry = _entry(service, found[0], deadline)
        if before_bind is not None:
            before_bind(entry)
        person = _connect(server, entry.dn, password, deadline)
        if person is None:
            if not entry.is_enabled:
                close_linked(entry.dn)
            return None
        person.unbind()
        return entry
    finally:
        service.unbind()


def lookup(dns: list[str]) -> dict[str, Entry | None]:
    """Each DN's entry as the directory holds it now (None: gone), through the service account."""
    from ldap3 import BASE

    config = current_app.config
    found: dict[str, Entry | None] = {}
    seconds = config["LDAP_TIMEOUT_SECONDS"]
    _server_, service = _service(_Deadline(seconds))
    try:
        for dn in dns:
            # Each entry its own LDAP_TIMEOUT_SECONDS: a stalled directory fails the first (DirectoryUnavailable,
            # the caller stops) instead of holding the scheduler for accounts x timeout.
            deadline = _Deadline(seconds)
            entries = _search(service, dn, "(objectClass=*)", deadline, scope=BASE, attributes=_attributes())
            found[dn] = _entry(service, entries[0], deadline) if entries else None
    finally:
        service.unbind()
    return found


def _first(value) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return str(value or "").strip()


def _linked(dn: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.directory_dn) == dn.lower()))


def _account_for(entry: Entry, email: str) -> User | None:
    """The account `entry` signs in to: the one linked to its DN, else a local ministry account with its
    address that the directory may own; raises DirectoryConflict when the address is another's."""
    user = _linked(entry.dn)
    if user is not None and not user.is_active_account and user.closed_by_directory and email != user.email:
        # The DN of a leaver given to a newcomer (uids and names are reused): the closed account, its history
        # and its agreements stay the leaver's; the newcomer gets an account of their own.
        log.warning("directory entry %s now carries another address: account %s stays closed", entry.dn, user.id)
        user.directory_dn = None
        db.session.flush()
        user = None
    if user is not None or not email:
        return user
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        return None
    if user.directory_dn and lookup([user.directory_dn]).get(user.directory_dn) is None:
        # The person's entry moved or was renamed (an Active Directory DN holds the department and the name):
        # their old DN is gone, their address is the same. Linked to the new one, not locked out.
        log.info("directory entry of account %s moved: %s -> %s", user.id, user.directory_dn, entry.dn)
        return user
    if user.directory_dn or not is_ministry_role(user.role) or may_sign_in_locally(user, current_app.config):
        log.warning(
            "directory entry %s carries the address of account %s (%s), which it may not take over",
            entry.dn,
            user.id,
            "linked to another entry" if user.directory_dn else f"a local {user.role} account",
        )
        raise DirectoryConflict()
    return user


def _close(user: User, reason: str, **facts) -> None:
    """The directory closes `user`: deactivated as the ministry's decision, cut off (leavers.cut_off)."""
    from app.auth.leavers import cut_off

    user.is_active_account = False
    user.deactivated_by_ministry = True
    user.closed_by_directory = True
    audit.record(
        "directory_access_lost", user, actor=None, changes=cut_off(user, by=None, reason="directory_disabled") | facts
    )
    log.info("directory closed account %s (%s): %s", user.id, user.directory_dn, reason)


def close_linked(dn: str) -> None:
    """Close the account linked to `dn`, if open: the directory disables its entry."""
    user = _linked(dn)
    if user is not None and user.is_active_account:
        _close(user, "disabled in the directory", enabled=False)


def sync(entry: Entry, *, language: str | None = None) -> User:
    """Create or refresh the account of `entry` at its sign-in; raises DirectoryNoAccess (after deactivating
    the account) when the directory no longer gives access, AccountClosed when the ministry's admin closed
    it, DirectoryConflict when its address is another account's. `language`: a new account's."""
    from app.auth import sessions
    from app.organizations.models import Organization

    role = role_for(entry.groups) if entry.is_enabled else None
    email = normalize_email(entry.email)[:254]
    try:
        user = _account_for(entry, email)
    except DirectoryConflict:
        if role is None or not email:
            raise DirectoryNoAccess() from None  # nothing of theirs to close, no access to give
        raise
    if role is None or not email:
        if user is not None and user.is_active_account:
            _close(user, "disabled or in no Sharaka group", enabled=entry.is_enabled)
        raise DirectoryNoAccess()
    if user is not None and not user.is_active_account and not user.closed_by_directory:
        raise AccountClosed()
    home = db.session.scalar(select(Organization).where(Organization.is_home.is_(True)).limit(1))
    name = storable(entry.full_name or email)[:200]
    if user is None:
        user = User(
            email=email,
            full_name=name,
            role=role,
            organization=home,
            password_hash="",
            language=language or current_app.config["BABEL_DEFAULT_LOCALE"],
            directory_dn=entry.dn,
            is_active_account=True,
        )
        db.session.add(user)
        db.session.flush()
        audit.record(
            "created", user, actor=None, changes={"after": {"email": email, "role": role, "directory_dn": entry.dn}}
        )
        return user
    before = _directory_facts(user)
    if user.role != role and user.id is not None:
        # Sessions opened under the old role end (a session promoted to manager had skipped its second factor).
        sessions.end_all(user, "directory_role_changed")
    user.role, user.is_active_account, user.full_name, user.directory_dn = role, True, name, entry.dn
    user.closed_by_directory = False
    if user.organization is None or not user.organization.is_home:
        user.organization = home
    if user.email != email and db.session.scalar(select(User.id).where(User.email == email)) is None:
        user.email = email
    # A linked account signs in through the directory only: its old local password is dropped.
    user.password_hash = ""
    changes = audit.diff(before, _directory_facts(user))
    if changes["after"]:
        audit.record("directory_refreshed", user, actor=None, changes=changes)
    user.last_sign_in_at = utcnow()
    return user


def _directory_facts(user: User) -> dict:
    return {
        "role": user.role,
        "is_active": user.is_active_account,
        "full_name": user.full_name,
        "directory_dn": user.directory_dn,
        "email": user.email,
    }


def moved_entries(emails: list[str]) -> list[Entry | None]:
    """For each address, the one entry the user filter finds for it (a person whose DN changed), or None."""
    if not emails:
        return []
    config = current_app.config
    seconds = config["LDAP_TIMEOUT_SECONDS"]
    _server_, service = _service(_Deadline(seconds))
    found: list[Entry | None] = []
    try:
        for email in emails:
            deadline = _Deadline(seconds)
            hits = _users_named(service, email, deadline)
            found.append(_entry(service, hits[0], deadline) if len(hits) == 1 else None)
    finally:
        service.unbind()
    return found


def missing_groups() -> list[str]:
    """The group DNs of LDAP_GROUP_ROLES the directory does not have."""
    from ldap3 import BASE

    seconds = current_app.config["LDAP_TIMEOUT_SECONDS"]
    _server_, service = _service(_Deadline(seconds))
    try:
        return [
            dn
            for _role, dn in group_roles(current_app.config["LDAP_GROUP_ROLES"])
            if not _search(service, dn, "(objectClass=*)", _Deadline(seconds), scope=BASE)
        ]
    finally:
        service.unbind()


@dataclass
class SweepReport:
    looked_at: int = 0
    closed: int = 0
    role_changed: int = 0
    held: bool = False  # too many would have lost access at once: nothing was changed


def sweep() -> SweepReport:
    """Look every open directory-linked account up again: an entry gone, disabled or in no Sharaka group
    loses access, a changed group changes the role (its sessions end). A leaver who never signs in again
    had kept their sessions for REMEMBER_DAYS and their API tokens for good. When more than half of them
    (and more than 3) would lose access at once, a setting is wrong rather than half the ministry gone:
    nothing changes and the run says so (logged as an error)."""
    from app.agreements.services import owned_under_way
    from app.auth import sessions
    from app.core.permissions import role_may_own_agreements

    report = SweepReport()
    if not is_enabled():
        return report
    accounts = db.session.scalars(
        select(User).where(User.directory_dn.is_not(None), User.is_active_account.is_(True)).order_by(User.id)
    ).all()
    report.looked_at = len(accounts)
    if not accounts:
        return report
    entries = lookup([user.directory_dn for user in accounts])
    gone = [user for user in accounts if entries.get(user.directory_dn) is None]
    for user, entry in zip(gone, moved_entries([user.email for user in gone]), strict=True):
        if entry is not None and _linked(entry.dn) is None:
            # Moved or renamed (a new DN, the same address): followed, not closed as a leaver.
            log.info("directory entry of account %s moved: %s -> %s", user.id, user.directory_dn, entry.dn)
            audit.record(
                "directory_refreshed",
                user,
                actor=None,
                changes=audit.diff({"directory_dn": user.directory_dn}, {"directory_dn": entry.dn}),
            )
            user.directory_dn = entry.dn
            entries[entry.dn] = entry
    losing, moving = [], []
    for user in accounts:
        entry = entries.get(user.directory_dn)
        role = role_for(entry.groups) if entry is not None and entry.is_enabled and entry.email else None
        if role is None:
            losing.append((user, "gone from the directory" if entry is None else "disabled or in no Sharaka group"))
        elif role != user.role:
            moving.append((user, role))
    if losing and (missing := missing_groups()):
        # A group DN misspelt (or gone) in LDAP_GROUP_ROLES had closed every holder of that role, however few.
        # Asked only when someone would lose access: a quiet sweep costs no more round trips.
        log.error("directory sweep: the groups %s do not exist; nothing changed (check LDAP_GROUP_ROLES)", missing)
        report.held = True
        return report
    if len(losing) > 3 and len(losing) * 2 > len(accounts):
        log.error(
            "directory sweep: %d of %d accounts would lose access at once; nothing changed (check LDAP_* settings)",
            len(losing),
            len(accounts),
        )
        report.held = True
        return report
    for user, reason in losing:
        _close(user, reason, enabled=False)
    for user, role in moving:
        audit.record("directory_refreshed", user, actor=None, changes=audit.diff({"role": user.role}, {"role": role}))
        if not role_may_own_agreements(role) and (owned := owned_under_way(user)):
            # The directory decides the role; its agreements still need an owner who may own them (the admin
            # form refuses this move until they are handed over): said where the operators look.
            log.warning("directory made account %s a %s; it owns %d agreements under way", user.id, role, owned)
        user.role = role
        sessions.end_all(user, "directory_role_changed")
    report.closed, report.role_changed = len(losing), len(moving)
    return report
