""""My actions": what waits on a user now, oldest first, with days waiting against the stage's SLA."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.agreements.models import Agreement
from app.core.permissions import visible_agreements_clause
from app.extensions import db
from app.workflow import engine
from app.workflow.models import ApprovalRound
from app.workflow.presenter import days_since
from app.workflow.services import latest_round, side_of


@dataclass
class InboxItem:
    agreement: Agreement
    what: str
    since: datetime | None
    days_waiting: int | None
    sla_days: int | None
    acting_for: object | None = None

    @property
    def is_over_sla(self) -> bool:
        return self.sla_days is not None and self.days_waiting is not None and self.days_waiting > self.sla_days


def inbox_for(user, today: date) -> list[InboxItem]:
    """Approvals the user may give, moves their agreements wait for, and negotiation turns."""
    conditions = [Agreement.id.in_(select(ApprovalRound.agreement_id).where(ApprovalRound.status == "open"))]
    if user.role in ("officer", "manager", "admin"):
        # Finished agreements wait for nobody: leave them out of the scan.
        finished = {name for definition in engine.current_definitions().values()
                    for name, state in definition.states.items() if state.kind == "final"}
        conditions.append((Agreement.owner_id == user.id) & Agreement.state.not_in(finished))
    if user.role == "partner":
        conditions.append(Agreement.state == "negotiation")
    agreements = db.session.scalars(
        select(Agreement).where(visible_agreements_clause(user), or_(*conditions))
        .options(selectinload(Agreement.parties), selectinload(Agreement.approval_rounds),
                 selectinload(Agreement.negotiation_rounds), selectinload(Agreement.documents),
                 selectinload(Agreement.signatories))
    ).all()
    items: list[InboxItem] = []
    for agreement in agreements:
        definition = engine.definition_for(agreement)
        state = definition.states.get(agreement.state)
        sla = state.sla_days if state else None
        options = engine.actions_for(agreement, user, today)  # once per agreement: it is the costly part
        for option in options:
            if option.is_approval and option.is_allowed:
                round_ = engine.open_round(agreement, option.name)
                items.append(InboxItem(agreement, _("Approve: %(what)s", what=engine.label(option.transition.label)),
                                       round_.requested_at, days_since(round_.requested_at, today), sla,
                                       acting_for=option.acting_for))
        side = side_of(user, agreement)
        if agreement.state == "negotiation" and agreement.agreed_round_id is None and side is not None:
            last = latest_round(agreement)
            if last is None and side == "ministry" and agreement.owner_id == user.id:
                items.append(InboxItem(agreement, _("Send the first version of the text"),
                                       agreement.state_entered_at, days_since(agreement.state_entered_at, today), sla))
            elif last is not None and last.turn == side and (side == "partner" or agreement.owner_id == user.id):
                items.append(InboxItem(agreement, _("Answer version %(n)s of the text", n=last.number),
                                       last.sent_at, days_since(last.sent_at, today), sla))
        elif agreement.owner_id == user.id and state is not None and state.kind != "final" and (
                sla is not None or agreement.state == "signed"):
            order = list(definition.states)
            moves = [o for o in options if not o.is_approval
                     and definition.states[o.transition.target].kind != "final"
                     and order.index(o.transition.target) > order.index(agreement.state)]
            if moves and agreement.state != "negotiation":
                items.append(InboxItem(agreement, _("Move forward from “%(state)s”", state=engine.label(state.label)),
                                       agreement.state_entered_at, days_since(agreement.state_entered_at, today),
                                       sla))
    items.sort(key=lambda item: (item.since is None, item.since or datetime.max))
    return items
