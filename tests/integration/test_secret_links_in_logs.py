"""Links whose path carries a secret (a password reset, an invitation, a calendar feed…) are written to the logs
with the secret replaced: in the app's own request line (text and JSON) and in gunicorn's access log, where
the pages opened from such a link also carried it in their Referer."""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from app.core.logs import JsonFormatter
from tests.databases import migrated_database
from tests.integration.test_multi_server import wait_ready
from tests.integration.test_notifications_mail import ROOT, WAIT, free_port

RESET_TOKEN = "Reset-Secret_42.abc"
FEED_TOKEN = "Feed-Secret_77"


@pytest.fixture
def request_records(caplog, monkeypatch):
    logger = logging.getLogger("sharaka.request")
    # Alembic's logging set-up (the migrations the suite ran) switches existing loggers off.
    monkeypatch.setattr(logger, "disabled", False)
    caplog.set_level(logging.INFO, logger="sharaka.request")
    return caplog


@pytest.mark.parametrize(
    "address, written",
    [
        (f"/password/reset/{RESET_TOKEN}", "/password/reset/[secret]"),
        (f"/calendar/{FEED_TOKEN}.ics", "/calendar/[secret].ics"),
    ],
)
def test_the_request_line_writes_a_secret_link_without_its_secret(client, request_records, address, written):
    client.get(address)
    (record,) = [record for record in request_records.records if record.name == "sharaka.request"]
    text = record.getMessage()
    entry = json.loads(JsonFormatter().format(record))
    assert text == f"GET {written} {record.status}" and entry["path"] == written
    assert RESET_TOKEN not in text + json.dumps(entry) and FEED_TOKEN not in text + json.dumps(entry)


def test_the_request_line_keeps_addresses_without_a_secret(client, request_records):
    """/account/tokens/<id>/revoke names an API token by its number, which is no secret."""
    client.post("/account/tokens/7/revoke")
    client.get("/no/such/page/Reset-Secret")
    paths = [record.path for record in request_records.records if record.name == "sharaka.request"]
    assert paths == ["/account/tokens/7/revoke", "/no/such/page/Reset-Secret"]


def test_a_form_refused_on_a_secret_link_is_logged_without_its_secret(app, client, caplog, monkeypatch):
    """The error handlers' lines name the request's path too: a reset form sent after its CSRF token lapsed."""
    monkeypatch.setattr(app.logger, "disabled", False)
    caplog.set_level(logging.WARNING, logger=app.logger.name)
    client.post(f"/password/reset/{RESET_TOKEN}", data={"new_password": "x"})
    (line,) = [record.getMessage() for record in caplog.records if record.getMessage().startswith("CSRF refused")]
    assert line.startswith("CSRF refused on /password/reset/[secret]:") and RESET_TOKEN not in line


def test_the_sample_nginx_log_writes_every_secret_link_without_its_secret(app):
    """deploy/nginx/nginx.conf names the secret routes by their prefixes, the one copy of the rule the app cannot
    share: a route given a `token` later and not added there would be written whole in the proxy's log."""
    conf = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    patterns = [
        (re.compile(pattern.replace("(?<", "(?P<")), value)
        for pattern, value in re.findall(r'^\s+"~(\^.*?\$)" "(.*?)";$', conf, re.MULTILINE)
    ]

    def logged(request_line: str) -> str:  # as nginx's map: the first pattern that matches, else as it is
        for pattern, value in patterns:
            if found := pattern.match(request_line):
                return re.sub(r"\$\{(\w+)\}", lambda name: found[name[1]], value)
        return request_line

    secret_rules = [rule for rule in app.url_map.iter_rules() if "token" in rule.arguments]
    assert secret_rules
    for rule in secret_rules:
        _, path = rule.build({"token": RESET_TOKEN}, append_unknown=False)
        for request_line in (f"GET {path} HTTP/1.1", f"GET /sign-in?next={path}&x=1 HTTP/2.0"):
            written = logged(request_line)
            assert RESET_TOKEN not in written and "[secret]" in written, (rule.rule, written)
    assert logged("POST /account/tokens/7/revoke HTTP/1.1") == "POST /account/tokens/7/revoke HTTP/1.1"


def lines_of(stream) -> queue.Queue:
    """The process's output, line by line, as it comes."""
    lines: queue.Queue = queue.Queue()

    def read():
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def get(url: str, headers: dict[str, str] | None = None) -> None:
    try:
        urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30).close()
    except urllib.error.HTTPError as error:
        error.close()


@pytest.mark.live
@pytest.mark.backend_neutral
def test_gunicorn_access_log_writes_secret_links_without_their_secret(tmp_path):
    """A reset link was written whole in gunicorn's access log, and again as the Referer of the stylesheet and
    scripts its page loads (Referrer-Policy: same-origin); the by-mail approval page's sign-in link carries its
    address in `next`."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with migrated_database(tmp_path, "logs") as url:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": url,
                "SHARAKA_CONFIG": "development",
                "FLASK_SKIP_DOTENV": "1",
                "LOG_FORMAT": "text",
                "SHARAKA_INSTANCE_DIR": str(tmp_path / "instance"),
                "UPLOAD_DIR": str(tmp_path / "uploads"),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            log = lines_of(server.stdout)
            wait_ready(base, server)
            reset_link = f"{base}/password/reset/{RESET_TOKEN}"
            get(reset_link)
            get(f"{base}/static/css/sharaka.css", headers={"Referer": reset_link})
            get(f"{base}/sign-in?next=/approvals/by-mail/{RESET_TOKEN}")
            written: list[str] = []
            expected = [  # each line's parts
                ('"GET /password/reset/[secret] HTTP/1.1"',),
                ('"GET /static/css/sharaka.css HTTP/1.1"', f'"{base}/password/reset/[secret]"'),
                ('"GET /sign-in?next=/approvals/by-mail/[secret] HTTP/1.1"',),
            ]
            deadline = time.monotonic() + WAIT
            while not all(any(all(part in line for part in parts) for line in written) for parts in expected):
                try:
                    written.append(log.get(timeout=max(deadline - time.monotonic(), 0.01)))
                except queue.Empty:
                    pytest.fail(f"the access log never wrote {expected}:\n{''.join(written)}")
            assert RESET_TOKEN not in "".join(written), "".join(written)
        finally:
            server.terminate()
            server.wait(WAIT)
