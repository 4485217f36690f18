"""Named guards and effects that workflow definitions may refer to.

A guard answers None when the move may go ahead, or a sentence saying what is
missing. An effect changes other things when a transition completes. The
definition validator checks names against these registries, so a typo in a
YAML file stops the app at start-up instead of silently allowing a move.

A guard may also be written in SQL, side by side with its Python (`guard_clause`): a
condition on `Agreement` that holds when the guard lets the move go ahead. The inbox asks
it to list only the approvals the engine would let someone give (app/workflow/queries/);
tests hold both to the same answers. A guard without it cannot guard an approval's move
(the definition check says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from app.core.i18n import gettext as _
from app.core.i18n import list_of
from app.core.permissions import ROLE_NAMES  # noqa: F401 (definitions check the roles they name against it)

GUARDS: dict[str, Callable] = {}
GUARD_CLAUSES: dict[str, Callable] = {}
EFFECTS: dict[str, Callable] = {}
# Named here, written by the feature they belong to, above the engine that runs them: its module
# registers the function with @guard/@effect when it is imported. A definition may name them before
# that (a YAML file is checked against these names alone); the app factory checks, once every
# feature is imported, that each has its function (check_registered).
GUARDS_ELSEWHERE = frozenset(
    {"no_overlapping_amendment", "nothing_due_before_start"}  # app.agreements.amendments, app.deliverables.term
)
EFFECTS_ELSEWHERE = frozenset({"apply_amendment_to_parent", "plan_default_deliverables"})  # amendments, deliverables


def guard(name: str):
    def register(function):
        GUARDS[name] = function
        return function

    return register


def guard_clause(name: str):
    """The guard `name` in SQL: a function answering a condition on `Agreement`."""

    def register(function):
        GUARD_CLAUSES[name] = function
        return function

    return register


def effect(name: str):
    def register(function):
        EFFECTS[name] = function
        return function

    return register


def is_guard(name: str) -> bool:
    return name in GUARDS or name in GUARDS_ELSEWHERE


def is_effect(name: str) -> bool:
    return name in EFFECTS or name in EFFECTS_ELSEWHERE


def check_registered() -> None:
    """Every guard and effect named here has its function (the app factory asks, features imported)."""
    missing = sorted((GUARDS_ELSEWHERE - GUARDS.keys()) | (EFFECTS_ELSEWHERE - EFFECTS.keys()))
    if missing:
        raise RuntimeError(f"Guards or effects named in app/workflow/rules.py but never registered: {missing}")


@guard("has_partner")
def _has_partner(agreement) -> str | None:
    if not any(party.is_partner for party in agreement.parties):
        return _("Name at least one partner organisation.")
    return None


@guard_clause("has_partner")
def _has_partner_clause():
    from sqlalchemy import exists

    from app.agreements.models import Agreement, AgreementParty, is_partner_party

    # Correlated to the agreement however deep the statement asks the guard (auto-correlation reaches only the
    # statement just above, and inside one over the approval rounds the agreements' table was read again).
    return (
        exists()
        .where(AgreementParty.agreement_id == Agreement.id, is_partner_party(AgreementParty.role))
        .correlate_except(AgreementParty)
    )


@guard("has_parent")
def _has_parent(agreement) -> str | None:
    if agreement.parent_id is None:
        return _("An amendment must name the agreement it amends (parent agreement).")
    return None


@guard_clause("has_parent")
def _has_parent_clause():
    from app.agreements.models import Agreement

    return Agreement.parent_id.is_not(None)


@guard("has_amendment_changes")
def _has_amendment_changes(agreement) -> str | None:
    if not agreement.amendment_changes:
        return _("Say what the amendment changes (for example a new end date).")
    return None


@guard_clause("has_amendment_changes")
def _has_amendment_changes_clause():
    from sqlalchemy import Text, and_, cast

    from app.agreements.models import Agreement

    # An empty mapping, or JSON null, says nothing: what `not amendment_changes` finds in Python.
    return and_(
        Agreement.amendment_changes.is_not(None),
        cast(Agreement.amendment_changes, Text).not_in(("null", "{}", "[]", "")),
    )


@guard("text_agreed")
def _text_agreed(agreement) -> str | None:
    if agreement.agreed_round_id is None:
        return _("Both sides must accept the same version of the text.")
    return None


@guard_clause("text_agreed")
def _text_agreed_clause():
    from app.agreements.models import Agreement

    return Agreement.agreed_round_id.is_not(None)


@guard("negotiated_here")
def _negotiated_here(agreement) -> str | None:
    """Its text was agreed in a negotiation here (text_agreed's condition, said for a move back to it): one
    recorded as signed outside Sharaka (record_signed_elsewhere) never had one to go back to."""
    if _text_agreed(agreement) is not None:
        return _("Its text was not negotiated in Sharaka (it was signed elsewhere): send it back to draft instead.")
    return None


@guard_clause("negotiated_here")
def _negotiated_here_clause():
    return _text_agreed_clause()


@dataclass(frozen=True)
class SigningParty:
    """A party whose signature binds the agreement, with the signatories who sign for it, in order."""

    organization: Any  # the partner organisation; None for the ministry
    signatories: tuple = ()

    @property
    def is_ministry(self) -> bool:
        return self.organization is None

    @property
    def is_signed(self) -> bool:
        return bool(self.signatories) and all(s.signed_on for s in self.signatories)

    @property
    def signed_on(self):
        return max(s.signed_on for s in self.signatories) if self.is_signed else None


def signing_parties(agreement) -> list[SigningParty]:
    """Who must sign: the ministry, then each partner party, each with its own signatories. A co-signatory
    or a witness organisation is not one of them: the agreement does not wait for it. The one rule for the
    guard below (its SQL twin too), the agreement's page and the API."""
    signatories = sorted(agreement.signatories, key=lambda s: s.position)
    parties = [SigningParty(None, tuple(s for s in signatories if s.side == "ministry"))]
    for party in agreement.parties:
        if party.is_partner:
            own = tuple(s for s in signatories if s.side == "partner" and s.organization_id == party.organization_id)
            parties.append(SigningParty(party.organization, own))
    return parties


def signs_for_no_party(agreement) -> list:
    """Partner-side signatories who sign for none of the agreement's partner parties: named, on an agreement
    with several partners, before signatories said which partner they sign for (migration 0027), or for an
    organisation that is no longer a partner party. They still sign in their turn, but stand for no one."""
    partners = set(agreement.partner_organization_ids)
    return [s for s in agreement.signatories if s.side == "partner" and s.organization_id not in partners]


@guard("all_signatories_signed")
def _all_signatories_signed(agreement) -> str | None:
    parties = signing_parties(agreement)
    if all(party.is_ministry for party in parties):
        return _("Name at least one partner organisation.")
    unnamed = [_("the ministry") if p.is_ministry else p.organization.name for p in parties if not p.signatories]
    if unnamed:
        return _("No signatory is named yet for %(parties)s.", parties=list_of(unnamed))
    partners = {p.organization.id: p.organization.name for p in parties if not p.is_ministry}
    waiting = [
        _("%(name)s (%(party)s)", name=s.name, party=partners[s.organization_id])
        if s.side == "partner" and s.organization_id in partners
        else s.name
        for s in sorted(agreement.signatories, key=lambda s: s.position)
        if s.signed_on is None
    ]
    if waiting:
        return _("Waiting for the signature of %(names)s.", names=list_of(waiting))
    return None


@guard_clause("all_signatories_signed")
def _all_signatories_signed_clause():
    from sqlalchemy import and_, exists

    from app.agreements.models import Agreement, AgreementParty, is_partner_party
    from app.workflow.models import Signatory

    # Each correlated to the agreement however deep the statement asks the guard (as _has_partner_clause).
    def any_signatory(*conditions):
        return exists().where(Signatory.agreement_id == Agreement.id, *conditions).correlate_except(Signatory)

    def any_partner_party(*conditions):
        return (
            exists()
            .where(AgreementParty.agreement_id == Agreement.id, is_partner_party(AgreementParty.role), *conditions)
            .correlate_except(AgreementParty)
        )

    # Two levels down, tied to the party's row of the statement just above.
    signs_for_the_party = (
        exists()
        .where(
            Signatory.agreement_id == AgreementParty.agreement_id,
            Signatory.side == "partner",
            Signatory.organization_id == AgreementParty.organization_id,
        )
        .correlate_except(Signatory)
    )
    return and_(
        any_partner_party(),
        any_signatory(Signatory.side == "ministry"),
        ~any_partner_party(~signs_for_the_party),
        ~any_signatory(Signatory.signed_on.is_(None)),
    )


@effect("unlock_text")
def _unlock_text(agreement, by) -> None:
    """Going back before signature reopens the text for new negotiation rounds. A signature applies to one
    text: those recorded for the old one are taken back and the agreement is no longer dated as signed;
    the signatories stay named, to sign the next text."""
    from app.core import audit

    agreement.agreed_round_id = None
    signed = [s for s in agreement.signatories if s.signed_on is not None]
    if not signed and agreement.signed_on is None:
        return
    audit.record("signatures_voided", agreement, actor=by, changes=clear_signatures(agreement, signed))


def clear_signatures(agreement, signatories) -> dict:
    """Take back the signatures of `signatories` (a correction, or a text opened again): the agreement,
    signed on its last signature's day, is signed no longer. Returns what was taken back, for the trail."""
    from app.core.models import utcnow

    changes = {
        "withdrawn": [{"name": s.name, "side": s.side, "signed_on": s.signed_on.isoformat()} for s in signatories],
        "before": {"signed_on": agreement.signed_on.isoformat() if agreement.signed_on else None},
        "after": {"signed_on": None},
    }
    for signatory in signatories:
        signatory.signed_on, signatory.recorded_by_id, signatory.recorded_at = None, None, None
    agreement.signed_on = None
    agreement.updated_at = utcnow()
    return changes
