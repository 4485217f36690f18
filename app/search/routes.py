"""GET /search: the top bar's box, over everything the reader may see."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from app.core.permissions import require
from app.search.services import LIMIT, search

blueprint = Blueprint("search", __name__)


@blueprint.route("/search")
@login_required
def search_everything():
    require(current_user, "search.use")
    query = (request.args.get("q") or "").strip()[:200]
    # One more than shown: whether there are more than LIMIT, not "the first 30" for exactly 30.
    results = search(current_user, query, LIMIT + 1) if query else []
    return render_template(
        "search/results.html", query=query, results=results[:LIMIT], has_more=len(results) > LIMIT, limit=LIMIT
    )
