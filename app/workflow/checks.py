"""What `flask workflows check` says beyond the definition itself: steps that today's accounts
could not approve, and required approvers nobody can be. Warnings, not errors: accounts change
without a deployment, and a definition may be checked before the people exist."""

from __future__ import annotations

from sqlalchemy import select

from app.core.i18n import gettext as _
from app.core.i18n import list_of
from app.extensions import db
from app.workflow.definitions import WorkflowDefinition
from app.workflow.states import current_definitions, label


def account_warnings(definitions: dict[str, WorkflowDefinition], users=None) -> list[str]:
    """One sentence per step that cannot complete with the active accounts `users` (default: the database's)."""
    return [f"{where}: {said}" for where, said in _step_problems(definitions, users)]


def steps_nobody_can_complete(definitions: dict[str, WorkflowDefinition] | None = None) -> set[str]:
    """The approval steps ("type: move/step") the active accounts cannot complete (account_warnings);
    today's definitions unless `definitions`."""
    return {where for where, _said in _step_problems(definitions or current_definitions(), None)}


def approvals_left_to_nobody(before: set[str]) -> str | None:
    """What an admin is told once an account change (a role, an organisation, a deactivation, on the account
    form or the team page alike) leaves approvals nobody can give that somebody could `before`
    (steps_nobody_can_complete then), named as the pages name them; None when it strands nothing. Said
    at once: only `flask workflows check` had known, and the agreements waiting on them stood still."""
    definitions = current_definitions()
    stranded = sorted(steps_nobody_can_complete(definitions) - before)
    if not stranded:
        return None
    return _(
        "Now no active account can give these approvals: %(steps)s. Give the role to another account, or the "
        "agreements waiting on them will not move.",
        steps=list_of(_step_label(definitions, where) for where in stranded),
    )


def _step_label(definitions: dict[str, WorkflowDefinition], where: str) -> str:
    """ "mou: approve_review/legal" as a reader knows it: the agreement type, the move, and which of its steps
    when it has several."""
    kind, _colon, rest = where.partition(": ")
    move, _slash, step_name = rest.partition("/")
    definition = definitions.get(kind)
    transition = definition.transition(move) if definition else None
    if definition is None or transition is None or transition.approval is None:
        return where
    said = label(transition.label) or move
    steps = [step.name for step in transition.approval.steps]
    if len(steps) > 1 and step_name in steps:
        number = steps.index(step_name) + 1
        said = _("%(move)s (step %(number)s of %(total)s)", move=said, number=number, total=len(steps))
    return _("%(agreement_type)s: %(move)s", agreement_type=label(definition.label) or kind, move=said)


def _step_problems(definitions: dict[str, WorkflowDefinition], users) -> list[tuple[str, str]]:
    if users is None:
        from app.auth.models import User

        users = list(db.session.scalars(select(User).where(User.is_active_account.is_(True))))
    by_role: dict[str, int] = {}
    for user in users:
        by_role[user.role] = by_role.get(user.role, 0) + 1
    emails = {user.email.lower() for user in users}
    warnings = []
    for definition in definitions.values():
        for transition in definition.transitions:
            if transition.approval is None:
                continue
            for step in transition.approval.steps:
                where = f"{definition.type}: {transition.name}/{step.name}"
                for role in step.required_roles:
                    if not by_role.get(role):
                        warnings.append(
                            (where, f"required role {role!r} has no active account — nobody can give this approval")
                        )
                for email in step.required_users:
                    if email not in emails:
                        warnings.append(
                            (where, f"required approver {email} has no active account — this step can never complete")
                        )
                people = sum(by_role.get(role, 0) for role in step.roles) + sum(
                    1 for email in step.users if email in emails
                )
                if people < step.quorum:
                    # The requester cannot approve their own request (four-eyes) when the step says so,
                    # but who asks is not known here: the count is of everyone who could.
                    warnings.append(
                        (
                            where,
                            f"quorum {step.quorum} but only {people} active account(s) can approve "
                            f"({', '.join((*step.roles, *step.users))})",
                        )
                    )
    return warnings
