"""The workflow simulator: walk a definition (a shipped one, or an edited copy) through a
scenario — who is available, what they answer, on which days — and say what would happen:
who is asked at each step, what blocks, which reminders and SLA breaches would fire; and for
an edited definition, what changes for the agreements in flight.

A pure walk over the parsed definition: nothing is written to the database (the only reads
are today's accounts, when the scenario names no people, and the agreements in flight).

A scenario (YAML or a dict), every key optional:

    start: 2026-01-05            # the day the agreement is created (default: today)
    people: {legal: 1, manager: 2, officer: 1}   # how many people hold each role
    facts: [has_partner, text_agreed, signed_copy, effective_on]   # what the agreement has;
                                 # absent: everything a move needs is assumed present (and listed)
    effective_on: 2026-04-01     # dates of the agreement, for automatic moves and reminders
    expires_on: 2027-03-31
    events:                      # moves in order; a day may be given, else the previous one
      - {take: submit_for_review, day: 2026-01-05}
      - {take: approve_review, day: 2026-01-25, decision: approve}   # or reject
    until: 2027-06-30            # walk automatic moves up to this day (default: the last event)
    agreement: {budget_mad: 12000000, foreign_partner: true, changes_budget: true}   # what approval steps'
                                 # `when:` look at (type: the definition's; default: no budget, no foreign
                                 # partner, no change to a parent's budget)

With no events, the walker follows the main path: from each state the first move that goes
to a state not visited yet, approving every approval.
"""

from __future__ import annotations

import reprlib
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import yaml

from app.core import clock
from app.core.dates import FIRST_DAY, LAST_DAY, within_calendar
from app.core.i18n import gettext as _
from app.core.i18n import isolate, list_of
from app.core.permissions import names_the_owner
from app.core.templating import written_date
from app.workflow import states
from app.workflow.conditions import AgreementFacts, applicable_steps, describe
from app.workflow.definitions import DefinitionError, NoAliasLoader, WorkflowDefinition, load_directory, read_yaml
from app.workflow.engine import step_label
from app.workflow.labels import need_label, workflow_role_label

MAX_STEPS = 60  # moves in a scenario; a loop in the main path stops here too


class ScenarioError(ValueError):
    """The scenario itself is wrong (unknown key, not a date): said in one sentence."""


@dataclass
class Step:
    on: date
    transition: str
    source: str
    target: str | None  # None: blocked, nothing moved
    asked: list[str] = field(default_factory=list)  # who is asked (roles and people, with how many)
    blocked: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)  # what the move needs (assumed present)
    reminders: list[str] = field(default_factory=list)
    sla_breaches: list[str] = field(default_factory=list)
    automatic: bool = False
    children: str | None = None  # what the move does to child agreements


@dataclass
class Impact:
    state: str
    count: int
    change: str
    # The type's label when the agreements are of a type that extends the edited one (they change with it).
    heir: str = ""


@dataclass
class Simulation:
    definition: WorkflowDefinition
    steps: list[Step]
    final_state: str
    reminders: list[str]
    warnings: list[str]
    impacts: list[Impact] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


# --- loading a definition and a scenario ------------------------------------------------------


def load_edited(text: str, workflows_dir: Path, name: str = "edited.yaml") -> WorkflowDefinition:
    """Parse an edited definition (YAML text) among the shipped ones, so `extends:` still works.
    Raises DefinitionError with every problem, those of the edited text reported against `name` (the file
    it came from)."""
    return load_edited_with_heirs(text, workflows_dir, name)[0]


def load_edited_with_heirs(
    text: str, workflows_dir: Path, name: str = "edited.yaml"
) -> tuple[WorkflowDefinition, dict[str, WorkflowDefinition]]:
    """load_edited, and each shipped type that `extends:` the edited one (directly or through another) as it
    would be with the edit: what it does not override, it takes from the edited text."""
    try:
        body = _load_typed(text)
    except (yaml.YAMLError, ValueError, RecursionError) as error:  # RecursionError: nested past the parser
        raise DefinitionError([(name, _("not valid YAML: %(error)s", error=error))]) from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not body["type"]:
        raise DefinitionError([(name, _("must be a mapping with type, states and transitions"))])
    edited_type = body["type"]
    extends: dict[str, str] = {}  # type -> the type it extends, among the shipped ones
    with tempfile.TemporaryDirectory(prefix="sharaka-simulate-") as folder:
        for path in Path(workflows_dir).glob("*.yaml"):
            other = read_yaml(path.read_text(encoding="utf-8"))
            if isinstance(other, dict) and other.get("type") != edited_type:
                (Path(folder) / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
                if isinstance(other.get("type"), str) and isinstance(other.get("extends"), str):
                    extends[other["type"]] = other["extends"]
        # Under a file name of our own: the type, and the name given, are the editor's text, never a path.
        (Path(folder) / _EDITED).write_text(text, encoding="utf-8")
        try:
            loaded = load_directory(Path(folder))
        except DefinitionError as error:
            raise DefinitionError([(name if at == _EDITED else at, said) for at, said in error.problems]) from None
        except (TypeError, AttributeError, ValueError, RecursionError) as error:  # a shape the checks did not foresee
            raise DefinitionError([(name, _("not a definition Sharaka can read: %(error)s", error=error))]) from None
    heirs = {kind: loaded[kind] for kind in loaded if kind != edited_type and _descends(kind, edited_type, extends)}
    return loaded[edited_type], heirs


def _descends(kind: str, ancestor: str, extends: dict[str, str]) -> bool:
    seen = set()
    while kind in extends and kind not in seen:  # a cycle is load_directory's to refuse
        seen.add(kind)
        kind = extends[kind]
        if kind == ancestor:
            return True
    return False


class _TypedTextLoader(NoAliasLoader):
    """YAML typed in a form (a definition or a scenario), aliases refused in the reader's language."""

    def refusal(self) -> str:
        return _("aliases (*name) are not accepted here")

    def duplicate(self, key) -> str:
        return _("“%(key)s” is given twice in the same mapping", key=key)


def _load_typed(text: str):
    return read_yaml(text, _TypedTextLoader)


class _AsTyped(reprlib.Repr):
    """Python's notation for what YAML read, but a day or a moment as it is written in YAML (9999-01-05):
    an admin had been shown datetime.date(9999, 1, 5)."""

    def repr_date(self, value, level) -> str:
        return value.isoformat()

    def repr_datetime(self, value, level) -> str:
        return str(value)


def _quoted(value) -> str:
    """A value quoted in a message: its start, however long the value typed."""
    shortened = _AsTyped()
    shortened.maxstring = shortened.maxother = 40
    shortened.maxlist = shortened.maxdict = 4
    shortened.maxlevel = 2
    return shortened.repr(value)


_EDITED = "~edited.yaml"  # the edited text's file among the shipped ones while it is read (none is named so)
SCENARIO_KEYS = {"start", "people", "facts", "effective_on", "expires_on", "events", "until", "agreement"}


def parse_scenario(text_or_dict) -> dict:
    """Check a scenario's shape; dates become dates. Raises ScenarioError."""
    if text_or_dict in (None, ""):
        return {}
    if isinstance(text_or_dict, str):
        try:
            scenario = _load_typed(text_or_dict) or {}
        except (yaml.YAMLError, ValueError, RecursionError) as error:  # ValueError: a date like 2026-13-01
            raise ScenarioError(_("the scenario is not valid YAML: %(error)s", error=error)) from None
    else:
        scenario = dict(text_or_dict)
    if not isinstance(scenario, dict):
        raise ScenarioError(_("the scenario must be a mapping (start, people, facts, events, …)"))
    unknown = set(scenario) - SCENARIO_KEYS
    if unknown:
        raise ScenarioError(
            _(
                "unknown scenario keys: %(keys)s (known: %(known)s)",
                keys=", ".join(sorted(map(str, unknown))),
                known=", ".join(sorted(SCENARIO_KEYS)),
            )
        )
    for name in ("start", "effective_on", "expires_on", "until"):
        if name in scenario:
            scenario[name] = _date(scenario[name], name)
    people = scenario.get("people")
    if people is not None and (
        not isinstance(people, dict)
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in people.values())
    ):
        raise ScenarioError(_("people: give a number of people per role, e.g. {legal: 1, manager: 2}"))
    facts = scenario.get("facts")
    if facts is not None and (not isinstance(facts, list) or not all(isinstance(f, str) for f in facts)):
        raise ScenarioError(_("facts: give a list of names, e.g. [has_partner, text_agreed, signed_copy]"))
    about = scenario.get("agreement")
    if about is not None:
        budget = about.get("budget_mad", 0) if isinstance(about, dict) else None
        if (
            not isinstance(about, dict)
            or set(about) - {"type", "budget_mad", "foreign_partner", "changes_budget"}
            or not (isinstance(budget, (int, float)) and not isinstance(budget, bool) and budget >= 0)
            or not isinstance(about.get("foreign_partner", False), bool)
            or not isinstance(about.get("changes_budget", False), bool)
        ):
            raise ScenarioError(
                _(
                    "agreement: give budget_mad (an amount), foreign_partner and changes_budget (true or false) "
                    "and optionally type"
                )
            )
    events = scenario.get("events") or []
    if not isinstance(events, list):
        raise ScenarioError(_("events: give a list of moves, e.g. - {take: submit_for_review, day: 2026-01-05}"))
    if len(events) > MAX_STEPS:  # the walk stops there: said, rather than the rest left out without a word
        raise ScenarioError(
            _("events: at most %(most)d moves in one scenario (%(given)d given)", most=MAX_STEPS, given=len(events))
        )
    checked = []
    for number, event in enumerate(events, start=1):
        if isinstance(event, dict):
            # `on:` reads as the boolean true in YAML 1.1; `day:` is the plain spelling.
            event = {("on" if key is True or key == "day" else key): value for key, value in event.items()}
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("take"), str)
            or set(event) - {"take", "on", "decision"}
        ):
            raise ScenarioError(
                _("event #%(n)s: give take (a move), and optionally day (YYYY-MM-DD) and decision", n=number)
            )
        if event.get("decision", "approve") not in ("approve", "reject"):
            raise ScenarioError(_("event #%(n)s: decision must be approve or reject", n=number))
        checked.append({**event, **({"on": _date(event["on"], f"event #{number} day")} if "on" in event else {})})
    scenario["events"] = checked
    return scenario


def _date(value, name: str) -> date:
    try:
        if isinstance(value, datetime):  # YAML reads "2026-01-05 10:00" as a moment: a day has no hour
            raise ValueError(value)
        if not isinstance(value, (date, str)):
            raise ValueError(value)
        day = value if isinstance(value, date) else date.fromisoformat(value)
    except ValueError:
        shown = _quoted(value)
        raise ScenarioError(_("%(name)s: not a date (YYYY-MM-DD): %(value)s", name=name, value=shown)) from None
    # A walk counts days forward and back from its dates: near year 1 or 9999 it would leave the calendar.
    if not within_calendar(day):
        raise ScenarioError(
            _(
                "%(name)s: give a date between %(first)s and %(last)s: %(value)s",
                name=name,
                first=FIRST_DAY.year,
                last=LAST_DAY.year,
                value=_quoted(value),
            )
        )
    return day


def people_today() -> dict[str, int]:
    """How many active accounts hold each role now (when the scenario names nobody)."""
    from sqlalchemy import func, select

    from app.auth.models import User
    from app.extensions import db

    return _read(
        lambda: dict(
            db.session.execute(
                select(User.role, func.count(User.id)).where(User.is_active_account.is_(True)).group_by(User.role)
            ).all()
        )
    )


def _read(query):
    """A read that may meet no database (a definition checked before deploying): None then."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.extensions import db

    try:
        return query()
    except SQLAlchemyError:
        db.session.rollback()
        return None


# --- the walk ----------------------------------------------------------------------------------


def simulate(
    definition: WorkflowDefinition, scenario: dict, *, people: dict[str, int] | None = None, today: date | None = None
) -> Simulation:
    """Walk `definition` through `scenario` (see the module's docstring). Never writes anything."""
    warnings: list[str] = []
    if scenario.get("people") is None and people is None:
        warnings.append(_("nobody counted: give people per role in the scenario"))
    people = scenario.get("people") if scenario.get("people") is not None else (people or {})
    facts = set(scenario["facts"]) if scenario.get("facts") is not None else None
    first_day = next((event["on"] for event in scenario.get("events") or () if event.get("on")), None)
    on = scenario.get("start") or first_day or today or clock.today()
    dates = {"effective_on": scenario.get("effective_on"), "expires_on": scenario.get("expires_on")}
    state, entered = definition.initial_state, on
    steps: list[Step] = []
    events = list(scenario.get("events") or [])
    main_path = not events
    visited = {state}
    for _step in range(MAX_STEPS):
        if main_path:
            transition = _next_on_main_path(definition, state, visited)
            if transition is None:
                break
            event = {"take": transition.name, "decision": "approve"}
        elif events:
            event = events.pop(0)
        else:
            break
        when = event.get("on") or on
        if when < on:
            raise ScenarioError(
                _(
                    "%(move)s: %(day)s is before the previous move (%(previous)s)",
                    move=event["take"],
                    day=_day(when),
                    previous=_day(on),
                )
            )
        state, entered = _automatic_until(definition, state, entered, when, dates, steps)
        on = when
        step = _take(definition, state, entered, event, on, people, facts, dates, _facts(definition, scenario))
        steps.append(step)
        if step.target is None:
            if main_path:
                break
            continue
        state, entered = step.target, on
        visited.add(state)
        if main_path and definition.states[state].kind == "final":
            break
    until = scenario.get("until") or (max(on, dates["expires_on"]) if dates["expires_on"] and not main_path else on)
    state, entered = _automatic_until(definition, state, entered, until, dates, steps)
    reminders = _ending_reminders(definition, dates, until)
    return Simulation(definition=definition, steps=steps, final_state=state, reminders=reminders, warnings=warnings)


def _next_on_main_path(definition, state: str, visited: set[str]):
    """The first move from `state` to a state not visited yet (no send-backs, no automatic)."""
    for transition in definition.transitions_from(state):
        if transition.automatic or transition.target in visited:
            continue
        if definition.states[transition.target].kind == "final" and any(
            definition.states[t.target].kind != "final" and t.target not in visited and not t.automatic
            for t in definition.transitions_from(state)
        ):
            continue  # prefer going on over ending (cancel, terminate)
        return transition
    automatic = [t for t in definition.transitions_from(state) if t.automatic and t.target not in visited]
    return automatic[0] if automatic else None


def _automatic_until(definition, state, entered, until: date, dates: dict, steps: list[Step]):
    """Apply the automatic moves whose date comes by `until` (activation, expiry)."""
    for _round in range(5):
        due = [
            t
            for t in definition.transitions_from(state)
            if t.automatic and dates.get(t.automatic) and t.automatic_day(dates[t.automatic]) <= until
        ]
        if not due:
            break
        transition = due[0]
        day = max(transition.automatic_day(dates[transition.automatic]), entered)
        step = Step(on=day, transition=transition.name, source=state, target=transition.target, automatic=True)
        step.sla_breaches = _sla(definition, state, entered, day, None)
        steps.append(step)
        state, entered = transition.target, day
    return state, entered


def _facts(definition, scenario: dict) -> AgreementFacts:
    about = scenario.get("agreement") or {}
    return AgreementFacts(
        type=str(about.get("type") or definition.type),
        budget_mad=Decimal(str(about.get("budget_mad", 0))),
        foreign_partner=bool(about.get("foreign_partner", False)),
        changes_budget=bool(about.get("changes_budget", False)),
    )


def _take(
    definition, state: str, entered: date, event: dict, on: date, people, facts, dates, agreement_facts: AgreementFacts
) -> Step:
    name = event["take"]
    transition = definition.transition(name)
    step = Step(on=on, transition=name, source=state, target=None)
    if transition is None:
        step.blocked.append(_("no move %(name)s in this workflow", name=name))
        return step
    if state not in transition.sources:
        step.blocked.append(
            _(
                "%(name)s is not possible from %(state)s (only from %(sources)s)",
                name=_move_named(definition, name),
                state=_state_named(definition, state),
                sources=list_of(_state_named(definition, source) for source in transition.sources),
            )
        )
        return step
    rule = definition.children.on_parent.get(name)
    if rule:
        step.children = (
            _("each child agreement that can follow takes the same move")
            if rule == "cascade"
            else _("the person is asked what happens to each child agreement")
        )
    target = definition.states[transition.target]
    needs = [
        need if isinstance(need, str) else (need.get("field") or need.get("document"))
        for _what, need in definition.needs(transition)
    ]
    needs = [n for n in dict.fromkeys(needs) if n not in transition.fields]
    if facts is None:
        step.needs = [need_label(n) for n in needs]
    else:
        step.blocked += [_("needs: %(what)s", what=need_label(n)) for n in needs if n not in facts]
    for field_name in transition.fields:
        if field_name in dates and dates[field_name] is None and field_name in target.required_fields:
            step.needs.append(_("%(field)s (asked by the form)", field=need_label(field_name)))
    if transition.approval is None:
        step.asked = [_role_named(role, people) for role in transition.roles]
        if transition.roles and not any(names_the_owner(role) or people.get(role) for role in transition.roles):
            step.blocked.append(
                _(
                    "nobody holds a role that may take %(name)s (%(roles)s)",
                    name=_move_named(definition, name),
                    roles=list_of(_role_named(role) for role in transition.roles),
                )
            )
        step.sla_breaches = _sla(definition, state, entered, on, None)
        step.reminders = _stalled(definition, state, entered, on)
    else:
        decision = event.get("decision", "approve")
        applying = tuple(applicable_steps(transition.approval, agreement_facts))
        all_steps = transition.approval.steps
        for position, approval_step in enumerate(all_steps, start=1):
            # Named as the agreement's page names it; numbered among the definition's steps, as its page lists them.
            step_name = step_label(transition, position, len(all_steps))
            if approval_step not in applying:
                step.asked.append(
                    _(
                        "%(step)s: not asked (applies only when %(condition)s)",
                        step=step_name,
                        condition=describe(approval_step.when),
                    )
                )
                continue
            if approval_step.when is not None:
                step.asked.append(
                    _(
                        "%(step)s: applies (%(condition)s)",
                        step=step_name,
                        condition=describe(approval_step.when),
                    )
                )
            available = sum(people.get(role, 0) for role in approval_step.roles) + len(approval_step.users)
            approvers = [_role_named(role, people) for role in approval_step.roles]
            approvers += [_role_named(user) for user in approval_step.users]
            required = [_role_named(who) for who in approval_step.required_roles + approval_step.required_users]
            step.asked.append(
                _(
                    "%(step)s: %(approvers)s; quorum %(quorum)s",
                    step=step_name,
                    approvers=list_of(approvers),
                    quorum=approval_step.quorum,
                )
                + (_(", required %(who)s", who=list_of(required)) if required else "")
                + (_(", in order") if approval_step.mode == "sequential" else "")
            )
            if available < approval_step.quorum:
                step.blocked.append(
                    _(
                        "%(step)s: quorum %(quorum)s but only %(available)s people can approve",
                        step=step_name,
                        quorum=approval_step.quorum,
                        available=available,
                    )
                )
            for role in approval_step.required_roles:
                if not people.get(role):
                    step.blocked.append(
                        _("%(step)s: required role %(role)s has nobody", step=step_name, role=_role_named(role))
                    )
            sla = approval_step.sla_days or definition.states[state].sla_days
            if sla:
                waited = (on - entered).days
                escalate = sla * definition.reminders.approval_escalate_after_slas
                if waited > sla:
                    step.reminders.append(
                        _(
                            "%(step)s: overdue reminder to the approvers on %(day)s",
                            step=step_name,
                            day=_day(entered + timedelta(days=sla)),
                        )
                    )
                    step.sla_breaches.append(
                        _("%(step)s: waited %(days)s days, SLA %(sla)s", step=step_name, days=waited, sla=sla)
                    )
                if waited > escalate:
                    step.reminders.append(
                        _(
                            "%(step)s: escalation to the managers on %(day)s",
                            step=step_name,
                            day=_day(entered + timedelta(days=escalate)),
                        )
                    )
        if decision == "reject" and not step.blocked:
            step.target = transition.approval.reject_to
            return step
    if not step.blocked:
        step.target = transition.target
    return step


def _day(value: date) -> str:
    """A day inside a sentence, as the pages write one (the `date` filter)."""
    return written_date(value)


def _role_named(role: str, people: dict | None = None) -> str:
    """A role the definition names, or an approver's address, as the pages name it; with `people`, how many
    hold the role (the agreement's owner is one person: not counted)."""
    named = workflow_role_label(role) or isolate(role)
    if people is None or names_the_owner(role):
        return named
    return f"{named} ({int(people.get(role, 0))})"


def _state_named(definition, name: str) -> str:
    """A state of `definition` as the pages name it (its label in the reader's language); a name the
    definition does not have, as written."""
    state = definition.states.get(name)
    return (states.label(state.label) if state is not None else "") or isolate(name)


def _move_named(definition, name: str) -> str:
    """A move of `definition` as the pages name it; a name the definition does not have, as written."""
    transition = definition.transition(name)
    return (states.label(transition.label) if transition is not None else "") or isolate(name)


def _sla(definition, state: str, entered: date, left: date, step_sla) -> list[str]:
    sla = step_sla or definition.states[state].sla_days
    waited = (left - entered).days
    if sla and waited > sla:
        return [_("%(state)s: %(days)s days, SLA %(sla)s", state=_state_named(definition, state), days=waited, sla=sla)]
    return []


def _stalled(definition, state: str, entered: date, left: date) -> list[str]:
    sla = definition.states[state].sla_days
    if not sla or not definition.reminders.stalled or (left - entered).days <= sla:
        return []
    return [
        _(
            "stalled reminder to the owner on %(day)s (%(state)s)",
            day=_day(entered + timedelta(days=sla)),
            state=_state_named(definition, state),
        )
    ]


def _ending_reminders(definition, dates: dict, until: date) -> list[str]:
    end = dates.get("expires_on")
    if not end:
        return []
    return [
        _(
            "ending in %(days)s days: reminder to the owner and managers on %(day)s",
            days=days,
            day=_day(end - timedelta(days=days)),
        )
        for days in sorted(definition.reminders.ending_days, reverse=True)
        if end - timedelta(days=days) <= until
    ]


# --- what an edited definition changes ------------------------------------------------------------


def compare(current: WorkflowDefinition, edited: WorkflowDefinition) -> list[str]:
    """The differences that matter to agreements: states and moves removed or added, approval steps."""
    changes = []
    for name in current.states:
        if name not in edited.states:
            changes.append(_("state %(name)s removed", name=_state_named(current, name)))
    for name in edited.states:
        if name not in current.states:
            changes.append(_("state %(name)s added", name=_state_named(edited, name)))
    before = {t.name: t for t in current.transitions}
    after = {t.name: t for t in edited.transitions}
    for name in before:
        if name not in after:
            changes.append(_("move %(name)s removed", name=_move_named(current, name)))
    for name, transition in after.items():
        move = _move_named(edited, name)
        sources = list_of(_state_named(edited, source) for source in transition.sources)
        if name not in before:
            changes.append(_("move %(name)s added (from %(sources)s)", name=move, sources=sources))
            continue
        old = before[name]
        if set(transition.sources) != set(old.sources) or transition.target != old.target:
            changes.append(
                _(
                    "move %(name)s now goes from %(sources)s to %(target)s",
                    name=move,
                    sources=sources,
                    target=_state_named(edited, transition.target),
                )
            )
        old_steps = {s.name: s for s in (old.approval.steps if old.approval else ())}
        new_steps = {s.name: s for s in (transition.approval.steps if transition.approval else ())}
        for step_name in new_steps.keys() - old_steps.keys():
            changes.append(_("move %(name)s: approval step %(step)s added", name=move, step=step_name))
        for step_name in old_steps.keys() - new_steps.keys():
            changes.append(_("move %(name)s: approval step %(step)s removed", name=move, step=step_name))
        for step_name in new_steps.keys() & old_steps.keys():
            if new_steps[step_name] != old_steps[step_name]:
                changes.append(_("move %(name)s: approval step %(step)s changed", name=move, step=step_name))
    return changes


def impacts(current: WorkflowDefinition, edited: WorkflowDefinition, counts: dict[str, int]) -> list[Impact]:
    """For the agreements in flight (`counts`: not-final state → how many), what the edit would do
    to them were they moved onto it (they keep their frozen version until then)."""
    found = []
    before = {t.name: t for t in current.transitions}
    after = {t.name: t for t in edited.transitions}
    for state, count in sorted(counts.items()):
        if state not in current.states or current.states[state].kind == "final":
            continue
        named = _state_named(current, state)
        if state not in edited.states:
            found.append(
                Impact(state, count, _("their state %(state)s no longer exists: they would be stranded", state=named))
            )
            continue
        lost = [
            _move_named(current, t.name)
            for t in current.transitions_from(state)
            if t.name not in after or state not in after[t.name].sources
        ]
        if lost:
            found.append(
                Impact(
                    state,
                    count,
                    _("moves no longer offered from %(state)s: %(moves)s", state=named, moves=list_of(lost)),
                )
            )
        gained = [
            _move_named(edited, t.name)
            for t in edited.transitions_from(state)
            if t.name not in before or state not in before[t.name].sources
        ]
        if gained:
            found.append(
                Impact(state, count, _("new moves from %(state)s: %(moves)s", state=named, moves=list_of(gained)))
            )
        for transition in edited.transitions_from(state):
            old = current.transition(transition.name)
            if transition.approval and old and old.approval and transition.approval.steps != old.approval.steps:
                names = [
                    s.name
                    if s.when is None
                    else _("%(step)s (when %(condition)s)", step=s.name, condition=describe(s.when))
                    for s in transition.approval.steps
                ]
                found.append(
                    Impact(
                        state,
                        count,
                        _(
                            "their open approval of %(move)s would ask the steps %(steps)s",
                            move=_move_named(edited, transition.name),
                            steps=", ".join(names),
                        ),
                    )
                )
    return found


def in_flight_counts(workflow_type: str) -> dict[str, int]:
    """How many agreements of this type sit in each state (read-only)."""
    from sqlalchemy import func, select

    from app.agreements.models import Agreement
    from app.extensions import db

    return (
        _read(
            lambda: dict(
                db.session.execute(
                    select(Agreement.state, func.count(Agreement.id))
                    .where(Agreement.type == workflow_type)
                    .group_by(Agreement.state)
                ).all()
            )
        )
        or {}
    )


def run(
    definition: WorkflowDefinition,
    scenario: dict,
    current: WorkflowDefinition | None,
    people: dict[str, int] | None = None,
    counts: dict[str, int] | None = None,
    heirs: list[tuple[WorkflowDefinition, WorkflowDefinition, dict[str, int]]] | None = None,
) -> Simulation:
    """Simulate, and compare with the definition in use when `definition` is an edited copy; `heirs`: for
    each type that extends it, (its definition in use, as the edit makes it, its agreements per state)."""
    result = simulate(definition, scenario, people=people)
    if current is not None and current.checksum != definition.checksum:
        result.changes = compare(current, definition)
        result.impacts = impacts(current, definition, counts or {})
    for heir_current, heir_edited, heir_counts in heirs or ():
        if heir_current.checksum != heir_edited.checksum:
            label = states.label(heir_edited.label)
            result.impacts += [
                replace(impact, heir=label) for impact in impacts(heir_current, heir_edited, heir_counts)
            ]
    return result


def run_in_use(
    definition: WorkflowDefinition,
    scenario: dict,
    in_use: dict[str, WorkflowDefinition],
    heirs: dict[str, WorkflowDefinition] | None = None,
) -> Simulation:
    """`run` for the CLI and the admin page: against the definitions in use (`in_use`, by type), with today's
    accounts when the scenario counts no people, and the agreements in flight of the type and of its heirs
    (load_edited_with_heirs) read from the database."""
    return run(
        definition,
        scenario,
        in_use.get(definition.type),
        people=None if scenario.get("people") is not None else people_today(),
        counts=in_flight_counts(definition.type),
        heirs=heirs_in_flight(heirs or {}, in_use),
    )


def heirs_in_flight(
    heirs: dict[str, WorkflowDefinition], current: dict[str, WorkflowDefinition]
) -> list[tuple[WorkflowDefinition, WorkflowDefinition, dict[str, int]]]:
    """For `run`: each heir of an edited definition (load_edited_with_heirs) in use today, with its agreements."""
    in_use = sorted((kind, edited) for kind, edited in heirs.items() if kind in current)
    return [(current[kind], edited, in_flight_counts(kind)) for kind, edited in in_use]


def render_text(result: Simulation) -> list[str]:
    """The simulation as lines of text (the CLI)."""
    lines = []
    for step in result.steps:
        arrow = f"{step.source} → {step.target}" if step.target else f"{step.source} ✗ blocked"
        lines.append(f"{step.on.isoformat()}  {step.transition}{' (automatic)' if step.automatic else ''}: {arrow}")
        for label, values in (
            ("asked", step.asked),
            ("blocks", step.blocked),
            ("needs", step.needs),
            ("reminder", step.reminders),
            ("SLA breach", step.sla_breaches),
        ):
            for value in values:
                lines.append(f"    {label}: {value}")
        if step.children:
            lines.append(f"    children: {step.children}")
    lines.append(f"ends in state {result.final_state}")
    for warning in result.warnings:
        lines.append(f"warning: {warning}")
    for reminder in result.reminders:
        lines.append(f"reminder: {reminder}")
    for change in result.changes:
        lines.append(f"change: {change}")
    for impact in result.impacts:
        of_type = f" of type {impact.heir} (extends the edited one)" if impact.heir else ""
        lines.append(f"in flight: {impact.count} agreement(s){of_type} in {impact.state}: {impact.change}")
    return lines
