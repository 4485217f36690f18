"""Workflow rules turned into SQL conditions, so lists of "what waits on whom" are counted,
sorted and paged by the database instead of evaluating every agreement in Python.

An agreement runs on its own frozen definition (or today's, before its first move), so
each condition is built once per definition in use: OR over (agreements on that definition
AND the rule as that definition states it). Definitions in use are a handful; agreements
are tens of thousands.

Built once, used by many requests: such a condition is a tree of thousands of SQL elements, and
building it cost more than the statement's execution. So each public condition of these modules is kept
(`_built`) for the definitions in use (a new version, or other definitions, is another key), and
for what else it reads: the day, the user's identity, the column it compares. (SQLAlchemy's compiled
cache already spared the compiling: the day's cutoffs and the ids are bound values; not the building.)

Modules: `built` (definitions in use, the store, per-definition rules, states and their SLAs),
`approvals` (rounds waiting on a person, late, falling due), `turns` (owners' moves, negotiation turns).
"""

from app.workflow.queries.approvals import (
    approvals_waiting_on,
    late_round_clause,
    needs_met,
    picked_rounds,
    rounds_due_between,
    rounds_waiting_on_nobody,
)
from app.workflow.queries.built import (
    definitions_in_use,
    in_ended_state,
    in_state_tagged,
    over_state_sla,
    per_definition,
    refuses_later_children,
)
from app.workflow.queries.turns import (
    drafts_waiting_on_partner,
    forward_move_states,
    ministry_turn_clause,
    moves_waiting_for_their_date,
    moves_waiting_on_owner,
    partner_turn_clause,
)

__all__ = [
    "approvals_waiting_on",
    "definitions_in_use",
    "drafts_waiting_on_partner",
    "forward_move_states",
    "in_ended_state",
    "in_state_tagged",
    "late_round_clause",
    "ministry_turn_clause",
    "moves_waiting_for_their_date",
    "moves_waiting_on_owner",
    "needs_met",
    "over_state_sla",
    "partner_turn_clause",
    "per_definition",
    "picked_rounds",
    "refuses_later_children",
    "rounds_due_between",
    "rounds_waiting_on_nobody",
]
