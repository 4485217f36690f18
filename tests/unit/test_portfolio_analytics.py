"""The portfolio's plain functions without HTTP or a database: stage visits, percentiles,
approval step waits, stage columns, the timeline's arithmetic, and the query-string readers."""

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from werkzeug.datastructures import MultiDict

from app.reporting.portfolio import analytics
from app.reporting.portfolio.analytics import RoundRecord, StageEvent, Visit
from app.reporting.portfolio.deadlines import month_grid
from app.reporting.portfolio.filters import FilterChoices, read_filters, read_group, read_month, read_year
from app.reporting.portfolio.stages import in_view, stage_columns
from app.reporting.portfolio.timeline import Bar, agreement_span, axis_bounds, axis_ticks, place

T0 = datetime(2025, 1, 6, 9, tzinfo=timezone.utc)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def created(agreement_id, n, state="draft"):
    return StageEvent(agreement_id, day(n), "created", None, state)


def moved(agreement_id, n, before, after):
    return StageEvent(agreement_id, day(n), "transition", before, after)


@pytest.mark.parametrize(
    "values, fraction, expected",
    [
        ([], 0.5, None),
        ([7], 0.9, 7),
        ([2, 4, 10], 0.5, 4),
        ([2, 4, 10], 0.9, 8.8),
        ([10, 2, 7, 4], 0.5, 5.5),  # unsorted input, even count: halfway
        ([2, 4, 7, 10], 0.9, 9.1),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9, 9.1),
    ],
)
def test_percentile_interpolates_between_closest_ranks(values, fraction, expected):
    result = analytics.percentile(values, fraction)
    assert result == expected if expected is None else round(result, 9) == expected


def test_a_visit_runs_from_entering_a_stage_to_leaving_it():
    visits = analytics.stage_visits(
        [
            created(1, 0),
            moved(1, 3, "draft", "internal_review"),
            moved(1, 5.5, "internal_review", "draft"),
            moved(1, 6, "draft", "internal_review"),
        ]
    )
    assert [(v.state, v.days) for v in visits] == [
        ("draft", 3),
        ("internal_review", 2.5),
        ("draft", 0.5),
        ("internal_review", None),
    ]


def test_events_of_several_agreements_in_any_order():
    visits = analytics.stage_visits(
        [moved(2, 4, "draft", "internal_review"), created(1, 0), created(2, 1), moved(1, 2, "draft", "internal_review")]
    )
    closed = sorted((v.agreement_id, v.days) for v in visits if v.left_at)
    assert closed == [(1, 2), (2, 3)]


def test_a_stay_whose_start_is_unknown_is_not_a_visit():
    # Created in draft, then put in "active" by hand (no move recorded), then suspended.
    visits = analytics.stage_visits([created(1, 0), moved(1, 10, "active", "suspended")])
    assert [(v.state, v.left_at) for v in visits] == [("suspended", None)]


def test_a_creation_row_after_a_backdated_history_does_not_restart_the_stage():
    # Demo data: the history is dated before the row that recorded the creation.
    visits = analytics.stage_visits([created(1, 0), moved(1, 2, "draft", "signed"), created(1, 100, "signed")])
    assert [(v.state, v.entered_at, v.left_at) for v in visits] == [("draft", day(0), day(2)), ("signed", day(2), None)]


def test_durations_leave_out_open_visits_and_filter_by_type_and_year():
    visits = [
        Visit(1, "draft", day(0), day(2)),
        Visit(2, "draft", day(-30), day(-20)),
        Visit(3, "draft", day(0), None),
        Visit(4, "draft", day(1), day(5)),
    ]
    types = {1: "mou", 2: "mou", 3: "mou", 4: "convention"}
    assert analytics.stage_durations(visits, types) == {("mou", "draft"): [2, 10], ("convention", "draft"): [4]}
    assert analytics.stage_durations(visits, types, year=2025, agreement_type="mou") == {("mou", "draft"): [2]}


def test_statistics_follow_the_workflow_order_and_keep_empty_stages():
    stats = analytics.stage_statistics(
        {("mou", "negotiation"): [10, 20], ("mou", "draft"): [1]}, {"mou": ["draft", "internal_review", "negotiation"]}
    )
    assert [(s.state, s.visits, s.median) for s in stats] == [
        ("draft", 1, 1),
        ("internal_review", 0, None),
        ("negotiation", 2, 15),
    ]


def test_each_step_waits_from_the_end_of_the_step_before():
    rounds = [
        RoundRecord("convention", "approve_review", day(0), ("legal", "head"), (("head", day(5)), ("legal", day(2)))),
        RoundRecord("convention", "approve_review", day(10), ("legal", "head"), (("legal", day(14)),)),
        # A later step without its predecessor never started; an unknown step is left out.
        RoundRecord("convention", "approve_review", day(20), ("legal", "head"), (("head", day(21)), ("old", day(22)))),
        RoundRecord("mou", "approve_review", day(0), ("both",), (("both", day(1)), ("both", day(6)))),
    ]
    waits = analytics.step_waits(rounds)
    assert waits == {
        ("convention", "approve_review", "legal"): [2, 4],
        ("convention", "approve_review", "head"): [3],
        ("mou", "approve_review", "both"): [1, 6],
    }
    stats = analytics.step_statistics(waits, {("convention", "approve_review", "head"): 2})
    assert [(s.agreement_type, s.step, s.median, s.position) for s in stats] == [
        ("mou", "both", 3.5, 1),
        ("convention", "legal", 3, 1),
        ("convention", "head", 3, 2),
    ]
    assert analytics.slowest(stats).step == "both" and analytics.slowest([]) is None


# --- stages, timeline, calendar, query strings ---------------------------------------------------


def test_columns_merge_every_lifecycle_in_order_with_finished_stages_last(app):
    from app.workflow.engine import current_definitions

    definitions = current_definitions()
    columns = stage_columns(in_view(definitions, None))
    names = [c.name for c in columns]
    assert names[:7] == ["draft", "internal_review", "negotiation", "signature", "signed", "active", "suspended"]
    assert {c.name for c in columns if c.is_final} == {"expired", "terminated", "closed", "cancelled"}
    # Active is final for amendments only; internal review's SLA differs between types.
    assert next(c for c in columns if c.name == "active").is_final is False
    assert next(c for c in columns if c.name == "internal_review").sla_days is None
    amendment = stage_columns(in_view(definitions, "amendment"))
    assert [c.name for c in amendment if not c.is_final] == ["draft", "internal_review", "signature", "signed"]
    assert next(c for c in amendment if c.name == "internal_review").sla_days == 7


def test_the_axis_spans_whole_years_from_the_first_signature():
    today = date(2026, 11, 23)
    assert axis_bounds([date(2025, 7, 1)], [None, date(2027, 6, 30)], today) == (date(2025, 1, 1), date(2027, 12, 31))
    assert axis_bounds([], [], today) == (date(2026, 1, 1), date(2027, 12, 31))
    assert axis_bounds([date(2025, 7, 1)], [date(2090, 1, 1)], today)[1] == date(2036, 12, 31)  # at most 10 years on
    ticks = axis_ticks(date(2025, 1, 1), date(2026, 12, 31))
    assert [t.label for t in ticks if t.is_year] == ["2025", "2026"] and len(ticks) == 8
    assert len(axis_ticks(date(2020, 1, 1), date(2030, 12, 31))) == 11  # no quarters on a long axis


def test_bars_are_placed_in_percent_and_open_ended_ones_run_to_the_edge():
    start, end = date(2025, 1, 1), date(2026, 12, 31)
    half = place(Bar(None, date(2025, 1, 1), date(2025, 12, 31)), start, end)
    assert half.offset == 0 and 49 < half.size < 51 and not half.runs_on
    open_ended = place(Bar(None, date(2026, 1, 1), None), start, end)
    assert open_ended.runs_on and round(open_ended.offset + open_ended.size, 3) == 100
    beyond = place(Bar(None, date(2026, 1, 1), date(2031, 1, 1)), start, end)
    assert beyond.runs_on
    tiny = place(Bar(None, date(2026, 12, 31), date(2026, 12, 31)), start, end)
    assert tiny.size >= 0.8 and tiny.offset + tiny.size <= 100


def test_an_agreement_terminated_early_ends_the_day_it_was_terminated():
    def agreement(state, expires_on, left):
        return SimpleNamespace(
            signed_on=date(2025, 7, 1),
            effective_on=None,
            expires_on=expires_on,
            state=state,
            state_entered_at=datetime(*left, tzinfo=timezone.utc),
        )

    # Terminated and closed states are tagged ended_early in the definitions; active is not.
    assert agreement_span(agreement("terminated", date(2030, 1, 1), (2026, 3, 1)), ended_early=True) == (
        date(2025, 7, 1),
        date(2026, 3, 1),
    )
    assert agreement_span(agreement("active", None, (2025, 7, 1)), ended_early=False) == (date(2025, 7, 1), None)
    assert agreement_span(agreement("closed", None, (2026, 5, 2)), ended_early=True)[1] == date(2026, 5, 2)


def test_month_grid_starts_on_monday():
    weeks = month_grid(date(2026, 11, 1))
    assert weeks[0][0] == date(2026, 10, 26) and weeks[0][0].weekday() == 0
    assert weeks[-1][-1] == date(2026, 12, 6) and all(len(week) == 7 for week in weeks)


@pytest.mark.parametrize(
    "value, expected, ignored",
    [
        ("2026-11", date(2026, 11, 1), False),
        ("2026-13", date(2026, 11, 1), True),
        ("<script>", date(2026, 11, 1), True),
        ("2026-1", date(2026, 11, 1), True),
        ("99999-01", date(2026, 11, 1), True),
        ("1899-12", date(2026, 11, 1), True),
        (None, date(2026, 11, 1), False),
        ("", date(2026, 11, 1), False),
        ("2027-02", date(2027, 2, 1), False),
    ],
)
def test_read_month(value, expected, ignored):
    assert read_month(value, date(2026, 11, 23)) == (expected, ignored)


def test_read_group_year_and_filters():
    assert read_group("event") == ("event", False) and read_group("x") == ("partner", True)
    assert read_group(None) == ("partner", False)
    assert read_year("2025", [2026, 2025]) == (2025, False)
    assert read_year("99999999999", [2026, 2025]) == (None, True) and read_year("", [2026]) == (None, False)
    choices = FilterChoices(types=[("mou", "MoU")], partners=[(3, "A")], owners=[(7, "O")])
    filters, ignored = read_filters(MultiDict({"type": "mou", "partner": "3", "owner": "7"}), choices)
    assert (filters.type, filters.partner_id, filters.owner_id, ignored) == ("mou", 3, 7, False)
    filters, ignored = read_filters(MultiDict({"type": "zz", "partner": "99999999999", "owner": "abc"}), choices)
    assert (filters.type, filters.partner_id, filters.owner_id, ignored) == (None, None, None, True)
