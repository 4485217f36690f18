"""Calendar arithmetic on date columns, written for each database the app runs on.

`months_before(day, n)` is dateutil's `day - relativedelta(months=n)`: the same day of the month n
months earlier, or that month's last day when it is shorter (31 March less one month is 28 or 29
February). PostgreSQL's `date - interval` already works so; SQLite's `date(day, '-n months')` would
roll 31 March back to 3 March, so its form takes the earlier of "that day number" and "that month's
last day". `days_before(day, n)` is `day - timedelta(days=n)`.
"""

from __future__ import annotations

from sqlalchemy import Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class months_before(FunctionElement):
    type = Date()
    inherit_cache = True
    name = "months_before"


class days_before(FunctionElement):
    type = Date()
    inherit_cache = True
    name = "days_before"


@compiles(months_before, "postgresql")
def _months_before_postgresql(element, compiler, **kw):
    day, months = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST({day} - make_interval(months => {months}) AS DATE)"


@compiles(months_before, "sqlite")
def _months_before_sqlite(element, compiler, **kw):
    day, months = (compiler.process(clause, **kw) for clause in element.clauses)
    same_day, last_day = _sqlite_day_and_last_day(day, f"'-' || ({months}) || ' months'")
    return f"min({same_day}, {last_day})"


def _sqlite_day_and_last_day(day: str, shift: str) -> tuple[str, str]:
    """SQLite: the month `shift` ('+n months', '-n months') away from `day`'s, as (its day of `day`'s number,
    which may overflow into the next month, and its last day)."""
    same_day = f"date({day}, 'start of month', {shift}, '+' || (CAST(strftime('%d', {day}) AS INTEGER) - 1) || ' days')"
    return same_day, f"date({day}, 'start of month', {shift}, '+1 month', '-1 day')"


@compiles(days_before, "postgresql")
def _days_before_postgresql(element, compiler, **kw):
    day, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST({day} - ({days}) AS DATE)"


@compiles(days_before, "sqlite")
def _days_before_sqlite(element, compiler, **kw):
    day, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"date({day}, '-' || ({days}) || ' days')"


class months_later(FunctionElement):
    """`day` moved on by `months` as core.dates.months_later moves it: the same day of the
    month, or that month's last day when it is shorter, and a day that ends its month ends the later
    month too (31 January, 28 February, 31 March)."""

    type = Date()
    inherit_cache = True
    name = "months_later"


@compiles(months_later, "postgresql")
def _months_later_postgresql(element, compiler, **kw):
    day, months = (compiler.process(clause, **kw) for clause in element.clauses)
    last_day = f"CAST(date_trunc('month', {day} + make_interval(months => ({months}) + 1)) - interval '1 day' AS DATE)"
    same_day = f"CAST({day} + make_interval(months => {months}) AS DATE)"
    return f"(CASE WHEN EXTRACT(DAY FROM {day} + 1) = 1 THEN {last_day} ELSE {same_day} END)"


@compiles(months_later, "sqlite")
def _months_later_sqlite(element, compiler, **kw):
    day, months = (compiler.process(clause, **kw) for clause in element.clauses)
    same_day, last_day = _sqlite_day_and_last_day(day, f"'+' || ({months}) || ' months'")
    ends_its_month = f"strftime('%d', date({day}, '+1 day')) = '01'"
    return f"(CASE WHEN {ends_its_month} THEN {last_day} ELSE min({same_day}, {last_day}) END)"
