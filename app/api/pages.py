"""Pages around the API: a person's tokens, and the API's documentation (served offline)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from app.api import tokens
from app.api.core import API_PREFIX
from app.api.forms import TokenForm
from app.api.models import ApiToken
from app.core import reveal
from app.core.db import keep_even_if_refused
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import gettext as _
from app.core.permissions import require
from app.core.responses import done, form_errors, refused
from app.extensions import db
from app.notifications.forms import ConfirmForm

blueprint = Blueprint("api_pages", __name__)


@blueprint.route("/account/tokens", methods=["GET", "POST"])
@login_required
def list_tokens():
    require(current_user, "token.manage")
    # A form sent without the field (a script older than token lives) gets the default life.
    form = TokenForm(days=tokens.default_lifetime())
    form.days.choices = tokens.offered_lifetimes()
    if form.validate_on_submit():
        with refusal_shown_on(form):
            _token, secret = tokens.create_token(current_user, form.name.data, by=current_user, days=form.days.data)
            # Shown once on the next page; only its hash is kept beyond that.
            ticket = reveal.keep(current_user, "api_token", secret)
            return done(
                url_for("api_pages.list_tokens", shown=ticket), _("Token created: copy it now, it is shown only once.")
            )
    status = form_status(form)
    new_token = reveal.take(current_user, "api_token", request.args.get("shown"))
    if request.args.get("shown"):
        keep_even_if_refused()  # the secret is gone once shown
    return render_template(
        "api/tokens.html",
        form=form,
        tokens=tokens.tokens_of(current_user),
        new_token=new_token,
        confirm=ConfirmForm(),
        docs_url=url_for("api_pages.api_docs"),
    ), status


@blueprint.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    require(current_user, "token.manage")
    back = url_for("api_pages.list_tokens")
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:  # someone else's token does not exist for you
        abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    tokens.revoke_token(token, by=current_user)
    return done(back, _("The token “%(name)s” no longer works.", name=token.name))


@blueprint.route(f"{API_PREFIX}/docs")
def api_docs():
    """The reference, drawn from the OpenAPI document the API publishes (no script, works offline)."""
    from app.api import reference
    from app.api.core import api

    spec = api.spec.to_dict()
    return render_template(
        "api/docs.html",
        spec=spec,
        operations=reference.operations(spec),
        schemas=reference.schemas(spec),
        spec_url=url_for("api-docs.openapi_json"),
    )
