"""Logging: a request id on every request (X-Request-ID, echoed back) and, with
LOG_FORMAT=json, one JSON object per line carrying it, for log collectors. Addresses are written with
their secret replaced (redacted_path), here and, through the WSGI environ, in gunicorn's access log."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from app.core.db import is_run_again

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
log = logging.getLogger("sharaka.request")
# The routes whose address carries a secret (a password reset, an invitation, an e-mail change, an unsubscribe
# link, a calendar feed, an approval by mail) name it `token`, and only they: /account/tokens/<int:token_id>
# names an API token by its number.
SECRET_ARGUMENT = "token"
SECRET_MARK = "[secret]"
# What gunicorn's access log reads instead of the environ's own values (gunicorn.conf.py, LoggedAddresses).
LOGGED_ENVIRON = "sharaka.logged"
_PLACEHOLDER = "sharaka-secret-placeholder"  # the mark's brackets would come out of a URL's build %-quoted


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


def redacted_path(path: str) -> str:
    """`path` (one of this app's addresses, %-decoded, without its query) as logs write it: the value of its
    route's SECRET_ARGUMENT replaced by SECRET_MARK. A path no route answers is kept as it is."""
    adapter = current_app.url_map.bind("localhost")
    try:
        try:
            rule, arguments = adapter.match(path, return_rule=True)
        except MethodNotAllowed as refusal:  # matched for GET: a route that answers only POST is asked for one
            rule, arguments = adapter.match(path, method=sorted(refusal.valid_methods or ["GET"])[0], return_rule=True)
    except RequestRedirect as redirect:  # /password//reset/<token>: the address it is sent to holds the secret
        target = unquote(urlsplit(redirect.new_url).path)
        logged = redacted_path(target) if target != path else path
        return path if logged == target else logged
    except (NotFound, MethodNotAllowed):
        return path
    return _with_secret_marked(rule, arguments, path)


def _with_secret_marked(rule, arguments: Mapping[str, Any], path: str) -> str:
    if SECRET_ARGUMENT not in arguments:
        return path
    built = rule.build({**arguments, SECRET_ARGUMENT: _PLACEHOLDER}, append_unknown=False)
    return built[1].replace(_PLACEHOLDER, SECRET_MARK) if built else path


def logged_path() -> str:
    """The request's path as logs write it (the request line, and the error handlers' lines naming it): from the
    rule and arguments Flask's routing already found, matched again only when it found none (a redirect)."""
    if request.url_rule is None:
        return redacted_path(request.path)
    return _with_secret_marked(request.url_rule, request.view_args or {}, request.path)


def redacted_query(query: str) -> str:
    """`query` (a raw query string) as logs write it: each value that is one of this app's paths redacted, as
    the by-mail approval page's sign-in link carries its own address in `next`. Kept as sent when none is."""
    sent = parse_qsl(query, keep_blank_values=True)
    logged = [(name, redacted_path(value) if value.startswith("/") else value) for name, value in sent]
    return query if logged == sent else urlencode(logged, safe="/[]")


def redacted_url(url: str) -> str:
    """`url` (a request's raw URI, or an absolute URL such as a Referer) as logs write it: its path and query
    redacted. Kept as sent when nothing is."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    script_root = request.script_root if has_request_context() and path.startswith(request.script_root + "/") else ""
    written = script_root + redacted_path(path[len(script_root) :]) if path.startswith("/") else path
    logged = parts._replace(path=parts.path if written == path else written, query=redacted_query(parts.query))
    return url if logged == parts else urlunsplit(logged)


def _record_logged_addresses(path: str) -> None:
    """What gunicorn's access log is to write instead of the request line, path (`path`, redacted), query and
    Referer sent, when they carry a secret: the pages opened from a reset link send it as their Referer
    (Referrer-Policy: same-origin, which CSRF's check of HTTPS form posts needs), and each poll of a calendar
    feed its own."""
    environ = request.environ
    raw_uri, query, referer = (environ.get(key) or "" for key in ("RAW_URI", "QUERY_STRING", "HTTP_REFERER"))
    logged_query = redacted_query(query)
    # The request line is the path and query just redacted, not matched again: as sent when neither changed.
    unchanged = path == request.path and logged_query == query
    logged_uri = raw_uri if unchanged else request.script_root + path + (f"?{logged_query}" if query else "")
    sent_and_logged = {
        "RAW_URI": (raw_uri, logged_uri),
        "PATH_INFO": (request.path, path),
        "QUERY_STRING": (query, logged_query),
        "HTTP_REFERER": (referer, redacted_url(referer)),
    }
    changed = {key: logged for key, (sent, logged) in sent_and_logged.items() if sent and logged != sent}
    if changed:
        environ[LOGGED_ENVIRON] = changed


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
        path = logged_path()
        _record_logged_addresses(path)
        if is_run_again():  # this run's answer is dropped: the request runs again as a writer, logged then
            return response
        started = g.get("request_started")
        log.info(
            "%s %s %s",
            request.method,
            path,
            response.status_code,
            extra={
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "endpoint": request.endpoint,
                "remote_addr": request.remote_addr,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            },
        )
        return response
