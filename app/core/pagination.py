"""Pagination that never fails on a strange ?page= value."""

from __future__ import annotations

from flask import current_app, request
from sqlalchemy import Integer, func, literal_column, select, union_all

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


def firsts_with_totals(entity, queries: dict, limit: int, *, options=()) -> dict:
    """first_with_total for several lists of the same entity (one card each), from one statement.

    `queries` maps a key to (query, order_by): the query selects `entity` (with any joins and
    conditions, no ORDER BY) and order_by is the ordering of its list. Each list's first `limit` ids
    come from its own ORDER BY … LIMIT, counted with COUNT(*) OVER () before the LIMIT, glued with
    UNION ALL; one SELECT then loads those rows (with `options`). Answers {key: (rows, total)}.
    """
    branches = []
    for number, (query, order_by) in enumerate(queries.values()):
        branches.append(
            query.with_only_columns(
                entity.id.label("id"),
                literal_column(str(number), Integer).label("list_number"),
                func.count().over().label("total"),
                func.row_number().over(order_by=order_by).label("position"),
            )
            .order_by(*order_by)
            .limit(limit)
            .subquery()
            .select()
        )
    picked = union_all(*branches).subquery()
    rows = db.session.execute(
        select(entity, picked.c.list_number, picked.c.total)
        .join(picked, picked.c.id == entity.id)
        .options(*options)
        .order_by(picked.c.list_number, picked.c.position)
    ).all()
    answers: dict = {key: ([], 0) for key in queries}
    keys = list(queries)
    for row, number, total in rows:
        found, _total = answers[keys[number]]
        answers[keys[number]] = (found + [row], int(total))
    return answers
