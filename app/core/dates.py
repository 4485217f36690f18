"""Dates, times and sizes as people read them: one formatting for each, used by pages and mail alike."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from babel.dates import format_date, format_skeleton
from dateutil.relativedelta import relativedelta
from flask_babel import format_decimal

from app.core import clock
from app.core.i18n import gettext as _
from app.core.i18n import locale_named, ngettext, reader_locale

# The days a date Sharaka keeps may fall on (agreements, amendments, deliverables, budget years, simulations):
# from 1956, the kingdom's independence, to 2200. Wide enough for any agreement; narrow enough that adding a
# term of years or counting days from one never leaves Python's calendar (a renewal of a plan "until 9999"
# did).
FIRST_DAY, LAST_DAY = date(1956, 1, 1), date(2200, 12, 31)


def first_of_month_in_french(written: str, day: date, language: str) -> str:
    """French writes the first day of a month as an ordinal ("1er juillet 2027"); CLDR's patterns give
    "1 juillet 2027" and "1 juil. 2027". Other days and languages are as written."""
    if day.day != 1 or not language.startswith("fr"):
        return written
    return re.sub(r"(?<![0-9])1(?= )", "1er", written, count=1)


def months_later(day: date, months: int) -> date:
    """`day` moved on by `months`; an end on the last day of its month stays on the last day of a month
    (31 January, then 28 February, then 31 March: not the 28th for ever after the first February). A
    renewal's term (app/agreements/renewing.py); its SQL twin is core/sql_dates.months_later."""
    moved = day + relativedelta(months=months)
    if (day + timedelta(days=1)).day == 1:
        moved += relativedelta(day=31)  # relativedelta's day=31: the month's last day
    return moved


def within_calendar(day: date) -> bool:
    """Whether `day` is one Sharaka keeps (FIRST_DAY to LAST_DAY); outside, the form or API says
    "This date is out of range."."""
    return FIRST_DAY <= day <= LAST_DAY


def format_moment(value: datetime | None) -> str:
    """Day, month and year (the language's medium date) and hours:minutes on a 24-hour clock, joined the
    language's way, in the ministry's time zone: never seconds, never ISO, never "12/1/26"."""
    if value is None:
        return ""
    locale = reader_locale() or locale_named("fr")  # outside an app: as current_language()
    local = clock.as_ministry_time(value if value.tzinfo else value.replace(tzinfo=timezone.utc))  # naive: UTC
    day = format_date(local, "medium", locale=locale)
    time_of_day = format_skeleton("Hm", local, locale=locale)
    return str(locale.datetime_formats["medium"]).replace("{1}", day).replace("{0}", time_of_day)


def format_file_size(size: int | None) -> str:
    """Bytes, kilobytes, megabytes or gigabytes (powers of 1,000), the number in the reader's locale:
    "607 octets", "1,2 Mo", "607 بايت"."""
    size = int(size or 0)
    if size < 1000:
        return ngettext("%(num)s byte", "%(num)s bytes", size)
    value = size / 1000
    if round(value, 1) < 1000:
        return _("%(amount)s kB", amount=format_decimal(value, format="#,##0.#"))
    value /= 1000
    if round(value, 1) < 1000:
        return _("%(amount)s MB", amount=format_decimal(value, format="#,##0.#"))
    return _("%(amount)s GB", amount=format_decimal(value / 1000, format="#,##0.#"))
