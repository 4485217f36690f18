"""A budget reckoned in dirhams, for the approval thresholds alone (`when: {budget_mad_at_least: …}` in a
workflow definition): the minister's office signs off an MoU whose budget reaches 10 million MAD.

Lines in another currency are converted at the ministry's reference rates (BUDGET_RATES_TO_MAD, "EUR=10.80,
USD=9.25": dirhams for one unit). Counting MAD lines alone had let an MoU of 2.5 million euros of a partner's
contribution and 8 million dirhams pass without that office. A line in a currency with no rate cannot be
reckoned, and the threshold is then taken as reached: a budget of unknown size is asked about rather than
waved through (the budget page says which currencies want a rate).

Pages and exports never add currencies together: their totals stay per currency (budget.services). The rule
is written twice, once for a line in Python and once in SQL (the inbox's and dashboard's statements), and
tests hold the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from flask import current_app, has_app_context
from sqlalchemy import Numeric, case, literal

HOME_CURRENCY = "MAD"
# What a line that cannot be reckoned counts for: more than any threshold (a definition's threshold must be
# below it: conditions.py), so any budget holding one reaches it; within Numeric(18, 2), where an amendment
# keeps the total it proposes (total_in_mad stops there).
UNRECKONED = Decimal(10) ** 15


def rates() -> dict[str, Decimal]:
    """Dirhams for one unit of each currency the ministry set a reference rate for (MAD's is 1)."""
    configured = current_app.config.get("BUDGET_RATES_TO_MAD", {}) if has_app_context() else {}
    return {**configured, HOME_CURRENCY: Decimal(1)}


def in_mad(amount: Decimal, currency: str) -> Decimal:
    """One line's amount in dirhams, or UNRECKONED when its currency has no rate."""
    rate = rates().get(currency)
    return UNRECKONED if rate is None else Decimal(amount) * rate


def total_in_mad(lines: Iterable[tuple[Decimal, str]]) -> Decimal:
    """(amount, currency) lines added up in dirhams, at most UNRECKONED."""
    return min(sum((in_mad(amount, currency) for amount, currency in lines), Decimal(0)), UNRECKONED)


def in_mad_sql(amount, currency):
    """SQL for one line's amount in dirhams (in_mad)."""
    known = rates()
    return case(
        *[(currency == code, amount * literal(rate, Numeric())) for code, rate in sorted(known.items())],
        else_=literal(UNRECKONED, Numeric()),
    )


def unreckoned(currencies: Iterable[str]) -> list[str]:
    """The currencies among `currencies` that have no reference rate, in order."""
    known = rates()
    return sorted({currency for currency in currencies if currency not in known})
