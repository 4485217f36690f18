"""Production settings for gunicorn, read from this directory by `gunicorn wsgi:app`.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import sys

from dotenv import load_dotenv

# As wsgi.py does, and first: the settings below (GUNICORN_BIND, LOG_FORMAT) may be set in .env, and config.py,
# imported here and so already imported in every worker forked from this process, reads the environment once.
load_dotenv()

from gunicorn.glogging import Logger  # noqa: E402

from config import env  # noqa: E402  (every setting is read through it: set but empty counts as unset)


def worker_count(value: str | None) -> int:
    """WEB_CONCURRENCY, or two per core. 0 had started a server with no worker: a value below 1 stops the start
    with one line naming it (gunicorn's reading of this file lets SystemExit through). gunicorn reads the
    variable itself too, when imported, before this file: a word or a negative number is refused there."""
    if value is None:
        return multiprocessing.cpu_count() * 2
    try:
        count = int(value.strip())
    except ValueError:
        count = 0
    if count < 1:
        sys.exit(f"WEB_CONCURRENCY={value!r} is not a number of workers: give a whole number, at least 1.")
    return count


bind = env("GUNICORN_BIND", "0.0.0.0:8000").strip()
# Sync workers: each request holds one database connection, and long work (exports past a few
# thousand rows) streams rather than holding a worker. Two per core is enough for page work
# that is now a dozen indexed queries.
workers = worker_count(env("WEB_CONCURRENCY"))
worker_class = "sync"
timeout = 30
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests (spread so they do not all restart at once):
# memory a Python process took for one large request is not given back to the system otherwise.
max_requests = 2000
max_requests_jitter = 200
# gunicorn 27's control socket runs an asyncio thread in the arbiter that is stopped and
# restarted around every fork; a fork that lands while it is still running (its join gives up
# after 2 s) copies a process in the middle of that thread's work into the worker. Under load
# (workers recycled by max_requests) the benchmark saw workers die with SIGSEGV and one hang
# with it on, none without. Sharaka does not use gunicornc, so it stays off.
control_socket_disable = True
# No preload: every worker opens its own database connections after the fork.
preload_app = False

if env("LOG_FORMAT", "text").strip().lower() == "json":
    # The app logs every request itself, as JSON with its request id (app/core/logs.py): gunicorn's access
    # line logged each one twice, the second in plain text. gunicorn's own lines (booting, worker exits,
    # timeouts, tracebacks) go through the app's JSON formatter too; the root logger gets the worker's handler.
    accesslog = None
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.core.logs.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False}},
        "root": {"level": "INFO", "handlers": []},
    }
else:
    accesslog = "-"  # with text logs, the app's request lines have no handler under gunicorn: this is the request log


class LoggedAddresses(Logger):
    """The access log writes the request line, path, query and Referer as the app redacted them (app/core/logs.py,
    which records them in the request's environ): a password reset link was written whole, in its own line and
    again as the Referer of the stylesheet and scripts its page loaded, and a calendar feed's on every poll. A
    request the app never answered (gunicorn refused it first) keeps what it sent."""

    def atoms(self, resp, req, environ, request_time):
        from app.core.logs import LOGGED_ENVIRON

        logged = environ.get(LOGGED_ENVIRON)
        if not logged:
            return super().atoms(resp, req, environ, request_time)
        atoms = super().atoms(resp, req, {**environ, **logged}, request_time)
        if "HTTP_REFERER" in logged:  # the same header, as %({referer}i)s
            atoms["{referer}i"] = logged["HTTP_REFERER"]
        return atoms


logger_class = LoggedAddresses

# After this many requests a worker has drawn its pages once; see post_request.
FREEZE_AGAIN_AFTER = 100


def post_fork(server, worker):
    """Each worker ends with the master. A master killed with SIGKILL cannot stop its workers: they went on
    holding the port (and serving on it) until they next noticed their parent gone, up to half the timeout
    later, and a server started again meanwhile could not bind. Linux now sends them SIGTERM at once."""
    from app.operations.supervisor import die_with_parent

    die_with_parent(server.pid)


def post_worker_init(worker):
    """Once the app is imported in the worker, its ~300,000 long-lived objects (modules, models,
    templates, the workflow definitions) are moved out of the garbage collector's reach: a full
    collection then walks only what requests made. Measured in the test client, the slowest of 300
    page requests went from 320-330 ms (a full collection landing on it) to 100-130 ms; the median
    did not move."""
    import gc

    gc.freeze()


def post_request(worker, req, environ, resp):
    """Once, after the worker's first pages are sent: what they built for the worker's lifetime (compiled
    templates and statements, catalogues, locale data: some 60,000 objects past the import's) is frozen too,
    after a last full collection, which this one response's client does not wait for. A full collection then
    walks what later requests made. Measured in the test client at 3,000 agreements on PostgreSQL, 120 page
    requests of the officer and the manager after the first: 95th percentile CPU 85-94 ms -> 63-67 ms, slowest
    137-143 ms -> 75-79 ms, collections 730-870 ms -> 440-510 ms in all; the median did not move."""
    if worker.nr == FREEZE_AGAIN_AFTER:
        import gc

        gc.collect()
        gc.freeze()
