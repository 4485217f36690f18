"""Logging: a request id on every request (X-Request-ID, echoed back) and, with
LOG_FORMAT=json, one JSON object per line carrying it, for log collectors."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, g, has_request_context, request

from app.core.db import is_run_again

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
log = logging.getLogger("sharaka.request")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(logging.Formatter):
    FIELDS = ("method", "path", "status", "duration_ms", "endpoint", "remote_addr")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        entry.update({key: getattr(record, key) for key in self.FIELDS if hasattr(record, key)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Send every logger's records to stderr as text or JSON (processes we start: web, scheduler)."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler says at INFO that each job ran, every few seconds for the exports and outbox jobs: two
    # lines a run that say nothing the jobs page does not. Its warnings (a missed run) still show.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))


def init_request_logging(app: Flask) -> None:
    if app.config.get("LOG_FORMAT") == "json" and not app.config.get("TESTING"):
        configure_logging("json")

    @app.before_request
    def _request_id():
        # A proxy's id is kept when it looks like one, so a request is followed across servers.
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if is_run_again():  # this run's answer is dropped: the request runs again as a writer, logged then
            return response
        started = g.get("request_started")
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "endpoint": request.endpoint,
                "remote_addr": request.remote_addr,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            },
        )
        return response
