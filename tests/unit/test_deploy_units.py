"""The example systemd units in deploy/ as they start the processes."""

import shlex
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_neutral

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def exec_start(unit: str) -> list[str]:
    lines = (UNITS / unit).read_text(encoding="utf-8").splitlines()
    return shlex.split(next(line for line in lines if line.startswith("ExecStart=")).removeprefix("ExecStart="))


def test_the_web_unit_leaves_the_access_log_to_gunicorn_conf():
    """`--access-logfile -` overrode gunicorn.conf.py: with LOG_FORMAT=json every request was logged twice,
    once as the app's JSON line and once as gunicorn's plain access line."""
    command = exec_start("sharaka-web.service")
    assert Path(command[0]).name == "gunicorn"
    assert not [word for word in command if word.startswith(("--access-log", "--log-config"))], command


def test_the_release_migrates_before_it_verifies_the_stored_files():
    """`flask storage verify` reads the database: run before `flask db upgrade`, a first install on an empty
    database died on it with a traceback and was never migrated (a probe's find)."""
    steps = [line.split("#")[0].split() for line in (UNITS.parent / "release.sh").read_text().splitlines()]
    flask = [step[1:3] for step in steps if step[:1] == [".venv/bin/flask"]]
    assert flask.index(["db", "upgrade"]) < flask.index(["storage", "verify"]), flask


def test_the_web_unit_leaves_workers_and_address_to_gunicorn_conf():
    """`--workers 4 --bind 0.0.0.0:8000` overrode WEB_CONCURRENCY and GUNICORN_BIND from the environment file:
    README's settings did nothing under the shipped unit."""
    command = exec_start("sharaka-web.service")
    assert not [word for word in command if word.startswith(("--workers", "-w", "--bind", "-b"))], command
