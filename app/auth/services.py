"""Sign-in, throttling and account changes."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from app.api.tokens import revoke_all_tokens
from app.auth import directory, mfa, passwords, sessions
from app.auth.leavers import cancel_email_change, check_owner_may_change, cut_off
from app.auth.models import (
    Invitation,
    LoginAttempt,
    PasswordReset,
    User,
    address_refusal,
    normalize_email,
)
from app.core import audit
from app.core.db import keep_even_if_refused
from app.core.errors import ConcurrentChange, ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import (
    is_admin_role,
    is_known_role,
    is_ministry_role,
    is_partner_role,
    manages_every_account,
    may_sign_in_locally,
)
from app.core.text import one_line
from app.extensions import db
from app.organizations.models import Organization


class SignInThrottled(Exception):
    def __init__(self, minutes: int):
        super().__init__(minutes)
        self.minutes = minutes


def sign_in_key(typed: str) -> str:
    """What a typed sign-in name is counted under: compatibility forms folded (a full-width "ａｍｉｎａ" is
    "amina", as the directory reads it), so spellings of one name share one failure budget."""
    return normalize_email(unicodedata.normalize("NFKC", typed or ""))[:254]


def authenticate(email: str, password: str, address: str, *, language: str | None = None) -> User | None:
    """Check a password, recording the attempt. Raise SignInThrottled when too many failures.

    The caller shows the same message for an unknown e-mail and a wrong
    password, so nobody can learn which accounts exist. `language`: a directory account made now.
    """
    typed = normalize_email(email)[:254]
    email = sign_in_key(email)
    address = (address or "unknown")[:64]
    _check_throttle(email, address)
    # Stored addresses are not folded (one kept in decomposed accents signs in as typed); the folded form
    # finds the rest.
    user = db.session.scalar(select(User).where(User.email.in_({typed, email})).order_by(User.id).limit(1))
    key = email
    if directory.is_enabled() and (user is None or not may_sign_in_locally(user, current_app.config)):
        user, ok, key = _authenticate_in_directory(email, password, address, language)
    else:
        # Hash something even for unknown accounts, so timing does not reveal them.
        ok = user.check_password(password) if user else _dummy_check(password)
    ok = ok and user is not None and user.is_active
    if not ok:
        db.session.add(LoginAttempt(email=key, address=address, succeeded=False))
        return None
    if not mfa.needs_second_step(user):
        record_sign_in(user, address, key=key)
    return user


def record_sign_in(user: User, address: str, *, key: str | None = None) -> None:
    """A sign-in that opens a session: after the password, or after the code when the account has a second
    step. Recorded at the password for those, it had made the address "known" (one this person signed in from,
    which the throttle spares past its cap) and said "signed in" in the audit trail before any code: a
    password holder then guessed codes from as many addresses as it had passed the password from."""
    address = (address or "unknown")[:64]
    db.session.add(LoginAttempt(email=key or sign_in_key(user.email), address=address, succeeded=True))
    user.last_sign_in_at = utcnow()
    audit.record("signed_in", user, actor=user)


def _authenticate_in_directory(
    login: str, password: str, address: str, language: str | None
) -> tuple[User | None, bool, str]:
    """Directory sign-in: (the account, whether the password was right, what the attempt is counted under:
    the person's address once the directory knows them, however they typed their name). Raises
    DirectoryUnavailable, DirectoryConflict, PasswordExpired, or DirectoryNoAccess (the account is then
    deactivated, and the attempt recorded as a failure)."""
    counted = {"key": login}

    def before_bind(entry) -> None:
        key = normalize_email(entry.email)[:254]
        if key and key != login:
            counted["key"] = key
            _check_throttle(key, address)  # uid, mail and other spellings share the person's budget

    entry = directory.authenticate(login, password, before_bind=before_bind)
    if entry is None:
        return None, False, counted["key"]
    try:
        return directory.sync(entry, language=language), True, counted["key"]
    except directory.AccountClosed:
        return None, False, counted["key"]  # said as a wrong password, as for a closed local account
    except directory.DirectoryNoAccess:
        db.session.add(LoginAttempt(email=counted["key"], address=address, succeeded=False))
        raise


_DUMMY_HASH: str | None = None


def _dummy_check(password: str) -> bool:
    global _DUMMY_HASH
    from werkzeug.security import check_password_hash, generate_password_hash

    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")
    check_password_hash(_DUMMY_HASH, password or "")
    return False


def _check_throttle(email: str, address: str) -> None:
    """Slow guessing down without letting anyone lock a known person out.

    - one address guessing one account: after N failures each further try waits twice as
      long as the one before (1, 2, 4 … minutes, at most the window), for that address only;
    - one address guessing many accounts: blocked for the window past its limit;
    - many addresses guessing one account: past a high limit, only addresses this person has
      signed in from before may still try, so a distributed attack cannot lock them out.
    """
    config = current_app.config
    window = timedelta(minutes=config["LOGIN_WINDOW_MINUTES"])
    now = utcnow()
    since = now - window

    def failures(*conditions):
        return db.session.execute(
            select(func.count(), func.max(LoginAttempt.attempted_at)).where(
                LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at >= since, *conditions
            )
        ).one()

    def minutes_until(moment) -> int:
        return max(1, int((moment - now).total_seconds() // 60) + 1)

    count, latest = failures(LoginAttempt.email == email, LoginAttempt.address == address)
    allowed = config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    if count >= allowed and latest is not None:
        delay = min(window, timedelta(minutes=2 ** min(count - allowed, 20)))
        if latest + delay > now:
            raise SignInThrottled(minutes_until(latest + delay))
    count, latest = failures(LoginAttempt.address == address)
    if count >= config["LOGIN_MAX_FAILURES_PER_ADDRESS"] and latest is not None:
        raise SignInThrottled(minutes_until(latest + window))
    count, latest = failures(LoginAttempt.email == email)
    if count >= config["LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES"] and not _known_address(email, address):
        raise SignInThrottled(minutes_until(latest + window))


def _known_address(email: str, address: str) -> bool:
    """Has this person signed in from this address in the last 90 days?"""
    return (
        db.session.scalar(
            select(LoginAttempt.id)
            .where(
                LoginAttempt.email == email,
                LoginAttempt.address == address,
                LoginAttempt.succeeded.is_(True),
                LoginAttempt.attempted_at >= utcnow() - timedelta(days=90),
            )
            .limit(1)
        )
        is not None
    )


def clear_failures(email: str, address: str) -> None:
    """A successful sign-in forgives the failures of that account from that address only:
    an attacker's failures from elsewhere still count against them."""
    db.session.execute(
        LoginAttempt.__table__.delete().where(
            LoginAttempt.email == normalize_email(email),
            LoginAttempt.address == (address or "unknown")[:64],
            LoginAttempt.succeeded.is_(False),
        )
    )


def check_current_password(user: User, password: str, address: str, *, field: str = "current_password") -> None:
    """The password asked again before a change (a new password, two-factor off). A wrong one counts as a
    failed sign-in of the account from that address, and the sign-in throttle applies (SignInThrottled): a
    session left open had been a way to guess the password without limit. The caller keeps the attempt
    (keep_even_if_refused)."""
    address = (address or "unknown")[:64]
    _check_throttle(user.email, address)
    if not user.check_password(password):
        db.session.add(LoginAttempt(email=user.email, address=address, succeeded=False))
        keep_even_if_refused()
        raise ValidationFailed(_("The current password is wrong."), {field: [_("The current password is wrong.")]})


def change_password(
    user: User, current_password: str, new_password: str, *, revoke_tokens: bool, address: str = ""
) -> str | None:
    """Change a user's own password: every other session ends, and their API tokens too if they ask, and
    what else a leaver's cut-off ends but the person's own session: the calendar address, a second factor
    begun but not confirmed, and a change of sign-in address waiting for its link (each asked by whoever
    had a session). Returns the address whose change was so cancelled, to tell the person."""
    from app.notifications.services import revoke_calendar_feed

    check_current_password(user, current_password, address)
    if new_password == current_password:
        message = _("The new password must differ from the current one.")
        raise ValidationFailed(message, {"new_password": [message]})
    check_password(user, new_password, field="new_password")
    user.set_password(new_password)
    ended = sessions.end_all(user, "password_changed", keep=user.current_session)
    revoked = revoke_all_tokens(user, by=user) if revoke_tokens else 0
    revoke_calendar_feed(user)
    mfa.end_second_steps(user)
    waiting = cancel_email_change(user)
    audit.record("password_changed", user, actor=user, changes={"sessions_ended": ended, "tokens_revoked": revoked})
    return waiting[0] if waiting else None


def check_password(user: User, password: str, field: str = "password", by: User | None = None) -> None:
    """The password rules, with what is known of its owner; `by`: who sets it, when not its owner."""
    organization = user.organization
    names = [organization.name_fr or "", organization.name_en or "", organization.name_ar or ""] if organization else []
    passwords.check(
        password,
        email=user.email,
        full_name=user.full_name,
        organization_names=names,
        field=field,
        own=by is None or by.id == user.id,
    )


def create_user(
    *,
    email: str,
    full_name: str,
    role: str,
    password: str,
    organization: Organization | None,
    language: str | None = None,
    by: User | None = None,
    is_active: bool = True,
    is_org_admin: bool = False,
) -> User:
    """Create an account after checking the role/organisation rules. Ministry staff given no organisation
    (the admin's form offers "—", the CLI's --organization is optional) join the ministry's own."""
    email = normalize_email(email)
    if organization is None and is_ministry_role(role):
        organization = db.session.scalar(select(Organization).where(Organization.is_home.is_(True)))
    language = language or current_app.config["BABEL_DEFAULT_LOCALE"]
    check_new_account(
        email=email,
        full_name=full_name,
        role=role,
        organization=organization,
        language=language,
        is_org_admin=is_org_admin,
    )
    user = User(
        email=email,
        full_name=_full_name(full_name),
        role=role,
        organization=organization,
        language=language,
        is_active_account=is_active,
        is_org_admin=bool(is_org_admin),
    )
    check_password(user, password, by=by)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    # An invitation still waiting for this address is spent: its link could only say the account exists,
    # and /team listed it as pending.
    db.session.execute(
        update(Invitation)
        .where(func.lower(Invitation.email) == email, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    audit.record("created", user, actor=by, changes={"after": _user_snapshot(user)})
    return user


def check_new_account(
    *,
    email: str,
    full_name: str,
    role: str,
    organization: Organization | None,
    language: str | None = None,
    is_org_admin: bool = False,
) -> None:
    """Everything a new account needs but its password (ValidationFailed if not): the command line
    checks this before it asks for the password, so a mistyped address is not found after typing it twice."""
    email = normalize_email(email)
    language = language or current_app.config["BABEL_DEFAULT_LOCALE"]
    check_account_rules(email=email, role=role, organization=organization, language=language, is_org_admin=is_org_admin)
    _full_name(full_name)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        message = _("An account with this e-mail address already exists.")
        raise ValidationFailed(message, {"email": [message]})


def _full_name(value: str | None) -> str:
    """A person's name as kept: on one line (text.one_line), and not empty once trimmed."""
    name = one_line(value)
    if not name:
        message = _("Give the person's name.")
        raise ValidationFailed(message, {"full_name": [message]})
    return name


def update_user(
    user: User,
    *,
    full_name: str,
    role: str,
    organization: Organization | None,
    language: str,
    is_active: bool,
    by: User,
    new_password: str | None = None,
    is_org_admin: bool = False,
    seen: str | None = None,
    email: str | None = None,
) -> User:
    """An admin's change to an account; an admin cannot lock themselves out. `seen`: the account as the
    form showed it (account_fingerprint), refused when it changed since: a second tab saved later had
    undone the first, reactivating an account deactivated meanwhile. `email`: a new sign-in address
    (change_email), None or the same to keep it."""
    if seen is not None and seen != account_fingerprint(user):
        raise ConcurrentChange(
            _("This account has changed since you opened it. Check what it shows now and make your change again.")
        )
    new_email = normalize_email(email) if email is not None else user.email
    check_account_rules(
        email=new_email,
        role=role,
        organization=organization,
        language=language,
        is_org_admin=is_org_admin,
        is_active=is_active,
        organization_before=user.organization_id,
    )
    if user.id == by.id and (not is_admin_role(role) or not is_active):
        message = _("You cannot remove your own administrator role or deactivate yourself.")
        raise ValidationFailed(message, {"role": [message]})
    if user.id == by.id and new_password:
        # Here it asked no current password (a session left open sufficed) and signed the admin out.
        message = _("Change your own password on your account's page: it asks for the current one.")
        raise ValidationFailed(message, {"password": [message]})
    full_name = _full_name(full_name)
    before = _user_snapshot(user)
    role_before, org_admin_before = user.role, bool(user.is_org_admin)
    old_email = change_email(user, new_email) if new_email != user.email else None
    moved = user.role != role or user.organization_id != (organization.id if organization else None)
    check_owner_may_change(user, role=role, organization=organization, is_active=is_active)
    user.full_name = full_name
    user.role = role
    user.organization = organization
    user.language = language
    user.is_org_admin = bool(is_org_admin)
    deactivated = user.is_active_account and not is_active
    # The admin who saves it is the ministry's: an account saved closed stays closed to the partner's own
    # admin (permissions.may_reactivate), also one that admin had closed first (they had then reopened it).
    # One the ministry or the directory closed keeps who closed it (the directory reopens only its own).
    if is_active or deactivated or not user.deactivated_by_ministry:
        user.deactivated_by_ministry = not is_active
        user.closed_by_directory = False  # and a directory sign-in does not undo it (directory.sync)
    user.is_active_account = is_active
    if new_password:
        check_password(user, new_password, field="new_password", by=by)
        user.set_password(new_password)
    if deactivated:
        cut_off(user, by=by)
    elif new_password:  # its sessions, tokens and calendar address end as a leaver's do
        cut_off(user, by=by, reason="password_reset")
    changes = audit.diff(before, _user_snapshot(user))
    if moved:
        from app.auth.members import forget_deliverable_access
        from app.exports.services import forget_for
        from app.notifications.services import forget_what_was_told

        changes["after"].update(forget_what_was_told(user))
        changes["after"].update(forget_deliverable_access(user))
        if forgotten := forget_for(user):
            changes["after"]["exports_forgotten"] = forgotten
    if new_password:
        changes["after"]["password"] = "changed"
    if changes["after"]:
        audit.record("updated", user, actor=by, changes=changes)
    if old_email is not None:
        tell_email_changed(user, old_email)
    _tell_role_changed(user, role_before, org_admin_before, by=by)
    return user


def _tell_role_changed(user: User, role_before: str, org_admin_before: bool, *, by: User) -> None:
    """The person hears that their role changed, or that they are (no longer) their organisation's admin: who
    did it and what they may do now, in the bell and by mail (a category no preference silences, as a change
    of address). Not someone deactivated by the same save (notify tells no closed account), nor an admin of
    their own change. Called after forget_what_was_told, which would remove the notice."""
    from app.notifications.services import Notice, app_path, notify

    params: dict = {}
    if user.role != role_before:
        params |= {"role_before": role_before, "role": user.role}
    # Someone moved out of the partners' role is no organisation's admin any more: their new role says it.
    if bool(user.is_org_admin) != org_admin_before and is_partner_role(user.role):
        params["org_admin"] = bool(user.is_org_admin)
    if not params or user.id == by.id:
        return
    notice = Notice(
        kind="role_changed",
        category="role_changed",
        params=params | {"by": by.full_name},
        link=app_path("auth.profile"),
        object_type="user",
        object_id=user.id,
    )
    notify(user, notice)


def change_email(user: User, email: str, *, taken_said: str | None = None) -> str:
    """Make `email` (normalised, checked by check_account_rules) the account's sign-in address; returns the
    old one. Refused for an account the directory owns (it would put its own back) and for an address
    another account holds (`taken_said`: the refusal's words, when the one asking may not learn that an
    account holds it). Reset links sent to the old address stop working, and mail still waiting for it
    goes to the new one."""
    from app.notifications.models import OutboxMessage

    check_email_may_change(user, email, taken_said=taken_said)
    old_email, user.email = user.email, email
    now = utcnow()
    cancel_email_change(user)  # a new address asked for and not confirmed yet is overtaken
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None), PasswordReset.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.recipient_id == user.id,
            OutboxMessage.status == "pending",
            OutboxMessage.to_address == old_email,
        )
        .values(to_address=email)
        .execution_options(synchronize_session=False)
    )
    return old_email


def check_email_may_change(user: User, email: str, *, taken_said: str | None = None) -> None:
    """Whether `email` may become the account's sign-in address (change_email's refusals, ValidationFailed): not
    for an account the directory owns, nor an address another account holds (`taken_said`: the words then)."""
    if user.directory_dn:
        message = _("This account's address comes from the ministry directory: change it there.")
        raise ValidationFailed(message, {"email": [message]})
    if db.session.scalar(select(User.id).where(User.email == email, User.id != user.id)) is not None:
        message = taken_said or _("An account with this e-mail address already exists.")
        raise ValidationFailed(message, {"email": [message]})


def address_refused_vaguely() -> str:
    """The refusal of an address another account holds, to someone who may not learn that an account holds it."""
    return _("This address cannot be given from here: ask the ministry's administrator.")


def change_member_email(user: User, email: str, *, by: User) -> bool:
    """A colleague's new sign-in address, set by their organisation's admin (or the ministry's): as the
    ministry's account form sets it (auth.services.change_email: reset links to the old address die, mail
    waiting for it follows; the person is told at both addresses). Whether anything changed. An address
    another account holds is refused to a partner organisation's admin without saying where or whose, as an
    invitation to it is (auth.invitations.invite)."""
    if (refusal := address_refusal(email)) is not None:
        raise ValidationFailed(refusal, {"email": [refusal]})
    new_email = normalize_email(email)
    if new_email == user.email:
        return False
    vague = address_refused_vaguely()
    old_email = change_email(user, new_email, taken_said=None if manages_every_account(by) else vague)
    audit.record("updated", user, actor=by, changes={"before": {"email": old_email}, "after": {"email": new_email}})
    tell_email_changed(user, old_email)
    return True


def tell_email_changed(user: User, old_email: str) -> None:
    """The person hears of it at both addresses: at the old one, in case the change was not theirs to want."""
    from app.notifications.services import Notice, app_path, notify, queue_mail

    if not user.is_active_account:
        return  # nobody to tell (notify would not); they hear of it if the account is opened again
    notice = Notice(
        kind="email_changed",
        category="email_changed",
        params={"old": old_email, "new": user.email},
        link=app_path("auth.profile"),
        object_type="user",
        object_id=user.id,
    )
    notify(user, notice)
    queue_mail(user, notice, to_address=old_email)


def set_language(user: User, language: str) -> None:
    if language in current_app.config["LANGUAGES"]:
        user.language = language


def check_account_rules(
    *,
    email: str,
    role: str,
    organization: Organization | None,
    language: str,
    is_org_admin: bool = False,
    is_active: bool = True,
    organization_before: int | None = None,
) -> None:
    """`organization_before`: the account's organisation until now (an edit), which it may keep though it was
    retired since, as long as the account stays off (`is_active`)."""
    from app.organizations.rules import check_may_be_chosen, check_may_sign_in_for

    if organization is not None:
        stays = organization_before is not None and organization.id == organization_before
        check_may_be_chosen(organization, "organization_id", chosen_before=stays)
        if is_active:
            check_may_sign_in_for(organization, "organization_id")
    errors: dict[str, list[str]] = {}
    if is_org_admin and not is_partner_role(role):
        errors["is_org_admin"] = [_("Only a partner user can be their organisation's admin.")]
    if not is_known_role(role):
        errors["role"] = [_("Unknown role.")]
    if is_partner_role(role):
        if organization is None:
            errors["organization_id"] = [_("A partner user must belong to a partner organisation.")]
        elif organization.is_home:
            errors["organization_id"] = [_("A partner user cannot belong to the ministry itself.")]
    elif is_ministry_role(role) and organization is not None and not organization.is_home:
        errors["organization_id"] = [_("Ministry staff belong to the ministry, not to a partner.")]
    if language not in current_app.config["LANGUAGES"]:
        errors["language"] = [_("Unknown language.")]
    if (refusal := address_refusal(email)) is not None:
        errors["email"] = [refusal]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)


def account_fingerprint(user: User) -> str:
    """What an edit form saw of the account: the fields it edits, and whether its password changed."""
    seen = json.dumps([_user_snapshot(user), user.password_hash], sort_keys=True, default=str)
    return hashlib.sha256(seen.encode()).hexdigest()[:32]


def _user_snapshot(user: User) -> dict:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "organization": user.organization.slug if user.organization else None,
        "language": user.language,
        "is_active": user.is_active_account,
        "deactivated_by_ministry": bool(user.deactivated_by_ministry),
        "is_org_admin": bool(user.is_org_admin),
    }


_check_account_rules = check_account_rules  # the demo loader's name for it


def check_throttle(email: str, address: str) -> None:
    """The sign-in throttle, for the second step too (wrong codes count as failures)."""
    _check_throttle(normalize_email(email)[:254], (address or "unknown")[:64])
