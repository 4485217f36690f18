"""Budget lines: checked input (exact amounts, ISO 4217 currencies in use today, a party of the
agreement or the ministry), add/change/remove with an audit row, and totals per partner, year
and currency in one SQL query (never adding different currencies together)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import get_currency_precision, get_territory_currencies
from sqlalchemy import case, func, select

from app.agreements.models import Agreement
from app.budget.models import AMOUNT_DECIMALS, KINDS, BudgetLine
from app.core import audit, clock
from app.core.dates import FIRST_DAY, LAST_DAY
from app.core.db import check_seen
from app.core.errors import DomainError, PermissionDenied, ValidationFailed
from app.core.i18n import current_language
from app.core.i18n import gettext as _
from app.core.numbers import AmbiguousNumber, read_decimal
from app.core.permissions import can, visible_agreements_clause
from app.core.text import one_line
from app.extensions import db
from app.organizations.models import Organization
from app.workflow.engine import approval_under_way, refuse_steps_not_asked, state_has
from app.workflow.queries import in_state_tagged

MAX_AMOUNT = Decimal("9999999999999.99")  # Numeric(18, 2) holds up to this, ten thousand billion
# Once signed (out of the states tagged `editable`), the budget changes only through an amendment
# (as every signed term).


@lru_cache(maxsize=1)
def currencies_in_use() -> frozenset[str]:
    """ISO 4217 codes that are legal tender somewhere today (from Babel's CLDR data)."""
    codes: set[str] = set()
    for territory in Locale("en").territories:
        try:
            codes.update(get_territory_currencies(territory, start_date=clock.today(), tender=True))
        except Exception:  # noqa: BLE001 - a territory without currency data adds nothing
            continue
    return frozenset(codes)


@dataclass
class LineData:
    """Plain values from a form or the API."""

    organization_id: int | None
    label: str | None
    amount: object
    currency: str | None = "MAD"
    kind: str | None = "cash"
    year: int | None = None
    period: str | None = None


# An agreement's budget, in lines; an amendment proposes at most as many (its form offers as many rows).
MAX_LINES = 200


def too_many_lines() -> str:
    return _("An agreement's budget has at most %(n)s lines.", n=MAX_LINES)


def clean_line(agreement: Agreement, data: LineData) -> dict:
    """Check one line; return its clean values or raise ValidationFailed naming each wrong field."""
    errors: dict[str, list[str]] = {}
    label = one_line(data.label or "")  # shown inside the app's sentences (totals, an amendment's terms)
    if not label:
        errors["label"] = [_("Say what the money or contribution is for.")]
    elif len(label) > 300:
        errors["label"] = [_("At most %(n)s characters.", n=300)]
    currency = (data.currency or "").strip().upper()
    if currency not in currencies_in_use():
        errors["currency"] = [_("Give a currency's three-letter ISO 4217 code, for example MAD, EUR or USD.")]
    amount = _amount(data.amount, currency, errors)
    if data.kind not in KINDS:
        errors["kind"] = [_("Choose cash or in kind.")]
    if data.year is not None and not (FIRST_DAY.year <= data.year <= LAST_DAY.year):
        errors["year"] = [_("This year is out of range.")]
    period = one_line(data.period or "") or None
    if period and len(period) > 60:
        errors["period"] = [_("At most %(n)s characters.", n=60)]
    party_ids = {p.organization_id for p in agreement.parties}
    organization = db.session.get(Organization, data.organization_id or 0)
    if organization is None or not (organization.is_home or organization.id in party_ids):
        errors["organization_id"] = [_("Choose the ministry or one of the agreement's parties.")]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    return {
        "organization_id": organization.id,
        "label": label,
        "amount": amount,
        "currency": currency,
        "kind": data.kind,
        "year": data.year,
        "period": period,
    }


def _amount(value, currency: str, errors: dict) -> Decimal | None:
    digits = kept_decimals(currency) if currency in currencies_in_use() else AMOUNT_DECIMALS
    try:
        amount = read_decimal(value, most_decimals=digits)  # as indicator values are read: a decimal comma…
    except AmbiguousNumber as error:
        errors["amount"] = [error.message]
        return None
    if amount is None:
        errors["amount"] = [_("Give an amount, for example 250000.00.")]
        return None
    if amount <= 0:
        errors["amount"] = [_("The amount must be more than zero.")]
    elif amount > MAX_AMOUNT:
        errors["amount"] = [_("The amount is too large (at most 9,999,999,999,999.99).")]
    else:
        if amount != amount.quantize(Decimal(1).scaleb(-digits)):
            if digits < get_currency_precision(currency):  # a third decimal of a dinar: refused, never rounded
                errors["amount"] = [_("At most %(n)s decimals: amounts are kept to the hundredth.", n=digits)]
            else:
                errors["amount"] = [_("At most %(n)s decimals for this currency.", n=digits)]
        else:
            return amount.quantize(Decimal(1).scaleb(-AMOUNT_DECIMALS))
    return None


def kept_decimals(currency: str) -> int:
    """Decimals an amount in `currency` is typed, kept and shown with: the currency's own (0 for JPY),
    but never more than the column keeps (2 for the dinars of Tunisia, Kuwait, Bahrain…, which have 3)."""
    return min(get_currency_precision(currency), AMOUNT_DECIMALS)


def edit_refusal(agreement: Agreement, by, *, counting_approval: bool = True) -> DomainError | None:
    """Why `by` may not change the agreement's budget now, or None (`by` None: the app itself, as the
    demo loader and renewals write lines). The budget card offers its buttons only when this is None;
    without `counting_approval`, what an approval under way holds is left out (the card says it)."""
    if by is not None and not can(by, "agreement.edit", agreement):
        return PermissionDenied(_("Only the agreement's owner or a manager changes its budget."))
    if agreement.type == "amendment":
        return ValidationFailed(
            _("An amendment changes its parent's budget: propose the new budget among its changes.")
        )
    if by is not None and not state_has(agreement, "editable"):
        return ValidationFailed(_("Signed terms change only through the workflow or an amendment."))
    if counting_approval and approval_under_way(agreement):
        return ValidationFailed(
            _("The budget is under approval: it changes once the approval is given or the agreement sent back.")
        )
    return None


def _require_edit(agreement: Agreement, by) -> None:
    refusal = edit_refusal(agreement, by)
    if refusal is not None:
        raise refusal


def _refuse_new_steps(agreement: Agreement, by) -> None:
    """A person's change (not the app's own: the demo, a renewal's copy) that makes an approval step apply
    which the agreement's approval never asked is refused (a budget raised past the minister's office's
    10 million MAD after the review approved a smaller one)."""
    if by is not None:  # (the flush of the line made the budget totals be read again: conditions.py)
        refuse_steps_not_asked(agreement)


def _plain(line: BudgetLine) -> dict:
    return {
        "organization_id": line.organization_id,
        "label": line.label,
        "amount": str(line.amount),
        "currency": line.currency,
        "kind": line.kind,
        "year": line.year,
        "period": line.period,
    }


def line_of(agreement: Agreement, line_id: int) -> BudgetLine:
    """One of the agreement's budget lines, for the page and the API alike; 404 for any other id."""
    from flask import abort

    line = db.session.get(BudgetLine, line_id)
    if line is None or line.agreement_id != agreement.id:
        abort(404)
    return line


def add_line(agreement: Agreement, data: LineData, *, by, is_illustrative: bool = False) -> BudgetLine:
    _require_edit(agreement, by)
    values = clean_line(agreement, data)
    if db.session.scalar(select(func.count(BudgetLine.id)).where(BudgetLine.agreement_id == agreement.id)) >= MAX_LINES:
        raise ValidationFailed(too_many_lines())
    line = BudgetLine(
        agreement_id=agreement.id, created_by_id=getattr(by, "id", None), is_illustrative=is_illustrative, **values
    )
    db.session.add(line)
    db.session.flush()
    _refuse_new_steps(agreement, by)
    audit.record("budget_line_added", agreement, actor=by, changes={"after": _plain(line), "line": line.id})
    return line


# What the edit page shows of a line and checks was not changed meanwhile (core.db.check_seen).
FIELDS = ("label", "organization_id", "amount", "currency", "kind", "year", "period")


def update_line(line: BudgetLine, data: LineData, *, by, seen: str | None = None) -> BudgetLine:
    """Change a line in place (its audit row says from what to what). `seen`: what the page's form showed of
    it, refused if someone saved the line since; None (the API) saves the line whole."""
    agreement = db.session.get(Agreement, line.agreement_id)
    _require_edit(agreement, by)
    check_seen(line, FIELDS, seen)
    values = clean_line(agreement, data)
    before = _plain(line)
    for name, value in values.items():
        setattr(line, name, value)
    db.session.flush()
    _refuse_new_steps(agreement, by)
    # The currency too: the diff keeps only what changed, and an amount is read in its currency.
    changes = {**audit.diff(before, _plain(line)), "line": line.id, "currency": line.currency}
    audit.record("budget_line_changed", agreement, actor=by, changes=changes)
    return line


def remove_line(line: BudgetLine, *, by) -> None:
    agreement = db.session.get(Agreement, line.agreement_id)
    _require_edit(agreement, by)
    audit.record("budget_line_removed", agreement, actor=by, changes={"before": _plain(line), "line": line.id})
    db.session.delete(line)
    db.session.flush()


def lines_of(agreement: Agreement) -> list[BudgetLine]:
    return db.session.scalars(
        select(BudgetLine).where(BudgetLine.agreement_id == agreement.id).order_by(BudgetLine.year, BudgetLine.id)
    ).all()


def totals_by_currency(lines) -> list[tuple[str, Decimal]]:
    """One total per currency, never one sum of different currencies."""
    totals: dict[str, Decimal] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, Decimal(0)) + line.amount
    return sorted(totals.items())


# --- the portfolio's totals -------------------------------------------------------------


@dataclass
class TotalRow:
    organization_id: int
    organization: str
    year: int | None
    currency: str
    kind: str
    total: Decimal
    lines: int
    signed: Decimal = Decimal(0)  # the part of `total` in agreements signed (in force or ended since)

    @property
    def preparing(self) -> Decimal:
        """The part still in preparation: agreements not signed yet, whose budget may change."""
        return self.total - self.signed


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    total: Decimal
    signed: Decimal

    @property
    def preparing(self) -> Decimal:
        return self.total - self.signed


def portfolio_totals(user, year: int | None = None) -> list[TotalRow]:
    """Totals per contributing party, year, currency and kind, over the agreements `user` may see, and
    the part of each in signed agreements (a draft's budget is a proposal, not a commitment): one GROUP BY
    query, however large the portfolio."""
    signed = in_state_tagged("after_signing")
    query = (
        select(
            BudgetLine.organization_id,
            Organization.name_fr,
            Organization.name_en,
            Organization.name_ar,
            BudgetLine.year,
            BudgetLine.currency,
            BudgetLine.kind,
            func.sum(BudgetLine.amount),
            func.count(BudgetLine.id),
            func.coalesce(func.sum(case((signed, BudgetLine.amount), else_=0)), 0),
        )
        .join(Agreement, Agreement.id == BudgetLine.agreement_id)
        .join(Organization, Organization.id == BudgetLine.organization_id)
        .where(visible_agreements_clause(user), ~in_state_tagged("abandoned"))
        .group_by(
            BudgetLine.organization_id,
            Organization.name_fr,
            Organization.name_en,
            Organization.name_ar,
            BudgetLine.year,
            BudgetLine.currency,
            BudgetLine.kind,
        )
    )
    if year is not None:
        query = query.where(BudgetLine.year == year)
    language = current_language()
    rows = []
    cents = Decimal("0.01")
    for org_id, name_fr, name_en, name_ar, line_year, currency, kind, total, count, in_signed in db.session.execute(
        query
    ):
        names = {"fr": name_fr, "en": name_en, "ar": name_ar}
        name = names.get(language) or name_fr or name_en or name_ar or ""
        rows.append(
            TotalRow(
                org_id,
                name,
                line_year,
                currency,
                kind,
                Decimal(total).quantize(cents),
                count,
                Decimal(in_signed).quantize(cents),
            )
        )
    rows.sort(key=lambda r: (r.organization.casefold(), r.year or 0, r.currency, r.kind))
    return rows


def currency_totals(rows: list[TotalRow]) -> list[CurrencyTotal]:
    """The portfolio's grand totals, one per currency, with their signed part."""
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for row in rows:
        total, signed = totals.get(row.currency, (Decimal(0), Decimal(0)))
        totals[row.currency] = (total + row.total, signed + row.signed)
    return [CurrencyTotal(currency, total, signed) for currency, (total, signed) in sorted(totals.items())]


def export_table(user, year: int | None = None) -> tuple[list[str], list[list]]:
    rows = portfolio_totals(user, year)
    headings = [
        _("Contributing party"),
        _("Year"),
        _("Currency"),
        _("Cash or in kind"),
        _("Signed"),
        _("In preparation"),
        _("Total"),
        _("Budget lines"),
    ]
    return headings, [
        [r.organization, r.year, r.currency, str(KINDS[r.kind]), r.signed, r.preparing, r.total, r.lines] for r in rows
    ]
