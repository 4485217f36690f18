"""Pagination that never fails on a strange ?page= value."""

from __future__ import annotations

from flask import current_app, request
from flask_sqlalchemy.pagination import SelectPagination
from sqlalchemy import Integer, func, literal_column, select, union_all
from sqlalchemy.orm import lazyload

from app.extensions import db

MAX_PAGE = 100_000


def requested_page() -> int:
    try:
        page = int(request.args.get("page", 1))
    except (TypeError, ValueError):
        return 1
    return min(max(page, 1), MAX_PAGE)


# A list that grows with the portfolio (a government's 100,000 due dates) counts its rows up to this
# many: past it, "more than 10,000" tells a reader as much as the exact figure, which cost more than the
# rest of the page to count on every view. Filtered lists are mostly shorter, and counted exactly.
COUNTED_UP_TO = 10_000


class Page(SelectPagination):
    """A page of a list (Flask-SQLAlchemy's pagination of a select), counted up to `counted_up_to` rows
    when it is given: `total` then stops there and `more_than_total` says the list has more (its pages
    go as far as the counted rows)."""

    more_than_total = False

    def _query_count(self) -> int:
        ceiling = self._query_args.get("counted_up_to")
        if ceiling is None:
            return super()._query_count()
        query = self._query_args["select"].options(lazyload("*")).order_by(None).limit(ceiling + 1)
        found = self._query_args["session"].execute(select(func.count()).select_from(query.subquery())).scalar_one()
        self.more_than_total = found > ceiling
        return min(found, ceiling)


def paginate(query, per_page: int | None = None, *, grows_with_portfolio: bool = False) -> Page:
    """The page of `query` asked in the URL, or its last page when the list is shorter. A list that
    `grows_with_portfolio` is counted up to COUNTED_UP_TO rows."""

    def page_number(number: int) -> Page:
        return Page(
            select=query,
            session=db.session(),
            page=number,
            per_page=per_page or current_app.config["PER_PAGE"],
            max_per_page=None,
            error_out=False,
            count=True,
            counted_up_to=COUNTED_UP_TO if grows_with_portfolio else None,
        )

    page = page_number(requested_page())
    if not page.items and page.page > 1 and page.pages:
        # Past the end (an old bookmark, a list that has shrunk): its last page, not "0–0 of 50".
        page = page_number(page.pages)
    return page


def first_with_total(query, limit: int, *, unique_by=None) -> tuple[list, int]:
    """The first `limit` rows of `query` (an entity, or a tuple when it selects several) and how many
    rows it has in all, from one statement:
    COUNT(*) OVER () is computed before LIMIT, and no row means a total of none.

    `unique_by` (a column with one value per row, the first entity's id): the rows are numbered and counted
    on that column alone, in the query's order, and only the first `limit` are read whole. Counted over
    whole rows, a list with thousands of rows built each of them (the weekly digest's overdue deliverables,
    four tables wide: 0.27 s of PostgreSQL's time at 10,000 agreements, for 15 rows shown)."""
    if unique_by is None:
        rows = db.session.execute(query.add_columns(func.count().over().label("total")).limit(limit)).all()
    else:
        numbered = (
            query.with_only_columns(
                unique_by.label("picked_id"),
                func.count().over().label("total"),
                func.row_number().over(order_by=query._order_by_clauses).label("position"),
            )
            .order_by(None)
            .subquery()
        )
        rows = db.session.execute(
            query.order_by(None)
            .add_columns(numbered.c.total)
            .join(numbered, numbered.c.picked_id == unique_by)
            .where(numbered.c.position <= limit)
            .order_by(numbered.c.position)
        ).all()
    return [row[0] if len(row) == 2 else tuple(row[:-1]) for row in rows], (int(rows[0][-1]) if rows else 0)


def firsts_with_totals(entity, queries: dict, limit: int, *, options=()) -> dict:
    """first_with_total for several lists of the same entity (one card each), from one statement.

    `queries` maps a key to (query, order_by): the query selects `entity` (with any joins and
    conditions, no ORDER BY) and order_by is the ordering of its list. Each list's first `limit` ids
    are those numbered 1 to `limit` by ROW_NUMBER() in its order, counted with COUNT(*) OVER (), glued
    with UNION ALL; one SELECT then loads those rows (with `options`). Answers {key: (rows, total)}.

    Not ORDER BY … LIMIT: the count needs every row anyway, but PostgreSQL costs a LIMIT as if it could
    stop early and walks an index in the list's order past the whole portfolio's rows (an officer's
    overdue deliverables: 51 ms at 10,000 agreements, read from the owner's agreements instead: 6 ms).
    """
    branches = []
    for number, (query, order_by) in enumerate(queries.values()):
        numbered = query.with_only_columns(
            entity.id.label("id"),
            literal_column(str(number), Integer).label("list_number"),
            func.count().over().label("total"),
            func.row_number().over(order_by=order_by).label("position"),
        ).subquery()
        branches.append(select(numbered).where(numbered.c.position <= limit))
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
