"""The stages the portfolio views show, in workflow order, from the definitions in workflows/."""

from __future__ import annotations

from dataclasses import dataclass

from app.agreements.models import AGREEMENT_TYPES
from app.workflow.definitions import WorkflowDefinition
from app.workflow.engine import label, state_labels


@dataclass(frozen=True)
class StageColumn:
    name: str
    label: str
    # Final when every definition in view says so: an amendment in force is done,
    # an agreement in force is not.
    is_final: bool
    # The stage's SLA when every definition in view agrees on it, else None (cards say their own).
    sla_days: int | None


def in_view(definitions: dict[str, WorkflowDefinition], agreement_type: str | None) -> list[WorkflowDefinition]:
    """The definitions of the type asked for, or all of them, the richest lifecycle first."""
    if agreement_type in definitions:
        return [definitions[agreement_type]]
    known = list(AGREEMENT_TYPES)
    return sorted(
        definitions.values(),
        key=lambda d: (-len(d.states), known.index(d.type) if d.type in known else len(known), d.type),
    )


def stage_columns(definitions: list[WorkflowDefinition]) -> list[StageColumn]:
    """Every state of the definitions, merged in workflow order (a state another definition adds
    goes right after the state it follows there); labels from the first definition that has it."""
    order: list[str] = []
    for definition in definitions:
        previous = None
        for name in definition.states:
            if name not in order:
                order.insert(order.index(previous) + 1 if previous in order else len(order), name)
            previous = name
    columns = []
    for name in order:
        states = [d.states[name] for d in definitions if name in d.states]
        slas = {state.sla_days for state in states}
        columns.append(
            StageColumn(
                name=name,
                label=label(states[0].label) or state_labels().get(name, name),
                is_final=all(state.kind == "final" for state in states),
                sla_days=slas.pop() if len(slas) == 1 else None,
            )
        )
    # Finished stages last, in their own order.
    return [c for c in columns if not c.is_final] + [c for c in columns if c.is_final]


def stage_label(definition: WorkflowDefinition | None, state: str) -> str:
    if definition is not None and state in definition.states:
        return label(definition.states[state].label)
    return state_labels().get(state, state)
