"""Settings read from the environment: what cannot be read stops the start, naming its variable, in a
real process (the settings are read once, when config.py is imported)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _start(tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app(); print('started')"],
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
