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
    back = f"'-' || ({months}) || ' months'"
    same_day = f"date({day}, 'start of month', {back}, '+' || (CAST(strftime('%d', {day}) AS INTEGER) - 1) || ' days')"
    last_day = f"date({day}, 'start of month', {back}, '+1 month', '-1 day')"
    return f"min({same_day}, {last_day})"


@compiles(days_before, "postgresql")
def _days_before_postgresql(element, compiler, **kw):
    day, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST({day} - ({days}) AS DATE)"


@compiles(days_before, "sqlite")
def _days_before_sqlite(element, compiler, **kw):
    day, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"date({day}, '-' || ({days}) || ' days')"
