"""The board: agreements as cards in columns by stage. Moving a card means taking a workflow
action, so each card offers the moves its reader may take now, as links to their forms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import joinedload, selectinload

from app.agreements.models import Agreement, AgreementParty
from app.core import clock
from app.core.permissions import can, visible_agreements_clause
from app.core.templating import links_to
from app.extensions import db
from app.reporting.portfolio.filters import PortfolioFilters
from app.reporting.portfolio.stages import StageColumn, in_view, stage_columns, stage_label
from app.workflow import engine
from app.workflow.conditions import keep_mad_budgets, mad_total_sql
from app.workflow.models import ApprovalDecision, ApprovalRound

# Cards shown per column; the rest are one click away in the filtered list. It also bounds
# the work of computing each card's moves, and the page's size, whatever the portfolio's.
CARD_CAP = 20


@dataclass
class Card:
    agreement: Agreement
    days_in_stage: int | None
    sla_days: int | None
    url: str = ""  # the agreement's page
    moves: list = field(default_factory=list)  # engine.ActionOption the reader may take now
    # Each move's link: the move's form on the agreement's page.
    move_urls: dict[str, str] = field(default_factory=dict)

    forward: set = field(default_factory=set)  # names of the moves that carry the agreement on

    @property
    def is_over_sla(self) -> bool:
        return self.sla_days is not None and self.days_in_stage is not None and self.days_in_stage > self.sla_days

    @property
    def main_moves(self) -> list:
        """Moves forward that need no reason: shown as buttons."""
        return [option for option in self.moves if option.name in self.forward]

    @property
    def other_moves(self) -> list:
        """Sending back, suspending, ending…: tucked under "Other actions"."""
        return [option for option in self.moves if option.name not in self.forward]


@dataclass
class BoardColumn:
    stage: StageColumn
    count: int
    cards: list[Card] = field(default_factory=list)

    @property
    def hidden(self) -> int:
        return max(0, self.count - len(self.cards))

    @property
    def over_sla(self) -> int:
        return sum(card.is_over_sla for card in self.cards)


@dataclass
class Board:
    columns: list[BoardColumn]
    finished: list[BoardColumn]

    @property
    def total(self) -> int:
        return sum(c.count for c in self.columns) + sum(c.count for c in self.finished)


def filter_conditions(user, filters: PortfolioFilters) -> list:
    conditions = [visible_agreements_clause(user)]
    if filters.type:
        conditions.append(Agreement.type == filters.type)
    if filters.partner_id:
        conditions.append(Agreement.parties.any(AgreementParty.organization_id == filters.partner_id))
    if filters.owner_id:
        conditions.append(Agreement.owner_id == filters.owner_id)
    return conditions


def build_board(user, filters: PortfolioFilters, today: date, *, cap: int = CARD_CAP) -> Board:
    """Columns in workflow order with their counts; cards (with the reader's moves) for the
    first `cap` agreements of each working stage, longest in the stage first."""
    columns = stage_columns(in_view(engine.current_definitions(), filters.type))
    conditions = filter_conditions(user, filters)
    counts = dict(
        db.session.execute(
            select(Agreement.state, func.count(Agreement.id)).where(*conditions).group_by(Agreement.state)
        ).all()
    )
    known = {column.name for column in columns}
    # A state no current definition has (an agreement on an older version) still gets a column.
    columns += [StageColumn(name, stage_label(None, name), False, None) for name in sorted(set(counts) - known)]
    working = [c.name for c in columns if not c.is_final]
    cards = _cards(user, conditions, working, today, cap)

    board = Board(columns=[], finished=[])
    for stage in columns:
        column = BoardColumn(stage, counts.get(stage.name, 0))
        if stage.is_final:
            board.finished.append(column)
        else:
            column.cards = cards.get(stage.name, [])
            board.columns.append(column)
    return board


def _cards(user, conditions, states: list[str], today: date, cap: int) -> dict[str, list[Card]]:
    if not states:
        return {}
    # Each column's first cards by their own ORDER BY … LIMIT, glued with UNION ALL: the index on
    # (state, state_entered_at) serves every branch, where ranking all open agreements would sort them all.
    firsts = [
        select(Agreement.id)
        .where(*conditions, Agreement.state == state)
        .order_by(Agreement.state_entered_at, Agreement.reference)
        .limit(cap)
        .subquery()
        .select()
        for state in states
    ]
    picked = union_all(*firsts).subquery()
    # With each card, its MAD budget and its parent's (an amendment is judged by its parent's): the
    # approval steps a budget decides read them from there (conditions.keep_mad_budgets), so the board
    # asks for totals neither once more nor only for some portfolios.
    rows = db.session.execute(
        select(Agreement, mad_total_sql(Agreement.id), mad_total_sql(Agreement.parent_id))
        .where(Agreement.id.in_(select(picked.c.id)))
        .order_by(Agreement.state_entered_at, Agreement.reference)
        # What the engine reads to list the moves, loaded for all cards at once.
        .options(
            selectinload(Agreement.parties),
            selectinload(Agreement.documents),
            selectinload(Agreement.signatories),
            # Whether a line falls due before the start (the guard of `signed` and `active`: deliverables.term).
            selectinload(Agreement.deliverables),  # type: ignore[attr-defined]  # a backref
            # A child's moves depend on whether its parent has ended (engine._under_ended_parent).
            joinedload(Agreement.parent),
            # Only the open rounds: the engine offers an approval from the open one alone (open_round), and
            # the closed ones are most of the rounds and their decisions. The page writes nothing.
            selectinload(Agreement.approval_rounds.and_(ApprovalRound.status == "open"))
            .joinedload(ApprovalRound.decisions)
            .joinedload(ApprovalDecision.counted_user),
        )
    ).all()
    keep_mad_budgets(
        {
            **{agreement.parent_id: parents for agreement, _own, parents in rows if agreement.parent_id},
            **{agreement.id: own for agreement, own, _parents in rows},
        }
    )
    agreements = [agreement for agreement, _own, _parents in rows]
    may_act = can(user, "agreement.act")
    # Links differ from card to card by the agreement's id alone: each kind built once for the page.
    agreement_url = links_to("agreements.view_agreement", "agreement_id")
    move_links: dict[str, Callable[[int], str]] = {}
    cards: dict[str, list[Card]] = {}
    for agreement in agreements:
        definition = engine.definition_for(agreement)
        state = definition.states.get(agreement.state)
        moves = (
            [option for option in engine.actions_for(agreement, user, today) if option.is_allowed] if may_act else []
        )
        for option in moves:
            if option.name not in move_links:
                move_links[option.name] = links_to(
                    "agreements.view_agreement", "agreement_id", _anchor=f"action-{option.name}"
                )
        cards.setdefault(agreement.state, []).append(
            Card(
                agreement,
                clock.days_since(agreement.state_entered_at, today),
                state.sla_days if state else None,
                agreement_url(agreement.id),
                moves,
                {option.name: move_links[option.name](agreement.id) for option in moves},
                forward=_forward(definition, agreement.state, moves),
            )
        )
    return cards


def _forward(definition, current: str, moves: list) -> set[str]:
    """The moves to a later, unfinished stage that need no comment (submit, approve, sign, activate)."""
    order = list(definition.states)
    here = order.index(current) if current in order else -1
    return {
        option.name
        for option in moves
        if not option.needs_comment
        and option.transition.target in definition.states
        and definition.states[option.transition.target].kind != "final"
        and order.index(option.transition.target) > here
    }
