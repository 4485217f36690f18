"""URLs: redirect safety, and the ids paths carry."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # the largest id an integer column holds, on both databases


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: a number past MAX_ID names nothing, so it reaches the route as 0, which no row
    has (a 404 there, as for any id that names nothing), instead of reaching a database that cannot compare
    it (SQLite refuses integers past 2**63). Not a converter maximum: werkzeug then answers 405 for a method
    another rule of the same path takes."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if number <= MAX_ID else 0


def is_safe_redirect(target: str | None, *, allow_absolute: bool = True) -> bool:
    """Only paths on this site: no scheme, no host, no '//' or backslash tricks."""
    if not target or not isinstance(target, str):
        return False
    target = target.strip()
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        if not allow_absolute:
            return False
        # A full URL is fine only if it points at this very host (the Referer header).
        host_url = urlsplit(request.host_url)
        return parts.scheme in ("http", "https") and parts.netloc == host_url.netloc
    return target.startswith("/") and not target.startswith("//")
