"""People who sign in, and the record of sign-in attempts used for throttling."""

from __future__ import annotations

import unicodedata
from datetime import datetime

import idna
from flask import current_app
from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.core.i18n import gettext as _
from app.core.models import TimestampMixin, UTCDateTime, keep_folded, utcnow
from app.core.permissions import (  # noqa: F401 (the role names are re-exported)
    MINISTRY_ROLES,
    PARTNER,
    ROLE_NAMES,
    ROLES,
    guarded_model,
    is_partner,
    may_sign_in_locally,
)
from app.extensions import db
from app.organizations.models import Organization

PASSWORD_METHOD = "scrypt"
# The database's own check of the role vocabulary (app/core/permissions.py), as the migrations wrote it.
ROLE_CHECK = "role IN (%s)" % ",".join(f"'{role}'" for role in ROLE_NAMES)


def normalize_email(email: str) -> str:
    """The one spelling an address is stored and looked up under: trimmed, composed (NFC), lower-cased, and an
    internationalised domain in its Unicode form, however typed: "ana@xn--bcher-kva.example" and
    "ana@Bücher.example" are one mailbox, so one account (the unique constraint sees one spelling). Mail
    goes to the domain's ASCII form (core/mail.smtp_address). A domain IDNA refuses is kept as typed (the
    forms refuse it where an address is taken)."""
    address = unicodedata.normalize("NFC", (email or "").strip()).lower()
    local, at, domain = address.rpartition("@")
    if not at or (domain.isascii() and "xn--" not in domain):
        return address
    try:
        domain = idna.decode(idna.encode(domain, uts46=True))
    except (idna.IDNAError, UnicodeError):
        pass
    return f"{local}@{domain}"


def address_refusal(email: str) -> str | None:
    """Why `email`, as typed, cannot be a sign-in address (an account's, an invitation's, one's own new one), in
    the reader's words; None when it can. The one rule of every place an address is typed (the forms' address
    fields through auth.forms.TypedAddress, the services under them and the command line): an "@", at most 254
    characters, no control character inside (a NUL, a tab, a line break, a surrogate half), and no space or
    invisible formatting character (a right-to-left override, a zero-width space), which the forms' e-mail
    fields refuse and `flask users create` had taken. A control character is refused, never dropped: the
    forms' text cleaning dropped a NUL, and an invitation to "a\\x00b@x.ma" went to ab@x.ma, someone else's
    mailbox. The domain is not judged here (the forms' fields want a dot; `flask users create ops@localhost`
    may name a machine's own)."""
    address = normalize_email(email)
    kinds = {unicodedata.category(character) for character in address}
    if kinds & {"Cc", "Cs"}:
        return _("An e-mail address cannot contain control characters (such as a NUL or a line break).")
    if "@" not in address or len(address) > 254 or kinds & {"Cf", "Zs", "Zl", "Zp"}:
        return _("Enter a valid e-mail address.")
    return None


@guarded_model
class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(ROLE_CHECK, name="role_known"),
        CheckConstraint(f"role <> '{PARTNER}' OR organization_id IS NOT NULL", name="partner_has_organization"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased: the unique constraint is then case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # Folded copy of name and e-mail for the people drop-downs' search (keep_folded below); read by SQL only.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="", deferred=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    language: Mapped[str] = mapped_column(String(5), default="fr")
    is_active_account: Mapped[bool] = mapped_column("is_active", Boolean, default=True)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A partner user who manages their organisation's accounts (set by a Sharaka admin).
    is_org_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The directory entry this account signs in with (LDAP / Active Directory); None: a local account.
    directory_dn: Mapped[str | None] = mapped_column(String(500), unique=True)
    # Two-factor sign-in: the TOTP secret (set at enrolment, confirmed when totp_enabled_at is set)
    # and the last time step accepted, so a code is never accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column()
    # Between a right password and the code: the SHA-256s of the keys the browsers hold, space-separated, the
    # last few (mfa.begin_second_step).
    second_step_key: Mapped[str | None] = mapped_column(String(400))
    # Deliverables: all agreements of the organisation by default; when True only those in
    # DeliverableGrant (chosen by the organisation's admin).
    deliverables_restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Deactivated by the ministry (an admin, or the directory on a leaver) rather than by the partner
    # organisation's own admin, who may then not undo it (permissions.may_reactivate).
    deactivated_by_ministry: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Closed by the directory (entry gone, disabled, in no Sharaka group), which alone reopens it at a later
    # sign-in; an account the ministry's admin closed stays closed whatever the directory says.
    closed_by_directory: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    organization: Mapped[Organization | None] = relationship(lazy="joined")

    def set_password(self, password: str) -> None:
        method = current_app.config.get("PASSWORD_HASH_METHOD", PASSWORD_METHOD) if current_app else PASSWORD_METHOD
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login asks this
        return bool(self.is_active_account)

    # The sign-in session this request runs in (set by the session loader, see auth/sessions.py);
    # None for API token requests and outside requests.
    current_session = None
    current_session_key = None

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember cookie: the user and the
        server-side session, so ending that session ends every copy of both cookies."""
        return f"{self.id}:{self.current_session_key or ''}"

    @property
    def is_partner(self) -> bool:
        return is_partner(self)

    @property
    def is_directory_account(self) -> bool:
        """Whether the directory owns this account's password: linked to an entry, or (with directory sign-in
        on) a local account of a role that signs in there only, linked at its first sign-in by its address. A
        reset link had set such an account a password it could never use."""
        return bool(self.directory_dn) or not may_sign_in_locally(self, current_app.config)

    @property
    def has_totp(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def role_label(self) -> str:
        return str(ROLES.get(self.role, self.role))

    @property
    def choice_label(self) -> str:
        """How a drop-down names a colleague: two people of one name (an admin account and a manager's)
        had read the same, and one was chosen for the other."""
        return f"{self.full_name} · {self.role_label} · {self.email}"

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class LoginAttempt(db.Model):
    """One sign-in try; failures in a recent window slow down guessing."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "attempted_at"),
        Index("ix_login_attempts_address_at", "address", "attempted_at"),
        Index("ix_login_attempts_email_address_at", "email", "address", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)


class UserSession(db.Model):
    """One sign-in on one browser. The cookies carry a random key whose hash is stored here;
    signing out, a password change or deactivation ends the row, and with it every copy
    of the session and remember-me cookies made from it."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_ended", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_remembered: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(40))

    @property
    def is_open(self) -> bool:
        return self.ended_at is None and self.expires_at > utcnow()

    @property
    def device_label(self) -> str:
        """ "Firefox on Windows" rather than the whole User-Agent: what a person recognises."""
        agent = self.user_agent or ""
        browser = next((name for pattern, name in BROWSERS if pattern in agent), "")
        system = next((name for pattern, name in SYSTEMS if pattern in agent), "")
        return " · ".join(part for part in (browser, system) if part) or agent[:40]


# Checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari".
BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python", "Python"),
)
SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


class PasswordReset(db.Model):
    """A "forgot your password" request. Requests for unknown addresses are kept too (user_id
    empty), so throttling per address cannot tell which addresses have accounts."""

    __tablename__ = "password_resets"
    __table_args__ = (
        Index("ix_password_resets_email_at", "email", "requested_at"),
        Index("ix_password_resets_address_at", "address", "requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # A fingerprint of the password the link was issued against: once it changes, the link is dead.
    password_fingerprint: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@guarded_model
class Invitation(db.Model):
    """An invitation by e-mail: the invitee chooses a name and password through a single-use,
    expiring link. Only the link's SHA-256 is kept; resending replaces it (the old link dies)."""

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint(ROLE_CHECK, name="role_known"),
        Index("ix_invitations_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(5), default="fr")
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    organization: Mapped[Organization | None] = relationship(lazy="joined")
    invited_by = relationship("User", foreign_keys=[invited_by_id])

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= utcnow():
            return "expired"
        return "pending"

    @property
    def role_label(self) -> str:
        return str(ROLES.get(self.role, self.role))


class RecoveryCode(db.Model):
    """A single-use code that stands in for the authenticator app; only its hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@guarded_model
class DeliverableGrant(db.Model):
    """For a partner user whose deliverables are restricted: one agreement whose deliverables they see."""

    __tablename__ = "deliverable_grants"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        ForeignKey("agreements.id", ondelete="CASCADE"), primary_key=True, index=True
    )


keep_folded(User, "search_text", "full_name", "email")


class EmailChange(db.Model):
    """A person's own new sign-in address, waiting for them to follow the link sent to it: their address
    changes only then. Only the link's SHA-256 is kept; a newer request cancels this one."""

    __tablename__ = "email_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    new_email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
