"""The daily tick's date-driven moves: the tacit renewals, then the definitions' automatic transitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.agreements.renewing import renew_tacitly
from app.core.db import write_transaction
from app.workflow.engine import run_automatic_transitions


def run_date_transitions(today: date) -> list[tuple[str, str, str]]:
    """Apply tacit renewals and automatic transitions due by `today` (signed → active, active → expired).

    Safe to run twice: an agreement already moved no longer matches. Each agreement moves in its
    own savepoint: one that fails is rolled back alone, reported "failed: <error>", and the others
    still move. Returns (reference, transition, outcome) for each agreement looked at.
    """
    # Tacit renewals first: an agreement renewed on its end date must not expire that day.
    return renew_tacitly(today) + run_automatic_transitions(today)


@dataclass(frozen=True)
class DateMovesRun:
    results: list[tuple[str, str, str]]
    failed: int
    problems: list[dict]

    @property
    def moved(self) -> int:
        return sum(1 for _reference, _transition, outcome in self.results if outcome == "done")


def apply_date_moves(today: date) -> DateMovesRun:
    """The tick as the scheduler and `flask workflows tick` run it: the moves due by `today` and the
    report of those that failed, committed together.

    In a write transaction that waits its turn and is tried again on a lock conflict: two schedulers
    started together (or a tick by hand beside the scheduler) both run it at once, and on SQLite the
    second one's write was refused ("database is locked") instead of finding nothing left to move.
    """
    from app.operations.failures import failures_from_results, report_failures

    def work() -> DateMovesRun:
        results = run_date_transitions(today)
        failures = failures_from_results(results)
        return DateMovesRun(results, len(failures), report_failures("date-transitions", failures))

    return write_transaction(work)
