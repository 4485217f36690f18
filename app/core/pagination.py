"""Pagination that never fails on a strange ?page= value."""
from __future__ import annotations

from flask import current_app, request

from app.extensions import db

MAX_PAGE = 100_000


def requested_page() -> int:
    try:
        page = int(request.args.get("page", 1))
    except (TypeError, ValueError):
        return 1
    return min(max(page, 1), MAX_PAGE)


def paginate(query, per_page: int | None = None):
    """A Flask-SQLAlchemy Pagination of `query` for the page asked in the URL."""
    return db.paginate(query, page=requested_page(), per_page=per_page or current_app.config["PER_PAGE"],
                       error_out=False, count=True)
