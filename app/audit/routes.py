"""The auditors' page: the state of the hash chain and the last anchors."""

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from app.audit.forms import VerifyForm
from app.core.audit import AuditChainHead
from app.core.audit_chain import recent_anchors, verify
from app.core.permissions import require
from app.extensions import db

blueprint = Blueprint("audit", __name__, url_prefix="/audit")


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


@blueprint.route("/verify", methods=["POST"])
@login_required
def verify_chain():
    require(current_user, "audit.list")
    form = VerifyForm()
    result = verify(form.wanted) if form.validate_on_submit() else None
    return render_template(
        "audit/chain.html",
        head=db.session.get(AuditChainHead, 1),
        anchors=recent_anchors(),
        result=result,
        form=form,
    ), 200 if result else 400
