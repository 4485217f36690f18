"""Work done inside a stage: documents, negotiation rounds, signatures, delegations, amendments."""

from __future__ import annotations

from datetime import date

from flask import current_app
from sqlalchemy import func, select

from app.core import audit, clock
from app.core.dates import within_calendar
from app.core.db import check_version, flush_or_conflict
from app.core.errors import PermissionDenied, ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import is_partner, may_decide_approvals, speaks_for_ministry, speaks_for_partner
from app.core.templating import written_date
from app.core.text import one_line, trimmed
from app.extensions import db
from app.workflow import drafts, engine
from app.workflow.documents import attach_document
from app.workflow.engine import WorkflowError
from app.workflow.models import AgreementDocument, Delegation, NegotiationAcceptance, NegotiationRound, Signatory
from app.workflow.rules import clear_signatures

# --- negotiation -----------------------------------------------------------------------


def side_of(user, agreement) -> str | None:
    """Which side `user` speaks for in this agreement's negotiation."""
    if is_partner(user):
        return "partner" if speaks_for_partner(user, agreement) else None
    return "ministry" if speaks_for_ministry(user, agreement) else None


def latest_round(agreement) -> NegotiationRound | None:
    return agreement.negotiation_rounds[-1] if agreement.negotiation_rounds else None


def send_version(
    agreement,
    *,
    by,
    upload,
    note: str | None,
    expected_version: int,
    on_behalf_of_partner: bool = False,
    from_draft: AgreementDocument | None = None,
) -> NegotiationRound:
    """A party sends a new version of the text; its own acceptance is implied, every other party
    (the ministry, each partner party) must then accept it or answer with another version.
    Ministry staff may record a version a partner sent by e-mail or on paper (on_behalf_of_partner):
    that implies no acceptance; each partner's acceptance is then recorded with its proof.
    The ministry's first version may be a draft text as its reviewers read it (from_draft, instead of an
    upload): a new text version of the same stored file, the draft itself staying the ministry's."""
    check_version(agreement, expected_version)
    if from_draft is not None and upload is not None and getattr(upload, "filename", None):
        message = _("Send either a file or the reviewed draft text, not both.")
        raise ValidationFailed(message, {"from_draft_id": [message]})
    if not engine.state_has(agreement, "negotiating"):
        raise WorkflowError(_("Versions can be exchanged only during negotiation."))
    if agreement.agreed_round_id is not None:
        raise WorkflowError(_("The text is locked: both sides accepted a version."))
    side = side_of(by, agreement)
    if side is None:
        raise PermissionDenied(_("You cannot send a version for this agreement."))
    if on_behalf_of_partner and side == "ministry":
        side = "partner"  # a ministry officer records a version the partner sent by other means
        accepting = None
    else:
        accepting = _own_party(agreement, by, side)
    last = latest_round(agreement)
    if last is None and side == "partner" and accepting is not None:
        # Whose turn it is (awaited_parties): the ministry's alone before the first version. A partner's own
        # draft reaches the negotiation through the ministry, which records it on the partner's behalf.
        raise WorkflowError(_("The ministry sends the first version of the text: you answer it once it has."))
    if last is not None and accepting is not None and accepting in _accepted_ids(last):
        raise WorkflowError(_("You accepted version %(n)s: wait for the other parties to answer it.", n=last.number))
    if from_draft is not None:
        document = drafts.send_as_version(agreement, from_draft, by=by, first=last is None, on_behalf=accepting is None)
    else:
        document = attach_document(agreement, "text_version", upload, by=by)
    note = trimmed(note)[:20000] or None
    number = (last.number if last else 0) + 1
    negotiation_round = NegotiationRound(number=number, side=side, sent_by_id=by.id, document=document, note=note)
    agreement.negotiation_rounds.append(negotiation_round)
    agreement.updated_at = utcnow()
    audit.record(
        "negotiation_version_sent",
        agreement,
        actor=by,
        comment=note,
        changes={
            "round": number,
            "side": side,
            "document": document.original_name,
            "sha256": document.sha256,
            **({"on_behalf_of": "partner"} if accepting is None else {}),
            **({"reviewed_draft": from_draft.original_name} if from_draft is not None else {}),
        },
    )
    if accepting is not None:
        _accept(agreement, negotiation_round, accepting, side, by=by)
    flush_or_conflict()
    engine.version_sent.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]  # a LocalProxy, which Flask types as the app
        agreement=agreement,
        negotiation_round=negotiation_round,
        by=by,
    )
    return negotiation_round


def accept_version(agreement, *, by, expected_version: int) -> NegotiationRound:
    """The user's own party (the ministry, or their partner organisation) accepts the latest
    version; when every party has, the text is agreed and locked."""
    check_version(agreement, expected_version)
    side, party = accepting_party(agreement, by)
    last = _open_round(agreement)
    if party in _accepted_ids(last):
        raise WorkflowError(_("Your side already accepted version %(n)s.", n=last.number))
    _accept(agreement, last, party, side, by=by)
    flush_or_conflict()
    return last


def record_acceptance_on_behalf(
    agreement, *, organization_id: int, proof, by, expected_version: int, field: str = "proof"
) -> NegotiationRound:
    """Ministry staff record that a partner party accepted the latest version outside Sharaka,
    with the document that proves it (the e-mail, the signed letter). The history says who
    recorded it, for whom, and keeps the proof."""
    check_version(agreement, expected_version)
    require_recording_acceptances(agreement, by)
    last = _open_round(agreement)
    party = next((p for p in agreement.parties if p.is_partner and p.organization_id == organization_id), None)
    errors = {}
    if party is None:
        errors["organization_id"] = [_("Choose one of the agreement's partner parties.")]
    elif organization_id in _accepted_ids(last):
        errors["organization_id"] = [
            _("%(name)s already accepted version %(n)s.", name=party.organization.name, n=last.number)
        ]
    if proof is None or not getattr(proof, "filename", None):
        errors[field] = [_("Attach the document that proves the acceptance (for example their e-mail).")]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    document = attach_document(agreement, "other", proof, by=by, field=field)
    _accept(agreement, last, organization_id, "partner", by=by, proof=document)
    flush_or_conflict()
    return last


def require_recording_acceptances(agreement, user) -> None:
    """Only the agreement's ministry staff record a partner's acceptance (the API asks before it reads the
    call's body, so that someone else is refused whatever they sent)."""
    if side_of(user, agreement) != "ministry":
        raise PermissionDenied(_("Only the agreement's ministry staff record a partner's acceptance."))


def parties_to_accept(agreement) -> list[int]:
    """The organisations whose acceptance locks the text: the ministry, then each partner party."""
    return [_home_id(), *agreement.partner_organization_ids]


def waiting_parties(agreement, negotiation_round) -> list:
    """The organisations that have not accepted `negotiation_round` yet, in order."""
    from app.organizations.models import Organization

    accepted = _accepted_ids(negotiation_round)
    waiting = [org_id for org_id in parties_to_accept(agreement) if org_id not in accepted]
    organizations = {o.id: o for o in db.session.scalars(select(Organization).where(Organization.id.in_(waiting)))}
    return [organizations[org_id] for org_id in waiting if org_id in organizations]


def awaited_parties(agreement) -> list:
    """Whose turn it is, the one rule for the page, the API and (its SQL twin, queries.partner_turn_clause and
    ministry_turn_clause) the inbox and the partner portal: while the text is negotiated and not locked, the
    ministry alone before the first version, then every party that has not accepted the latest one."""
    if not engine.state_has(agreement, "negotiating") or agreement.agreed_round_id is not None:
        return []
    last = latest_round(agreement)
    if last is not None:
        return waiting_parties(agreement, last)
    from app.organizations.models import Organization

    return list(db.session.scalars(select(Organization).where(Organization.is_home.is_(True))))


def side_awaited(parties) -> str | None:
    """The one side named by the API's older `turn` field, from `awaited_parties`: the ministry while it must
    answer, else the partner side while any partner party must."""
    if any(o.is_home for o in parties):
        return "ministry"
    return "partner" if parties else None


def _open_round(agreement) -> NegotiationRound:
    if not engine.state_has(agreement, "negotiating") or agreement.agreed_round_id is not None:
        raise WorkflowError(_("There is no version waiting for acceptance."))
    last = latest_round(agreement)
    if last is None:
        raise WorkflowError(_("No version has been sent yet."))
    return last


def accepting_party(agreement, user) -> tuple[str, int]:
    """The side `user` speaks for and the party they accept for; PermissionDenied for anyone else (the API
    asks before it reads the call's body, so that someone else is refused whatever they sent)."""
    side = side_of(user, agreement)
    if side is None:
        raise PermissionDenied(_("You cannot accept a version for this agreement."))
    party = _own_party(agreement, user, side)
    if party is None:
        raise PermissionDenied(_("Only the ministry and the partner parties accept the text."))
    return side, party


def _own_party(agreement, user, side: str) -> int | None:
    """The organisation `user` accepts for: the ministry, or their own partner party."""
    if side == "ministry":
        return _home_id()
    if any(p.is_partner and p.organization_id == user.organization_id for p in agreement.parties):
        return user.organization_id
    return None


def _accepted_ids(negotiation_round) -> set[int]:
    return {a.organization_id for a in negotiation_round.acceptances}


def _accept(agreement, negotiation_round, organization_id: int, side: str, *, by, proof=None) -> None:
    from app.organizations.models import Organization

    now = utcnow()
    negotiation_round.acceptances.append(
        NegotiationAcceptance(
            organization_id=organization_id,
            side=side,
            accepted_by_id=by.id,
            accepted_at=now,
            is_on_behalf=proof is not None,
            proof_document=proof,
        )
    )
    flush_or_conflict()  # the same party's acceptance sent at once by two of its people: one lands
    accepted = _accepted_ids(negotiation_round)
    required = parties_to_accept(agreement)
    if side == "ministry":
        negotiation_round.ministry_accepted_by_id, negotiation_round.ministry_accepted_at = by.id, now
    elif all(org_id in accepted for org_id in required[1:]):
        negotiation_round.partner_accepted_by_id, negotiation_round.partner_accepted_at = by.id, now
    organization = db.session.get_one(Organization, organization_id)  # the acceptance just flushed refers to it
    # Its id names it in each reader's language; the name as written then stays for the record.
    changes = {
        "round": negotiation_round.number,
        "side": side,
        "organization_id": organization.id,
        "organization": organization.name,
    }
    if proof is not None:
        changes.update(
            on_behalf_of=organization.name,
            recorded_by=by.full_name,
            proof=proof.original_name,
            proof_sha256=proof.sha256,
        )
    if all(org_id in accepted for org_id in required):
        negotiation_round.partner_accepted_at = negotiation_round.partner_accepted_at or now
        agreement.agreed_round_id = negotiation_round.id
        changes["text_locked"] = True
    agreement.updated_at = now
    audit.record("negotiation_version_accepted", agreement, actor=by, changes=changes)
    engine.version_accepted.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]  # a LocalProxy, which Flask types as the app
        agreement=agreement,
        organization_id=organization_id,
    )


def _home_id() -> int | None:
    from app.organizations.models import Organization

    return db.session.scalar(select(Organization.id).where(Organization.is_home.is_(True)))


# --- signatures ------------------------------------------------------------------------

# More than any signing ceremony has (each side's signatories sign in turn): a list past it is a mistake or a script.
MAX_SIGNATORIES = 20


def add_signatory(
    agreement,
    *,
    by,
    side: str,
    name: str,
    title: str | None,
    expected_version: int,
    organization_id: int | None = None,
) -> Signatory:
    """Plan one more signatory; they sign in the order they are added. A partner-side signatory signs for
    one of the agreement's partner parties (`organization_id`; the only one when there is one): every
    partner party must sign (rules.signing_parties)."""
    check_version(agreement, expected_version)
    require_ministry_side(agreement, by)
    _require_signature_stage(agreement)
    name = one_line(name)
    errors = {}
    if side not in ("ministry", "partner"):
        errors["side"] = [_("Choose the ministry or the partner.")]
    if not name or len(name) > 200:
        errors["name"] = [_("Give the signatory's name (at most 200 characters).")]
    if len(agreement.signatories) >= MAX_SIGNATORIES:
        errors["name"] = [_("An agreement has at most %(n)s signatories.", n=MAX_SIGNATORIES)]
    signs_for = _signs_for(agreement, side, organization_id, errors)
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    position = (max((s.position for s in agreement.signatories), default=0)) + 1
    signatory = Signatory(
        side=side, position=position, name=name, title=one_line(title)[:200] or None, organization_id=signs_for
    )
    agreement.signatories.append(signatory)
    agreement.updated_at = utcnow()
    changes = {"side": side, "name": name, "position": position}
    if side == "partner" and signs_for is not None:
        changes["organization_id"] = signs_for
    audit.record("signatory_added", agreement, actor=by, changes=changes)
    flush_or_conflict()
    return signatory


def _signs_for(agreement, side: str, organization_id, errors: dict) -> int | None:
    """The organisation a new signatory signs for: the ministry's, or the partner party named, which must be
    one of the agreement's, or its only partner party."""
    if side == "ministry":
        if organization_id is not None:
            errors["organization_id"] = [_("A ministry signatory signs for the ministry: name no partner.")]
        return _home_id()
    if side != "partner":
        return None
    partners = agreement.partner_organization_ids
    if organization_id is None:
        if len(partners) == 1:
            return partners[0]
        errors["organization_id"] = [_("Say which partner this signatory signs for.")]
        return None
    if organization_id not in partners:
        errors["organization_id"] = [_("Choose one of the agreement's partners.")]
        return None
    return organization_id


def _signatory_to_change(agreement, signatory_id: int, *, by, expected_version: int) -> Signatory:
    """The signatory whose signature the ministry side records or takes back, during the signature stage."""
    check_version(agreement, expected_version)
    require_ministry_side(agreement, by)
    _require_signature_stage(agreement)
    signatory = next((s for s in agreement.signatories if s.id == signatory_id), None)
    if signatory is None:
        raise ValidationFailed(_("Unknown signatory."))
    return signatory


def record_signature(
    agreement, signatory_id: int, *, by, signed_on: date, expected_version: int, today: date | None = None
) -> Signatory:
    """Record that a signatory signed on `signed_on` (never in the future, never before the one before)."""
    today = today or clock.today()
    signatory = _signatory_to_change(agreement, signatory_id, by=by, expected_version=expected_version)
    if signatory.signed_on is not None:
        raise WorkflowError(_("This signature is already recorded."))
    if not isinstance(signed_on, date):
        raise ValidationFailed(_("Not a valid date."), {"signed_on": [_("Not a valid date.")]})
    if not within_calendar(signed_on):
        raise ValidationFailed(_("This date is out of range."), {"signed_on": [_("This date is out of range.")]})
    if signed_on > today:
        message = _("A signature date cannot be in the future.")
        raise ValidationFailed(message, {"signed_on": [message]})
    earlier = [s for s in agreement.signatories if s.position < signatory.position]
    if any(s.signed_on is None for s in earlier):
        raise WorkflowError(_("Signatories sign in order: record the earlier signatures first."))
    if any(s.signed_on and s.signed_on > signed_on for s in earlier):
        earliest = written_date(max(s.signed_on for s in earlier if s.signed_on))
        message = _("This signature cannot be dated before the previous one: %(date)s at the earliest.", date=earliest)
        raise ValidationFailed(message, {"signed_on": [message]})
    last = all(s.signed_on or s.id == signatory.id for s in agreement.signatories)
    if last and agreement.effective_on is not None and signed_on > agreement.effective_on:
        # The last signature dates the agreement, which cannot enter into force before it is signed (a check
        # of the database's: it had answered a server error). The date of entry into force is a signed term.
        message = _(
            "The agreement enters into force on %(date)s, before this signature: it cannot be signed after. "
            "Record the date it was signed, or send it back to negotiation to change its dates.",
            date=written_date(agreement.effective_on),
        )
        raise ValidationFailed(message, {"signed_on": [message]})
    signatory.signed_on, signatory.recorded_by_id, signatory.recorded_at = signed_on, by.id, utcnow()
    derived = _dated_by_signatures(agreement)
    agreement.updated_at = utcnow()
    audit.record(
        "signature_recorded",
        agreement,
        actor=by,
        changes={"name": signatory.name, "side": signatory.side, "signed_on": signed_on.isoformat(), **derived},
    )
    flush_or_conflict()
    return signatory


def withdraw_signature(agreement, signatory_id: int, *, by, expected_version: int) -> Signatory:
    """Take back a signature recorded in error (a wrong date, a signatory who has not signed yet), with
    the signatures recorded after it: they sign in order, each dated after the one before. During the
    signature stage, by the ministry side, as recording it; the trail keeps what was taken back."""
    signatory = _signatory_to_change(agreement, signatory_id, by=by, expected_version=expected_version)
    if signatory.signed_on is None:
        raise WorkflowError(_("This signature is not recorded."))
    taken_back = [s for s in agreement.signatories if s.position >= signatory.position and s.signed_on is not None]
    audit.record("signature_withdrawn", agreement, actor=by, changes=clear_signatures(agreement, taken_back))
    flush_or_conflict()
    return signatory


def _dated_by_signatures(agreement) -> dict:
    """Once every signatory has signed, the agreement is signed on the day its last signatory signed; the
    change, for the trail (empty when none)."""
    if not agreement.signatories or not all(s.signed_on for s in agreement.signatories):
        return {}
    previous = agreement.signed_on
    agreement.signed_on = max(s.signed_on for s in agreement.signatories)
    if agreement.signed_on == previous:
        return {}
    return {
        "before": {"signed_on": previous.isoformat() if previous else None},
        "after": {"signed_on": agreement.signed_on.isoformat()},
    }


def remove_signatory(agreement, signatory_id: int, *, by, expected_version: int) -> None:
    """Strike out a signatory named in error (the wrong person, the wrong party, or one named before
    signatories said which partner they sign for) while they have not signed: otherwise the agreement
    waited for their signature, and those after them for theirs. A signed one is taken back first."""
    signatory = _signatory_to_change(agreement, signatory_id, by=by, expected_version=expected_version)
    if signatory.signed_on is not None:
        raise WorkflowError(_("This signature is recorded: take it back first, then remove the signatory."))
    agreement.signatories.remove(signatory)
    db.session.delete(signatory)
    # The one struck out may have been the last unsigned: those left date the agreement, as a signature does.
    derived = _dated_by_signatures(agreement)
    audit.record(
        "signatory_removed",
        agreement,
        actor=by,
        changes={
            "name": signatory.name,
            "side": signatory.side,
            "organization_id": signatory.organization_id,
            **derived,
        },
    )
    agreement.updated_at = utcnow()
    flush_or_conflict()


def upload_signed_copy(agreement, upload, *, by, expected_version: int) -> AgreementDocument:
    """Store the scan of the signed agreement (the ministry side, during the signature stage)."""
    check_version(agreement, expected_version)
    require_ministry_side(agreement, by)
    _require_signature_stage(agreement)
    document = attach_document(agreement, "signed_copy", upload, by=by)
    from app.signatures.services import check_signatures

    check_signatures(document, by=by)  # validated once at upload; the result is stored
    agreement.updated_at = utcnow()
    flush_or_conflict()
    return document


def require_ministry_side(agreement, user) -> None:
    """Signatures are recorded by the ministry side, whoever asks (pages or API); the API asks before it
    reads the call's body, so that someone else is refused whatever they sent."""
    if side_of(user, agreement) != "ministry":
        raise PermissionDenied(_("Only the agreement's owner or a manager records signatures."))


def _require_signature_stage(agreement) -> None:
    if not engine.state_has(agreement, "signing"):
        raise WorkflowError(_("Signatures are recorded during the signature stage."))


# --- delegations -----------------------------------------------------------------------

# An absence, a mission, a leave: a hand-over of someone's approvals is for a stretch of time, and one
# running for years would keep a colleague approving in their name long after anyone remembers it.
MAX_DELEGATION_DAYS = 366


def without_effect(delegation: Delegation) -> str | None:
    """Why a delegation still running gives nothing (its delegate, or its delegator, closed or no longer an
    approver), or None. The engine lends an approval only while both may approve (active_delegators,
    slot_of); the page said "In effect" and the delegator believed they were covered."""
    for person in (delegation.delegate, delegation.delegator):
        if not person.is_active:
            return _("%(name)s's account is closed: this delegation has no effect.", name=person.full_name)
        if not may_decide_approvals(person):
            return _("%(name)s can no longer give approvals: this delegation has no effect.", name=person.full_name)
    return None


def delegate(*, delegator, delegate_user, starts_on: date, ends_on: date, by) -> Delegation:
    """Hand `delegator`'s approvals to `delegate_user` for a date range."""
    errors = {}
    if delegate_user is None or not delegate_user.is_active or not may_decide_approvals(delegate_user):
        errors["delegate_id"] = [_("Choose an active ministry colleague.")]
    elif delegate_user.id == delegator.id:
        errors["delegate_id"] = [_("You cannot delegate to yourself.")]
    if not isinstance(starts_on, date) or not isinstance(ends_on, date):
        errors["ends_on"] = [_("Give both dates.")]
    elif ends_on < starts_on:
        errors["ends_on"] = [_("The last day cannot be before the first.")]
    elif ends_on < clock.today():
        errors["ends_on"] = [_("A delegation that ended before today would never apply.")]
    elif (ends_on - starts_on).days >= MAX_DELEGATION_DAYS:
        errors["ends_on"] = [_("A delegation lasts at most a year: give another one after it.")]
    else:
        for name, day in (("starts_on", starts_on), ("ends_on", ends_on)):
            if not within_calendar(day):
                errors[name] = [_("This date is out of range.")]
    if not errors and (held := _overlapping_delegation(delegator, delegate_user, starts_on, ends_on)):
        errors["starts_on"] = [
            _(
                "%(name)s already holds these approvals from %(first)s to %(last)s: revoke that delegation "
                "or choose other days.",
                name=delegate_user.full_name,
                first=written_date(held.starts_on),
                last=written_date(held.ends_on),
            )
        ]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    delegation = Delegation(
        delegator_id=delegator.id, delegate_id=delegate_user.id, starts_on=starts_on, ends_on=ends_on
    )
    db.session.add(delegation)
    db.session.flush()
    audit.record(
        "delegation_created",
        delegation,
        actor=by,
        changes={
            "delegator": delegator.email,
            "delegate": delegate_user.email,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
        },
    )
    return delegation


def _overlapping_delegation(delegator, delegate_user, starts_on: date, ends_on: date) -> Delegation | None:
    """The same hand-over already in force on one of those days (not revoked): a second one would list the
    colleague twice and outlive the first's revocation."""
    return db.session.scalars(
        select(Delegation)
        .where(
            Delegation.delegator_id == delegator.id,
            Delegation.delegate_id == delegate_user.id,
            Delegation.revoked_at.is_(None),
            Delegation.starts_on <= ends_on,
            Delegation.ends_on >= starts_on,
        )
        .order_by(Delegation.starts_on)
        .limit(1)
    ).first()


def revoke_delegation(delegation: Delegation, *, by) -> None:
    if delegation.revoked_at is None:
        delegation.revoked_at = utcnow()
        audit.record("delegation_revoked", delegation, actor=by)


def count_open_delegations(user) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Delegation)
            .where(Delegation.delegator_id == user.id, Delegation.revoked_at.is_(None))
        )
        or 0
    )
