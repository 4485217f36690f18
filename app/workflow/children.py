"""Parent and child agreements: what a parent's move does to its children, as its definition's
`children:` section says (cascade, or ask per child), and what a child may be given as parent.

The engine calls `decisions_needed` before a move (an "ask" move needs one decision per
child) and `follow_parent` inside it (same transaction: the children move with the parent or
not at all). Each child's move writes its own audit row, naming the parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import format_date
from sqlalchemy import select

from app.agreements.models import Agreement
from app.core.audit import AuditEvent
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.extensions import db
from app.workflow.definitions import Transition
from app.workflow.states import definition_for, has_ended, label

KEEP = "keep"


@dataclass
class ChildChoice:
    """One child the person must decide about: the move it would take, or keep it as it is."""

    child: Agreement
    transition: Transition  # the child's own transition of the same name

    @property
    def field_name(self) -> str:
        return f"child_{self.child.id}"


def rule_for(definition, transition_name: str) -> str | None:
    return definition.children.on_parent.get(transition_name)


def _same_move(child, transition_name: str):
    """The child's transition of the same name when the child can take it from where it is."""
    transition = definition_for(child).transition(transition_name)
    if transition is None or child.state not in transition.sources or transition.approval is not None:
        return None
    return transition


def choices(agreement, transition_name: str, definition) -> list[ChildChoice]:
    """The children an "ask" move must decide about (empty for any other move)."""
    if rule_for(definition, transition_name) != "ask":
        return []
    found = []
    for child in agreement.children:
        transition = _same_move(child, transition_name)
        if transition is not None:
            found.append(ChildChoice(child, transition))
    return found


def left_alone(agreement, transition_name: str, definition) -> list:
    """The running children an "ask" move does not ask about, none of which can take the same move from its
    stage (a draft lab convention under a MoU being terminated): named beside the choices, so that nobody
    takes the move to reach them. Amendments aside (they change the parent, they do not run beside it)."""
    if rule_for(definition, transition_name) != "ask":
        return []
    return [
        child
        for child in agreement.children
        if child.type != "amendment" and not has_ended(child) and _same_move(child, transition_name) is None
    ]


def check_decisions(agreement, transition_name: str, definition, decisions: dict | None) -> dict[int, str]:
    """{child id: transition name or "keep"} for an "ask" move; a clear error naming each child left out."""
    wanted = choices(agreement, transition_name, definition)
    decisions = decisions or {}
    checked, errors = {}, {}
    for choice in wanted:
        value = decisions.get(choice.child.id) or decisions.get(str(choice.child.id))
        if value not in (transition_name, KEEP):
            errors[choice.field_name] = [_("Choose what happens to %(ref)s.", ref=choice.child.reference)]
        else:
            checked[choice.child.id] = value
    if errors:
        references = ", ".join(c.child.reference for c in wanted if c.field_name in errors)
        raise ValidationFailed(_("Decide what happens to each child agreement: %(refs)s.", refs=references), errors)
    return checked


def follow_parent(parent, transition_name: str, definition, *, by, comment, decisions: dict[int, str] | None, move):
    """Move the children as the parent's definition says, after the parent moved. `move` is the
    engine's own move (engine._move), which calls this again for the child's children."""
    rule = rule_for(definition, transition_name)
    if rule is None:
        return
    for child in list(parent.children):
        transition = _same_move(child, transition_name)
        if transition is None:
            continue
        if rule == "ask" and (decisions or {}).get(child.id) != transition_name:
            continue
        if rule == "cascade" and transition_name == "resume" and not _suspended_with(child, parent):
            continue  # suspended on its own account: the parent's resumption does not lift that
        move(
            child,
            transition.name,
            transition.target,
            by=by,
            comment=comment,
            definition=definition_for(child),
            with_parent=parent.reference,
        )


def close_rounds_under_ended(parent) -> None:
    """A parent that has ended leaves its children and amendments nothing to approve: they may only be
    cancelled or closed (engine._under_ended_parent). Their open approval rounds close, so no approver is
    reminded, escalated or shown them as waiting or late, and the page no longer counts approvals needed."""
    from app.core.models import utcnow

    if not has_ended(parent):
        return
    for child in parent.children:
        definition = definition_for(child)
        for round_ in child.approval_rounds:
            transition = definition.transition(round_.transition)
            target = definition.states.get(transition.target) if transition is not None else None
            if round_.status == "open" and (target is None or target.kind != "final"):
                round_.status, round_.closed_at = "cancelled", utcnow()


def _suspended_with(child, parent) -> bool:
    """Whether the child's current suspension came from this parent's."""
    last = db.session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "agreements", AuditEvent.object_id == child.id, AuditEvent.action == "transition"
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return last is not None and (last.changes or {}).get("with_parent") == parent.reference


def parent_problems(parent, *, child_type: str | None, expires_on) -> dict[str, list[str]]:
    """Why `parent` cannot take this child (field errors), or {} — a final parent never can;
    an end past the parent's as the parent's definition says (refuse; warn is shown, not refused)."""
    definition = definition_for(parent)
    state = definition.states.get(parent.state)
    errors: dict[str, list[str]] = {}
    if parent.type == "amendment":
        errors["parent_id"] = [
            _(
                "%(ref)s is an amendment: an agreement cannot be placed under it. Choose the agreement it amends.",
                ref=parent.reference,
            )
        ]
    elif child_type == "amendment" and state is not None and "after_signing" not in state.tags:
        errors["parent_id"] = [
            _(
                "%(ref)s is not signed (%(state)s): only a signed agreement is amended; until then, edit it.",
                ref=parent.reference,
                state=_label(state.label),
            )
        ]
    elif state is not None and state.kind == "final":
        errors["parent_id"] = [
            _(
                "%(ref)s has ended (%(state)s): an agreement cannot be placed under it. Choose "
                "another parent, or none.",
                ref=parent.reference,
                state=_label(state.label),
            )
        ]
    elif (
        child_type != "amendment"
        and expires_on
        and parent.expires_on
        and expires_on > parent.expires_on
        and definition.children.end_after_parent == "refuse"
    ):
        errors["expires_on"] = [
            _(
                "The end date cannot be after the end of the parent agreement %(ref)s "
                "(%(date)s): choose an earlier end date, or amend the parent first.",
                ref=parent.reference,
                date=format_date(parent.expires_on),
            )
        ]
    return errors


def takes_amendment(parent) -> bool:
    """Whether `parent` may be amended now, by the rule an amendment's parent is checked by when it is saved
    (parent_problems): the page offers "Amend" only then."""
    return not parent_problems(parent, child_type="amendment", expires_on=None)


def latest_end_under_parent(child) -> date | None:
    """The latest end `child` may have: its parent's end when the parent's definition refuses a child
    ending after it; None when nothing bounds it."""
    parent = child.parent
    if parent is None or child.type == "amendment" or not parent.expires_on:
        return None
    return parent.expires_on if definition_for(parent).children.end_after_parent == "refuse" else None


def children_ending_after(parent, new_end) -> list:
    """The children still running that would end after `new_end`, when the parent's definition refuses
    a child ending after its parent (an amendment moving the parent's end earlier asks)."""
    if definition_for(parent).children.end_after_parent != "refuse":
        return []
    return [
        child
        for child in parent.children
        if child.type != "amendment" and child.expires_on and child.expires_on > new_end and not has_ended(child)
    ]


def end_warning(child) -> str | None:
    """For a child whose parent's definition only warns: the sentence to show when it ends later."""
    parent = child.parent
    if (
        parent is None
        or child.type == "amendment"
        or not child.expires_on
        or not parent.expires_on
        or child.expires_on <= parent.expires_on
    ):
        return None
    return _(
        "This agreement ends after its parent %(ref)s (%(date)s).",
        ref=parent.reference,
        date=format_date(parent.expires_on),
    )


def _label(texts: dict) -> str:
    return label(texts)
