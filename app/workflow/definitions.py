"""Reading and validating workflow definitions (workflows/*.yaml).

A definition is data: states, transitions, approval steps, and what must exist
to enter a state. This module turns a YAML file into frozen dataclasses and
reports every problem with the file it came from; the engine never sees a
definition that did not pass here.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from app.auth.models import normalize_email
from app.core.permissions import may_be_approver_role
from app.workflow import conditions, rules
from app.workflow.conditions import Condition

STATE_KINDS = ("initial", "working", "final")
STEP_MODES = ("parallel", "sequential")
COMMENT_MODES = ("required", "optional", "none")
PSEUDO_ROLES = ("owner",)
LANGUAGES = ("ar", "fr", "en")
AGREEMENT_TYPES = ("mou", "convention", "protocol", "amendment")
# Fields an action form may ask for, and fields a guard or requirement may name.
SETTABLE_FIELDS = ("signed_on", "effective_on", "expires_on")
KNOWN_FIELDS = (
    "title_ar",
    "title_fr",
    "title_en",
    "summary_ar",
    "summary_fr",
    "summary_en",
    "owner_id",
    "parent_id",
    "signing_event_id",
    "signed_on",
    "effective_on",
    "expires_on",
)
# The dates a move may be taken by itself on (`automatic:`), and how many days after the date it is taken:
# an agreement is in force from its effective date and through its end date, so it expires the day after.
AUTOMATIC_DATES = {"effective_on": 0, "expires_on": 1}
DOCUMENT_KINDS = ("draft_text", "text_version", "signed_copy", "termination_notice", "other")
# What a state means to the rest of Sharaka (`tags:` on a state). Pages, reports, reminders,
# exports and the API ask these, never a state's name, so a renamed or added state works everywhere.
STATE_TAGS = {
    "editable": "its terms, parties and budget may still change",
    "negotiating": "the parties exchange versions of the text, each in turn",
    "signing": "signatories are named and sign",
    "after_signing": "the signature stage is behind it (its signatories stay on show)",
    "in_force": "signed and not ended: counted in force, its end date watched",
    "running": "in effect: deliverables fall due and are reminded",
    "waits_on_owner": "without an SLA, yet waiting on its owner's move forward (the inbox lists it)",
    "detour": "off the way forward: shown among the stages only while the agreement is in it",
    "ended_early": "ended before its end date (the timeline stops its bar on the day)",
    "abandoned": "given up before signature: left out of totals and timelines",
    "internal": "the ministry's own work (drafting, internal review): its partners see the agreement only once "
    "it has first left such a stage",
}


class DefinitionError(Exception):
    """One or more problems in workflow files; `problems` lists (file, message)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{file}: {message}" for file, message in problems))


# Ten years: a longer delay is a slip of the keyboard, and a date that far away (times the escalation's
# SLAs) can leave the calendar, which every page reading SLAs then failed on.
MAX_DAYS = 3650
MAX_SLAS = 10  # an approval escalated after at most ten SLAs


def _sla_days(spec: dict, where: str, problems: list[str]) -> int | None:
    """A state's or a step's `sla_days`, or None (with a problem said) when it is not 1 to MAX_DAYS days."""
    sla = spec.get("sla_days")
    if sla is not None and (not isinstance(sla, int) or isinstance(sla, bool) or not 1 <= sla <= MAX_DAYS):
        problems.append(f"{where}: sla_days must be a whole number of days from 1 to {MAX_DAYS}")
        return None
    return sla


@dataclass(frozen=True)
class ApprovalStep:
    name: str
    roles: tuple[str, ...]
    users: tuple[str, ...]  # e-mail addresses of named approvers
    mode: str
    quorum: int
    required_roles: tuple[str, ...]
    required_users: tuple[str, ...]
    exclude_requester: bool
    sla_days: int | None = None  # None: the state's SLA applies
    # `when:`: the step is part of the approval only for agreements it holds for (app/workflow/conditions.py).
    when: Condition | None = None

    @property
    def slots(self) -> tuple[str, ...]:
        """Approver slots in order: named users first, then roles (for sequential mode)."""
        return tuple(f"user:{u}" for u in self.users) + tuple(f"role:{r}" for r in self.roles)


@dataclass(frozen=True)
class Approval:
    steps: tuple[ApprovalStep, ...]
    reject_to: str
    # The partner's users read this approval's rounds (approvers, decisions, comments); by default
    # approvals are the ministry's internal work (app/core/permissions.py: may_see_approval_round).
    shared_with_partner: bool = False


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...]
    guards: tuple[Any, ...]  # guard names, or {"field": x} / {"document": kind}
    comment: str
    fields: tuple[str, ...]
    documents: tuple[str, ...]
    automatic: str | None
    effects: tuple[str, ...]
    approval: Approval | None
    label: dict[str, str]
    # Asks "are you sure?" first, saying what will happen: by default every move into a
    # final state; `confirm: true` in the definition for other hard-to-undo moves.
    confirm: bool = False

    @property
    def days_after_its_date(self) -> timedelta:
        """For a move taken by itself: how long after its date (AUTOMATIC_DATES) it is taken."""
        return timedelta(days=AUTOMATIC_DATES.get(self.automatic or "", 0))

    def automatic_day(self, on: date) -> date:
        """The day a move taken by itself is taken, for the agreement's date `on` it follows."""
        return on + self.days_after_its_date


@dataclass(frozen=True)
class State:
    name: str
    kind: str
    sla_days: int | None
    label: dict[str, str]
    required_fields: tuple[str, ...] = ()
    required_documents: tuple[str, ...] = ()
    required_guards: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def has(self, tag: str) -> bool:
        return tag in self.tags


@dataclass(frozen=True)
class ReminderPolicy:
    """When reminders go out for agreements of one type (the `reminders:` section)."""

    deliverable_due_days: tuple[int, ...] = (7, 1)
    deliverable_overdue_every_days: int = 7
    deliverable_escalate_after_days: int = 14
    approval_escalate_after_slas: int = 2
    ending_days: tuple[int, ...] = (90, 60, 30)
    # Before an agreement's notice deadline of non-renewal (0: on the day itself).
    notice_days: tuple[int, ...] = (30, 0)
    stalled: bool = True


CHILD_RULES = ("cascade", "ask")
END_AFTER_PARENT = ("refuse", "warn")


@dataclass(frozen=True)
class ChildRules:
    """What this agreement's moves do to its child agreements (the `children:` section).
    on_parent: transition name → cascade (the child takes the same move) or ask (the person
    chooses per child); a transition not listed leaves children alone."""

    on_parent: dict[str, str] = field(default_factory=dict)
    end_after_parent: str = "warn"


@dataclass(frozen=True)
class WorkflowDefinition:
    type: str
    label: dict[str, str]
    states: dict[str, State]
    transitions: tuple[Transition, ...]
    checksum: str
    body: dict = field(repr=False, compare=False)
    # Deliverables every agreement of this type owes once active (see effect plan_default_deliverables).
    default_deliverables: tuple[dict, ...] = ()
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    children: ChildRules = field(default_factory=ChildRules)

    @property
    def initial_state(self) -> str:
        return next(s.name for s in self.states.values() if s.kind == "initial")

    def transition(self, name: str) -> Transition | None:
        return next((t for t in self.transitions if t.name == name), None)

    def known_transition(self, name: str) -> Transition:
        """The transition `name`, for a caller that knows it is in this definition (read from it, or
        matched by SQL built from it): an unknown name is a bug, said as such. `transition` is for
        names that may not be (a form's, a stored round's)."""
        found = self.transition(name)
        if found is None:
            raise LookupError(f"workflow {self.type!r} has no transition {name!r}")
        return found

    def transitions_from(self, state: str) -> list[Transition]:
        return [t for t in self.transitions if state in t.sources]

    def needs(self, transition: Transition) -> list[tuple[str, Any]]:
        """What taking `transition` needs, in order: ("guard", its guards — a name, {field} or
        {document}), then what its target state requires: ("field", name), ("document", kind) —
        with the documents the move itself asks for — and ("guard", name). The engine checks them
        against an agreement (engine.blocking_reasons), the simulator lists them."""
        target = self.states[transition.target]
        return (
            [("guard", guard) for guard in transition.guards]
            + [("field", name) for name in target.required_fields]
            + [("document", kind) for kind in dict.fromkeys(target.required_documents + transition.documents)]
            + [("guard", name) for name in target.required_guards]
        )

    def states_tagged(self, tag: str) -> tuple[str, ...]:
        return tuple(name for name, state in self.states.items() if tag in state.tags)


# --- loading ---------------------------------------------------------------------


class NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases (*name): a few hundred bytes of aliases to aliases stand for a structure of
    billions of items, which any walk or message over it would write out in full (a 7 KB file held the
    app's start for good). A definition never needs one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, self.refusal(), mark)
        return super().compose_node(parent, index)

    def refusal(self) -> str:
        return "aliases (*name) are not accepted in a workflow definition"

    def construct_mapping(self, node, deep=False):
        # A key given twice (two `draft:` states, a block pasted twice) kept the last one silently: the
        # first state or move was gone and the check said "ok".
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, str | int | float | bool) or key is None:
                    if key in seen:  # named as written (`yes:` is read True)
                        said = key_node.value if isinstance(key_node, yaml.ScalarNode) else key
                        raise yaml.constructor.ConstructorError(None, None, self.duplicate(said), key_node.start_mark)
                    seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def duplicate(self, key) -> str:
        return f"{key!r} is given twice in the same mapping"


def _names(value, where: str, problems: list[str]) -> tuple[str, ...]:
    """A list of names (states, roles, tags…), or () with a problem said: a single name written without
    its list would otherwise be read letter by letter ("unknown guard 'h'")."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: must be a list of names")
        return ()
    return tuple(value)


def read_yaml(text: str, loader: type[NoAliasLoader] = NoAliasLoader):
    return yaml.load(text, Loader=loader)  # noqa: S506  (a SafeLoader, aliases refused)


def load_directory(directory: Path) -> dict[str, WorkflowDefinition]:
    """Read and validate every *.yaml in `directory`; raise DefinitionError listing all problems."""
    directory = Path(directory)
    raw: dict[str, tuple[str, dict]] = {}
    problems: list[tuple[str, str]] = []
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise DefinitionError([(str(directory), "no workflow definitions (*.yaml) found")])
    for path in files:
        try:
            data = read_yaml(path.read_text(encoding="utf-8"))
        # ValueError: an impossible date such as 2026-13-01; RecursionError: nested past the parser.
        except (yaml.YAMLError, ValueError, RecursionError) as error:
            problems.append((path.name, f"not valid YAML: {error}"))
            continue
        except (OSError, UnicodeDecodeError) as error:
            problems.append((path.name, f"cannot be read: {error}"))
            continue
        if not isinstance(data, dict):
            problems.append((path.name, "must be a mapping with type, states and transitions"))
            continue
        if shape := _shape_problems(data):
            problems.extend((path.name, problem) for problem in shape)
            continue
        workflow_type = data.get("type")
        if workflow_type in raw:
            problems.append((path.name, f"type {workflow_type!r} is already defined in {raw[workflow_type][0]}"))
            continue
        raw[str(workflow_type)] = (path.name, data)

    definitions: dict[str, WorkflowDefinition] = {}
    for workflow_type, (file_name, data) in raw.items():
        try:
            body = _resolve_extends(file_name, data, raw)
            definitions[workflow_type] = parse_definition(body, file_name)
        except DefinitionError as error:
            problems.extend(error.problems)
    if problems:
        raise DefinitionError(problems)
    return definitions


def load_workflows(directory: Path) -> dict[str, WorkflowDefinition]:
    """load_directory, and a definition for each agreement type Sharaka has. Without one (amendment.yaml
    left out of a deployed folder), the app had started with that type gone: no "Amend" action, a 404
    from the API, and its agreements in flight still shown."""
    definitions = load_directory(directory)
    missing = [name for name in AGREEMENT_TYPES if name not in definitions]
    if missing:
        raise DefinitionError(
            [
                (str(directory), f"no definition of type {name!r} (every agreement type needs one, e.g. {name}.yaml)")
                for name in missing
            ]
        )
    return definitions


def _shape_problems(data: dict) -> list[str]:
    """What a file's top level must be before files are merged (extends) and read: a list where a mapping
    belongs, or a list for a name, had stopped `workflows check` and the app's start with a traceback."""
    problems = []
    if not isinstance(data.get("type"), str):
        problems.append("type must be one agreement type's name")
    if "extends" in data and not isinstance(data["extends"], str):
        problems.append("extends must name one workflow")
    if not isinstance(data.get("states") or {}, dict):
        problems.append("states must be a mapping of state names to their settings")
    transitions = data.get("transitions") or []
    if not isinstance(transitions, list) or not all(isinstance(spec, dict) for spec in transitions):
        problems.append("transitions must be a list of transitions, each a mapping with its name")
    return problems


def _resolve_extends(file_name: str, data: dict, raw: dict[str, tuple[str, dict]], depth: int = 0) -> dict:
    """Merge `extends: other` — the other's states and transitions, overridden by name."""
    base_name = data.get("extends")
    if base_name is None:
        return copy.deepcopy(data)
    if depth > 5 or base_name not in raw or base_name == data.get("type"):
        raise DefinitionError([(file_name, f"extends unknown or circular workflow {base_name!r}")])
    base = _resolve_extends(raw[base_name][0], raw[base_name][1], raw, depth + 1)
    merged = copy.deepcopy(base)
    merged["type"] = data.get("type")
    merged["label"] = data.get("label", base.get("label"))
    states = dict(merged.get("states") or {})
    states.update(copy.deepcopy(data.get("states") or {}))
    merged["states"] = states
    own = {t.get("name"): t for t in (data.get("transitions") or []) if isinstance(t, dict)}
    transitions = [copy.deepcopy(own.pop(t.get("name"), t)) for t in merged.get("transitions") or []]
    merged["transitions"] = transitions + [copy.deepcopy(t) for t in own.values()]
    for own_section in ("deliverables", "reminders", "children"):
        if own_section in data:
            merged[own_section] = copy.deepcopy(data[own_section])
    merged.pop("extends", None)
    return merged


def checksum_of(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def parse_definition(body: dict, file_name: str = "<stored>") -> WorkflowDefinition:
    """Validate one (already merged) definition body and build the dataclasses."""
    problems: list[str] = []
    known_roles = set(rules.ROLE_NAMES) | set(PSEUDO_ROLES)

    def label_of(value, where: str) -> dict[str, str]:
        if not isinstance(value, dict) or not all(
            isinstance(value.get(lang), str) and value.get(lang) for lang in LANGUAGES
        ):
            problems.append(f"{where}: label needs ar, fr and en texts")
            return {lang: str((value or {}).get(lang, "")) if isinstance(value, dict) else "" for lang in LANGUAGES}
        return {lang: value[lang] for lang in LANGUAGES}

    def names(value, where: str) -> tuple[str, ...]:
        return _names(value, where, problems)

    workflow_type = body.get("type")
    if workflow_type not in AGREEMENT_TYPES:
        problems.append(f"type {workflow_type!r} is not an agreement type ({', '.join(AGREEMENT_TYPES)})")
    label = label_of(body.get("label"), "workflow")
    unknown_keys = set(body) - {
        "type",
        "label",
        "states",
        "transitions",
        "extends",
        "deliverables",
        "reminders",
        "children",
    }
    if unknown_keys:
        problems.append(f"unknown keys: {', '.join(sorted(unknown_keys))}")

    states: dict[str, State] = {}
    raw_states = body.get("states")
    if not isinstance(raw_states, dict) or not raw_states:
        problems.append("states: must be a non-empty mapping")
        raw_states = {}
    for name, spec in raw_states.items():
        where = f"state {name!r}"
        if not isinstance(spec, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        unknown = set(spec) - {"kind", "sla_days", "label", "requires", "tags"}
        if unknown:
            problems.append(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        kind = spec.get("kind")
        if kind not in STATE_KINDS:
            problems.append(f"{where}: kind must be one of {', '.join(STATE_KINDS)}")
        sla = _sla_days(spec, where, problems)
        requires = spec.get("requires") or {}
        if not isinstance(requires, dict) or set(requires) - {"fields", "documents", "guards"}:
            problems.append(f"{where}: requires may list fields, documents and guards")
            requires = {}
        required_fields = names(requires.get("fields"), f"{where} requires.fields")
        for field_name in required_fields:
            if field_name not in KNOWN_FIELDS:
                problems.append(f"{where}: requires unknown field {field_name!r}")
        required_documents = names(requires.get("documents"), f"{where} requires.documents")
        for kind_name in required_documents:
            if kind_name not in DOCUMENT_KINDS:
                problems.append(f"{where}: requires unknown document kind {kind_name!r}")
        required_guards = names(requires.get("guards"), f"{where} requires.guards")
        for guard_name in required_guards:
            if not rules.is_guard(guard_name):
                problems.append(f"{where}: unknown guard {guard_name!r}")
        tags = names(spec.get("tags"), f"{where} tags")
        for tag in tags:
            if tag not in STATE_TAGS:
                problems.append(f"{where}: unknown tag {tag!r} (known: {', '.join(STATE_TAGS)})")
        states[str(name)] = State(
            name=str(name),
            kind=str(kind),
            sla_days=sla,
            label=label_of(spec.get("label"), where),
            required_fields=required_fields,
            required_documents=required_documents,
            required_guards=required_guards,
            tags=tags,
        )
    initials = [s.name for s in states.values() if s.kind == "initial"]
    if states and len(initials) != 1:
        problems.append(f"exactly one initial state is needed, found {len(initials)}")

    transitions: list[Transition] = []
    seen_names: set[str] = set()
    raw_transitions = body.get("transitions")
    if not isinstance(raw_transitions, list):
        problems.append("transitions: must be a list")
        raw_transitions = []
    for index, spec in enumerate(raw_transitions):
        where = f"transition #{index + 1}"
        if not isinstance(spec, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        name = spec.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            problems.append(f"{where}: needs a name made of letters, digits and _")
            name = f"#{index + 1}"
        where = f"transition {name!r}"
        if name in seen_names:
            problems.append(f"{where}: defined twice")
        seen_names.add(name)
        unknown = set(spec) - {
            "name",
            "from",
            "to",
            "roles",
            "guards",
            "comment",
            "fields",
            "documents",
            "automatic",
            "effects",
            "approval",
            "label",
            "confirm",
        }
        if unknown:
            problems.append(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        sources = names(spec.get("from"), f"{where} from")
        if not sources:
            problems.append(f"{where}: from must name at least one state")
        for source in sources:
            if source not in states:
                problems.append(f"{where}: from unknown state {source!r}")
            elif states[source].kind == "final":
                problems.append(f"{where}: leaves final state {source!r}")
        target = spec.get("to")
        if not isinstance(target, str):  # `to: [a]`, written as `from` is: one state, not a list
            problems.append(f"{where}: to must name one state")
            target = ""  # read on as no state, for the rest to be said too
        elif target not in states:
            problems.append(f"{where}: to unknown state {target!r}")
        roles = names(spec.get("roles"), f"{where} roles")
        for role in roles:
            if role not in known_roles:
                problems.append(f"{where}: unknown role {role!r}")
        guards: list[Any] = []
        written_guards = spec.get("guards") or []
        if not isinstance(written_guards, list):
            problems.append(f"{where} guards: must be a list")
            written_guards = []
        for guard in written_guards:
            if isinstance(guard, str):
                if not rules.is_guard(guard):
                    problems.append(f"{where}: unknown guard {guard!r}")
                guards.append(guard)
            elif isinstance(guard, dict) and len(guard) == 1 and "field" in guard:
                if guard["field"] not in KNOWN_FIELDS:
                    problems.append(f"{where}: guard names unknown field {guard['field']!r}")
                guards.append({"field": guard["field"]})
            elif isinstance(guard, dict) and len(guard) == 1 and "document" in guard:
                if guard["document"] not in DOCUMENT_KINDS:
                    problems.append(f"{where}: guard names unknown document kind {guard['document']!r}")
                guards.append({"document": guard["document"]})
            else:
                problems.append(f"{where}: a guard is a name, {{field: NAME}} or {{document: KIND}}")
        comment = spec.get("comment", "optional")
        if comment not in COMMENT_MODES:
            problems.append(f"{where}: comment must be required, optional or none")
        fields = names(spec.get("fields"), f"{where} fields")
        for field_name in fields:
            if field_name not in SETTABLE_FIELDS:
                problems.append(f"{where}: the action cannot ask for field {field_name!r}")
        documents = names(spec.get("documents"), f"{where} documents")
        for kind_name in documents:
            if kind_name not in DOCUMENT_KINDS:
                problems.append(f"{where}: unknown document kind {kind_name!r}")
        automatic = spec.get("automatic")
        if automatic is not None and automatic not in AUTOMATIC_DATES:
            problems.append(f"{where}: automatic must be one of {', '.join(AUTOMATIC_DATES)}")
        effects = names(spec.get("effects"), f"{where} effects")
        for effect in effects:
            if not rules.is_effect(effect):
                problems.append(f"{where}: unknown effect {effect!r}")
        approval = _parse_approval(spec.get("approval"), where, states, known_roles, problems)
        confirm = spec.get("confirm")
        if confirm is None:
            confirm = target in states and states[target].kind == "final"
        elif not isinstance(confirm, bool):
            problems.append(f"{where}: confirm must be true or false")
        if not roles and approval is None and automatic is None:
            problems.append(f"{where}: nobody can take it (no roles, no approval, not automatic)")
        transitions.append(
            Transition(
                name=name,
                sources=sources,
                target=str(target),
                roles=roles,
                guards=tuple(guards),
                comment=str(comment),
                fields=fields,
                documents=documents,
                automatic=automatic,
                effects=effects,
                approval=approval,
                label=label_of(spec.get("label"), where),
                confirm=bool(confirm),
            )
        )

    default_deliverables = []
    for number, line in enumerate(body.get("deliverables") or [], start=1):
        where = f"deliverable #{number}"
        if not isinstance(line, dict) or set(line) - {"title", "recurrence", "responsible", "months_after"}:
            problems.append(f"{where}: may have title, recurrence, responsible and months_after")
            continue
        if line.get("recurrence") not in ("once", "monthly", "quarterly", "yearly"):
            problems.append(f"{where}: recurrence must be once, monthly, quarterly or yearly")
        if line.get("responsible", "partner") not in ("partner", "ministry"):
            problems.append(f"{where}: responsible must be partner or ministry")
        months = line.get("months_after", 3)
        if not isinstance(months, int) or isinstance(months, bool) or not 0 <= months <= 120:
            problems.append(f"{where}: months_after must be a whole number of months (0 to 120)")
        default_deliverables.append({**line, "title": label_of(line.get("title"), where)})

    reminders = _parse_reminders(body.get("reminders"), problems)
    children = _parse_children(body.get("children"), transitions, problems)
    problems.extend(_approval_guard_problems(states, transitions))

    if not problems:
        problems.extend(_graph_problems(states, transitions))
    if problems:
        raise DefinitionError([(file_name, message) for message in problems])
    return WorkflowDefinition(
        type=str(workflow_type),
        label=label,
        states=states,
        transitions=tuple(transitions),
        checksum=checksum_of(body),
        body=body,
        default_deliverables=tuple(default_deliverables),
        reminders=reminders,
        children=children,
    )


def _approval_guard_problems(states: dict[str, State], transitions: list[Transition]) -> list[str]:
    """The inbox lists an approval only when its move is not blocked, asking the guards in SQL: an
    approval's move may need only guards that have their SQL side (rules.GUARD_CLAUSES)."""
    problems = []
    for transition in transitions:
        if transition.approval is None or transition.target not in states:
            continue
        named = [g for g in transition.guards if isinstance(g, str)] + list(states[transition.target].required_guards)
        for name in dict.fromkeys(named):
            if name in rules.GUARDS and name not in rules.GUARD_CLAUSES:
                problems.append(
                    f"transition {transition.name}: an approval's move cannot need guard {name!r} "
                    "(it has no SQL side, so the inbox could not tell whom the approval waits on)"
                )
    return problems


def _parse_children(spec, transitions: list[Transition], problems: list[str]) -> ChildRules:
    """The `children:` section (absent: moves leave children alone, a later end is only warned)."""
    if spec is None:
        return ChildRules()
    if not isinstance(spec, dict) or set(spec) - {"on_parent", "end_after_parent"}:
        problems.append("children: may have on_parent and end_after_parent")
        return ChildRules()
    on_parent = spec.get("on_parent") or {}
    if not isinstance(on_parent, dict):
        problems.append("children: on_parent must map transition names to cascade or ask")
        on_parent = {}
    by_name = {t.name: t for t in transitions}
    for name, rule in on_parent.items():
        transition = by_name.get(name)
        if transition is None:
            problems.append(f"children: on_parent names unknown transition {name!r}")
        elif rule not in CHILD_RULES:
            problems.append(f"children: on_parent {name}: must be cascade or ask")
        elif rule == "ask" and (transition.automatic or transition.approval is not None or not transition.roles):
            problems.append(
                f"children: on_parent {name}: nobody fills a form for an automatic or approval move; use cascade"
            )
    end = spec.get("end_after_parent", "warn")
    if end not in END_AFTER_PARENT:
        problems.append("children: end_after_parent must be refuse or warn")
        end = "warn"
    return ChildRules(on_parent={str(k): str(v) for k, v in on_parent.items()}, end_after_parent=str(end))


def _parse_reminders(spec, problems: list[str]) -> ReminderPolicy:
    """The `reminders:` section; anything left out keeps the default."""
    if spec is None:
        return ReminderPolicy()
    defaults = ReminderPolicy()
    if not isinstance(spec, dict):
        problems.append("reminders: must be a mapping")
        return defaults
    unknown = set(spec) - set(ReminderPolicy.__dataclass_fields__)
    if unknown:
        problems.append(f"reminders: unknown keys {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name in ("deliverable_due_days", "ending_days", "notice_days"):
        if name in spec:
            days = spec[name]
            if not isinstance(days, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_DAYS for d in days
            ):
                problems.append(f"reminders: {name} must be a list of whole numbers of days (0 to {MAX_DAYS})")
            else:
                values[name] = tuple(sorted(set(days), reverse=True))
    for name, most in (
        ("deliverable_overdue_every_days", MAX_DAYS),
        ("deliverable_escalate_after_days", MAX_DAYS),
        ("approval_escalate_after_slas", MAX_SLAS),
    ):
        if name in spec:
            number = spec[name]
            if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= most:
                problems.append(f"reminders: {name} must be a whole number from 1 to {most}")
            else:
                values[name] = number
    if "stalled" in spec:
        if not isinstance(spec["stalled"], bool):
            problems.append("reminders: stalled must be true or false")
        else:
            values["stalled"] = spec["stalled"]
    return ReminderPolicy(**{**defaults.__dict__, **values})


def _parse_approval(spec, where: str, states, known_roles, problems: list[str]) -> Approval | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("steps"), list) or not spec["steps"]:
        problems.append(f"{where}: approval needs a list of steps")
        return None
    unknown = set(spec) - {"steps", "reject_to", "shared_with_partner"}
    if unknown:
        problems.append(f"{where}: approval has unknown keys {', '.join(sorted(unknown))}")
    shared = spec.get("shared_with_partner", False)
    if not isinstance(shared, bool):
        problems.append(f"{where}: approval shared_with_partner must be true or false")
        shared = False
    reject_to = spec.get("reject_to")
    if reject_to not in states:
        problems.append(f"{where}: approval reject_to names unknown state {reject_to!r}")
    steps = []
    for number, step in enumerate(spec["steps"], start=1):
        step_where = f"{where} approval step {number}"
        if not isinstance(step, dict):
            problems.append(f"{step_where}: must be a mapping")
            continue
        unknown = set(step) - {
            "name",
            "roles",
            "users",
            "mode",
            "quorum",
            "required_roles",
            "required_users",
            "exclude_requester",
            "sla_days",
            "when",
        }
        if unknown:
            problems.append(f"{step_where}: unknown keys {', '.join(sorted(unknown))}")
        roles = _names(step.get("roles"), f"{step_where} roles", problems)
        # Addresses as accounts keep them (one spelling per mailbox), so a step names the account it means.
        users = tuple(normalize_email(u) for u in _names(step.get("users"), f"{step_where} users", problems))
        for role in roles:
            if role not in known_roles or not may_be_approver_role(role):
                problems.append(f"{step_where}: unknown or unsuitable approver role {role!r}")
        if not roles and not users:
            problems.append(f"{step_where}: names no approvers (roles or users)")
        mode = step.get("mode", "parallel")
        if mode not in STEP_MODES:
            problems.append(f"{step_where}: mode must be parallel or sequential")
        quorum = step.get("quorum", 1)
        slots = len(roles) + len(users)
        if not isinstance(quorum, int) or isinstance(quorum, bool) or quorum < 1:
            problems.append(f"{step_where}: quorum must be a whole number ≥ 1")
            quorum = 1
        elif quorum > slots and (roles or users):
            # Each approver role or named person fills one place: more places can never be filled.
            problems.append(
                f"{step_where}: quorum {quorum} is more than its {slots} approver roles and people "
                f"({', '.join((*roles, *users))}): lower the quorum or add approvers "
                "(a role listed twice takes two of its holders)"
            )
        if mode == "sequential" and quorum < slots:
            problems.append(f"{step_where}: a sequential step needs every approver in turn (quorum {slots})")
        required_roles = tuple(step.get("required_roles") or ())
        for role in required_roles:
            if role not in roles:
                problems.append(f"{step_where}: required role {role!r} is not among the approver roles")
        required_users = tuple(normalize_email(str(u)) for u in step.get("required_users") or ())
        for user in required_users:
            if user not in users:
                problems.append(f"{step_where}: required user {user!r} is not among the named approvers")
        exclude = step.get("exclude_requester", True)
        if not isinstance(exclude, bool):
            problems.append(f"{step_where}: exclude_requester must be true or false")
            exclude = True
        sla = _sla_days(step, step_where, problems)
        when = conditions.parse(step["when"], step_where, AGREEMENT_TYPES, problems) if "when" in step else None
        steps.append(
            ApprovalStep(
                name=str(step.get("name") or f"step_{number}"),
                roles=roles,
                users=users,
                mode=str(mode),
                quorum=quorum,
                required_roles=required_roles,
                required_users=required_users,
                exclude_requester=exclude,
                sla_days=sla,
                when=when,
            )
        )
    return Approval(steps=tuple(steps), reject_to=str(reject_to), shared_with_partner=shared)


def _graph_problems(states: dict[str, State], transitions: list[Transition]) -> list[str]:
    problems = []
    edges: dict[str, set[str]] = {name: set() for name in states}
    for transition in transitions:
        for source in transition.sources:
            edges[source].add(transition.target)
            if transition.approval:
                edges[source].add(transition.approval.reject_to)
    initial = next(s.name for s in states.values() if s.kind == "initial")
    reached, frontier = {initial}, [initial]
    while frontier:
        for target in edges[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    for name in states:
        if name not in reached:
            problems.append(f"state {name!r} cannot be reached from {initial!r}")
    for name, state in states.items():
        if state.kind != "final" and not edges[name]:
            problems.append(f"state {name!r} has no way out but is not final")
    return problems
