"""Figures and sentences people read every day: a percentage that rounds as they expect, a notice
without an empty line."""

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
    indicator = SimpleNamespace(target=Decimal(target))
    progress = Progress(indicator=indicator, achieved=Decimal(achieved), periods=1, periods_met=0, latest=None)
    assert progress.percent == percent


def test_an_approval_without_a_comment_says_no_empty_comment(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        said = messages.detail("approval_decided", {"title": {"en": "Plan"}, "comment": None})
        assert "Comment" not in said and "Plan" in said
        said = messages.detail("approval_decided", {"title": {"en": "Plan"}, "comment": "Fine"})
        assert "Comment: " in said and "Fine" in said
