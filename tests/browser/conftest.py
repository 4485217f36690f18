"""A real server in its own process with the demo portfolio, and Debian's chromium."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy

from tests.databases import backend, fresh_database

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Only a server that never answers and never dies hits this.
SERVER_START_SECONDS = 300
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Each live server's database URL, by its base URL: a test reads there what only a mailbox would show
# (the outbox pages hide one-time links).
SERVER_DATABASES: dict[str, str] = {}


@contextlib.contextmanager
def demo_server(tmp: Path, **settings: str):
    """Base URL of `flask run` on a migrated database loaded with `flask demo load`; `settings` are
    extra environment variables (e.g. CHOICES_LISTED)."""
    with fresh_database(tmp, "live") as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SHARAKA_CONFIG": "development",
            "SHARAKA_INSTANCE_DIR": str(tmp),
            "UPLOAD_DIR": str(tmp / "uploads"),
            "FLASK_APP": "app",
            "BASE_URL": "http://127.0.0.1",
            **settings,
        }
        flask = [sys.executable, "-m", "flask"]
        for command in (["db", "upgrade"], ["demo", "load"]):
            subprocess.run(flask + command, cwd=ROOT, env=env, check=True, capture_output=True)
        port = _free_port()
        log = open(tmp / "server.log", "w")
        server = subprocess.Popen(
            flask + ["run", "--port", str(port), "--no-reload"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        # Wait for the server to answer, as long as it is alive: a busy machine may take a while to
        # import the app, and a fixed short deadline would fail for no reason. A server that dies
        # (a port taken, a broken import) fails at once with its log.
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if server.poll() is not None:
                raise RuntimeError("the server exited: " + (tmp / "server.log").read_text())
            try:
                urllib.request.urlopen(base + "/healthz", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    server.kill()
                    raise RuntimeError("the server did not answer: " + (tmp / "server.log").read_text()) from None
                time.sleep(0.2)
        SERVER_DATABASES[base] = url
        try:
            yield base
        finally:
            SERVER_DATABASES.pop(base, None)
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
            log.close()


def link_mailed_to(base: str, address: str, path: str, subject_contains: str = "") -> str:
    """The newest link under `path` ("/invitation/") in a mail to `address` that the server `base` queued
    (no mail server here), read where the mail is kept: the outbox pages hide one-time links' secrets."""
    engine = sqlalchemy.create_engine(SERVER_DATABASES[base])
    try:
        with engine.connect() as connection:
            bodies = connection.execute(
                sqlalchemy.text(
                    "SELECT body_text FROM outbox_messages WHERE to_address = :address AND subject LIKE :subject "
                    "ORDER BY id DESC"
                ),
                {"address": address, "subject": f"%{subject_contains}%"},
            ).scalars()
            for body in bodies:
                found = re.search(rf"https?://\S+{re.escape(path)}[A-Za-z0-9_\-]+", body or "")
                if found:
                    return found.group(0)
    finally:
        engine.dispose()
    raise AssertionError(f"no mail to {address} with a link under {path}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """Base URL of a server with the demo portfolio (see demo_server)."""
    if backend() != "sqlite":
        pytest.skip("browser tests run in the SQLite pass")
    with demo_server(tmp_path_factory.mktemp("live")) as base:
        yield base


@pytest.fixture(scope="session")
def few_listed_server(tmp_path_factory):
    """Base URL of a demo server whose drop-downs list at most two choices (CHOICES_LISTED=2): past that, only
    the chosen ones are in the page and the others come from the server as one types (app/choices)."""
    if backend() != "sqlite":
        pytest.skip("browser tests run in the SQLite pass")
    with demo_server(tmp_path_factory.mktemp("few-listed"), CHOICES_LISTED="2") as base:
        yield base


# Package scope: Playwright's synchronous API keeps an event loop running in this thread while it
# lives; it ends with the browser tests, so later tests (pyHanko signing with asyncio.run) can run.
@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone_page(browser):
    """A page on a phone's screen (390x844, touch), for what an officer on the move meets."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-GB")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_accounts():
    from app.demo.loader import demo_sign_ins

    # The first account of each role and organisation (the demo's first manager, not the Minister's office
    # listed after them).
    accounts: dict = {}
    for row in demo_sign_ins():
        accounts.setdefault(row["role"] + ":" + (row.get("organization") or ""), row)
    return accounts


def navigate(page, action, **expected) -> None:
    """Run `action` (a click, a submit, a select that submits its form) and wait until the page it leads to
    has loaded. Every step that navigates goes through here: `wait_for_load_state()` alone returns at once
    when the old page is still loaded, and the next step then races the navigation."""
    with page.expect_navigation(wait_until="load", **expected):
        action()


def switch_language(page, language: str) -> None:
    """Choose `language` in the top bar's auto-submitting select and wait for the page to come back in it."""
    select = page.locator("select[name=language]")
    if select.input_value() == language:
        return
    navigate(page, lambda: select.select_option(language))
    page.wait_for_function("language => document.documentElement.lang === language", arg=language)


def sign_in(page, base: str, email: str, password: str) -> None:
    """Sign in from a clean slate: the cookies of whoever was signed in before are dropped first, the sign-in
    form must really be on the page, and the step ends once the page after signing in has loaded."""
    page.context.clear_cookies()
    page.goto(base + "/sign-in", wait_until="load")
    page.locator("input[name=email]").wait_for(state="visible")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    navigate(page, lambda: page.press("input[name=password]", "Enter"))
    # A refused sign-in comes back to the form; say so here rather than in a later step.
    page.locator("form[action$='/sign-out']").first.wait_for(state="attached")


def new_mou(page, base: str, **titles: str) -> None:
    """Make an MoU with Mistral AI through the new-agreement form, with `titles` (title_fr="…"), and wait for
    its page."""
    page.goto(base + "/agreements/new")
    page.select_option("select[name=type]", "mou")
    for name, title in titles.items():
        page.fill(f"input[name={name}]", title)
    choose(page, "partners", "Mistral")
    navigate(page, page.locator("form button[type=submit]").last.click)


def account(demo_accounts, role: str, organization_contains: str = ""):
    for key, row in demo_accounts.items():
        if key.startswith(role + ":") and organization_contains.lower() in key.lower():
            return row
    raise LookupError(f"no demo account for {role} {organization_contains}")


def choose(page, field: str, text: str) -> None:
    """Pick the first option of the searchable list `field` (Tom Select) that matches `text`, as a person
    does: type in its search box, wait for the highlighted match, Enter."""
    search = page.locator(f"#{field}-ts-control")
    search.click()
    search.fill(text)
    page.locator(f"#{field}-ts-dropdown [role=option].active").wait_for(state="visible")
    search.press("Enter")
    page.keyboard.press("Escape")
