"""Redirect safety."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


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
