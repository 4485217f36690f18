"""One contribution promised by one party to one agreement. Amounts are exact decimals (Numeric),
never floats; different currencies are never added together."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow
from app.extensions import db
from app.organizations.models import Organization

KINDS = {"cash": _l("Cash"), "in_kind": _l("In kind")}
# Decimals an amount keeps. A currency with three (TND, KWD, BHD…) gets no more: an amount typed with
# a third is refused rather than rounded (budget.services), and none is shown (budget.routes.money).
AMOUNT_DECIMALS = 2


class BudgetLine(db.Model):
    __tablename__ = "budget_lines"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("kind IN ('cash','in_kind')", name="kind_known"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        # The portfolio's totals: per partner, year and currency.
        Index("ix_budget_lines_org_year_currency", "organization_id", "year", "currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    label: Mapped[str] = mapped_column(String(300))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, AMOUNT_DECIMALS))
    currency: Mapped[str] = mapped_column(String(3), default="MAD")
    kind: Mapped[str] = mapped_column(String(10), default="cash")
    year: Mapped[int | None] = mapped_column(Integer)
    # Free text for a period that is not one calendar year ("2026-2028", "phase 1").
    period: Mapped[str | None] = mapped_column(String(60))
    is_illustrative: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="joined")

    @property
    def kind_label(self) -> str:
        return str(KINDS.get(self.kind, self.kind))
