"""The conditions' building blocks: the definitions in use, a rule per definition OR-ed over them, and
the process-wide store of built conditions (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from flask import g, has_app_context
from sqlalchemy import ColumnElement, and_, false, inspect, or_, true
from sqlalchemy.sql.util import ClauseAdapter

from app.agreements.models import Agreement
from app.core import clock
from app.core.bounded import BoundedCache
from app.extensions import db
from app.workflow import engine
from app.workflow.definitions import WorkflowDefinition


def definitions_in_use() -> list[tuple[ColumnElement[bool], WorkflowDefinition]]:
    """(condition selecting the agreements on a definition, that definition), for today's
    definitions and every frozen version. One query per request; parsed bodies are cached, and
    so is this list (the same object while the same definitions are in use: `_built` keys on it)."""
    cache = g.setdefault("sharaka_definitions_in_use", None) if has_app_context() else None
    if cache is not None:
        return cache
    current = engine.current_definitions()
    versions = engine.version_definitions()
    key = (
        "definitions in use",
        tuple((type_, id(definition)) for type_, definition in current.items()),
        tuple((version_id, id(definition)) for version_id, definition in versions.items()),
    )

    pairs = _BUILT.get(key, engine.definitions_running, keep=(tuple(current.values()), tuple(versions.values())))
    if has_app_context():
        g.sharaka_definitions_in_use = pairs
    return pairs


# A dozen kinds of condition, some per reader (what waits on them), each for today. With the demo
# definitions an entry weighs about 110 KB on average (the readers' approvals the most): 128 entries,
# enough for the approvers at work on a day, stay near 15 MB per worker.
_BUILT = BoundedCache(128)


def _built(key: tuple, build: Callable[[], ColumnElement[bool]], keep: object = None) -> ColumnElement[bool]:
    """build(), or the condition built for `key` and the same definitions in use before."""
    in_use = definitions_in_use()
    return _BUILT.get((id(in_use), *key), build, keep=(in_use, keep))


def _identity(person) -> tuple:
    """What the approval conditions read of a person: who (the SQL names their id), their role, their e-mail."""
    return (person.id, person.role, person.email)


def per_definition(rule: Callable[[WorkflowDefinition], ColumnElement[bool] | None]):
    """OR over the definitions in use of (agreement on it AND rule(definition)); a rule that
    answers None never holds for that definition. Definitions for which the rule is the same SQL
    (a version and today's definition it froze, most often) share it: (agreement on one of them AND
    the rule), a condition half the size or less."""
    groups: dict[tuple, tuple[list[ColumnElement[bool]], ColumnElement[bool]]] = {}
    for on_definition, definition in definitions_in_use():
        clause = rule(definition)
        if clause is not None:
            groups.setdefault(_sql_of(clause), ([], clause))[0].append(on_definition)
    clauses = [and_(or_(*on_definitions), clause) for on_definitions, clause in groups.values()]
    return or_(*clauses) if clauses else false()


def _sql_of(clause: ColumnElement[bool]) -> tuple:
    """What tells conditions apart: two with the same hold for the same rows. SQLAlchemy's cache key of
    `clause` (its structure: the key its compiled SQL is cached under, so the same key compiles to the
    same SQL) and the values it binds, found without compiling: compiling each definition's condition to
    compare them was three quarters of building a condition over the definitions (a reminder pass builds
    its late rounds' twice, 50 ms each time). A clause SQLAlchemy cannot key is compiled (its SQL text
    and values, in the database's dialect)."""
    key = clause._generate_cache_key()
    if key is None:
        compiled = clause.compile(dialect=db.engine.dialect)
        return compiled.string, repr(sorted(compiled.params.items()))
    return key.key, repr([bind.effective_value for bind in key.bindparams])


def in_state_tagged(tag: str):
    """Agreements whose current state carries `tag` in the definition they run on."""

    def rule(definition: WorkflowDefinition):
        names = definition.states_tagged(tag)
        return Agreement.state.in_(names) if names else None

    return _built(("tagged", tag), lambda: per_definition(rule))


def in_ended_state():
    """Agreements that have ended in the definition they run on (the SQL twin of states.has_ended)."""

    def rule(definition: WorkflowDefinition):
        names = [
            name for name, state in definition.states.items() if state.kind == "final" and "in_force" not in state.tags
        ]
        return Agreement.state.in_(names) if names else None

    return _built(("ended",), lambda: per_definition(rule))


def refuses_later_children(parent):
    """`parent` (an alias of agreements) runs on a definition that refuses a child ending after it: the
    SQL twin of children.latest_end_under_parent's test."""

    def rule(definition: WorkflowDefinition):
        return true() if definition.children.end_after_parent == "refuse" else None

    over_agreements = _built(("refuses later children",), lambda: per_definition(rule))
    return ClauseAdapter(inspect(parent).selectable).traverse(over_agreements)  # said of the alias


def over_state_sla(since, today: date, times: int = 1):
    """True when `since` lies further back than the SLA of the agreement's current state (`times` that
    SLA), counted in whole ministry days as every page shows them (clock.days_since). Kept per `since`
    object: pass the same column or expression each time (not a new one per request)."""

    def rule(definition: WorkflowDefinition):
        by_sla: dict[int, list[str]] = {}
        for name, state in definition.states.items():
            if state.sla_days is not None and state.kind != "final":
                by_sla.setdefault(state.sla_days, []).append(name)
        if not by_sla:
            return None
        return or_(
            *(
                and_(Agreement.state.in_(names), since < clock.start_of(today - timedelta(days=sla * times)))
                for sla, names in by_sla.items()
            )
        )

    return _built(("over state sla", id(since), today, times), lambda: per_definition(rule), keep=since)
