"""GET /search: the top bar's box, over everything the reader may see."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from app.core.permissions import require
from app.search.services import LIMIT, agreements_found, search

blueprint = Blueprint("search", __name__)


@blueprint.route("/search")
@login_required
def search_everything():
    require(current_user, "search.use")
    query = (request.args.get("q") or "").strip()[:200]
    # One more than shown: whether there are more than LIMIT, not "the first 30" for exactly 30.
    results = search(current_user, query, LIMIT + 1) if query else []
    has_more = len(results) > LIMIT
    results = results[:LIMIT]
    # The agreements list shows every matching agreement: offered when it has more than the page shows
    # (the hits past the 30th may be deliverables or files, which it does not list). Counted on every
    # search, so a page costs the same statements whatever the portfolio's size.
    agreements_matching = agreements_found(current_user, query) if query else 0
    return render_template(
        "search/results.html",
        query=query,
        results=results,
        has_more=has_more,
        limit=LIMIT,
        agreements_matching=agreements_matching
        if has_more and agreements_matching > sum(result.kind == "agreement" for result in results)
        else 0,
    )
