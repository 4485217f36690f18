"""Sign-in, throttling and account changes."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.auth.models import MINISTRY_ROLES, ROLES, LoginAttempt, User, normalize_email
from app.core import audit
from app.core.errors import ValidationFailed
from app.core.models import utcnow
from app.extensions import db
from app.organizations.models import Organization

MIN_PASSWORD_LENGTH = 10


def load_user(user_key: str) -> User | None:
    """Flask-Login's loader: the id plus the session nonce, so a password change ends old sessions."""
    try:
        user_id, nonce = (int(part) for part in str(user_key).split(":", 1))
    except (TypeError, ValueError):
        return None
    user = db.session.get(User, user_id)
    if user is None or user.session_nonce != nonce or not user.is_active:
        return None
    return user


class SignInThrottled(Exception):
    def __init__(self, minutes: int):
        super().__init__(minutes)
        self.minutes = minutes


def authenticate(email: str, password: str, address: str) -> User | None:
    """Check a password, recording the attempt. Raise SignInThrottled when too many failures.

    The caller shows the same message for an unknown e-mail and a wrong
    password, so nobody can learn which accounts exist.
    """
    email = normalize_email(email)[:254]
    address = (address or "unknown")[:64]
    _check_throttle(email, address)
    user = db.session.scalar(select(User).where(User.email == email))
    # Hash something even for unknown accounts, so timing does not reveal them.
    ok = user.check_password(password) if user else _dummy_check(password)
    ok = ok and user is not None and user.is_active
    db.session.add(LoginAttempt(email=email, address=address, succeeded=bool(ok)))
    if ok:
        user.last_sign_in_at = utcnow()
        audit.record("signed_in", user, actor=user)
        return user
    return None


_DUMMY_HASH: str | None = None


def _dummy_check(password: str) -> bool:
    global _DUMMY_HASH
    from werkzeug.security import check_password_hash, generate_password_hash

    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")
    check_password_hash(_DUMMY_HASH, password or "")
    return False


def _check_throttle(email: str, address: str) -> None:
    config = current_app.config
    window = timedelta(minutes=config["LOGIN_WINDOW_MINUTES"])
    since = utcnow() - window
    for column, value, limit in (
        (LoginAttempt.email, email, config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]),
        (LoginAttempt.address, address, config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
    ):
        failures = db.session.execute(
            select(func.count(), func.min(LoginAttempt.attempted_at)).where(
                column == value, LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at >= since
            )
        ).one()
        count, oldest = failures
        if count >= limit:
            # min() keeps the column type, so `oldest` is timezone-aware UTC.
            wait = (oldest + window) - utcnow() if oldest else window
            raise SignInThrottled(max(1, int(wait.total_seconds() // 60) + 1))


def clear_failures(email: str) -> None:
    """A successful sign-in forgives the account's earlier failures."""
    db.session.execute(
        LoginAttempt.__table__.delete().where(
            LoginAttempt.email == normalize_email(email), LoginAttempt.succeeded.is_(False)
        )
    )


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change a user's own password; other sessions of the user end."""
    if not user.check_password(current_password):
        raise ValidationFailed(_("The current password is wrong."),
                               {"current_password": [_("The current password is wrong.")]})
    _check_password_strength(new_password, field="new_password")
    user.set_password(new_password)
    user.session_nonce += 1
    audit.record("password_changed", user, actor=user)


def _check_password_strength(password: str, field: str = "password") -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        message = _("The password must have at least %(n)s characters.", n=MIN_PASSWORD_LENGTH)
        raise ValidationFailed(message, {field: [message]})
    if len(password) > 256:
        message = _("The password is too long (256 characters at most).")
        raise ValidationFailed(message, {field: [message]})


def create_user(*, email: str, full_name: str, role: str, password: str, organization: Organization | None,
                language: str = "fr", by: User | None = None, is_active: bool = True) -> User:
    """Create an account after checking the role/organisation rules."""
    email = normalize_email(email)
    _check_account_rules(email=email, role=role, organization=organization, language=language)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        message = _("An account with this e-mail address already exists.")
        raise ValidationFailed(message, {"email": [message]})
    _check_password_strength(password)
    user = User(email=email, full_name=full_name.replace("\x00", "").strip(), role=role, organization=organization,
                language=language, is_active_account=is_active)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("created", user, actor=by, changes={"after": _user_snapshot(user)})
    return user


def update_user(user: User, *, full_name: str, role: str, organization: Organization | None, language: str,
                is_active: bool, by: User, new_password: str | None = None) -> User:
    """An admin's change to an account; an admin cannot lock themselves out."""
    _check_account_rules(email=user.email, role=role, organization=organization, language=language)
    if user.id == by.id and (role != "admin" or not is_active):
        message = _("You cannot remove your own administrator role or deactivate yourself.")
        raise ValidationFailed(message, {"role": [message]})
    before = _user_snapshot(user)
    user.full_name = full_name.replace("\x00", "").strip()
    user.role = role
    user.organization = organization
    user.language = language
    if user.is_active_account and not is_active:
        user.session_nonce += 1
    user.is_active_account = is_active
    if new_password:
        _check_password_strength(new_password, field="new_password")
        user.set_password(new_password)
        user.session_nonce += 1
    changes = audit.diff(before, _user_snapshot(user))
    if new_password:
        changes["after"]["password"] = "changed"
    if changes["after"]:
        audit.record("updated", user, actor=by, changes=changes)
    return user


def set_language(user: User, language: str) -> None:
    if language in current_app.config["LANGUAGES"]:
        user.language = language


def _check_account_rules(*, email: str, role: str, organization: Organization | None, language: str) -> None:
    errors: dict[str, list[str]] = {}
    if role not in ROLES:
        errors["role"] = [_("Unknown role.")]
    if role == "partner":
        if organization is None:
            errors["organization_id"] = [_("A partner user must belong to a partner organisation.")]
        elif organization.is_home:
            errors["organization_id"] = [_("A partner user cannot belong to the ministry itself.")]
    elif role in MINISTRY_ROLES and organization is not None and not organization.is_home:
        errors["organization_id"] = [_("Ministry staff belong to the ministry, not to a partner.")]
    if language not in current_app.config["LANGUAGES"]:
        errors["language"] = [_("Unknown language.")]
    if "@" not in email or len(email) > 254:
        errors["email"] = [_("Enter a valid e-mail address.")]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)


def _user_snapshot(user: User) -> dict:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "organization": user.organization.slug if user.organization else None,
        "language": user.language,
        "is_active": user.is_active_account,
    }
