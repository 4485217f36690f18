"""Conditions on approval steps (`when:` in a workflow definition): a step with a condition is part
of an approval only for the agreements it holds for, e.g. the minister's office when the budget
reaches an amount.

    when: {budget_mad_at_least: 10000000}          # the budget lines (cash and in kind) add up to it in MAD
    when: {foreign_partner: true}                  # a partner organisation's country is not Morocco
    when: {types: [mou, convention]}               # the agreement's type
    when: {changes_budget: true}                   # an amendment that changes its parent's budget
    when: {any: [{budget_mad_at_least: 10000000}, {foreign_partner: true}]}   # either one

Keys side by side must all hold. Lines in other currencies count at the ministry's reference rates, and a
line in a currency without one reaches any threshold (app/budget/reckoning.py). The rule is written twice,
side by side below, once in Python (`holds`, for one agreement) and once in SQL (`clause`, for the inbox
and dashboard queries); tests hold them to the same answers.
`applicable_steps` is the one place that decides which steps of an approval apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property

from app.budget.reckoning import UNRECKONED, in_mad_sql
from app.core.i18n import gettext as _

HOME_COUNTRY = "MA"
CONDITION_KEYS = ("budget_mad_at_least", "foreign_partner", "changes_budget", "types", "any")


@dataclass(frozen=True)
class Condition:
    budget_mad_at_least: Decimal | None = None
    foreign_partner: bool | None = None
    changes_budget: bool | None = None
    types: tuple[str, ...] = ()
    any: tuple["Condition", ...] = ()


@dataclass(frozen=True)
class AgreementFacts:
    """What conditions look at, for one agreement (or a simulator scenario)."""

    type: str
    budget_mad: Decimal = Decimal(0)
    foreign_partner: bool = False
    changes_budget: bool = False


def parse(spec, where: str, known_types, problems: list[str]) -> Condition | None:
    """A `when:` mapping, checked: unknown keys and bad values are listed in `problems`."""
    if not isinstance(spec, dict) or not spec:
        problems.append(f"{where}: when must be a mapping of conditions ({', '.join(CONDITION_KEYS)})")
        return None
    unknown = set(spec) - set(CONDITION_KEYS)
    if unknown:
        problems.append(
            f"{where}: when has unknown keys {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(CONDITION_KEYS)})"
        )
    amount = None
    if "budget_mad_at_least" in spec:
        value = spec["budget_mad_at_least"]
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            amount = Decimal(str(value))
            if not amount.is_finite() or amount < 0 or amount >= UNRECKONED:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            problems.append(
                f"{where}: when budget_mad_at_least must be an amount in MAD from 0 to under {UNRECKONED:,.0f}, "
                f"not {value!r}"
            )
            amount = None
    foreign = spec.get("foreign_partner")
    if "foreign_partner" in spec and not isinstance(foreign, bool):
        problems.append(f"{where}: when foreign_partner must be true or false")
        foreign = None
    changes_budget = spec.get("changes_budget")
    if "changes_budget" in spec and not isinstance(changes_budget, bool):
        problems.append(f"{where}: when changes_budget must be true or false")
        changes_budget = None
    types = spec.get("types", ())
    if isinstance(types, str):
        types = (types,)
    if not isinstance(types, (list, tuple)) or any(t not in known_types for t in types):
        problems.append(f"{where}: when types must list agreement types ({', '.join(known_types)})")
        types = ()
    alternatives = []
    if "any" in spec:
        if not isinstance(spec["any"], list) or len(spec["any"]) < 2:
            problems.append(f"{where}: when any must list at least two conditions")
        else:
            for number, item in enumerate(spec["any"], start=1):
                parsed = parse(item, f"{where} any {number}", known_types, problems)
                if parsed is not None:
                    alternatives.append(parsed)
    return Condition(
        budget_mad_at_least=amount,
        foreign_partner=foreign,
        changes_budget=changes_budget,
        types=tuple(map(str, types)),
        any=tuple(alternatives),
    )


def describe(condition: Condition) -> str:
    """The condition in words, for the simulator and the check."""
    parts = []
    if condition.budget_mad_at_least is not None:
        amount = condition.budget_mad_at_least
        # Centimes only when there are some: "≥ 0.01" (any budget at all) must not read "≥ 0".
        parts.append(_("budget in MAD ≥ %(amount)s", amount=f"{amount:,.2f}" if amount % 1 else f"{amount:,.0f}"))
    if condition.foreign_partner is not None:
        parts.append(_("a foreign partner") if condition.foreign_partner else _("no foreign partner"))
    if condition.changes_budget is not None:
        parts.append(_("the budget changes") if condition.changes_budget else _("the budget stays as it is"))
    if condition.types:
        parts.append(_("type %(types)s", types=" / ".join(condition.types)))
    if condition.any:
        parts.append("(" + _(" or ").join(describe(c) for c in condition.any) + ")")
    return _(" and ").join(parts)


# --- the rule in Python ------------------------------------------------------------------------


def holds(condition: Condition | None, facts: AgreementFacts) -> bool:
    if condition is None:
        return True
    if condition.budget_mad_at_least is not None and facts.budget_mad < condition.budget_mad_at_least:
        return False
    if condition.foreign_partner is not None and facts.foreign_partner != condition.foreign_partner:
        return False
    if condition.changes_budget is not None and facts.changes_budget != condition.changes_budget:
        return False
    if condition.types and facts.type not in condition.types:
        return False
    if condition.any and not any(holds(c, facts) for c in condition.any):
        return False
    return True


def is_foreign(country: str | None) -> bool:
    return bool(country and country.upper() != HOME_COUNTRY)


AMENDMENT = "amendment"


class StoredFacts:
    """The facts of a stored agreement, each read only when a condition asks for it: the MAD budget
    from one per-request table of totals (a page listing many agreements does not ask once for each),
    the partners' countries from its parties.

    An amendment is judged as the larger of the agreement it changes (its parent) and the one it leaves
    behind (the budget and parties it proposes, kept beside its changes: amendments.keep_changes): raising
    a budget past the minister's-office threshold asks that office as a new agreement would, and so does
    any change to an agreement of that size, cutting its budget included (a cut from 12 million to a
    thousand is no smaller a decision than a new title). Likewise a foreign partner on either side counts."""

    def __init__(self, agreement):
        self.agreement = agreement
        self.type = agreement.type

    @cached_property
    def _terms_of(self):
        """Whose budget and parties an amendment that does not change them leaves: its parent's."""
        if self.agreement.type == AMENDMENT and self.agreement.parent is not None:
            return self.agreement.parent
        return self.agreement

    @cached_property
    def budget_mad(self) -> Decimal:
        current = Decimal(0) if self._terms_of.id is None else mad_budget_of(self._terms_of.id)
        if self.agreement.proposed_mad_budget is not None:
            return max(Decimal(self.agreement.proposed_mad_budget), current)
        return current

    @property
    def changes_budget(self) -> bool:
        """An amendment whose budget differs from its parent's: keep_changes keeps a proposed budget (its MAD
        total, proposed_mad_budget) only when its lines are not the parent's. Said of the lines, not the total
        alone: moving a contribution from one party to another is a change the finance controller signs off.
        A title, a date or the parties changed alone leave it out."""
        return (
            self.agreement.type == AMENDMENT
            and self.agreement.parent_id is not None
            and (self.agreement.proposed_mad_budget is not None)
        )

    @cached_property
    def foreign_partner(self) -> bool:
        from app.agreements.models import is_partner_party

        return bool(self.agreement.proposed_foreign_partner) or any(
            is_partner_party(party.role) and is_foreign(party.organization.country) for party in self._terms_of.parties
        )


def facts_of(agreement) -> StoredFacts:
    return StoredFacts(agreement)


# Agreements whose totals one query asks for, at most (an IN list every database takes).
TOTALS_AT_ONCE = 500


def mad_budget_of(agreement_id: int) -> Decimal:
    """An agreement's budget lines added up in MAD (reckoning.in_mad). The first agreement asked brings the
    totals of every agreement loaded in the session with it (the rows of the page, or of a job's step): one query for
    a page, bounded by what it shows, kept for the request and forgotten when budget lines are
    written, and at every commit and rollback."""
    from flask import g, has_app_context
    from sqlalchemy import func, select

    from app.agreements.models import Agreement
    from app.budget.models import BudgetLine
    from app.extensions import db

    totals = g.setdefault("sharaka_mad_budgets", {}) if has_app_context() else {}
    if agreement_id not in totals:
        _forget_on_change()
        loaded = [
            obj.id
            for obj in db.session.identity_map.values()
            if isinstance(obj, Agreement) and obj.id is not None and obj.id not in totals
        ]
        wanted = [agreement_id] + sorted(set(loaded) - {agreement_id})[: TOTALS_AT_ONCE - 1]
        found: dict[int, Decimal] = dict(
            db.session.execute(
                select(BudgetLine.agreement_id, func.sum(in_mad_sql(BudgetLine.amount, BudgetLine.currency)))
                .where(BudgetLine.agreement_id.in_(wanted))
                .group_by(BudgetLine.agreement_id)
            ).all()
        )
        totals.update({number: Decimal(found.get(number) or 0) for number in wanted})
    return totals[agreement_id]


def mad_total_sql(agreement_id):
    """SQL for the budget lines of the agreement `agreement_id` (a column) added up in MAD: mad_budget_of's
    total, for a statement to read beside its agreements (then keep_mad_budgets) or to test."""
    from sqlalchemy import func, select

    from app.budget.models import BudgetLine

    # Correlated to the agreement however deep the statement asks it: auto-correlation reaches the enclosing
    # statement only, and inside the dashboards' statements over the approval rounds the agreements' table had
    # been read again here, every agreement's lines added up against each threshold.
    return (
        select(func.coalesce(func.sum(in_mad_sql(BudgetLine.amount, BudgetLine.currency)), 0))
        .where(BudgetLine.agreement_id == agreement_id)
        .correlate_except(BudgetLine)
        .scalar_subquery()
    )


def keep_mad_budgets(totals: dict[int, Decimal]) -> None:
    """Totals a page read with its agreements (mad_total_sql as columns), kept for the request as
    mad_budget_of keeps those it reads: a page whose rows bring their totals asks for none."""
    from flask import g, has_app_context

    if has_app_context():
        _forget_on_change()
        g.setdefault("sharaka_mad_budgets", {}).update({number: Decimal(total) for number, total in totals.items()})


def _forget_totals(*_args) -> None:
    from flask import g, has_app_context

    if has_app_context():
        g.pop("sharaka_mad_budgets", None)


def _forget_after_flush(session, _context) -> None:
    from app.budget.models import BudgetLine

    if any(isinstance(obj, BudgetLine) for obj in (*session.new, *session.dirty, *session.deleted)):
        _forget_totals()


def _forget_on_change() -> None:
    """Listen (once per process) for what makes the per-request totals stale."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, "after_commit", _forget_totals):
        event.listen(Session, "after_commit", _forget_totals)
        event.listen(Session, "after_rollback", _forget_totals)
        event.listen(Session, "after_soft_rollback", _forget_totals)
        event.listen(Session, "before_flush", lambda session, _c, _i: _forget_after_flush(session, _c))


def applicable_steps(approval, facts):
    """The steps of `approval` that apply to an agreement with these facts (AgreementFacts, or a stored
    agreement's StoredFacts), in order, lazily: the ONE place that decides (engine.applicable_steps)."""
    return (step for step in approval.steps if holds(step.when, facts))


# --- the same rule in SQL ----------------------------------------------------------------------


def clause(condition: Condition | None):
    """SQL that holds for the agreements (`Agreement` in the query) the condition holds for."""
    from sqlalchemy import and_, case, exists, func, not_, or_, true

    from app.agreements.models import Agreement, AgreementParty, is_partner_party
    from app.organizations.models import Organization

    if condition is None:
        return true()

    def terms_of():
        """As StoredFacts._terms_of: an amendment's parent, an agreement's own otherwise."""
        return case(
            (and_(Agreement.type == AMENDMENT, Agreement.parent_id.is_not(None)), Agreement.parent_id),
            else_=Agreement.id,
        )

    def has_foreign_partner(agreement_id):
        return (
            exists()
            .where(
                AgreementParty.agreement_id == agreement_id,
                is_partner_party(AgreementParty.role),
                Organization.id == AgreementParty.organization_id,
                Organization.country.is_not(None),
                Organization.country != "",
                func.upper(Organization.country) != HOME_COUNTRY,
            )
            .correlate_except(AgreementParty, Organization)  # as mad_total_sql: the agreement at any depth
        )

    parts = []
    if condition.budget_mad_at_least is not None:
        # As StoredFacts.budget_mad: the larger of what an amendment proposes and its parent's.
        parts.append(
            or_(
                Agreement.proposed_mad_budget >= condition.budget_mad_at_least,
                mad_total_sql(terms_of()) >= condition.budget_mad_at_least,
            )
        )
    if condition.foreign_partner is not None:
        foreign = or_(Agreement.proposed_foreign_partner.is_(True), has_foreign_partner(terms_of()))
        parts.append(foreign if condition.foreign_partner else not_(foreign))
    if condition.changes_budget is not None:
        # As StoredFacts.changes_budget.
        changes = and_(
            Agreement.type == AMENDMENT, Agreement.parent_id.is_not(None), Agreement.proposed_mad_budget.is_not(None)
        )
        parts.append(changes if condition.changes_budget else not_(changes))
    if condition.types:
        parts.append(Agreement.type.in_(condition.types))
    if condition.any:
        parts.append(or_(*(clause(c) for c in condition.any)))
    return and_(*parts) if parts else true()
