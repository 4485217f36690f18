"""Prometheus metrics of the web process (requests by endpoint and status, latency),
with prometheus_client. Figures read from the database (outbox, jobs) are collected at
scrape time by collectors the feature packages hand to `render`.

Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR to an empty folder:
each worker then writes its counters there and a scrape adds them all up.
"""

from __future__ import annotations

import os
import time

from flask import Flask, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from app.core.db import is_run_again

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "sharaka_http_requests",
    "HTTP requests answered, by endpoint, method and status.",
    ["endpoint", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "sharaka_http_request_duration_seconds",
    "Time to answer a request, by endpoint.",
    ["endpoint"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def multiprocess_folder_problem() -> str | None:
    """Why the workers could not write their counters to PROMETHEUS_MULTIPROC_DIR, or None. prometheus_client
    opens its file there at a request's first count: a folder missing or not writable had let gunicorn start,
    then answered 500 to every request, /healthz included."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return None
    if not os.path.isdir(folder):
        return f"PROMETHEUS_MULTIPROC_DIR={folder!r} is not a folder: make it (empty), or unset the variable."
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"PROMETHEUS_MULTIPROC_DIR={folder!r} cannot be written by this account: each worker writes its "
            "counters there."
        )
    return None


def init_request_metrics(app: Flask) -> None:
    @app.before_request
    def _start_clock():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response):
        started = g.pop("metrics_started", None)
        if is_run_again():  # this run's answer is dropped: the request runs again as a writer, counted then
            return response
        # The endpoint's name, never the path: ids in URLs would make a series per object.
        endpoint = request.endpoint or "unmatched"
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        if started is not None:
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response


def render(*collectors) -> tuple[bytes, str]:
    """The exposition text: this process's (or every worker's) metrics plus `collectors`."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Process())
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Process:
    """This process's request metrics, in a registry built per scrape."""

    def collect(self):
        yield from REGISTRY.collect()
