"""Production settings for gunicorn, read from this directory by `gunicorn wsgi:app`.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Sync workers: each request holds one database connection, and long work (exports past a few
# thousand rows) streams rather than holding a worker. Two per core is enough for page work
# that is now a dozen indexed queries.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
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
accesslog = "-"


def post_worker_init(worker):
    """Once the app is imported in the worker, its ~300,000 long-lived objects (modules, models,
    templates, the workflow definitions) are moved out of the garbage collector's reach: a full
    collection then walks only what requests made. Measured in the test client, the slowest of 300
    page requests went from 320-330 ms (a full collection landing on it) to 100-130 ms; the median
    did not move."""
    import gc

    gc.freeze()
