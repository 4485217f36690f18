"""Which definition an agreement runs on (today's for a new one, the frozen version it was pinned
to otherwise) and what its state means. Below the engine, which moves agreements by these
definitions, and the parent/child rules it calls; the engine's namespace still offers each name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.core.errors import ConcurrentChange
from app.extensions import db
from app.workflow.definitions import State, WorkflowDefinition, parse_definition
from app.workflow.models import WorkflowVersion

# --- definitions -------------------------------------------------------------------

# Parsed frozen definitions, keyed by checksum (the same content parses the same way).
_parsed_versions: dict[str, WorkflowDefinition] = {}


def current_definitions() -> dict[str, WorkflowDefinition]:
    return current_app.extensions["sharaka.workflows"]


def definition_for(agreement) -> WorkflowDefinition:
    """The definition the agreement runs on: its frozen version, or today's for a new one."""
    if "workflow_version" in agreement.__dict__ and agreement.workflow_version is not None:
        return version_definition(agreement.workflow_version)  # set in this request (pin_definition)
    if agreement.workflow_version_id is not None:
        definition = version_definitions().get(agreement.workflow_version_id)
        if definition is None:  # registered since the request read them
            forget_definitions_in_use()
            definition = version_definitions()[agreement.workflow_version_id]
        return definition
    return current_definitions()[agreement.type]


def definitions_running() -> list[tuple]:
    """(condition selecting the agreements that run on a definition, that definition): today's for the
    agreements not pinned to a version, then every frozen version. The SQL conditions are built here, once
    for the engine's date moves and the query builders (queries/built.py, which keeps them per request)."""
    from sqlalchemy import and_

    from app.agreements.models import Agreement

    pairs: list[tuple] = [
        (and_(Agreement.workflow_version_id.is_(None), Agreement.type == type_), definition)
        for type_, definition in current_definitions().items()
    ]
    pairs += [(Agreement.workflow_version_id == id_, definition) for id_, definition in version_definitions().items()]
    return pairs


def version_definitions() -> dict[int, WorkflowDefinition]:
    """Every frozen definition version by id, parsed, read once per request (or job): they are a
    handful, and a page that lists agreements on several versions would otherwise load them one
    by one. Plain definitions, not rows: a commit (a reminder pass commits) expires rows."""
    from flask import g, has_app_context

    definitions = g.get("sharaka_workflow_versions") if has_app_context() else None
    if definitions is None:
        definitions = {
            version.id: version_definition(version) for version in db.session.scalars(select(WorkflowVersion))
        }
        if has_app_context():
            g.sharaka_workflow_versions = definitions
    return definitions


def version_definition(version: WorkflowVersion) -> WorkflowDefinition:
    """A frozen version's definition, parsed once per process."""
    cached = _parsed_versions.get(version.checksum)
    if cached is None:
        parsed = parse_definition(version.body, f"{version.type} v{version.version}")
        cached = _with_later_guards(_with_todays_tags(parsed))
        _parsed_versions[version.checksum] = cached
    return cached


# Tags that came after versions had been frozen with tags of their own: `internal` (an agreement is the
# ministry's own while in such a state, migration 0024). A version frozen before it never uses it.
LATER_TAGS = ("internal",)


def _with_todays_tags(definition: WorkflowDefinition) -> WorkflowDefinition:
    """A version frozen before states had tags borrows today's tags, state by state name: otherwise its
    agreements would count as neither editable nor in force. One frozen before a tag of LATER_TAGS existed
    borrows that tag the same way: a draft on such a version had been shown to its partners at its move into
    internal review, the ministry's budget floor with it, on every install upgraded with drafts under way."""
    today = current_app.extensions.get("sharaka.workflows", {}).get(definition.type)
    if today is None:
        return definition
    if not any(state.tags for state in definition.states.values()):
        borrowed = {name: today.states[name].tags for name in definition.states if name in today.states}
    else:
        missing = [tag for tag in LATER_TAGS if not any(tag in state.tags for state in definition.states.values())]
        borrowed = {
            name: tuple(state.tags) + tuple(tag for tag in missing if tag in today.states[name].tags)
            for name, state in definition.states.items()
            if name in today.states and any(tag in today.states[name].tags for tag in missing)
        }
    if not borrowed:
        return definition
    states = {
        name: replace(state, tags=type(state.tags)(borrowed[name])) if name in borrowed else state
        for name, state in definition.states.items()
    }
    return replace(definition, states=states)


# Requirements that came after versions had been frozen: `nothing_due_before_start` (a line planned on a draft
# before it had dates was made overdue by its signature). A version frozen before one borrows it, state by
# state name, where today's definition requires it: the agreements in flight keep to the rule too.
LATER_GUARDS = ("nothing_due_before_start",)


def _with_later_guards(definition: WorkflowDefinition) -> WorkflowDefinition:
    today = current_app.extensions.get("sharaka.workflows", {}).get(definition.type)
    if today is None:
        return definition
    borrowed = {
        name: tuple(
            guard
            for guard in LATER_GUARDS
            if guard in today.states[name].required_guards and guard not in state.required_guards
        )
        for name, state in definition.states.items()
        if name in today.states
    }
    states = {
        name: replace(state, required_guards=state.required_guards + borrowed[name]) if borrowed.get(name) else state
        for name, state in definition.states.items()
    }
    return replace(definition, states=states) if any(borrowed.values()) else definition


def pin_definition(agreement) -> None:
    """Record the definition version an agreement runs on (done on its first move or at creation)."""
    if agreement.workflow_version_id is None:
        agreement.workflow_version = ensure_version(current_definitions()[agreement.type])


@dataclass(frozen=True)
class VersionInUse:
    """A frozen version of a type's definition, how many agreements run on it, and whether it is today's."""

    version: WorkflowVersion
    agreements: int
    is_current: bool


def versions_of(workflow_type: str) -> list[VersionInUse]:
    """Every frozen version of `workflow_type`, newest first, with the agreements pinned to each: an
    agreement keeps the version it started on after the definition is edited."""
    from app.agreements.models import Agreement

    current = current_definitions().get(workflow_type)
    rows = db.session.execute(
        select(WorkflowVersion, func.count(Agreement.id))
        .outerjoin(Agreement, Agreement.workflow_version_id == WorkflowVersion.id)
        .where(WorkflowVersion.type == workflow_type)
        .group_by(WorkflowVersion.id)
        .order_by(WorkflowVersion.version.desc())
    ).all()
    return [
        VersionInUse(version, count, current is not None and version.checksum == current.checksum)
        for version, count in rows
    ]


def ensure_version(definition: WorkflowDefinition) -> WorkflowVersion:
    existing = db.session.scalar(select(WorkflowVersion).where(WorkflowVersion.checksum == definition.checksum))
    if existing is not None:
        return existing
    latest = (
        db.session.scalar(select(func.max(WorkflowVersion.version)).where(WorkflowVersion.type == definition.type)) or 0
    )
    version = WorkflowVersion(
        type=definition.type, version=latest + 1, checksum=definition.checksum, body=definition.body
    )
    try:
        with db.session.begin_nested():
            db.session.add(version)
    except IntegrityError:
        # Another process registered a version first: this very definition (found by its checksum),
        # or another definition of this type under the number read above: a lost race, answered as
        # any other (409; trying again takes the next number), never with no version at all.
        won = db.session.scalar(select(WorkflowVersion).where(WorkflowVersion.checksum == definition.checksum))
        if won is None:
            raise ConcurrentChange() from None
        return won
    forget_definitions_in_use()
    return version


def forget_definitions_in_use() -> None:
    """A new version exists: the request's list of definitions in use (queries.definitions_in_use) is stale."""
    from flask import g, has_app_context

    if has_app_context():
        g.pop("sharaka_definitions_in_use", None)
        g.pop("sharaka_workflow_versions", None)


def label(texts: dict[str, str]) -> str:
    from app.core.i18n import current_language

    return texts.get(current_language()) or texts.get("fr") or texts.get("en") or ""


# --- what a state means ----------------------------------------------------------------
# Everything outside the engine asks these (or queries.in_state_tagged in SQL), never a state's name.


def state_of(agreement) -> State | None:
    """The definition's entry for the state the agreement is in."""
    return definition_for(agreement).states.get(agreement.state)


def state_has(agreement, tag: str) -> bool:
    """Whether the agreement's current state carries `tag` (definitions.STATE_TAGS)."""
    state = state_of(agreement)
    return state is not None and tag in state.tags


def is_initial(agreement) -> bool:
    """Whether the agreement is in its workflow's initial state (a draft)."""
    state = state_of(agreement)
    return state is not None and state.kind == "initial"


def is_final(agreement) -> bool:
    """Whether the agreement's state is one it never leaves (an amendment in force is final too)."""
    state = state_of(agreement)
    return state is not None and state.kind == "final"


def has_ended(agreement) -> bool:
    """Whether the agreement is over: in a final state that is not in force (expired, terminated, closed,
    cancelled; an amendment in force is final but runs). Nothing more is planned or handed in under it."""
    state = state_of(agreement)
    return state is not None and state.kind == "final" and "in_force" not in state.tags


def state_label(agreement) -> str:
    state = state_of(agreement)
    return label(state.label) if state is not None else agreement.state


def state_labels() -> dict[str, str]:
    """Every state of today's definitions with its label, in lifecycle order (the longest
    lifecycle first, then the states only others have), then the states only a frozen version still
    has (agreements run on it: an edited workflow dropped or renamed the state), with that version's
    label: filters and counts by state. Without them, such agreements showed the state's raw name and
    could not be filtered."""
    definitions = sorted(current_definitions().values(), key=lambda d: (-len(d.states), d.type))
    definitions += sorted(version_definitions().values(), key=lambda d: (-len(d.states), d.type))
    labels: dict[str, str] = {}
    for definition in definitions:
        for name, state in definition.states.items():
            labels.setdefault(name, label(state.label))
    return labels
