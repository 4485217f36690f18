"""Settings read from the environment: what cannot be read stops the start, naming its variable, in a
real process (the settings are read once, when config.py is imported)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_neutral

ROOT = Path(__file__).resolve().parents[2]


def _start(tmp_path, said: str = "'started'", **env) -> subprocess.CompletedProcess:
    """create_app() in its own process, which then prints `said` (an expression of the app, `app`)."""
    return subprocess.run(
        [sys.executable, "-c", f"from app import create_app; app = create_app(); print({said})"],
        cwd=ROOT,
        env={**os.environ, "SHARAKA_INSTANCE_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_setting_that_cannot_be_read_stops_the_start_naming_it(tmp_path):
    """A typo must not quietly mean "off" (cookies sent over plain HTTP), 0 (mail never sent), or a
    language with no catalogue (every page a 500 for browsers asking for none of ours)."""
    refused = _start(
        tmp_path,
        DEFAULT_LANGUAGE="xx",
        SESSION_COOKIE_SECURE="ture",
        MAIL_PORT="abc",
        MAIL_BATCH_SIZE="0",
        LOG_FORMAT="jsn",
        METRICS_ALLOW_NETWORKS="garbage",
    )
    assert refused.returncode != 0 and "started" not in refused.stdout
    for named in (
        "DEFAULT_LANGUAGE='xx'",
        "SESSION_COOKIE_SECURE='ture'",
        "MAIL_PORT='abc'",
        "MAIL_BATCH_SIZE=0",
        "LOG_FORMAT='jsn'",
        "METRICS_ALLOW_NETWORKS",
    ):
        assert named in refused.stderr, named
    assert refused.stderr.count("SESSION_COOKIE_SECURE='ture'") == 1  # said once, read in three places
    fine = _start(tmp_path, DEFAULT_LANGUAGE="fr", SESSION_COOKIE_SECURE="off", HSTS_SECONDS="0", LOG_FORMAT="JSON")
    assert fine.returncode == 0 and "started" in fine.stdout, fine.stderr[-2000:]


def _flask(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    """A `flask` command run as an operator runs it, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env={**os.environ, "FLASK_APP": "app", "SHARAKA_INSTANCE_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


DURATIONS = re.findall(r'env_int\(\s*"([A-Z_]+_(?:SECONDS|MINUTES|HOURS|DAYS))"', (ROOT / "config.py").read_text())


def test_every_duration_has_a_bound_no_date_can_overflow_past(tmp_path):
    """SESSION_HOURS=10^20 had started, then answered 500 to every request (OverflowError); REMEMBER_DAYS=10^10
    had raised OverflowError while config.py was read, naming nothing. Every duration is refused well before
    a timedelta or a date built from it could overflow, and so is any number past what a C int holds."""
    assert {"SESSION_HOURS", "REMEMBER_DAYS", "LOGIN_WINDOW_MINUTES", "EXPORT_KEEP_HOURS"} <= set(DURATIONS)
    refused = _start(tmp_path, **dict.fromkeys(DURATIONS, str(2**31 - 1)))
    assert refused.returncode != 0 and "started" not in refused.stdout
    for name in DURATIONS:
        assert f"{name}={2**31 - 1} is out of range" in refused.stderr, name
    huge = _start(tmp_path, REMEMBER_DAYS="10000000000", SESSION_HOURS=str(10**20), PER_PAGE=str(10**20))
    assert "OverflowError" not in huge.stderr
    for said in ("REMEMBER_DAYS=10000000000 is out of range", f"PER_PAGE={10**20} is out of range (from 1 to"):
        assert said in huge.stderr, said


def test_addresses_and_mail_security_are_checked_when_set(tmp_path):
    refused = _start(
        tmp_path, BASE_URL="garbage", MAIL_DEFAULT_SENDER="not an address", MAIL_USE_TLS="true", MAIL_USE_SSL="true"
    )
    assert refused.returncode != 0 and "started" not in refused.stdout
    for said in ("BASE_URL='garbage'", "MAIL_DEFAULT_SENDER='not an address'", "MAIL_USE_TLS and MAIL_USE_SSL"):
        assert said in refused.stderr, said
    fine = _start(
        tmp_path,
        "'started', app.config['AGREEMENT_REF_PREFIX'], app.config['PAGES_KEPT']",
        BASE_URL="https://sharaka.example.ma",
        MAIL_DEFAULT_SENDER="Sharaka <sharaka@example.ma>",
        MAIL_USE_SSL="true",
        # An empty prefix is the default, as an empty setting is everywhere; PAGES_KEPT set, its old name is unread.
        AGREEMENT_REF_PREFIX="",
        PAGES_KEPT="false",
        DASHBOARD_PAGES_KEPT="garbage",
    )
    assert fine.returncode == 0, fine.stderr[-2000:]
    assert "started MTNRA False" in fine.stdout


@pytest.mark.parametrize("domain", ["not a domain", "sharaka@ministere.ma", "-ministere.ma", "a..ma", "[300.1.2.3]"])
def test_a_mail_domain_that_cannot_be_one_is_refused_at_the_start(tmp_path, domain):
    """MAIL_DOMAIN is the From address's domain and every Message-ID's: any value had been taken, and every
    message then went out with a From a relay refuses and a Message-ID no client reads."""
    refused = _start(tmp_path, MAIL_DOMAIN=domain)
    assert refused.returncode != 0 and "started" not in refused.stdout
    assert f"MAIL_DOMAIN={domain!r} is not a domain name" in refused.stderr, refused.stderr[-2000:]


def test_a_mail_domain_is_taken_as_a_name_or_an_address_literal_written_in_ascii(tmp_path):
    said = "'started', app.config['MAIL_DOMAIN'], app.config['MAIL_DEFAULT_SENDER']"
    for domain, taken in (
        ("ministere.ma", "ministere.ma"),
        ("localhost", "localhost"),
        ("[10.0.0.7]", "[10.0.0.7]"),
        ("وزارة.ma", "xn--mgbexc3i.ma"),
    ):
        fine = _start(tmp_path, said, MAIL_DOMAIN=domain)
        assert fine.returncode == 0, fine.stderr[-2000:]
        assert fine.stdout.split() == ["started", taken, f"sharaka@{taken}"], fine.stdout


@pytest.mark.parametrize("where", ["a file", "under a file", "made of nothing"])
def test_a_kept_pages_folder_that_cannot_be_used_stops_the_start_in_a_line(tmp_path, where):
    """A file where the folder should be had started, then logged a traceback at every page kept or read."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the kept pages should be")
    folder = {"a file": blocker, "under a file": blocker / "kept", "made of nothing": Path("/proc/kept")}[where]
    refused = _flask(tmp_path, "jobs", "status", KEPT_PAGES_DIR=str(folder))
    assert refused.returncode == 2, refused.stderr[-2000:]
    said = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith(f"Error: Sharaka will not start: KEPT_PAGES_DIR='{folder}'"), said
    off = _flask(tmp_path, "jobs", "status", KEPT_PAGES_DIR=str(folder), PAGES_KEPT="false", FIGURES_KEPT="false")
    assert "KEPT_PAGES_DIR" not in off.stderr, off.stderr[-2000:]  # nothing kept: the folder is never read


@pytest.mark.parametrize(
    "env, named",
    [
        ({"REMEMBER_DAYS": "10000000000"}, "REMEMBER_DAYS=10000000000"),
        ({"DATABASE_URL": "garbage"}, "DATABASE_URL is not a database URL"),
        ({"DATABASE_URL": "postgres://sharaka:secret@db/sharaka"}, "DATABASE_URL (postgres://sharaka:***@db/sharaka)"),
        ({"SHARAKA_INSTANCE_DIR": "/proc/nope"}, "SHARAKA_INSTANCE_DIR='/proc/nope'"),
        ({"WORKFLOWS_DIR": "/nonexistent"}, "WORKFLOWS_DIR='/nonexistent'"),
        ({"PROMETHEUS_MULTIPROC_DIR": "/nonexistent/prom"}, "PROMETHEUS_MULTIPROC_DIR='/nonexistent/prom'"),
    ],
)
def test_a_flask_command_refused_at_the_start_says_why_in_a_line(tmp_path, env, named):
    """Each had printed a 30 to 45-line traceback, its message (if it named the variable at all) on the last."""
    refused = _flask(tmp_path, "jobs", "status", **env)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "Traceback" not in refused.stderr and "Error: " in refused.stderr and named in refused.stderr, refused.stderr
    assert "secret@" not in refused.stderr


def test_a_flask_command_that_cannot_reach_the_database_says_so_in_a_line(tmp_path):
    """It had printed some 150 lines of the driver's traceback; the password is never shown."""
    url = "postgresql+psycopg://sharaka:secretpw@127.0.0.1:1/sharaka"  # nothing listens on port 1
    failed = _flask(tmp_path, "jobs", "status", DATABASE_URL=url)
    assert failed.returncode == 1
    said = [line for line in failed.stderr.splitlines() if "WARNING" not in line]
    assert len(said) == 1 and said[0].startswith(
        "Cannot reach the database (DATABASE_URL postgresql+psycopg://sharaka:***@127.0.0.1:1/sharaka): "
    ), failed.stderr[-2000:]
    assert "secretpw" not in failed.stderr + failed.stdout


def _gunicorn(tmp_path, *options: str, **env) -> subprocess.CompletedProcess:
    """gunicorn as the service starts it, on a free port unless `options` say otherwise; it ends by itself when
    it cannot boot."""
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", *(options or ("-b", "127.0.0.1:0")), "wsgi:app"],
        cwd=ROOT,
        env={**os.environ, "SHARAKA_CONFIG": "testing", "SHARAKA_INSTANCE_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gunicorn_refuses_a_metrics_folder_it_cannot_write_and_stops(tmp_path):
    """PROMETHEUS_MULTIPROC_DIR missing had let gunicorn start, then every request (/healthz too) was a 500.
    One worker: two failing to load at once, gunicorn 27 may meet the second's exit while it stops for the
    first, and raise its HaltServer again uncaught (a traceback, exit 1; CI saw it once). It stops all the same."""
    stopped = _gunicorn(tmp_path, WEB_CONCURRENCY="1", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "missing"))
    assert stopped.returncode == 4 and "App failed to load" in stopped.stderr  # gunicorn stops: no worker spawned again
    assert f"PROMETHEUS_MULTIPROC_DIR='{tmp_path / 'missing'}' is not a folder" in stopped.stderr
    assert "Traceback" not in stopped.stderr


def test_gunicorn_refuses_no_workers(tmp_path):
    stopped = _gunicorn(tmp_path, WEB_CONCURRENCY="0")
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    assert stopped.stderr.strip() == "WEB_CONCURRENCY='0' is not a number of workers: give a whole number, at least 1."


def test_gunicorn_reads_its_address_as_every_setting_an_empty_one_its_default(tmp_path):
    """`GUNICORN_BIND=` in the environment file had bound gunicorn to no address at all; gunicorn.conf.py reads
    it through config.env(), where set but empty counts as unset."""

    def bound(value: str) -> str:
        printed = _gunicorn(tmp_path, "--print-config", GUNICORN_BIND=value)
        assert printed.returncode == 0, printed.stderr[-2000:]
        return next(line for line in printed.stdout.splitlines() if line.startswith("bind ")).split("=", 1)[1].strip()

    assert bound("") == bound("  ") == "['0.0.0.0:8000']"
    assert bound("127.0.0.1:6401") == "['127.0.0.1:6401']"


def test_gunicorn_with_json_logs_writes_one_json_object_a_line_and_each_request_once(tmp_path):
    """LOG_FORMAT=json under gunicorn: its access line had logged every request a second time, in plain text,
    and its own lines (booting, signals) were plain text too."""
    import json
    import secrets
    import signal
    import time
    import urllib.error
    import urllib.request

    from tests.ldap_server import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env={
            **os.environ,
            "SHARAKA_CONFIG": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'sharaka.sqlite'}",
            "SHARAKA_INSTANCE_DIR": str(tmp_path),
            "BASE_URL": f"http://127.0.0.1:{port}",
            "LOG_FORMAT": "json",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # until it answers (a busy machine boots slowly), or has stopped
            assert server.poll() is None, server.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn never answered"
            time.sleep(0.1)
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page", timeout=10)
        except urllib.error.HTTPError as refused:
            assert refused.code == 404
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    lines = [line for line in output.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # each line one JSON object, or this fails naming it
    assert [entry.get("path") for entry in entries].count("/no-such-page") == 1
    assert any(entry["logger"] == "gunicorn.error" and "Booting worker" in entry["message"] for entry in entries)


# Every variable config.py reads (and SHARAKA_CONFIG, which picks the configuration).
READ = sorted(
    {*re.findall(r'(?:env\w*|environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"', (ROOT / "config.py").read_text())}
    | {"SHARAKA_CONFIG"}
)


def test_every_setting_set_but_empty_counts_as_unset(tmp_path):
    """README: "one set but empty counts as unset". `LDAP_LOCAL_ROLES=` had meant no local roles (the
    ministry's admins locked out while the directory is down), `ALLOWED_UPLOAD_TYPES=` no file accepted,
    `SECRET_KEY=` a 500 on every page in development, `SHARAKA_CONFIG=` an unknown configuration ''."""
    assert len(READ) > 40 and {"LDAP_LOCAL_ROLES", "ALLOWED_UPLOAD_TYPES", "SECRET_KEY", "MFA_ISSUER"} <= set(READ)
    settings = (  # a set's order is its process's own
        "json.dumps({key: repr(sorted(value) if isinstance(value, (set, frozenset)) else value)"
        " for key, value in app.config.items() if key.isupper()})"
    )

    def started(**env):
        outside = {name: value for name, value in os.environ.items() if name not in READ}
        done = subprocess.run(
            [sys.executable, "-c", f"import json; from app import create_app; app = create_app(); print({settings})"],
            cwd=ROOT,
            env={**outside, "SHARAKA_INSTANCE_DIR": str(tmp_path), **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.splitlines()[-1])

    emptied = dict.fromkeys(READ, "") | {"SHARAKA_INSTANCE_DIR": str(tmp_path)}  # its own: both in tmp_path
    unset, empty = started(), started(**emptied)
    assert {key: value for key, value in empty.items() if unset.get(key) != value} == {}
