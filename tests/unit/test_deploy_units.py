"""The example systemd units in deploy/ as they start the processes."""

import shlex
from pathlib import Path

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
