"""Retiring an organisation that no longer exists as the ministry knew it (dissolved, merged into another,
entered twice) and reinstating one retired by mistake. Retired, it keeps its history (its ended agreements,
their documents and the audit trail still name it) but is never chosen again (rules.py), and nobody signs
in for it: its accounts are turned off as a leaver's are and its waiting invitations withdrawn. Refused
while it is a party to an agreement that has not ended: that agreement's partner would vanish under it."""

from __future__ import annotations

from sqlalchemy import func, select

from app.agreements.models import Agreement, AgreementParty
from app.auth import invitations
from app.auth.members import set_active
from app.auth.models import Invitation, User
from app.core import audit
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.i18n import names_listed, ngettext
from app.core.models import utcnow
from app.core.text import one_line
from app.extensions import db
from app.organizations.models import Organization
from app.workflow.queries import in_ended_state

MAX_REASON = 500
# References named in the refusal: enough to find them, not a list of hundreds.
NAMED = 3


def _refuse(message: str, field: str = "reason"):
    raise ValidationFailed(message, {field: [message]})


def parties_under_way(organization: Organization) -> list[str]:
    """The references of the agreements not ended that `organization` is a party to, in order."""
    return list(
        db.session.scalars(
            select(Agreement.reference)
            .where(
                Agreement.parties.any(AgreementParty.organization_id == organization.id),
                ~in_ended_state(),
            )
            .order_by(Agreement.reference)
        )
    )


def retire(organization: Organization, *, by: User, reason: str | None = None) -> dict:
    """Retire `organization`; returns what ended with it (accounts turned off, invitations withdrawn)."""
    # Held until this commits: someone naming it a party meanwhile waits (agreements.services.validate_data
    # reads a new party FOR SHARE), then finds it retired; and a party named just before is seen below.
    db.session.refresh(organization, with_for_update=True)
    reason = one_line(reason or "")
    if len(reason) > MAX_REASON:
        _refuse(_("At most %(n)s characters.", n=MAX_REASON))
    if organization.is_home:
        _refuse(_("The ministry's own organisation cannot be retired."))
    if organization.is_retired:
        _refuse(_("%(name)s is retired already.", name=organization.name))
    under_way = parties_under_way(organization)
    if under_way:
        _refuse(
            ngettext(
                "%(name)s is a party to %(num)s agreement that has not ended (%(references)s): end it, or take "
                "the organisation out of it, first.",
                "%(name)s is a party to %(num)s agreements that have not ended (%(references)s): end them, or "
                "take the organisation out of them, first.",
                len(under_way),
                name=organization.name,
                references=names_listed(under_way, NAMED),
            )
        )
    accounts = list(
        db.session.scalars(
            select(User)
            .where(User.organization_id == organization.id, User.is_active_account.is_(True))
            .order_by(User.id)
        )
    )
    for account in accounts:
        if account.id == by.id:
            _refuse(_("Your own account belongs to this organisation: another administrator must retire it."))
        set_active(account, False, by=by)  # each one audited and cut off, as a leaver's
    waiting = [
        invitation
        for invitation in db.session.scalars(
            select(Invitation).where(
                Invitation.organization_id == organization.id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
        )
    ]
    for invitation in waiting:
        invitations.revoke(invitation, by=by)
    organization.retired_at = utcnow()
    ended = {
        "accounts_deactivated": [account.email for account in accounts],
        "invitations_withdrawn": [invitation.email for invitation in waiting],
    }
    changes = {"before": {"retired": False}, "after": {"retired": True}} | ended
    audit.record("retired", organization, actor=by, changes=changes, comment=reason or None)
    return ended


def reinstate(organization: Organization, *, by: User) -> int:
    """Undo a retirement. Its accounts stay off (each is reactivated on its own, by someone who knows the
    person still works there); returns how many there are."""
    if not organization.is_retired:
        _refuse(_("%(name)s is not retired.", name=organization.name))
    organization.retired_at = None
    organization.merged_into_id = None  # a merge undone by hand: what moved stays where it went
    changes = {"before": {"retired": True}, "after": {"retired": False}}
    audit.record("reinstated", organization, actor=by, changes=changes)
    return db.session.scalar(select(func.count()).select_from(User).where(User.organization_id == organization.id)) or 0
