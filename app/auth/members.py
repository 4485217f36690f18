"""An organisation's own accounts, as its admin (or a Sharaka admin) manages them: deactivate,
reactivate, and which agreements' deliverables each colleague sees. Every change is audited."""

from __future__ import annotations

from sqlalchemy import delete, select

from app.agreements.models import Agreement
from app.auth.leavers import check_owner_may_change, cut_off
from app.auth.models import DeliverableGrant, User
from app.core import audit
from app.core.errors import PermissionDenied, ValidationFailed
from app.core.i18n import gettext as _
from app.core.permissions import is_partner, may_reactivate, visible_agreements_clause
from app.extensions import db
from app.organizations.rules import check_may_sign_in_for


def set_active(user: User, is_active: bool, *, by: User) -> bool:
    """Deactivating cuts the person off at once (auth.leavers.cut_off). Whether anything changed: the
    ministry's admin deactivating an account its organisation's admin had already closed takes that
    decision over (only the ministry may then reopen it: permissions.may_reactivate); otherwise asking for
    what already is changes nothing."""
    if user.id == by.id:
        message = _("You cannot deactivate your own account.")
        raise ValidationFailed(message, {"user": [message]})
    by_ministry = not is_partner(by)
    if user.is_active_account == is_active:
        if is_active or not by_ministry or user.deactivated_by_ministry:
            return False
        user.deactivated_by_ministry = True
        user.closed_by_directory = False
        changes = {"before": {"deactivated_by_ministry": False}, "after": {"deactivated_by_ministry": True}}
        audit.record("deactivated", user, actor=by, changes=changes)
        return True
    if is_active and not may_reactivate(by, user):
        raise PermissionDenied(_("The ministry deactivated this account: only its administrator can reactivate it."))
    if is_active:
        check_may_sign_in_for(user.organization, "is_active")
    if not is_active:
        check_owner_may_change(user, role=user.role, organization=user.organization, is_active=False)
    user.is_active_account = is_active
    user.deactivated_by_ministry = not is_active and by_ministry
    user.closed_by_directory = False  # a person decided it: the directory does not undo it
    changes = {"before": {"is_active": not is_active}, "after": {"is_active": is_active}}
    if not is_active:
        changes |= cut_off(user, by=by)
    audit.record("deactivated" if not is_active else "reactivated", user, actor=by, changes=changes)
    return True


def agreements_of(user: User) -> list[Agreement]:
    """The agreements whose deliverables `user` could see (their organisation's)."""
    return list(
        db.session.scalars(select(Agreement).where(visible_agreements_clause(user)).order_by(Agreement.reference))
    )


def granted_ids(user: User) -> set[int]:
    return set(db.session.scalars(select(DeliverableGrant.agreement_id).where(DeliverableGrant.user_id == user.id)))


def forget_deliverable_access(user: User) -> dict:
    """Back to seeing all of their organisation's deliverables, on a move to another role or organisation:
    the agreements ticked were the old organisation's, so a partner moved elsewhere had silently seen none
    (and the old ones came back if moved back). What was forgotten, for the audit trail."""
    forgotten = sorted(granted_ids(user))
    if not user.deliverables_restricted and not forgotten:
        return {}
    db.session.execute(delete(DeliverableGrant).where(DeliverableGrant.user_id == user.id))
    user.deliverables_restricted = False
    return {"deliverable_grants_forgotten": forgotten}


def set_deliverable_access(user: User, *, restricted: bool, agreement_ids: list, by: User) -> None:
    """All the organisation's agreements, or only `agreement_ids` (which must be the organisation's)."""
    if not user.is_partner:
        message = _("Only partner accounts can be limited to some agreements.")
        raise ValidationFailed(message, {"scope": [message]})
    allowed = {agreement.id for agreement in agreements_of(user)}
    chosen: set[int] = set()
    for value in agreement_ids or []:
        try:
            chosen.add(int(value))
        except (TypeError, ValueError):
            chosen.add(-1)
    if restricted and not chosen:
        message = _("Tick the agreements this person follows, or let them see all of them.")
        raise ValidationFailed(message, {"agreements": [message]})
    if restricted and not chosen <= allowed:
        message = _("Choose among the organisation's agreements only.")
        raise ValidationFailed(message, {"agreements": [message]})
    before = {"restricted": user.deliverables_restricted, "agreements": sorted(granted_ids(user))}
    db.session.execute(delete(DeliverableGrant).where(DeliverableGrant.user_id == user.id))
    user.deliverables_restricted = restricted
    if restricted:
        db.session.add_all(DeliverableGrant(user_id=user.id, agreement_id=agreement_id) for agreement_id in chosen)
    after = {"restricted": restricted, "agreements": sorted(chosen) if restricted else []}
    changes = audit.diff(before, after)
    if changes["after"]:
        from app.exports.services import forget_for
        from app.notifications.services import forget_what_was_told

        # Written with the agreements they could see then: narrowed, the old lists must go (as on a move).
        if forgotten := forget_for(user):
            changes["after"]["exports_forgotten"] = forgotten
        narrowed = restricted and (not before["restricted"] or set(before["agreements"]) - chosen)
        if narrowed:  # so must the notices and waiting mail that name deliverables no longer theirs
            changes["after"] |= {name: count for name, count in forget_what_was_told(user).items() if count}
        audit.record("deliverable_access_changed", user, actor=by, changes=changes)
