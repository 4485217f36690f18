"""Who is on the other end of a request behind a reverse proxy.

Behind nginx every connection comes from the proxy, so per-address rules (the sign-in throttle, the
password-reset limit, /metrics' networks, the session's recorded address) saw one address for everyone:
twenty wrong passwords from anyone locked everyone out. A request from a TRUSTED_PROXIES address is read
as the client the proxy names (the last X-Forwarded-For hop, which the proxy itself appended; the scheme
from X-Forwarded-Proto). A request from anywhere else keeps its own address whatever it claims, so a
client that reaches the app directly cannot pick the address it is counted under.
"""

from __future__ import annotations

import ipaddress

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def trust_proxies(app: Flask) -> None:
    """Read the client from the proxy's headers on requests that come from TRUSTED_PROXIES (none: off)."""
    networks = tuple(app.config.get("TRUSTED_PROXIES") or ())
    if not networks:
        return
    direct = app.wsgi_app
    through_proxy = ProxyFix(direct, x_for=1, x_proto=1)

    def wsgi_app(environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        if _within(peer, networks):
            return through_proxy(environ, start_response)
        return direct(environ, start_response)

    app.wsgi_app = wsgi_app  # type: ignore[method-assign]


def _within(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
