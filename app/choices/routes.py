"""GET /choices/<kind>?q=… (or ?ids=1,2): the choices a person may pick, as JSON, for a drop-down searched as
one types. Only what that person may choose; anything malformed is a 400, never a 500."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user

from app.choices import services
from app.choices.kinds import KINDS
from app.core.errors import error_response
from app.core.i18n import gettext as _
from app.core.permissions import require
from app.core.urls import MAX_ID

blueprint = Blueprint("choices", __name__, url_prefix="/choices")

MAX_QUERY = 200


def _read_ids(value: str | None) -> list[int] | None:
    """`1,2,3` as whole numbers; None when malformed."""
    if not value:
        return []
    parts = value.split(",")
    if len(parts) > services.MAX_IDS or any(not part.isdecimal() or len(part) > 10 for part in parts):
        return None
    ids = [int(part) for part in parts]
    return None if any(number > MAX_ID for number in ids) else ids


@blueprint.route("/<kind>")
def find_choices(kind: str):
    if not current_user.is_authenticated:
        abort(401)
    found = KINDS.get(kind)
    if found is None:
        abort(404)
    require(current_user, found.grant)
    query = request.args.get("q", "")
    ids = _read_ids(request.args.get("ids"))
    exclude = _read_ids(request.args.get("exclude"))
    if len(query) > MAX_QUERY or "\x00" in query or ids is None or exclude is None:
        return error_response(
            400, _("Type at most %(count)s characters; ids are whole numbers separated by commas.", count=MAX_QUERY)
        )
    return jsonify(results=services.find(kind, current_user, query=query, ids=ids, exclude=exclude))


@blueprint.app_template_global()
def searchable_attributes(search_help: str | None = None) -> dict[str, str]:
    """The data- attributes sharaka.js reads to turn a <select> into a search box (Tom Select): its messages."""
    return {
        "data-searchable": "",
        "data-no-results": _("Nothing matches what you typed."),
        "data-remove-label": _("Remove"),
        "data-added": _("Added: {name}"),
        "data-removed": _("Removed: {name}"),
        "data-chosen": _("Chosen: {names}"),
        "data-none-chosen": _("Nothing chosen yet."),
        "data-search-help": search_help or _("Type a name, then Enter to choose it; Backspace removes the last one."),
    }
