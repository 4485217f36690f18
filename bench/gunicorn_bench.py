"""gunicorn settings for the benchmark: production's (../gunicorn.conf.py), plus, in each
worker, a count of the SQL statements of each request sent back in an X-Queries header
and a bare `return "ok"` route (/__bench/ok) to compare the dashboard with."""

import os
import runpy
import threading
from pathlib import Path

globals().update(
    {
        key: value
        for key, value in runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py")).items()
        if not key.startswith("__")
    }
)
bind = os.environ.get("BENCH_BIND", "127.0.0.1:8765")
workers = int(os.environ.get("BENCH_WORKERS", "2"))
accesslog = None
control_socket_disable = os.environ.get("BENCH_CONTROL_SOCKET") != "1"
max_requests = int(os.environ.get("BENCH_MAX_REQUESTS", "0"))
production_post_worker_init = post_worker_init  # noqa: F821 - defined by gunicorn.conf.py, read above


def post_worker_init(worker):
    production_post_worker_init(worker)
    from sqlalchemy import event

    from app.extensions import db

    app = worker.wsgi
    counter = threading.local()

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            counter.n = getattr(counter, "n", 0) + 1

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
    app.add_url_rule("/__bench/ok", "bench_ok", lambda: "ok")
    flask_wsgi = app.wsgi_app

    def counted(environ, start_response):
        counter.n = 0

        def start(status, headers, exc_info=None):
            return start_response(status, headers + [("X-Queries", str(counter.n))], exc_info)

        return flask_wsgi(environ, start)

    app.wsgi_app = counted
