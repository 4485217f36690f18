"""Everything the agreement page shows about its workflow, computed once per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.core import clock
from app.core.permissions import can, documents_seen_by, may_see_approval_round, may_take_moves
from app.notifications.reminders import waiting_approval
from app.workflow import engine, rules
from app.workflow.asked_again import changes_of, recorded_moves, state_of
from app.workflow.children import ChildChoice, choices, end_warning, left_alone, takes_amendment
from app.workflow.drafts import draft_texts, may_attach_draft_text, reviewed_draft_offered, shows_draft_texts
from app.workflow.services import awaited_parties, latest_round, side_of


@dataclass
class Stage:
    name: str
    label: str
    status: str  # done | current | todo
    tags: tuple[str, ...] = ()


@dataclass
class StepView:
    name: str
    mode: str
    quorum: int
    approvals: list
    count: int
    is_done: bool
    is_current: bool
    approver_labels: list[str]
    missing_roles: list[str]
    # The step waits and no active account may decide it (a role nobody holds any more): the roles to give
    # someone (engine.still_asked_of), said on the page; empty while someone may decide it.
    nobody_to_decide_for: list[str] = field(default_factory=list)


@dataclass
class ApprovalView:
    transition_label: str
    requested_by: object
    requested_at: datetime
    steps: list[StepView]
    round_id: int | None = None  # for "Reassign / delegate" (managers)


@dataclass
class WorkflowPanel:
    definition: object
    state_label: str
    state_kind: str
    stages: list[Stage]
    actions: list
    approvals: list[ApprovalView]
    days_in_state: int | None
    sla_days: int | None
    negotiation_rounds: list = field(default_factory=list)
    user_side: str | None = None
    can_send_version: bool = False
    can_accept_version: bool = False
    is_text_locked: bool = False
    signatories: list = field(default_factory=list)
    # Who must sign (the ministry, each partner party) and the partner signatories who sign for none of them.
    signing_parties: list = field(default_factory=list)
    signs_for_no_party: list = field(default_factory=list)
    can_manage_signatures: bool = False
    # Renewed by itself at its end: (end date, months, notice deadline, whether notice may still be given),
    # else None (renewing.renews_tacitly).
    renews: tuple | None = None
    documents: list = field(default_factory=list)
    # While the ministry drafts and reviews it, to its staff: its draft texts (the last is the one under
    # review, which the approvals name), and whether the reader may attach another (app/workflow/drafts.py).
    shows_draft_texts: bool = False
    draft_texts: list = field(default_factory=list)
    can_attach_draft_text: bool = False
    # The send-version form's other choice before the first version: the latest draft text, as reviewed.
    reviewed_draft: object | None = None
    state_tags: tuple[str, ...] = ()  # what the current state means (definitions.STATE_TAGS)
    end_warning: str | None = None  # a child that ends after its parent (children.end_warning)
    child_choices: dict[str, list[ChildChoice]] = field(default_factory=dict)  # per move that asks per child
    children_left: dict[str, list] = field(default_factory=dict)  # per such move: running children it leaves alone
    waiting_parties: list = field(default_factory=list)  # who has still to accept the latest version
    record_for: list = field(default_factory=list)  # partners whose acceptance the ministry may record
    sent_back: "SentBack | None" = None  # how it came back to this stage, when an approval refused it
    scheduled: list = field(default_factory=list)  # (stage, day, is invented) of moves it takes by itself later
    # "Amend" among the actions: the reader may create agreements and this one may take an amendment now.
    offers_amendment: bool = False

    @property
    def past_stages(self) -> set[str]:
        """Stages the agreement has been through and left: their panels fold away on its page."""
        return {stage.name for stage in self.stages if stage.status == "done"}

    def has_left(self, tag: str) -> bool:
        """Whether the agreement has been through a stage tagged `tag` and left it (negotiating, signing)."""
        return any(stage.status == "done" and tag in stage.tags for stage in self.stages)

    @property
    def is_over_sla(self) -> bool:
        return self.sla_days is not None and self.days_in_state is not None and self.days_in_state > self.sla_days


# An agreement (or a step) waiting more than this many times its deadline is "stuck": flagged on the
# dashboards, not merely late.
STUCK_AFTER_SLA_TIMES = 3


@dataclass
class SentBack:
    """The agreement came to its stage by a refused approval: who sent it back, when, from where, and why."""

    by: str
    at: datetime
    from_label: str
    comment: str | None


def _sent_back(agreement, moves: list, definition, user) -> SentBack | None:
    """Its last move, when that move was an approval's refusal into the stage it is in, for a reader who
    may see that approval's rounds (its comments are theirs)."""
    if not moves or state_of(moves[-1], "after") != agreement.state:
        return None
    last = moves[-1]
    changes = changes_of(last)
    if changes.get("approval") != "rejected":
        return None
    transition = definition.transition(changes.get("transition"))
    if transition is None or not may_see_approval_round(user, agreement, transition.approval):
        return None
    source = definition.states.get(state_of(last, "before") or "")
    return SentBack(
        by=last.actor_name,
        at=last.occurred_at,
        from_label=engine.label(source.label) if source else (state_of(last, "before") or ""),
        comment=last.comment,
    )


def build_panel(agreement, user) -> WorkflowPanel:
    definition = engine.definition_for(agreement)
    state = definition.states.get(agreement.state)
    order = list(definition.states)
    current_index = order.index(agreement.state) if agreement.state in order else -1
    moves = recorded_moves(agreement.id)
    visited = {state for state in (state_of(move, "before") for move in moves) if state}
    stages = []
    for index, name in enumerate(order):
        candidate = definition.states[name]
        if candidate.kind == "final" and name != agreement.state:
            continue
        if candidate.has("detour") and name != agreement.state:
            continue
        # Done means an earlier stage the agreement went through (with no recorded moves, imported data,
        # every earlier stage). A later stage it reached before being sent back is still to come: marked
        # done, it read as passed (an internal review that refused it).
        is_done = index < current_index and (name in visited if visited else True)
        status = "current" if name == agreement.state else ("done" if is_done else "todo")
        stages.append(Stage(name, engine.label(candidate.label), status, candidate.tags))

    approvals = []
    for transition in definition.transitions_from(agreement.state):
        if transition.approval is None:
            continue
        round_ = engine.open_round(agreement, transition.name)
        if round_ is None or not may_see_approval_round(user, agreement, transition.approval):
            continue
        current = engine.current_step(transition, round_, agreement)
        # Who may decide it now, by the rule the requests and reminders are sent by.
        waiting = waiting_approval(round_) if current is not None else None
        steps = []
        for step in engine.applicable_steps(transition, agreement):
            progress = engine.step_status(step, round_)
            steps.append(
                StepView(
                    name=step.name,
                    mode=step.mode,
                    quorum=step.quorum,
                    approvals=progress["approvals"],
                    count=progress["count"],
                    is_done=progress["done"],
                    is_current=step is current,
                    approver_labels=list(step.roles) + list(step.users),
                    missing_roles=progress["missing_roles"],
                    nobody_to_decide_for=(
                        engine.still_asked_of(step, round_)
                        if step is current and waiting is not None and not waiting[4]
                        else []
                    ),
                )
            )
        approvals.append(
            ApprovalView(
                engine.label(transition.label), round_.requested_by, round_.requested_at, steps, round_id=round_.id
            )
        )

    panel = WorkflowPanel(
        definition=definition,
        state_label=engine.label(state.label) if state else agreement.state,
        state_kind=state.kind if state else "working",
        stages=stages,
        actions=engine.actions_for(agreement, user) if may_take_moves(user) else [],
        approvals=approvals,
        days_in_state=clock.days_since(agreement.state_entered_at),
        sla_days=state.sla_days if state else None,
        negotiation_rounds=list(agreement.negotiation_rounds),
        is_text_locked=agreement.agreed_round_id is not None,
        signatories=list(agreement.signatories),
        signing_parties=rules.signing_parties(agreement),
        signs_for_no_party=rules.signs_for_no_party(agreement),
        documents=documents_seen_by(user, agreement),
        state_tags=state.tags if state else (),
    )
    panel.shows_draft_texts = shows_draft_texts(user, agreement)
    panel.draft_texts = draft_texts(agreement) if panel.shows_draft_texts else []
    panel.can_attach_draft_text = may_attach_draft_text(user, agreement)
    panel.end_warning = end_warning(agreement) if agreement.parent_id else None
    panel.offers_amendment = can(user, "agreement.create") and takes_amendment(agreement)
    panel.sent_back = _sent_back(agreement, moves, definition, user)
    from app.agreements.renewals import renews_tacitly

    today = clock.today()
    renews = renews_tacitly(agreement)
    panel.scheduled = [
        # (stage, day, whether the demo data invented the date it follows)
        (engine.label(definition.states[transition.target].label), on, agreement.is_invented(transition.automatic))
        for transition in definition.transitions_from(agreement.state)
        if (on := engine.scheduled_on(agreement, transition, today)) is not None
        # Renewed by itself at its end date, it does not move on the day after: the renewal is said instead.
        and not (renews and transition.automatic == "expires_on")
    ]
    deadline = agreement.notice_deadline
    panel.renews = (
        (agreement.expires_on, agreement.renewal_months, deadline, deadline is not None and deadline >= today)
        if renews
        else None
    )

    # Moves that ask what happens to each child agreement (e.g. terminate a MoU with a lab under it).
    asking = [option for option in panel.actions if option.is_allowed and not option.is_approval]
    panel.child_choices = {option.name: choices(agreement, option.name, definition) for option in asking}
    panel.children_left = {option.name: left_alone(agreement, option.name, definition) for option in asking}
    side = side_of(user, agreement)
    panel.user_side = side
    # Every party still to answer (the ministry, each partner party): shown to every reader of the page.
    panel.waiting_parties = awaited_parties(agreement)
    if panel.waiting_parties and side is not None:
        last = latest_round(agreement)
        own_waiting = any(
            o.is_home if side == "ministry" else o.id == user.organization_id for o in panel.waiting_parties
        )
        panel.can_send_version = own_waiting or side == "ministry"  # before the first version: the ministry
        panel.reviewed_draft = reviewed_draft_offered(user, agreement, side=side, first=last is None)
        panel.can_accept_version = last is not None and own_waiting
        panel.record_for = [o for o in panel.waiting_parties if not o.is_home] if side == "ministry" else []
    panel.can_manage_signatures = state is not None and state.has("signing") and side == "ministry"
    return panel
