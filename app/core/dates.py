"""Dates and times as people read them: one formatting for a moment, used by pages and mail alike."""
from __future__ import annotations

from datetime import datetime

from babel.dates import format_date, format_skeleton
from flask_babel import get_locale, to_user_timezone


def format_moment(value: datetime | None) -> str:
    """Day, month and year (the language's medium date) and hours:minutes on a 24-hour clock, joined the
    language's way, in the ministry's time zone: never seconds, never ISO, never "12/1/26"."""
    if value is None:
        return ""
    locale = get_locale()
    local = to_user_timezone(value)
    day = format_date(local, "medium", locale=locale)
    time_of_day = format_skeleton("Hm", local, locale=locale)
    return str(locale.datetime_formats["medium"]).replace("{1}", day).replace("{0}", time_of_day)
