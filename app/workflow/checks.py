"""What `flask workflows check` says beyond the definition itself: steps that today's accounts
could not approve, and required approvers nobody can be. Warnings, not errors: accounts change
without a deployment, and a definition may be checked before the people exist."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from app.core.i18n import gettext as _
from app.core.i18n import list_of
from app.extensions import db
from app.workflow.definitions import ApprovalStep, Transition, WorkflowDefinition
from app.workflow.states import current_definitions, label


def account_warnings(definitions: dict[str, WorkflowDefinition], users=None) -> list[str]:
    """One sentence per step that cannot complete with the active accounts `users` (default: the database's)."""
    return [
        f"{_where(definition, transition, step)}: {said}"
        for definition, transition, step, _lacking, said in _step_problems(definitions.values(), users)
    ]


@dataclass(frozen=True)
class StrandedStep:
    """An approval step the active accounts cannot complete, in the definition it belongs to: the agreements
    that reach it wait there until someone is given its role."""

    definition: WorkflowDefinition
    transition: Transition
    step: ApprovalStep
    # The roles (and named people's addresses) someone must be given: the required ones no active account
    # holds, else every one the step names (too few hold them for its quorum).
    still_needed: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return _where(self.definition, self.transition, self.step)

    @property
    def label(self) -> str:
        """ "mou: approve_review/legal" as a reader knows it: the agreement type, the move, and which of its
        steps when it has several."""
        said = label(self.transition.label) or self.transition.name
        steps = self.transition.approval.steps if self.transition.approval else ()
        if len(steps) > 1:
            number = [step.name for step in steps].index(self.step.name) + 1
            said = _("%(move)s, step %(number)s of %(total)s", move=said, number=number, total=len(steps))
        kind = label(self.definition.label) or self.definition.type
        return _("%(agreement_type)s: %(move)s", agreement_type=kind, move=said)


def active_accounts() -> list:
    """The role and address of every active account: all the checks read of them (one statement)."""
    from app.auth.models import User

    return list(db.session.execute(select(User.role, User.email).where(User.is_active_account.is_(True))))


def stranded_steps(definitions: Iterable[WorkflowDefinition] | None = None, accounts=None) -> list[StrandedStep]:
    """The approval steps of `definitions` (today's by default) that the active `accounts` (default: the
    database's, active_accounts) cannot complete, in the definitions' order."""
    steps: dict[tuple, tuple] = {}
    lacking_in: dict[tuple, list] = {}
    for definition, transition, step, lacking, _said in _step_problems(
        current_definitions().values() if definitions is None else definitions, accounts
    ):
        key = (id(definition), transition.name, step.name)
        steps[key] = (definition, transition, step)
        lacking_in.setdefault(key, []).append(lacking)
    stranded = []
    for key, (definition, transition, step) in steps.items():
        required = tuple(dict.fromkeys(each for each in lacking_in[key] if each is not None))
        stranded.append(StrandedStep(definition, transition, step, required or (*step.roles, *step.users)))
    return stranded


def steps_left_to_nobody(definitions: Iterable[WorkflowDefinition] | None = None, accounts=None) -> list[StrandedStep]:
    """The approval steps of `definitions` (today's by default) at which an agreement may wait on nobody, for the
    dashboard to ask of each round waiting at one (queries.rounds_waiting_on_nobody, the approvals panel's
    rule): those stranded_steps finds, and those whose active holders the four-eyes rules could all keep out
    of a round: the requester, those who decided its earlier steps, those who approved this one already (the
    only manager who asked for the review of an MoU cannot be its head of department). Each with whom to
    give a role: as stranded_steps says, else every role and person the step names."""
    definitions = list(current_definitions().values() if definitions is None else definitions)
    if accounts is None:
        accounts = active_accounts()
    stranded = {
        _key(each.definition, each.transition, each.step): each for each in stranded_steps(definitions, accounts)
    }
    found = []
    for definition in definitions:
        for transition in definition.transitions:
            if transition.approval is None:
                continue
            earlier = 0
            for step in transition.approval.steps:
                key = _key(definition, transition, step)
                # At most this many of its holders are kept out of a round by the four-eyes rules.
                kept_out = int(step.exclude_requester) + earlier + step.quorum - 1
                earlier += step.quorum
                if key in stranded:
                    found.append(stranded[key])
                elif _fewest_holders(step, accounts) <= kept_out:
                    found.append(StrandedStep(definition, transition, step, (*step.roles, *step.users)))
    return found


def _key(definition: WorkflowDefinition, transition: Transition, step: ApprovalStep) -> tuple:
    return (id(definition), transition.name, step.name)


def _fewest_holders(step: ApprovalStep, accounts) -> int:
    """How many active `accounts` hold a place in `step`; in a sequential step, or one keeping its last place
    for a required approver, how many hold the place fewest hold (all of them kept out, nobody may decide)."""

    def holding(roles, users) -> int:
        return sum(1 for account in accounts if account.role in roles or account.email.lower() in users)

    if not (step.mode == "sequential" or step.required_roles or step.required_users):
        return holding(step.roles, step.users)
    return min([holding((role,), ()) for role in step.roles] + [holding((), (user,)) for user in step.users])


def steps_nobody_can_complete() -> set[str]:
    """Today's approval steps ("type: move/step") the active accounts cannot complete (account_warnings)."""
    return {stranded.where for stranded in stranded_steps()}


def approvals_left_to_nobody(before: set[str]) -> str | None:
    """What an admin is told once an account change (a role, an organisation, a deactivation, on the account
    form or the team page alike) leaves approvals nobody can give that somebody could `before`
    (steps_nobody_can_complete then), named as the pages name them; None when it strands nothing. Said
    at once: only `flask workflows check` had known, and the agreements waiting on them stood still."""
    stranded = sorted((step for step in stranded_steps() if step.where not in before), key=lambda step: step.where)
    if not stranded:
        return None
    return _(
        "Now no active account can give these approvals: %(steps)s. Give the role to another account, or the "
        "agreements waiting on them will not move.",
        steps=list_of(step.label for step in stranded),
    )


def _where(definition: WorkflowDefinition, transition: Transition, step: ApprovalStep) -> str:
    return f"{definition.type}: {transition.name}/{step.name}"


def _step_problems(definitions: Iterable[WorkflowDefinition], users) -> list[tuple]:
    """(definition, transition, step, whom it lacks, what is wrong) for each problem the active accounts `users`
    (anything with a role and an email; default: active_accounts) leave a step with. Whom it lacks: the
    required role or address no active account holds, or None for a quorum too few can reach."""
    if users is None:
        users = active_accounts()
    by_role: dict[str, int] = {}
    for user in users:
        by_role[user.role] = by_role.get(user.role, 0) + 1
    emails = {user.email.lower() for user in users}
    problems = []
    for definition in definitions:
        for transition in definition.transitions:
            if transition.approval is None:
                continue
            for step in transition.approval.steps:
                found: list[tuple[str | None, str]] = []
                for role in step.required_roles:
                    if not by_role.get(role):
                        said = f"required role {role!r} has no active account — nobody can give this approval"
                        found.append((role, said))
                for email in step.required_users:
                    if email not in emails:
                        said = f"required approver {email} has no active account — this step can never complete"
                        found.append((email, said))
                people = sum(by_role.get(role, 0) for role in step.roles) + sum(
                    1 for email in step.users if email in emails
                )
                if people < step.quorum:
                    # The requester cannot approve their own request (four-eyes) when the step says so,
                    # but who asks is not known here: the count is of everyone who could.
                    listed = ", ".join((*step.roles, *step.users))
                    said = f"quorum {step.quorum} but only {people} active account(s) can approve ({listed})"
                    found.append((None, said))
                problems += [(definition, transition, step, lacking, said) for lacking, said in found]
    return problems
