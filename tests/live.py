"""A real threaded WSGI server over a real database with committed data, and an HTTP client."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager

from werkzeug.serving import make_server

from app.extensions import db
from tests.conftest import make_test_app
from tests.databases import migrated_database


@contextmanager
def live_app(tmp_path):
    """Yield (app, base_url) for a migrated fresh database served by a threaded server."""
    with migrated_database(tmp_path, "live") as url:
        app = make_test_app(url, UPLOAD_DIR=str(tmp_path / "uploads"))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield app, f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(timeout=10)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


class Browser:
    """Just enough of a browser: cookies, CSRF tokens from pages, form posts."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def get(self, path: str) -> tuple[int, str]:
        return self._send(urllib.request.Request(self.base + path, headers={"Accept-Language": "en"}))

    def post(self, path: str, data: dict, *, json: bool = False) -> tuple[int, str]:
        status, _, body = self.send(path, urllib.parse.urlencode(data).encode(), json=json)
        return status, body

    def send(self, path: str, body: bytes, *, json: bool = False, headers: dict | None = None):
        """POST `body` (a form unless `headers` say otherwise): (status, Location or None, body)."""
        sent = {"Accept-Language": "en", "Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        if json:
            sent["Accept"] = "application/json"
        request = urllib.request.Request(self.base + path, data=body, headers=sent, method="POST")
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.headers.get("Location"), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location"), error.read().decode()

    def token(self, path: str) -> str:
        _, page = self.get(path)
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def form_key(self, path: str) -> str:
        """The key of the first changing form on `path` (app/core/receipts.py)."""
        return self.field(path, "form_key")

    def field(self, path: str, name: str) -> str:
        """The value of the first hidden field `name` on `path`."""
        _, page = self.get(path)
        return re.search(rf'name="{name}" (?:type="hidden" )?value="([^"]+)"', page).group(1)

    def sign_in(self, email: str, password: str) -> None:
        status, _ = self.post("/sign-in", {"email": email, "password": password, "csrf_token": self.token("/sign-in")})
        assert status == 302, status

    def _send(self, request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
