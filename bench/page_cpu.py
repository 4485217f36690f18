"""CPU milliseconds per request of the main pages, through Flask's test client (no HTTP, no server).

    .venv/bin/python bench/page_cpu.py prepare FILE.sqlite [AGREEMENTS]   # migrate, demo, bulk portfolio
    .venv/bin/python bench/page_cpu.py measure FILE.sqlite [REQUESTS]     # median and min per page
    .venv/bin/python bench/page_cpu.py profile FILE.sqlite "manager /dashboard" [REQUESTS]   # PROFILE_SORT=tottime
    .venv/bin/python bench/page_cpu.py statements FILE.sqlite "manager /dashboard" [REQUESTS]
    .venv/bin/python bench/page_cpu.py explain postgresql+psycopg://... "manager /dashboard" [HOW_MANY]

FILE.sqlite may instead be a database URL (postgresql+psycopg://postgres@127.0.0.1:5432/NAME, an empty
database that exists): the CPU time is then the application's alone, the database's work being in the server.

time.process_time around each request: on a loaded machine wall time lies, CPU time much less (SQLite
runs in the process, so its work counts too). Each page is asked three times before measuring, so
what is built once per process (templates, compiled statements, workflow conditions) is built.
"""

from __future__ import annotations

import cProfile
import gc
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))

PAGES = {
    "officer": ["/notifications", "/dashboard", "/inbox", "/portfolio/board", "/portfolio/calendar", "/deliverables/"],
    "manager": [
        "/dashboard",
        "/inbox",
        "/portfolio/board",
        "/portfolio/timeline",
        "/portfolio/calendar",
        "/portfolio/analytics",
        "/deliverables/",
    ],
}


def make_app(path: str):
    from app import create_app
    from config import DevelopmentConfig

    url = path if "://" in path else f"sqlite:///{path}"
    settings = {
        "SQLALCHEMY_DATABASE_URI": url,
        "UPLOAD_DIR": tempfile.gettempdir() if "://" in path else str(Path(path).parent),
        # Every request renders its page and computes its figures: kept ones would measure a look-up.
        "PAGES_KEPT": False,
        "FIGURES_KEPT": False,
    }
    app = create_app(type("PageCpu", (DevelopmentConfig,), settings))
    # As a gunicorn worker does once the app is imported (gunicorn.conf.py): the garbage collector's
    # full collections then walk what requests made, not the whole application.
    gc.freeze()
    return app


def prepare(app, agreements: int) -> None:
    from flask_migrate import upgrade

    from app.demo.loader import load_demo
    from app.extensions import db
    from bench.portfolio import build, settle

    with app.app_context():
        upgrade()
        load_demo()
        db.session.commit()
        if agreements:
            build(agreements)
        settle()


def signed_in(app, role: str):
    from app.demo.loader import demo_sign_ins

    email, password = next((row["email"], row["password"]) for row in demo_sign_ins() if row["role"] == role)
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    response = client.post("/sign-in", data={"email": email, "password": password})
    assert response.status_code in (302, 303), f"sign-in of {email} answered {response.status_code}"
    return client


def warm(client, page: str) -> None:
    for _ in range(3):
        status = client.get(page).status_code
        assert status == 200, f"{page} answered {status}"


def measure(app, requests: int) -> None:
    for role, pages in PAGES.items():
        client = signed_in(app, role)
        for page in pages:
            warm(client, page)
            samples = []
            for _ in range(requests):
                started = time.process_time()
                client.get(page)
                samples.append((time.process_time() - started) * 1000)
            print(f"{role:8} {page:22} median {statistics.median(samples):6.1f} ms   min {min(samples):6.1f} ms")


def profile(app, which: str, requests: int) -> None:
    role, page = which.split()
    client = signed_in(app, role)
    warm(client, page)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        client.get(page)
    profiler.disable()
    stats = pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))  # or tottime
    # PROFILE_FOCUS=name: what that function calls, instead of the whole request's top 60.
    if focus := os.environ.get("PROFILE_FOCUS"):
        stats.print_callees(focus)
    else:
        stats.print_stats(60)


def statements(app, which: str, requests: int) -> None:
    """The page's SQL statements by the time each takes to answer (median over `requests`), slowest first:
    on PostgreSQL, where the database's share of a page is, statement by statement."""
    from sqlalchemy import event

    from app.extensions import db

    role, page = which.split()
    client = signed_in(app, role)
    warm(client, page)
    times: dict[str, list[float]] = {}
    with app.app_context():
        engine = db.engine

    def before(connection, cursor, statement, parameters, context, executemany):
        connection.info["statement_started"] = time.perf_counter()

    def after(connection, cursor, statement, parameters, context, executemany):
        spent = (time.perf_counter() - connection.info.pop("statement_started")) * 1000
        times.setdefault(" ".join(statement.split()), []).append(spent)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        for _ in range(requests):
            client.get(page)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    ranked = sorted(times.items(), key=lambda item: -statistics.median(item[1]))
    shown = int(os.environ.get("STATEMENT_CHARS", 160))  # how much of each statement is printed
    print(f"{role} {page}: {sum(statistics.median(spent) for _, spent in ranked):.1f} ms in SQL per request")
    for statement, spent in ranked:
        calls = len(spent) / requests
        print(f"{statistics.median(spent):8.2f} ms  x{calls:g}  {statement[:shown]}")


def explain(app, which: str, how_many: int) -> None:
    """PostgreSQL's plan, run and timed, of the page's `how_many` slowest statements, with the page's own
    parameters: where a statement's time goes once `statements` has named it."""
    from sqlalchemy import event

    from app.extensions import db

    role, page = which.split()
    client = signed_in(app, role)
    warm(client, page)
    seen: list[tuple[float, str, object]] = []
    with app.app_context():
        engine = db.engine

    def before(connection, cursor, statement, parameters, context, executemany):
        connection.info["statement_started"] = time.perf_counter()

    def after(connection, cursor, statement, parameters, context, executemany):
        spent = time.perf_counter() - connection.info.pop("statement_started")
        seen.append((spent, statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        client.get(page)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    with app.app_context():
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for spent, statement, parameters in sorted(seen, key=lambda item: -item[0])[:how_many]:
                print(f"===== {spent * 1000:.2f} ms\n{statement}\n-- {parameters}")
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                print("\n".join(row[0] for row in cursor.fetchall()))
        finally:
            raw.rollback()
            raw.close()


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] not in ("prepare", "measure", "profile", "statements", "explain"):
        raise SystemExit(__doc__)
    command, path = argv[0], argv[1]
    app = make_app(path)
    if command != "prepare":
        from flask_migrate import upgrade

        with app.app_context():
            upgrade()  # a portfolio kept from before the last migration
    if command == "prepare":
        prepare(app, int(argv[2]) if len(argv) > 2 else 0)
    elif command == "measure":
        measure(app, int(argv[2]) if len(argv) > 2 else 20)
    elif command == "profile":
        profile(app, argv[2], int(argv[3]) if len(argv) > 3 else 20)
    elif command == "statements":
        statements(app, argv[2], int(argv[3]) if len(argv) > 3 else 20)
    elif command == "explain":
        explain(app, argv[2], int(argv[3]) if len(argv) > 3 else 3)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
