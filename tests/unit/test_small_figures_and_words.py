"""Figures, dates and sentences people read every day: a percentage that rounds as they expect, a
notice without an empty line, a month-end renewal that stays at the month's end."""

from decimal import Decimal
from types import SimpleNamespace

import pytest

from app.indicators.services import Progress
from app.notifications import messages


@pytest.mark.parametrize(
    "achieved, target, percent",
    [
        (2, 3, 67),
        (1, 3, 33),
        (185, 300, 62),
        (299, 300, 99),
        (2999, 3000, 99),
        (300, 300, 100),
        (450, 300, 150),
        (0, 300, 0),
        (5, 0, 0),
        (10**9, 1, 999),
    ],
)
def test_a_percentage_rounds_to_the_nearest_but_never_reaches_100_before_the_target(achieved, target, percent):
    # A stand-in (no database here): a per-period target from 0, so no reduction.
    indicator = SimpleNamespace(target=Decimal(target), baseline=Decimal(0), target_scope="period", is_reduction=False)
    progress = Progress(
        indicator=indicator, achieved=Decimal(achieved), periods=1, periods_met=0, latest=Decimal(achieved)
    )
    assert progress.percent == percent


def test_an_approval_without_a_comment_says_no_empty_comment(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        said = messages.detail("approval_decided", {"title": {"en": "Plan"}, "comment": None})
        assert "Comment" not in said and "Plan" in said
        said = messages.detail("approval_decided", {"title": {"en": "Plan"}, "comment": "Fine"})
        assert "Comment: " in said and "Fine" in said


def test_a_month_end_renewal_stays_at_the_month_end():
    from datetime import date

    from app.core.dates import months_later

    day, seen = date(2027, 1, 31), []
    for _ in range(4):
        day = months_later(day, 1)
        seen.append(day)
    assert seen == [date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31)]
    assert months_later(date(2027, 1, 15), 1) == date(2027, 2, 15)
    assert months_later(date(2028, 2, 29), 12) == date(2029, 2, 28) and months_later(date(2027, 2, 28), 12) == date(
        2028, 2, 29
    )
