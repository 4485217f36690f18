"""Figures kept while nothing they are computed from has changed.

Some pages summarise the whole portfolio (stage analytics: percentiles over every stay in a stage and
every approval decision of the years shown). At a government's scale those statements cost more than
the rest of the page together, and they give the same answer until something changes. Every change
writes an audit row, sealed at commit in commit order (app/core/audit.py), so the trail's version
names the data a figure was computed from: a figure kept under the version read before computing it
is never older than the data a later reader at that version sees, the reader's own change included.

Kept per worker process (BoundedCache: least recently used first out), shared by the readers whose
figures are the same, which the caller says in the key (e.g. everyone who sees every agreement).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import current_app

from app.core.audit import request_trail_version
from app.core.bounded import BoundedCache

T = TypeVar("T")

# A few hundred small values (dataclasses of numbers and codes, no ORM objects: they would outlive
# their session); at most a few hundred KB per worker.
_KEPT = BoundedCache(256)


def kept_while_unchanged(key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
    """compute(), or the value it gave for `key` while the audit trail was at its present version.
    `key` names the figure and everything it depends on besides the data (the reader's scope, the
    filters, the day when it counts days). FIGURES_KEPT off: computed every time."""
    if not current_app.config["FIGURES_KEPT"]:
        return compute()
    version = request_trail_version()
    return _KEPT.get((version, *key), compute)


def forget_kept() -> None:
    """Drop every kept figure (tests, after the data was replaced under the same version)."""
    _KEPT.clear()
