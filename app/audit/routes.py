"""The auditors' pages: the trail itself, newest first and filtered, and the state of its hash chain with the
last anchors."""

from flask import Blueprint, current_app, render_template, request, url_for
from flask_login import current_user, login_required
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from app.audit import browsing
from app.audit.changes import changed, details
from app.audit.forms import TrailFilterForm, VerifyForm
from app.audit.labels import ACTIONS, OBJECTS, action_label, actor_label, object_label
from app.audit.names import names_for
from app.auth.models import User, normalize_email
from app.core.audit import AuditChainHead
from app.core.audit_chain import Verification, recent_anchors, verify
from app.core.forms import without_invalid_filters
from app.core.i18n import gettext as _
from app.core.i18n import names_listed
from app.core.permissions import require
from app.core.text import fold, like_pattern
from app.exports.routes import exported
from app.extensions import db

# What the verify button may spend walking the chain: well within gunicorn's 30 s before it kills a worker
# (gunicorn.conf.py). A longer trail is walked whole every night (the audit anchor) and by `flask audit verify`.
PAGE_VERIFY_SECONDS = 15

blueprint = Blueprint("audit", __name__, url_prefix="/audit")


@blueprint.app_template_global()
def audit_action_label(action: str) -> str:
    return action_label(action)


@blueprint.app_template_global()
def audit_actor_label(label: str) -> str:
    return actor_label(label)


# What an audit row changed, one line a field, for the agreement's history and the trail's page.
blueprint.add_app_template_global(changed, "audit_changed")
blueprint.add_app_template_global(details, "audit_details")


@blueprint.route("")
@login_required
def chain_status():
    require(current_user, "audit.list")
    return render_template(
        "audit/chain.html",
        head=db.session.get(AuditChainHead, 1),
        anchors=recent_anchors(),
        result=None,
        form=VerifyForm(),
    )


# A walk's next part is asked within this time of the last (the page asks it at once by itself; without
# JavaScript, its button): an old part's walk, sent again, would speak for rows read long before.
WALK_MAX_AGE_SECONDS = 15 * 60
WALK_SALT = "sharaka.audit-chain-walk"


def _walks() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=WALK_SALT)


def _walk_sealed(result: Verification, user) -> str:
    """The walk so far, signed for its next part, which only `user` may ask."""
    return _walks().dumps({"user": user.id, "walk": result.carried()})


def _walk_opened(token: str, user) -> Verification | None:
    """The walk a form carries, or None when it is not one this app signed for `user` within the hour."""
    try:
        sealed = _walks().loads(token, max_age=WALK_MAX_AGE_SECONDS)
        if sealed["user"] != user.id:
            return None
        return Verification.resumed(sealed["walk"])
    except (BadSignature, KeyError, TypeError, ValueError, IndexError, OverflowError):
        return None


@blueprint.route("/verify", methods=["POST"])
@login_required
def verify_chain():
    require(current_user, "audit.list")
    form = VerifyForm()
    result = None
    if form.validate_on_submit():
        so_far = _walk_opened(form.walk.data, current_user) if form.walk.data else None
        if form.walk.data and so_far is None:
            form.walk.errors = [
                _(
                    "This check's last part was more than a quarter of an hour ago, or its page was altered: "
                    "verify again from the start."
                )
            ]
        else:
            result = verify(form.wanted, stop_after=PAGE_VERIFY_SECONDS, resume=so_far)
    return render_template(
        "audit/chain.html",
        head=db.session.get(AuditChainHead, 1),
        anchors=recent_anchors(),
        result=result,
        form=form,
        walk=_walk_sealed(result, current_user) if result and not result.complete else None,
        page_seconds=PAGE_VERIFY_SECONDS,
    ), 200 if result else 400


@blueprint.route("/events")
@login_required
def list_events():
    require(current_user, "audit.list")
    form, filters = _read_filters()
    before = request.args.get("before", type=int)
    rows, older = browsing.trail_page(filters, before if before and 0 < before < 2**63 else None)
    kept = {key: value for key, value in request.args.items() if key != "before"}  # the filters, as asked
    return render_template(
        "audit/events.html",
        form=form,
        rows=rows,
        references=browsing.agreement_references(rows),
        names=names_for(rows),
        newest_url=url_for("audit.list_events", **kept) if "before" in request.args else None,
        older_url=url_for("audit.list_events", **kept, before=older) if older else None,
        object_label=object_label,
    )


@blueprint.route("/events.<any(csv, xlsx):fmt>", methods=["GET", "POST"])
@login_required
def export_events(fmt: str):
    require(current_user, "audit.list")
    # Exactly the trail as filtered on screen (its invalid filters ignored there, so here too), every page.
    return exported("audit", _read_filters()[1], fmt)


def _read_filters() -> tuple[TrailFilterForm, browsing.TrailFilters]:
    """The trail's filters from the query string; an invalid one is ignored (the form says which)."""
    form = TrailFilterForm(request.args)
    form.action.choices = [("", _("Any"))] + sorted(
        ((key, str(label)) for key, label in ACTIONS.items()), key=lambda choice: choice[1].casefold()
    )
    form.about.choices = [("", _("Anything"))] + [(key, str(label)) for key, label in OBJECTS.items()]
    without_invalid_filters(form)
    object_type, object_id = form.about.data or None, None
    if form.about_id.data:
        object_id = form.about_number()
        if object_id is None:  # a reference: an agreement's
            object_type, object_id = "agreements", browsing.agreement_referenced(form.about_id.data) or 0  # 0: none
            if not object_id:
                form.about_id.errors = [*form.about_id.errors, _("No agreement has this reference.")]
    actor_id = None
    if form.who.data:
        actor_id, refusal = _account_named(form.who.data)
        if refusal:
            form.who.errors = [*form.who.errors, refusal]
    return form, browsing.TrailFilters(
        action=form.action.data or None,
        object_type=object_type,
        object_id=object_id,
        actor_id=actor_id,
        by_system=bool(form.system.data),
        since=form.since.data,
        until=form.until.data,
    )


# Accounts a name may match before the trail asks for more of it.
MOST_NAMED = 5


def _account_named(typed: str) -> tuple[int, str | None]:
    """The account `typed` names, by its whole address or by part of its name or address ("helene" finds
    Hélène), and None; or 0 (nobody: the page lists nothing rather than everyone's rows) and why."""
    exact = db.session.scalar(select(User.id).where(User.email == normalize_email(typed)))
    if exact is not None:
        return exact, None
    term = fold(typed)
    matches = (
        db.session.execute(
            select(User.id, User.email)
            .where(User.search_text.like(like_pattern(term), escape="\\"))
            .order_by(User.email)
            .limit(MOST_NAMED + 1)
        ).all()
        if term
        else []
    )
    if len(matches) == 1:
        return matches[0].id, None
    if not matches:
        return 0, _("No account has this name or address.")
    return 0, _(
        "Several accounts match: %(addresses)s. Type more of the name, or the whole address.",
        addresses=names_listed([match.email for match in matches], most=MOST_NAMED),
    )
