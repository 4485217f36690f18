"""Two-factor sign-in: TOTP codes from an authenticator app (pyotp), the QR code drawn on the
server (segno, inline SVG), and single-use recovery codes stored hashed and shown once.

Wrong codes are recorded as failed sign-ins, so the sign-in throttle slows code guessing too.
A code is accepted once: the last accepted time step is kept.
"""

from __future__ import annotations

import hmac
import secrets
import time

import pyotp
import segno
from flask import current_app
from markupsafe import Markup
from sqlalchemy import delete, select

from app.auth.models import LoginAttempt, RecoveryCode, User
from app.core import audit
from app.core.digests import secret_digest
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import requires_second_factor
from app.core.text import ascii_digits
from app.extensions import db

# Unambiguous characters for recovery codes (no 0/O, 1/l/I).
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def needs_second_step(user: User) -> bool:
    """After the password: enrolled users give a code; users of MFA_REQUIRED_ROLES must enrol first."""
    return user.has_totp or requires_second_factor(user, current_app.config)


# Sign-ins past the password that may be at their code step at once (two browsers, a double-sent form). One
# slot had let anyone who knew the password cancel the owner's step, as often as they liked.
PENDING_STEPS = 5


def begin_second_step(user: User) -> str:
    """After a right password: the key the browser keeps until the code, whose hash the account keeps beside
    the few before it. A role that must enrol gets a secret drawn for this sign-in: one drawn for an earlier,
    unfinished one had been shown again to whoever next got past the password."""
    key = secrets.token_urlsafe(32)
    kept = (user.second_step_key or "").split()[-(PENDING_STEPS - 1) :]
    user.second_step_key = " ".join([*kept, secret_digest(key)])
    if not user.has_totp:
        start_enrolment(user)
    return key


def second_step_of(user: User | None, key: object) -> bool:
    """Whether `key` is one the account's pending second steps were given."""
    if user is None or not isinstance(key, str) or not user.second_step_key:
        return False
    wanted = secret_digest(key)
    return any(hmac.compare_digest(wanted, kept) for kept in user.second_step_key.split())


def end_second_steps(user: User) -> None:
    """No sign-in left at its code step, and no secret drawn and not confirmed: after a password reset or
    change, an admin's reset of the second factor, a deactivation. A step begun before had gone on to a full
    session after the owner reset the password, or to enrolling the holder's own authenticator."""
    user.second_step_key = None
    if not user.has_totp:
        user.totp_secret = None


def start_enrolment(user: User) -> str:
    """A new secret, not yet in force (until confirmed with a code)."""
    if user.has_totp:
        raise ValidationFailed(
            _("Two-factor sign-in is already on."), {"code": [_("Two-factor sign-in is already on.")]}
        )
    user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=current_app.config["MFA_ISSUER"])


def qr_svg(user: User) -> Markup:
    """The otpauth:// link as an inline SVG QR code (no image service, nothing leaves the server)."""
    svg = segno.make(provisioning_uri(user), error="m").svg_inline(
        scale=4, title=_("QR code for your authenticator app")
    )
    return Markup(svg)


def _clean(code: str) -> str:
    """A typed code as compared: no spaces or hyphens, lower case, digits 0-9 (an Arabic keyboard types
    "١٢٣٤٥٦")."""
    return ascii_digits("".join((code or "")[:200].split()).replace("-", "").lower())[:40]


def _totp_step(user: User, code: str) -> int | None:
    """The time step `code` belongs to (now, or one step either side), or None."""
    if not user.totp_secret or len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(user.totp_secret)
    now = int(time.time())
    for offset in (0, -1, 1):
        moment = now + offset * totp.interval
        if hmac.compare_digest(totp.at(moment), code):
            return int(moment // totp.interval)
    return None


def _wrong(field: str = "code"):
    _refuse(_("That code is not right. Check the time on your phone and try the newest code."), field)


def _refuse(message: str, field: str = "code"):
    raise ValidationFailed(message, {field: [message]})


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Turn two-factor sign-in on once the app gives a right code; returns new recovery codes."""
    step = _totp_step(user, _clean(code))
    if user.has_totp or step is None:
        _wrong()
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    codes = new_recovery_codes(user)
    audit.record("mfa_enabled", user, actor=user)
    return codes


def new_recovery_codes(user: User) -> list[str]:
    """Replace the recovery codes; the plain codes are returned once and never stored."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _i in range(current_app.config["MFA_RECOVERY_CODES"]):
        raw = "".join(secrets.choice(CODE_ALPHABET) for _j in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=secret_digest(raw)))
    return codes


def check_code(user: User, code: str, *, address: str) -> str:
    """Check a second-step code (TOTP or recovery); "totp" or "recovery" when right. A wrong code is
    recorded as a failed sign-in (the throttle counts it) and raises ValidationFailed."""
    cleaned = _clean(code)
    step = _totp_step(user, cleaned)
    if step is not None and (user.totp_last_step is None or step > user.totp_last_step):
        user.totp_last_step = step
        return "totp"
    row = None
    if len(cleaned) == 10:
        row = db.session.scalar(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.code_hash == secret_digest(cleaned)
            )
        )
        if row is not None and row.used_at is None:
            row.used_at = utcnow()
            audit.record("mfa_recovery_code_used", user, actor=user)
            return "recovery"
    db.session.add(LoginAttempt(email=user.email, address=(address or "unknown")[:64], succeeded=False))
    # A right code spent already is said so: "check the time on your phone" sent the person to a phone
    # that was right (signing in again within the half-minute, a recovery code crossed off before).
    if step is not None:
        _refuse(_("This code was already used. Wait for the next code in your app, then type it."))
    if row is not None:
        _refuse(_("This recovery code was already used: each works once. Use another one, or the code in your app."))
    _wrong()
    return ""  # not reached


def remaining_recovery_codes(user: User) -> int:
    from sqlalchemy import func

    return (
        db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def turn_off(user: User, *, by: User, reason: str) -> None:
    """Remove the second factor (the person themselves, or an admin for someone who lost their phone)."""
    was_on = user.has_totp
    if by.id != user.id:
        # Reset for a lost or stolen phone: a browser signed in on that phone must not stay signed in.
        from app.auth import sessions

        sessions.end_all(user, "second_factor_reset")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    end_second_steps(user)  # a sign-in at its code step must not go on to enrol the holder's own phone
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    if was_on:
        audit.record("mfa_reset" if by.id != user.id else "mfa_disabled", user, actor=by, changes={"reason": reason})
