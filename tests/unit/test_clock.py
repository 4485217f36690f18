"""The one clock: the ministry's day, whatever the server's own clock says."""

from datetime import date, datetime, timezone

from app.core import clock


def test_today_is_the_ministrys_day_not_the_servers():
    # 23:30 UTC on 15 June is already 00:30 on the 16th in Rabat (UTC+1 outside Ramadan).
    with clock.frozen(datetime(2026, 6, 15, 23, 30, tzinfo=timezone.utc)):
        assert clock.utcnow().date() == date(2026, 6, 15)
        assert clock.today() == date(2026, 6, 16)
        assert clock.now().utcoffset().total_seconds() == 3600


def test_a_frozen_date_is_its_midnight_and_the_clock_runs_again_after():
    with clock.frozen(date(2026, 3, 1)) as moment:
        assert clock.today() == date(2026, 3, 1) and clock.now() == moment
        assert (moment.hour, moment.minute) == (0, 0)
        with clock.frozen(date(2027, 1, 1)):
            assert clock.today() == date(2027, 1, 1)
        assert clock.today() == date(2026, 3, 1)
    assert abs((clock.utcnow() - datetime.now(timezone.utc)).total_seconds()) < 60


def test_days_and_midnights_agree():
    day = date(2026, 6, 16)
    midnight = clock.start_of(day)
    assert clock.day_of(midnight) == day
    assert clock.day_of(midnight.astimezone(timezone.utc).replace(microsecond=0) - (midnight - midnight)) == day
    assert clock.as_ministry_time(datetime(2026, 6, 16, 8, 0)).utcoffset() == midnight.utcoffset()


def test_days_since_counts_the_ministrys_days():
    # 23:00 UTC on 1 June is midnight on the 2nd in Rabat: one day before the 3rd, not two.
    assert clock.days_since(datetime(2026, 6, 1, 23, tzinfo=timezone.utc), date(2026, 6, 3)) == 1
    assert clock.days_since(datetime(2026, 6, 1, 22, tzinfo=timezone.utc), date(2026, 6, 3)) == 2
    assert clock.days_since(datetime(2026, 6, 4, 9, tzinfo=timezone.utc), date(2026, 6, 3)) == 0
    assert clock.days_since(None, date(2026, 6, 3)) is None
    with clock.frozen(datetime(2026, 6, 2, 23, 30, tzinfo=timezone.utc)):  # the 3rd in Rabat
        assert clock.days_since(datetime(2026, 6, 1, 22, tzinfo=timezone.utc)) == 2


def test_the_zone_comes_from_the_pinned_tzdata_package_not_the_systems_copy():
    """tzdata 2026f (requirements.txt) has Morocco back on UTC from 20 September 2026; an older system copy
    keeps +01. The clock follows the package, so pages, "today" and the jobs agree whatever the machine."""
    import tzdata

    assert tzdata.IANA_VERSION >= "2026f"
    zone = clock.zone_named("Africa/Casablanca")
    assert datetime(2026, 6, 15, 12, tzinfo=timezone.utc).astimezone(zone).utcoffset().total_seconds() == 3600
    assert datetime(2026, 12, 4, 23, 30, tzinfo=timezone.utc).astimezone(zone).utcoffset().total_seconds() == 0
    with clock.frozen(datetime(2026, 12, 4, 23, 30, tzinfo=timezone.utc)):
        assert clock.today() == date(2026, 12, 4)


def test_times_shown_are_the_clocks_own(app):
    """A moment written on a page is the clock's wall time: one zone database for both."""
    from app.core.dates import format_moment

    with app.test_request_context(headers={"Accept-Language": "en"}):
        for moment in (
            datetime(2026, 3, 1, 22, 45, tzinfo=timezone.utc),  # Ramadan: UTC
            datetime(2026, 6, 15, 22, 45, tzinfo=timezone.utc),  # +01
            datetime(2026, 12, 4, 22, 45, tzinfo=timezone.utc),  # UTC since 20 September 2026
        ):
            local = clock.as_ministry_time(moment)
            assert f"{local:%H:%M}" in format_moment(moment), (moment, format_moment(moment))
