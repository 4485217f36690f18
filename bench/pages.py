"""How the pages answer as the portfolio grows, measured from outside through HTTP under gunicorn.

    .venv/bin/python bench/pages.py [--db sqlite|postgresql] [--sizes 100,10000] [--requests 20] [--keep]

For each size: a fresh database (a temporary SQLite file, or a new PostgreSQL database on
BENCH_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres), migrated,
the demo portfolio loaded and bench/portfolio.py's bulk portfolio added; then gunicorn
(2 workers, production settings from gunicorn.conf.py) serves it and every main page and API
list is requested for each role: SQL statements per request (X-Queries, counted in the
worker), median and p95 latency with 1 client and with 10 at once, page size. The pages are
measured with PAGES_KEPT=false and FIGURES_KEPT=false, so every page is rendered and every
figure computed for every request; then the pages kept for their session (app/auth/kept_pages.py)
are measured again as production serves a reload of an unchanged page (each client asks each page a
few times before it is timed; kept on the machine since 7 December, each worker's own before), stage
analytics' figures kept. Then
requests/s of the manager's dashboard, rendered every time and as production serves a reload
(kept per session while unchanged), against a bare `return "ok"` route of the same server, the
worker processes' memory, and a reminder pass over the portfolio (first, and repeated with nothing new).
With --keep, each portfolio is built once and kept (SQLite: a file in $BENCH_KEEP_DIR, default
/tmp/sharaka-bench; PostgreSQL: a database sharaka_bench_keep_<size>); each run starts from a copy
of it, migrated to the head, so a change can be measured again in minutes instead of rebuilding.
BENCH_PORT (default 8765) is the port gunicorn serves on. Exports long enough for the scheduler are
measured by bench/exports.py. Prints a table, and the ratio largest/smallest per page. Asserts
nothing: the tests assert the query counts (tests/integration/test_flat_queries.py).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

# Another benchmark may serve at the same time: BENCH_PORT gives this run a port of its own.
PORT = int(os.environ.get("BENCH_PORT", "8765"))
# Production settings refuse a guessable key: a random one for this run.
os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
PAGES = {
    "officer": [
        "/dashboard",
        "/inbox",
        "/agreements/",
        "/agreements/?q=partenariat+12",
        "/deliverables/",
        "/portfolio/board",
        "/portfolio/timeline",
        "/portfolio/calendar",
        "/portfolio/analytics",
        "/notifications",
        "/agreements/export.csv",
        "/api/v1/agreements",
        "/api/v1/deliverables",
    ],
    "manager": [
        "/dashboard",
        "/inbox",
        "/agreements/",
        "/deliverables/",
        "/portfolio/board",
        "/portfolio/analytics",
        "/api/v1/agreements",
    ],
    "partner": ["/portal", "/agreements/", "/deliverables/", "/api/v1/agreements", "/api/v1/deliverables"],
}
# Measured again under production's settings, as reloads: the pages kept for their session while
# unchanged (app/auth/kept_pages.py), and stage analytics' figures kept while nothing changes.
RELOAD_WARMUP = 6
KEPT_PAGES = {
    role: [path for path in paths if not path.startswith(("/api/", "/notifications")) and "/export." not in path]
    for role, paths in PAGES.items()
}
TARGET_QUERIES, TARGET_P95_MS, TARGET_RATIO, TARGET_RSS_MB = 12, 100, 0.40, 200


# --- the database ------------------------------------------------------------------------


@contextmanager
def database(kind: str, tmp: Path, *, template: str | None = None):
    """A fresh database for one run, dropped after it: empty, or a copy of `template` (a SQLite file's
    path, or a PostgreSQL database's name)."""
    if kind == "sqlite":
        path = tmp / f"bench-{uuid.uuid4().hex[:6]}.sqlite"
        if template:
            shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    name = f"sharaka_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_server(), isolation_level="AUTOCOMMIT")
    copied = f' TEMPLATE "{template}"' if template else ""
    deadline = time.monotonic() + 300
    while True:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"{copied}'))
            break
        except OperationalError as error:
            # A copy needs the template to itself: another benchmark copying it at the same moment waits its turn.
            if "being accessed by other users" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(2)
    try:
        yield postgres_server().set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_server():
    return make_url(os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))


def kept_portfolio(kind: str, size: int) -> str:
    """The kept portfolio of `size` agreements (built on first use): its SQLite path or database name."""
    if kind == "sqlite":
        folder = Path(os.environ.get("BENCH_KEEP_DIR", Path(tempfile.gettempdir()) / "sharaka-bench"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"bench-{size}.sqlite"
        if not path.exists():
            building = path.with_suffix(".building")
            building.unlink(missing_ok=True)
            with tempfile.TemporaryDirectory() as scratch:
                prepare(f"sqlite:///{building}", size, Path(scratch))
            building.rename(path)  # only a finished build is kept
        return str(path)
    name = f"sharaka_bench_keep_{size}"
    admin = create_engine(postgres_server(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
        if not exists:
            building = f"{name}_building"
            connection.execute(text(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{building}"'))
            with tempfile.TemporaryDirectory() as scratch:
                prepare(
                    postgres_server().set(database=building).render_as_string(hide_password=False), size, Path(scratch)
                )
            connection.execute(text(f'ALTER DATABASE "{building}" RENAME TO "{name}"'))
    admin.dispose()
    return name


def prepare(url: str, agreements: int, tmp: Path) -> tuple[dict, dict]:
    """Migrate, load the demo, add the bulk portfolio; return (counts, {role: (email, password)})."""
    from flask_migrate import upgrade

    from app import create_app
    from app.demo.loader import demo_sign_ins, load_demo
    from app.extensions import db
    from bench.portfolio import build, settle
    from config import ProductionConfig

    config = type("Bench", (ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": str(tmp)})
    app = create_app(config)
    with app.app_context():
        upgrade()
        load_demo()
        db.session.commit()
        counts = build(agreements)
        settle()
        db.engine.dispose()
    accounts = {}
    for row in demo_sign_ins():
        accounts.setdefault(row["role"], (row["email"], row["password"]))
    return counts, accounts


def reopen(url: str, tmp: Path) -> tuple[dict, dict]:
    """A copy of a kept portfolio, migrated to the head: (its counts, the demo's included; {role: (email,
    password)})."""
    from flask_migrate import upgrade

    from app import create_app
    from app.demo.loader import demo_sign_ins
    from app.extensions import db
    from bench.portfolio import settle
    from config import ProductionConfig

    tables = {
        "agreements": "agreements",
        "occurrences": "deliverable_occurrences",
        "submissions": "deliverable_submissions",
        "approval_rounds": "approval_rounds",
        "decisions": "approval_decisions",
        "audit_events": "audit_events",
    }
    started = time.perf_counter()
    config = type("Bench", (ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": str(tmp)})
    app = create_app(config)
    with app.app_context():
        upgrade()
        counts = {key: db.session.scalar(text(f"SELECT count(*) FROM {table}")) for key, table in tables.items()}
        db.session.commit()
        settle()  # a kept build from before its builds were settled; quick when they were
        db.engine.dispose()
    counts["seconds"] = f"{time.perf_counter() - started:.1f} (copied from a kept build)"
    accounts = {}
    for row in demo_sign_ins():
        accounts.setdefault(row["role"], (row["email"], row["password"]))
    return counts, accounts


# --- HTTP ----------------------------------------------------------------------------------


class Client:
    """One browser: a keep-alive connection and its session cookie (or a bearer token)."""

    def __init__(self):
        self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        self.cookies: dict[str, str] = {}
        self.bearer: str | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes, dict]:
        headers = {"Accept-Language": "fr"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.bearer and path.startswith("/api/"):
            headers["Authorization"] = f"Bearer {self.bearer}"
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()  # a recycled worker closed the kept-alive connection
                if attempt:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, payload, {k.lower(): v for k, v in response.getheaders()}

    def sign_in(self, email: str, password: str) -> None:
        _status, page, _headers = self.request("GET", "/sign-in")
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()
        status, _page, _headers = self.request(
            "POST", "/sign-in", {"email": email, "password": password, "csrf_token": token}
        )
        assert status in (302, 303), f"sign-in of {email} answered {status}"


def production_environment(url: str, tmp: Path, **settings: str) -> dict[str, str]:
    """The environment production's processes run with, on this run's database and upload folder."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SHARAKA_CONFIG": "production",
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "SESSION_COOKIE_SECURE": "false",
        "UPLOAD_DIR": str(tmp),
        "PYTHONPATH": str(ROOT),
        **settings,
    }


@contextmanager
def production_process(command: list[str], url: str, tmp: Path, log_name: str, **settings: str):
    """A process started as production starts it (gunicorn, the scheduler), on this run's database and
    upload folder, its output in tmp/log_name; stopped with SIGTERM, as a service manager stops it."""
    log = open(tmp / log_name, "w")
    process = subprocess.Popen(
        command, cwd=ROOT, env=production_environment(url, tmp, **settings), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def server(url: str, tmp: Path, *, control_socket: bool = False, log_name: str = "gunicorn.log", **settings: str):
    with production_process(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", str(ROOT / "bench/gunicorn_bench.py"), "wsgi:app"],
        url,
        tmp,
        log_name,
        BENCH_BIND=f"127.0.0.1:{PORT}",
        BENCH_CONTROL_SOCKET="1" if control_socket else "0",
        **settings,
    ) as process:
        deadline = time.monotonic() + 60
        while True:
            try:
                Client().request("GET", "/__bench/ok")
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((tmp / log_name).read_text()[-3000:]) from None
                time.sleep(0.3)
        yield process


def worker_rss_mb(master: int) -> list[float]:
    sizes = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(master):
            sizes.append(int(fields["VmRSS"].split()[0]) / 1024)
    return sizes


def timed(client: Client, path: str) -> tuple[float, int, int, int]:
    started = time.perf_counter()
    status, payload, headers = client.request("GET", path)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, status, int(headers.get("x-queries", -1)), len(payload)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def measure(
    accounts: dict, requests: int, concurrency: int = 10, pages: dict | None = None, reloads: bool = False
) -> dict:
    """{(role, path): figures} for every page of every role (or of `pages`). `reloads`: each client asks
    each page RELOAD_WARMUP times before it is timed, so what is timed is a reload of a page its session
    has seen, as each worker kept it (gunicorn's workers take requests as they come: a few asks reach
    both of them)."""
    results = {}
    for role, paths in (pages or PAGES).items():
        email, password = accounts[role]
        clients = [Client() for _ in range(concurrency)]
        for client in clients:
            client.sign_in(email, password)
        token = create_token_for(clients[0])
        for client in clients:
            client.bearer = token
        for path in paths:
            timed(clients[0], path)  # warm the worker's caches
            for client in clients if reloads else ():
                for _ in range(RELOAD_WARMUP):
                    timed(client, path)
            single = [timed(clients[0], path) for _ in range(requests)]
            with ThreadPoolExecutor(concurrency) as pool:
                crowd = [
                    result
                    for batch in pool.map(
                        lambda client, path=path: [timed(client, path) for _ in range(requests)], clients
                    )
                    for result in batch
                ]
            statuses = {s for _t, s, _q, _n in single + crowd}
            # A page measured while it answers an error measures the error page: stop instead.
            assert statuses == {200}, f"{role} {path} answered {sorted(statuses)}"
            results[(role, path)] = {
                "status": ",".join(map(str, sorted(statuses))),
                "queries": single[-1][2],
                "median1": statistics.median(t for t, *_ in single),
                "p95_1": p95([t for t, *_ in single]),
                "median10": statistics.median(t for t, *_ in crowd),
                "p95_10": p95([t for t, *_ in crowd]),
                "kb": single[-1][3] / 1024,
            }
            print(
                f"    {role:8} {path:34} {results[(role, path)]['queries']:>3} q  "
                f"{results[(role, path)]['median1']:7.1f} ms  p95@10 {results[(role, path)]['p95_10']:7.1f} ms",
                file=sys.stderr,
            )
    return results


def create_token_for(client: Client) -> str:
    """A personal API token, created through the account page like a person would."""
    _status, page, _headers = client.request("GET", "/account/tokens")
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()
    status, page, headers = client.request("POST", "/account/tokens", {"name": "bench", "csrf_token": token})
    if status in (302, 303):  # the page the redirect names shows the new token once
        status, page, headers = client.request("GET", headers["location"])
    # The new token's own field: the list below it shows the first characters of every other token.
    found = re.search(rb'id="new-token"[^>]*value="(shk_[A-Za-z0-9_\-]+)"', page)
    assert found, f"no new token shown after creating one (answer {status})"
    return found.group(1).decode()


def throughput(path: str, client_count: int, seconds: float, accounts: dict) -> float:
    clients = [Client() for _ in range(client_count)]
    for client in clients:
        client.sign_in(*accounts["manager"])
    done = [0] * client_count
    stop = time.monotonic() + seconds

    def run(index):
        while time.monotonic() < stop:
            clients[index].request("GET", path)
            done[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(client_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def reminder_pass(url: str, tmp: Path) -> tuple[float, float, int]:
    from app import create_app
    from app.extensions import db
    from app.notifications.reminders import run_pass
    from config import ProductionConfig

    config = type("Bench", (ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": str(tmp)})
    app = create_app(config)
    with app.app_context():
        now = datetime.now(timezone.utc)
        started = time.perf_counter()
        first = run_pass(now)
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        run_pass(now)
        repeat_seconds = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    return first_seconds, repeat_seconds, first.created


# --- the run ---------------------------------------------------------------------------------


@contextmanager
def portfolio(kind: str, size: int, keep: bool = False):
    """A throwaway database holding the portfolio of `size` agreements (with `keep`, a copy of the kept one,
    migrated), and a folder for uploads and logs: (url, folder, counts, {role: (email, password)})."""
    template = kept_portfolio(kind, size) if keep else None
    with tempfile.TemporaryDirectory() as folder, database(kind, Path(folder), template=template) as url:
        tmp = Path(folder)
        print(f"== {kind}, {size:,} agreements", file=sys.stderr)
        counts, accounts = reopen(url, tmp) if template else prepare(url, size, tmp)
        print(f"   built in {counts['seconds']} s: {counts}", file=sys.stderr)
        yield url, tmp, counts, accounts


def run_size(kind: str, size: int, requests: int, keep: bool = False) -> dict:
    with portfolio(kind, size, keep) as (url, tmp, counts, accounts):
        # Every page rendered for every request: what a page costs, not what a reload of it costs.
        with server(url, tmp, PAGES_KEPT="false", FIGURES_KEPT="false") as process:
            pages = measure(accounts, requests)
            rendered = throughput("/dashboard", 4, 5, accounts)
            rss = worker_rss_mb(process.pid)
        # Production's settings: an unchanged page reloaded is served as kept for the session, and
        # stage analytics' figures kept while nothing changed.
        with server(url, tmp, log_name="gunicorn-kept.log"):
            bare = throughput("/__bench/ok", 4, 5, accounts)
            dashboard = throughput("/dashboard", 4, 5, accounts)
            kept = measure(accounts, requests, pages=KEPT_PAGES, reloads=True)
        crashes = sum(
            len(re.findall(r"SIGSEGV|WORKER TIMEOUT|Worker \(pid:\d+\) was sent", (tmp / log).read_text()))
            for log in ("gunicorn.log", "gunicorn-kept.log")
        )
        first, repeat, created = reminder_pass(url, tmp)
        return {
            "counts": counts,
            "pages": pages,
            "bare_rps": bare,
            "dashboard_rps": dashboard,
            "rendered_rps": rendered,
            "kept": kept,
            "rss": rss,
            "crashes": crashes,
            "reminders": (first, repeat, created),
        }


def report(kind: str, runs: dict[int, dict]) -> None:
    sizes = sorted(runs)
    small, large = sizes[0], sizes[-1]
    print(
        f"\n### {kind}: {', '.join(f'{s:,}' for s in sizes)} agreements "
        f"({runs[large]['counts']['occurrences']:,} occurrences, {runs[large]['counts']['submissions']:,} "
        f"hand-ins, {runs[large]['counts']['audit_events']:,} audit rows at {large:,})\n"
    )
    print(
        f"| role | page | queries {small:,} → {large:,} | median 1 client (ms) | p95 10 clients (ms) "
        f"| ratio median {large:,}/{small:,} | KB |"
    )
    print("|---|---|---|---|---|---|---|")
    for key in runs[large]["pages"]:
        a, b = runs[small]["pages"][key], runs[large]["pages"][key]
        flag = "" if b["queries"] == a["queries"] and b["queries"] <= TARGET_QUERIES else " ✗"
        print(
            f"| {key[0]} | `{key[1]}` | {a['queries']} → {b['queries']}{flag} | {a['median1']:.1f} → "
            f"{b['median1']:.1f} | {a['p95_10']:.0f} → {b['p95_10']:.0f}{'' if b['p95_10'] < TARGET_P95_MS else ' ✗'}"
            f" | {b['median1'] / a['median1']:.2f} | {b['kb']:.0f} |"
        )
    print("\nReloaded as production serves them (each session's unchanged page kept for the machine, figures kept):\n")
    print(f"| role | page | queries | median 1 client (ms) {small:,} → {large:,} | p95 10 clients (ms) |")
    print("|---|---|---|---|---|")
    for key in runs[large]["kept"]:
        a, b = runs[small]["kept"][key], runs[large]["kept"][key]
        print(
            f"| {key[0]} | `{key[1]}` | {a['queries']} → {b['queries']} | {a['median1']:.1f} → {b['median1']:.1f} "
            f"| {a['p95_10']:.0f} → {b['p95_10']:.0f}{'' if b['p95_10'] < TARGET_P95_MS else ' ✗'} |"
        )
    for size in sizes:
        run = runs[size]
        first, repeat, created = run["reminders"]
        ratio = run["dashboard_rps"] / run["bare_rps"] if run["bare_rps"] else 0
        print(
            f"\n{size:,} agreements: manager dashboard reloaded {run['dashboard_rps']:.0f} req/s vs bare route "
            f"{run['bare_rps']:.0f} req/s = {ratio:.0%} (target ≥ {TARGET_RATIO:.0%}), rendered every time "
            f"{run['rendered_rps']:.0f} req/s = {run['rendered_rps'] / run['bare_rps'] if run['bare_rps'] else 0:.0%}; "
            f"reminder pass {first:.2f} s ({created:,} new), repeat {repeat:.2f} s (targets 2 s / 0.3 s); "
            f"worker RSS {', '.join(f'{m:.0f}' for m in run['rss'])} MB (target ≤ {TARGET_RSS_MB}); "
            f"worker crashes or timeouts in the log: {run['crashes']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--requests", type=int, default=20, help="requests per page and client")
    parser.add_argument("--keep", action="store_true", help="build each portfolio once, start each run from a copy")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    runs = {size: run_size(args.db, size, args.requests, args.keep) for size in sizes}
    print(f"\nmachine: {os.cpu_count()} cores, {platform_line()}")
    report(args.db, runs)


def platform_line() -> str:
    import platform

    return f"{platform.platform()}, Python {platform.python_version()}"


if __name__ == "__main__":
    main()
