"""Whose turn it is outside approvals: the owner's forward moves, and each party's turn in a
negotiation."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, or_, select

from app.agreements.models import Agreement, AgreementParty, is_partner_party
from app.core.permissions import may_move_own_agreements
from app.extensions import db
from app.workflow.definitions import WorkflowDefinition
from app.workflow.queries.built import _built, in_state_tagged, per_definition


def forward_move_states(definition: WorkflowDefinition, user) -> set[str]:
    """Working states (with an SLA, or tagged waits_on_owner) from which the owner `user` has a move
    forward to a later, unfinished state: their agreement waits on them there. Negotiating states
    have their own turns."""
    order = list(definition.states)
    found = set()
    for name, state in definition.states.items():
        if (
            state.kind == "final"
            or state.has("negotiating")
            or (state.sla_days is None and not state.has("waits_on_owner"))
        ):
            continue
        for transition in definition.transitions_from(name):
            if transition.approval is not None or not transition.roles:
                continue
            target = definition.states[transition.target]
            if target.kind == "final" or order.index(transition.target) <= order.index(name):
                continue
            if may_move_own_agreements(user, transition.roles):
                found.add(name)
                break
    return found


def moves_waiting_on_owner(user) -> ColumnElement[bool]:
    """Agreements in a state from which their owner, were it `user`, has a move forward
    (forward_move_states): what their role lets them move, so kept per role."""

    def rule(definition: WorkflowDefinition):
        states = forward_move_states(definition, user)
        return Agreement.state.in_(sorted(states)) if states else None

    return _built(("moves waiting on owner", user.role), lambda: per_definition(rule))


def moves_waiting_for_their_date(today) -> ColumnElement[bool]:
    """Agreements in a state whose move forward is taken by itself on a date of theirs that is set and
    still to come (activation on the effective date): their owner has nothing to do until then. The SQL
    twin of engine.scheduled_on."""

    def rule(definition: WorkflowDefinition):
        waits = [
            and_(
                Agreement.state.in_(transition.sources),
                getattr(Agreement, transition.automatic).is_not(None),
                getattr(Agreement, transition.automatic) > today - transition.days_after_its_date,
            )
            for transition in definition.transitions
            if transition.automatic and transition.roles
        ]
        return or_(*waits) if waits else None

    return _built(("moves waiting for their date", today), lambda: per_definition(rule))


def partner_turn_clause(organization_id, negotiation_round):
    """A partner organisation's turn on `negotiation_round` (the latest version of the text): it has not
    accepted that version yet. The sender's own acceptance is recorded with the version, so a party
    never waits on itself; every other party (the ministry, each partner) answers. The SQL twin of
    services.waiting_parties, for the partner portal."""
    from app.workflow.models import NegotiationAcceptance

    return and_(
        negotiation_round.id.is_not(None),
        # Only a partner party answers for the text (permissions.speaks_for_partner): not a witness.
        select(AgreementParty.id)
        .where(
            AgreementParty.agreement_id == negotiation_round.agreement_id,
            AgreementParty.organization_id == organization_id,
            is_partner_party(AgreementParty.role),
        )
        .exists(),
        ~select(NegotiationAcceptance.id)
        .where(
            NegotiationAcceptance.round_id == negotiation_round.id,
            NegotiationAcceptance.organization_id == organization_id,
        )
        .exists(),
    )


def ministry_turn_clause(negotiation_round):
    """The ministry's turn: no version yet (it writes the first), or it has not accepted the latest."""
    return or_(negotiation_round.id.is_(None), negotiation_round.ministry_accepted_at.is_(None))


def drafts_waiting_on_partner(user) -> list[tuple[Agreement, object]]:
    """(agreement, its latest version of the text) for each negotiation the reader's organisation must
    answer now: the partner portal's "your turn", their list of what waits on them."""
    from sqlalchemy.orm import joinedload

    from app.auth.models import User
    from app.core.permissions import visible_agreements_clause
    from app.workflow.models import NegotiationRound

    latest = (
        select(NegotiationRound.agreement_id, func.max(NegotiationRound.number).label("number"))
        .group_by(NegotiationRound.agreement_id)
        .subquery()
    )
    return list(
        db.session.execute(
            select(Agreement, NegotiationRound)
            .join(latest, latest.c.agreement_id == Agreement.id)
            .join(
                NegotiationRound,
                and_(NegotiationRound.agreement_id == Agreement.id, NegotiationRound.number == latest.c.number),
            )
            .where(
                visible_agreements_clause(user),
                in_state_tagged("negotiating"),
                Agreement.agreed_round_id.is_(None),
                partner_turn_clause(user.organization_id, NegotiationRound),
            )
            .order_by(NegotiationRound.sent_at)
            # Who sent it (another partner party, in a negotiation of several), read in the same statement.
            .options(joinedload(NegotiationRound.sent_by).joinedload(User.organization))
        )
    )
