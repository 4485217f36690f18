"""The daily tick's date-driven moves: the tacit renewals, then the definitions' automatic transitions."""

from __future__ import annotations

from datetime import date

from app.agreements.renewing import renew_tacitly
from app.workflow.engine import run_automatic_transitions


def run_date_transitions(today: date) -> list[tuple[str, str, str]]:
    """Apply tacit renewals and automatic transitions due by `today` (signed → active, active → expired).

    Safe to run twice: an agreement already moved no longer matches. Each agreement moves in its
    own savepoint: one that fails is rolled back alone, reported "failed: <error>", and the others
    still move. Returns (reference, transition, outcome) for each agreement looked at.
    """
    # Tacit renewals first: an agreement renewed on its end date must not expire that day.
    return renew_tacitly(today) + run_automatic_transitions(today)
