"""Pagination that never fails on a strange ?page= value."""

from __future__ import annotations

from flask import current_app, request
from sqlalchemy import func

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
    return db.paginate(
        query, page=requested_page(), per_page=per_page or current_app.config["PER_PAGE"], error_out=False, count=True
    )


def first_with_total(query, limit: int) -> tuple[list, int]:
    """The first `limit` rows of `query` (an entity, or a tuple when it selects several) and how many
    rows it has in all, from one statement:
    COUNT(*) OVER () is computed before LIMIT, and no row means a total of none."""
    rows = db.session.execute(query.add_columns(func.count().over().label("total")).limit(limit)).all()
    return [row[0] if len(row) == 2 else tuple(row[:-1]) for row in rows], (int(rows[0][-1]) if rows else 0)
