"""The one clock: what "now" and "today" are, in the ministry's time zone.

Stored times are UTC; days (due dates, deadlines, "today") are the ministry's days. Pages, the API,
jobs, e-mails and feeds all ask this module, so "today" is the same everywhere, including around
midnight on a server whose own clock runs in UTC. Tests freeze it with `frozen(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timezone
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Africa/Casablanca"

_frozen_at: datetime | None = None


@lru_cache(maxsize=8)
def zone_named(name: str) -> ZoneInfo:
    """The zone `name` as the tzdata package pinned in requirements.txt has it, whatever copy the operating
    system holds: one database, of a known release, for every time the app computes and shows. (zoneinfo
    prefers the system's files, which may be older: Debian's 2025 data and tzdata 2026 disagree by an hour
    on Casablanca since September 2026, and pages, "today" and the jobs then told different times.) A name
    the package lacks is looked up as zoneinfo does; a malformed one raises ValueError."""
    ZoneInfo(name)  # zoneinfo's own check of the name (no "..", no absolute path), before it is a path
    try:
        with resources.files("tzdata").joinpath("zoneinfo", *name.split("/")).open("rb") as data:
            return ZoneInfo.from_file(data, key=name)
    except (ModuleNotFoundError, OSError):
        return ZoneInfo(name)


def ministry_zone() -> ZoneInfo:
    """MINISTRY_TIMEZONE of the running app (Africa/Casablanca outside one)."""
    from flask import current_app, has_app_context

    name = current_app.config.get("MINISTRY_TIMEZONE") if has_app_context() else None
    return zone_named(name or DEFAULT_TIMEZONE)


def utcnow() -> datetime:
    """This instant, aware, in UTC (how every timestamp is stored)."""
    return _frozen_at if _frozen_at is not None else datetime.now(timezone.utc)


def now() -> datetime:
    """This instant, aware, on the ministry's wall clock."""
    return utcnow().astimezone(ministry_zone())


def today() -> date:
    """The ministry's calendar day now."""
    return now().date()


def day_of(moment: datetime) -> date:
    """The ministry's calendar day at `moment` (an aware datetime)."""
    return moment.astimezone(ministry_zone()).date()


def days_since(moment: datetime | None, today: date | None = None) -> int | None:
    """Whole ministry days from `moment`'s day to `today` (this day when not given): what "N days in
    this stage" means on every page, list and e-mail. None when there is no moment."""
    if moment is None:
        return None
    return max(0, ((today or now().date()) - day_of(moment)).days)


def start_of(day: date) -> datetime:
    """Midnight at the start of `day` on the ministry's wall clock."""
    return datetime.combine(day, time.min, tzinfo=ministry_zone())


def as_ministry_time(moment: datetime) -> datetime:
    """`moment` read on the ministry's wall clock; a naive value is taken as already being so."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=ministry_zone())
    return moment.astimezone(ministry_zone())


@contextmanager
def frozen(at: datetime | date) -> Iterator[datetime]:
    """Stop the clock at `at` (a date means its midnight, ministry time) until the block ends."""
    global _frozen_at
    moment = start_of(at) if not isinstance(at, datetime) else as_ministry_time(at)
    previous, _frozen_at = _frozen_at, moment.astimezone(timezone.utc)
    try:
        yield moment
    finally:
        _frozen_at = previous
