"""Indicators a deliverable reports on, and the values achieved in each hand-in."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.i18n import localized
from app.core.models import TimestampMixin
from app.extensions import db

TARGET_SCOPES = {
    "term": _l("for the whole term"),
    "period": _l("per period"),
}


class Indicator(TimestampMixin, db.Model):
    """A measure a deliverable reports (people trained, models released), with its baseline and target.

    A target "for the term" is compared with the baseline plus the sum of the values of every period:
    each hand-in reports what its period added (`adds_up`), except for a reduction, whose hand-ins
    report the level reached. A target "per period" is compared with each period's own value.
    """

    __tablename__ = "indicators"
    __table_args__ = (
        CheckConstraint("target_scope IN ('term','period')", name="target_scope_known"),
        CheckConstraint("target >= 0", name="target_not_negative"),
        CheckConstraint("baseline >= 0", name="baseline_not_negative"),
        UniqueConstraint("deliverable_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deliverable_id: Mapped[int] = mapped_column(ForeignKey("deliverables.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=1)
    name_ar: Mapped[str | None] = mapped_column(String(200))
    name_fr: Mapped[str | None] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(40))
    baseline: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=0)
    target: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    target_scope: Mapped[str] = mapped_column(String(8), default="term")
    # Figures made up for the demo, not reported by anyone: shown as such.
    is_illustrative: Mapped[bool] = mapped_column(Boolean, default=False)

    deliverable = relationship("Deliverable", backref="indicators")

    @property
    def name(self) -> str:
        return localized(self, "name") or ""

    @property
    def scope_label(self) -> str:
        return str(TARGET_SCOPES.get(self.target_scope, self.target_scope))

    @property
    def is_reduction(self) -> bool:
        """A target under the baseline: fewer incidents, shorter delays."""
        return is_reduction(self.baseline, self.target)

    @property
    def adds_up(self) -> bool:
        """Whether each hand-in reports what its period added (a whole-term count: 100 trained this quarter),
        rather than the level reached (a per-period target, or a reduction). The hand-in form asks it so,
        the hand-in shows it so, and progress adds the periods up (services.progress_of)."""
        return adds_up(self.target_scope, self.baseline, self.target)


def is_reduction(baseline: Decimal | None, target: Decimal | None) -> bool:
    return (target or Decimal(0)) < (baseline or Decimal(0))


def adds_up(target_scope: str, baseline: Decimal | None, target: Decimal | None) -> bool:
    """Indicator.adds_up for values not stored yet (an edit being checked)."""
    return target_scope == "term" and not is_reduction(baseline, target)


class IndicatorValue(db.Model):
    """The value of one indicator achieved in one hand-in."""

    __tablename__ = "indicator_values"
    __table_args__ = (
        UniqueConstraint("indicator_id", "submission_id"),
        CheckConstraint("value >= 0", name="value_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("deliverable_submissions.id", ondelete="CASCADE"), index=True)
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2))

    indicator = relationship("Indicator")
    submission = relationship("Submission", backref="indicator_values")
