"""Figures kept while nothing they are computed from has changed.

Some pages summarise the whole portfolio (stage analytics: percentiles over every stay in a stage and
every approval decision of the years shown). At a government's scale those statements cost more than
the rest of the page together, and they give the same answer until something changes. Every change
writes an audit row, sealed at commit in commit order (app/core/audit.py), so the trail's version
names the data a figure was computed from: a figure kept under the version read before computing it
is never older than the data a later reader at that version sees, the reader's own change included.

Kept in the store every worker of the machine reads (app/core/machine_store.py, under the code and
settings that computed them), so a figure is computed once per change on a server, not once in each
of its workers; shared by the readers whose figures are the same, which the caller says in the key
(e.g. everyone who sees every agreement).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from flask import current_app

from app.core import machine_store
from app.core.audit import request_trail_version

T = TypeVar("T")

# Figures are named by the trail's version, so they are never stale; this only lets a quiet server's go.
KEPT_SECONDS = 3600
_MISSING = object()


def kept_while_unchanged(key: tuple, compute: Callable[[], T]) -> T:
    """compute(), or the value it gave for `key` while the audit trail was at its present version.
    `key` names the figure and everything it depends on besides the data (the reader's scope, the
    filters, the day when it counts days), in plain values (texts, numbers, dates, tuples of them): it
    is written out to name the figure in every worker alike. The value is pickled: numbers, codes and
    dataclasses of them, no ORM objects (they belong to a session). FIGURES_KEPT off: computed every time."""
    if not current_app.config["FIGURES_KEPT"]:
        return compute()
    if not machine_store.plain(key):  # its text would differ between workers: never found again
        raise TypeError(f"a kept figure's key must be plain values: {key!r}")
    named = repr((machine_store.drawn_with(current_app), request_trail_version(), *key))
    name = "figure:" + hashlib.sha256(named.encode()).hexdigest()
    value = machine_store.find(name, _MISSING)
    if value is _MISSING:
        value = compute()
        machine_store.keep(name, value, KEPT_SECONDS)
    return value
