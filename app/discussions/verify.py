"""/verify: drop a file, learn whether it is exactly a copy Sharaka stores (within one's permissions)."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.permissions import require
from app.discussions import copies

blueprint = Blueprint("verify", __name__)


@blueprint.route("/verify", methods=["GET", "POST"])
@login_required
def verify_copy():
    require(current_user, "copy.verify")
    raw_code = (request.values.get("code") or "")[:40]
    code = copies.normalize_code(raw_code)
    expected = copies.matches(current_user, code=code) if code else []
    context = {
        "raw_code": raw_code,
        "code": code,
        "expected": [m for m in expected if m.is_final] or expected,
        "code_unknown": bool(raw_code) and not expected,
        "result": None,
        "error": None,
    }
    status = 200
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                message = _("Choose a file to check.")
                raise ValidationFailed(message, {"file": [message]})
            sha = copies.hash_upload(upload.stream)
        except ValidationFailed as error:
            context["error"], status = error.message, 422
        else:
            found = copies.matches(current_user, sha256=sha)
            context["result"] = {
                "sha256": sha,
                "matches": found,
                "name": upload.filename,
                "matches_code": bool(code) and sha.startswith(code),
            }
    return render_template("discussions/verify.html", **context), status
