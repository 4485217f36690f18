"""Indicators of a deliverable: defining them, reading achieved values from a hand-in, progress."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select

from app.core import audit
from app.core.db import check_seen
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.numbers import AmbiguousNumber, read_decimal
from app.core.permissions import sees_deliverables_of, visible_agreements_clause, visible_deliverables_clause
from app.core.text import one_line
from app.extensions import db
from app.indicators.models import TARGET_SCOPES, Indicator, IndicatorValue, adds_up
from app.workflow.engine import refuse_if_ended

MAX_INDICATORS = 10
MAX_VALUE = Decimal("1000000000000")  # 10^12 fits Numeric(14, 2)
VALUE_DECIMALS = 2  # Numeric(14, 2)
CENT = Decimal(1).scaleb(-VALUE_DECIMALS)


def parse_number(raw, *, field_name: str, allow_zero: bool = True) -> Decimal:
    """A non-negative number from a form or JSON (comma or point as decimal mark), or a clear error."""
    try:
        value = read_decimal(raw, most_decimals=VALUE_DECIMALS)
    except AmbiguousNumber as error:
        raise ValidationFailed(error.message, {field_name: [error.message]}) from None
    if value is None:
        message = _("Enter a number.")
        raise ValidationFailed(message, {field_name: [message]})
    if value < 0 or (value == 0 and not allow_zero):
        message = _("Enter a number greater than zero.") if not allow_zero else _("Enter a number of zero or more.")
        raise ValidationFailed(message, {field_name: [message]})
    if value >= MAX_VALUE:
        message = _("This number is too large.")
        raise ValidationFailed(message, {field_name: [message]})
    if value != value.quantize(CENT):
        # Stored with two decimals: rounding would change what was typed, past the checks above
        # (0.001 would become a zero target, 999999999999.995 a number too large to store).
        message = _("At most 2 decimals.")
        raise ValidationFailed(message, {field_name: [message]})
    return value.quantize(CENT)


@dataclass
class IndicatorData:
    name_ar: str | None
    name_fr: str | None
    name_en: str | None
    unit: str | None
    baseline: object
    target: object
    target_scope: str


INDICATOR_FIELDS = tuple(field.name for field in dataclasses.fields(IndicatorData))


def _clean(value, limit: int) -> str | None:
    """A name or unit as kept: on one line (text.one_line), at most `limit` characters."""
    return (one_line(str(value or ""))[:limit]) or None


def _validated(data: IndicatorData) -> dict:
    errors: dict[str, list[str]] = {}
    names = {lang: _clean(getattr(data, f"name_{lang}"), 200) for lang in ("ar", "fr", "en")}
    if not any(names.values()):
        errors["name_fr"] = [_("Give the indicator's name in at least one language.")]
    values = {}
    for name, allow_zero in (("baseline", True), ("target", False)):
        try:
            values[name] = parse_number(
                getattr(data, name) if getattr(data, name) not in (None, "") else ("0" if name == "baseline" else ""),
                field_name=name,
                allow_zero=allow_zero,
            )
        except ValidationFailed as error:
            errors.update(error.field_errors)
    if data.target_scope not in TARGET_SCOPES:
        errors["target_scope"] = [_("Choose for the whole term or per period.")]
    if "target" in values and values.get("baseline") == values["target"]:
        # Progress is measured from the baseline to the target (percent_reached): with both the same, there
        # is no way to go. A target below the baseline is a reduction (fewer incidents, shorter delays).
        errors["target"] = [_("The target must differ from the baseline: progress is measured from one to the other.")]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    return {
        **{f"name_{k}": v for k, v in names.items()},
        "unit": _clean(data.unit, 40),
        **values,
        "target_scope": data.target_scope,
    }


def add_indicator(deliverable, data: IndicatorData, *, by, is_illustrative: bool = False) -> Indicator:
    """Add an indicator to a deliverable (at most MAX_INDICATORS)."""
    refuse_if_ended(deliverable.agreement)
    fields = _validated(data)
    existing = list(deliverable.indicators)
    if len(existing) >= MAX_INDICATORS:
        raise ValidationFailed(_("A deliverable carries at most %(n)s indicators.", n=MAX_INDICATORS))
    indicator = Indicator(
        deliverable_id=deliverable.id,
        position=max((i.position for i in existing), default=0) + 1,
        is_illustrative=is_illustrative,
        **fields,
    )
    db.session.add(indicator)
    deliverable.indicators.append(indicator)
    db.session.flush()
    audit.record(
        "indicator_added",
        deliverable.agreement,
        actor=by,
        changes={
            "deliverable": deliverable.title,
            **{k: str(v) if isinstance(v, Decimal) else v for k, v in fields.items()},
        },
    )
    return indicator


def update_indicator(indicator: Indicator, data: IndicatorData, *, by, seen: str | None = None) -> Indicator:
    """Change an indicator (`seen`: as its form showed it)."""
    refuse_if_ended(indicator.deliverable.agreement)
    check_seen(indicator, INDICATOR_FIELDS, seen)
    fields = _validated(data)
    _refuse_another_reading(indicator, fields)
    before = {k: getattr(indicator, k) for k in fields}
    # Compared as numbers (200.00 stored is the 200 typed), written as text.
    changes = audit.diff(before, fields)
    if not changes["after"]:  # saved as it stands: nothing to say in the history
        return indicator
    for key, value in fields.items():
        setattr(indicator, key, value)
    db.session.flush()
    audit.record(
        "indicator_changed",
        indicator.deliverable.agreement,
        actor=by,
        changes={side: {k: _as_text(v) for k, v in values.items()} for side, values in changes.items()},
    )
    return indicator


def _refuse_another_reading(indicator: Indicator, fields: dict) -> None:
    """Values handed in were given as the form asked them, what a period added or the level reached
    (Indicator.adds_up): a change that would read them the other way (another scope, a target crossing the
    baseline) had silently turned "+50 added" into a level of 50. Refused once there are values."""
    if adds_up(fields["target_scope"], fields["baseline"], fields["target"]) == indicator.adds_up:
        return
    if db.session.scalar(select(IndicatorValue.id).where(IndicatorValue.indicator_id == indicator.id).limit(1)):
        message = (
            _(
                "Values were handed in as what each period added: they cannot be read as levels. "
                "Add another indicator instead."
            )
            if indicator.adds_up
            else _(
                "Values were handed in as the level reached: they cannot be added up. Add another indicator instead."
            )
        )
        raise ValidationFailed(message, {"target_scope": [message]})


def _as_text(value):
    return str(value) if isinstance(value, Decimal) else value


def parse_values(deliverable, form) -> dict[int, Decimal]:
    """Achieved values from a hand-in's fields `indicator_<id>`: every indicator needs one (zero allowed).
    Raises before anything is stored."""
    values, errors = {}, {}
    for indicator in deliverable.indicators:
        key = f"indicator_{indicator.id}"
        raw = form.get(key) if hasattr(form, "get") else None
        if raw in (None, ""):
            errors[key] = [_("Enter the value achieved for “%(name)s”.", name=indicator.name)]
            continue
        try:
            values[indicator.id] = parse_number(raw, field_name=key)
        except ValidationFailed as error:
            errors[key] = [f"{indicator.name}: {error.message}"]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    return values


def record_values(submission, values: dict[int, Decimal]) -> None:
    for indicator_id, value in values.items():
        db.session.add(IndicatorValue(indicator_id=indicator_id, submission=submission, value=value))


# --- progress ------------------------------------------------------------------------------


def target_reached(indicator: Indicator, value: Decimal) -> bool:
    """Whether `value` reaches the indicator's target: at or above it, or at or below it for a reduction."""
    if indicator.is_reduction:
        return value <= indicator.target
    return value >= indicator.target


def percent_reached(indicator: Indicator, achieved: Decimal) -> int:
    """The share of the way from the baseline to the target covered by `achieved`, the one figure of
    progress shown on the pages, the chart, the exports and in the API: from 200 to 300 people trained,
    200 is 0 % and 250 is 50 %; from 500 incidents down to 300, 400 is 50 %. Rounded to the nearest (2 of
    3 is 67 %), never 100 % before the target is reached (299 of 300 is 99 %), never below 0 (a value
    that went the wrong way), capped at 999."""
    baseline, target = indicator.baseline or Decimal(0), indicator.target or Decimal(0)
    if target == baseline:  # refused when typed (_validated); an older indicator has no way to go
        return 100 if achieved == target and target > 0 else 0
    share = (achieved - baseline) * 100 / (target - baseline)
    rounded = int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if rounded >= 100 and not target_reached(indicator, achieved):
        rounded = 99
    return max(0, min(999, rounded))


@dataclass
class Progress:
    indicator: Indicator
    # Where the indicator stands, on the scale of its baseline and target (one figure for the table, the
    # chart, the exports and the API): the latest period's value; for a whole-term count, the baseline plus
    # what the periods added (from 200 to 300 trained, 100 reported reaches it). A reduction is a level,
    # never a sum: its latest value. Before anything is reported, the baseline.
    achieved: Decimal
    periods: int  # periods reported
    # Periods whose value reached the per-period target; None for a whole-term target, which no single
    # period is meant to reach (100 trained a quarter towards 400 is on its way, not "off target").
    periods_met: int | None
    latest: Decimal | None
    values: list = field(default_factory=list)  # (due_on, value) in order

    @property
    def percent(self) -> int:
        # Nothing reported is no progress: a reduction read an absent value as 0, below its target (250 %).
        return percent_reached(self.indicator, self.achieved) if self.periods else 0

    @property
    def is_met(self) -> bool:
        return bool(self.periods) and target_reached(self.indicator, self.achieved)


def _counted_values(agreement_ids=None, user=None):
    """(indicator_id, due_on, value) of the latest hand-in of each period, unless it was sent back."""
    from app.agreements.models import Agreement
    from app.deliverables.models import Deliverable, Occurrence, Submission

    latest = (
        select(Submission.occurrence_id, func.max(Submission.number).label("number"))
        .group_by(Submission.occurrence_id)
        .subquery()
    )
    query = (
        select(IndicatorValue.indicator_id, Occurrence.due_on, IndicatorValue.value)
        .join(Submission, Submission.id == IndicatorValue.submission_id)
        .join(latest, (latest.c.occurrence_id == Submission.occurrence_id) & (latest.c.number == Submission.number))
        .join(Occurrence, Occurrence.id == Submission.occurrence_id)
        .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
        .join(Agreement, Agreement.id == Deliverable.agreement_id)
        .where((Submission.decision.is_(None)) | (Submission.decision == "accept"))
        .order_by(Occurrence.due_on)
    )
    if agreement_ids is not None:
        query = query.where(Deliverable.agreement_id.in_(agreement_ids))
    if user is not None:
        query = query.where(visible_agreements_clause(user), visible_deliverables_clause(user))
    return db.session.execute(query).all()


def progress_of(indicators, rows) -> list[Progress]:
    """Each indicator's progress from its counted values (`rows`: indicator id, due date, value, in order)."""
    by_indicator: dict[int, list] = {}
    for indicator_id, due_on, value in rows:
        by_indicator.setdefault(indicator_id, []).append((due_on, value))
    result = []
    for indicator in indicators:
        values = by_indicator.get(indicator.id, [])
        latest = values[-1][1] if values else None
        if indicator.adds_up:
            achieved = (indicator.baseline or Decimal(0)) + sum((v for _d, v in values), Decimal(0))
        else:  # a level: the latest reported, or where it stood before anything was (a reduction had read 0)
            achieved = latest if latest is not None else (indicator.baseline or Decimal(0))
        met = sum(1 for _d, v in values if target_reached(indicator, v)) if indicator.target_scope == "period" else None
        result.append(Progress(indicator, achieved, len(values), met, latest, values))
    return result


def progress_for_agreement(agreement, reader) -> list[Progress]:
    """Every indicator of the agreement's deliverables with its progress (two queries); none for a
    reader who does not see this agreement's deliverables (a restricted partner user)."""
    from app.deliverables.models import Deliverable

    if not sees_deliverables_of(reader, agreement.id):
        return []
    indicators = db.session.scalars(
        select(Indicator)
        .join(Deliverable)
        .where(Deliverable.agreement_id == agreement.id)
        .order_by(Deliverable.id, Indicator.position)
    ).all()
    if not indicators:
        return []
    return progress_of(indicators, _counted_values([agreement.id]))


def portfolio_progress(user) -> list[Progress]:
    """Every indicator on agreements `user` may see, with progress: a fixed number of queries."""
    from sqlalchemy.orm import contains_eager

    from app.agreements.models import Agreement
    from app.deliverables.models import Deliverable

    indicators = db.session.scalars(
        select(Indicator)
        .join(Deliverable, Deliverable.id == Indicator.deliverable_id)
        .join(Agreement, Agreement.id == Deliverable.agreement_id)
        .where(visible_agreements_clause(user), visible_deliverables_clause(user))
        .options(contains_eager(Indicator.deliverable).contains_eager(Deliverable.agreement))
        .order_by(Agreement.reference, Deliverable.id, Indicator.position)
    ).all()
    if not indicators:
        return []
    return progress_of(indicators, _counted_values(user=user))


def submission_values(submission) -> list[tuple[Indicator, Decimal]]:
    return [(v.indicator, v.value) for v in sorted(submission.indicator_values, key=lambda v: v.indicator.position)]


def export_table(progress: list[Progress]) -> tuple[list[str], list[list]]:
    """The portfolio's indicators with their figures, for CSV/XLSX."""
    headings = [
        _("Agreement"),
        _("Deliverable"),
        _("Indicator"),
        _("Unit"),
        _("Baseline"),
        _("Target"),
        _("Target applies"),
        _("Achieved"),
        _("Progress (%)"),
        _("Periods reported"),
        _("Periods meeting the target"),
        _("Illustrative"),
    ]
    rows = [
        [
            row.indicator.deliverable.agreement.reference,
            row.indicator.deliverable.title,
            row.indicator.name,
            row.indicator.unit or "",
            row.indicator.baseline,
            row.indicator.target,
            row.indicator.scope_label,
            row.achieved,
            row.percent,
            row.periods,
            row.periods_met if row.periods_met is not None else "",
            _("yes") if row.indicator.is_illustrative else _("no"),
        ]
        for row in progress
    ]
    return headings, rows
