"""Notifications pages, mail choices, the calendar feed and the admins' outbox."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

from app.core import clock, reveal
from app.core.db import keep_even_if_refused
from app.core.errors import ValidationFailed, wants_json
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import gettext as _
from app.core.pagination import paginate
from app.core.permissions import (
    get_agreement_or_404,
    get_notification_or_404,
    get_outbox_message_or_404,
    require,
)
from app.core.responses import done, form_errors, refused, return_here_if_refused
from app.core.urls import MAX_ID, is_safe_redirect
from app.extensions import csrf, db
from app.notifications import outbox, services
from app.notifications.calendar import build_calendar
from app.notifications.forms import ConfirmForm, MailChoicesForm, MailPauseForm
from app.notifications.messages import detail, headline
from app.notifications.models import CATEGORIES, OUTBOX_STATUSES, OutboxMessage

blueprint = Blueprint("notifications", __name__)


@blueprint.route("/approvals/<int:round_id>/remind", methods=["POST"])
@login_required
def remind_approvers(round_id: int):
    """The dashboard's "Send a reminder" on a late approval someone else must give."""

    from app.core.i18n import ngettext
    from app.notifications.manual import remind_approvers as remind
    from app.workflow.models import ApprovalRound

    require(current_user, "approval.remind")
    round_ = db.session.get(ApprovalRound, round_id)
    if round_ is None:
        abort(404)
    get_agreement_or_404(round_.agreement_id, current_user)
    back = url_for("dashboards.home")
    return_here_if_refused(back)
    count = remind(round_, by=current_user, today=clock.today())
    return done(back, ngettext("Reminder sent to %(num)s person.", "Reminder sent to %(num)s people.", count))


@blueprint.route("/approvals/<int:round_id>/reassign", methods=["GET", "POST"])
@login_required
def reassign_approval(round_id: int):
    """A manager hands someone else's late approval to a colleague (dashboard, "Reassign / delegate")."""
    from datetime import timedelta

    from app.notifications.forms import ReassignApprovalForm
    from app.notifications.manual import reassign_approval as reassign
    from app.notifications.manual import reassign_choices
    from app.notifications.reminders import waiting_approval
    from app.workflow.engine import definition_for, step_asked, still_asked_of
    from app.workflow.models import ApprovalRound

    require(current_user, "approval.reassign")
    round_ = db.session.get(ApprovalRound, round_id)
    if round_ is None:
        abort(404)
    agreement = get_agreement_or_404(round_.agreement_id, current_user)
    back = url_for("dashboards.home")
    waiting = waiting_approval(round_)
    if waiting is None:
        return refused(back, ValidationFailed(_("This approval no longer waits on anyone.")))
    holders, takers = reassign_choices(round_)
    _agreement, step, started, sla, _approvers = waiting
    transition = definition_for(agreement).transition(round_.transition)
    asked, step_holders = step_asked(transition, agreement, step.name)
    shown = {"agreement": agreement, "round": round_, "step_label": asked, "step_holders": step_holders}
    shown |= {"started": started}
    shown |= {"sla": sla, "holders": holders, "takers": takers, "to_appoint": still_asked_of(step, round_)}
    if not (holders and takers):
        # Nobody to hand it from (no active account holds the role) or to: said, and no form, whose "Hand it
        # over" could only answer "Please correct the errors below".
        return render_template("notifications/reassign.html", form=None, **shown), (
            409 if request.method == "POST" else 200
        )
    form = ReassignApprovalForm()
    form.from_id.choices = [(person.id, person.full_name) for person in holders]
    form.to_id.choices = [(person.id, person.choice_label) for person in takers]
    today = clock.today()
    if request.method == "GET":
        form.ends_on.data = today + timedelta(days=7)
    if form.validate_on_submit():
        with refusal_shown_on(form):
            reassign(
                round_,
                from_user=_user(form.from_id.data),
                to_user=_user(form.to_id.data),
                ends_on=form.ends_on.data,
                by=current_user,
                today=today,
            )
            taker = _user(form.to_id.data)
            return done(
                back,
                _(
                    "The approval of %(ref)s is handed to %(name)s, who has been told.",
                    ref=agreement.reference,
                    name=taker.full_name,
                ),
            )
    return render_template("notifications/reassign.html", form=form, **shown), form_status(form)


def _user(user_id):
    """The account with this id, or None for anything else (a number no column holds is not a 500)."""
    from app.auth.models import User

    return db.session.get(User, user_id) if isinstance(user_id, int) and 0 < user_id <= MAX_ID else None


@blueprint.app_context_processor
def unread_notifications():
    """The bell's count, asked once per page for signed-in people."""

    def count() -> int:
        if not current_user.is_authenticated:
            return 0
        return services.unread_count(current_user)

    return {"unread_notifications": count}


@blueprint.app_template_global()
def notice_headline(notification) -> str:
    return headline(notification.kind, notification.params or {})


@blueprint.app_template_global()
def notice_detail(notification) -> str:
    return detail(notification.kind, notification.params or {})


@blueprint.route("/notifications")
@login_required
def list_notifications():
    require(current_user, "notification.view")
    unread_only = request.args.get("unread") == "1"
    page = paginate(services.notifications_query(current_user, unread_only=unread_only))
    return render_template("notifications/list.html", page=page, unread_only=unread_only, form=ConfirmForm())


@blueprint.route("/notifications/<int:notification_id>/open")
@login_required
def open_notification(notification_id: int):
    """Follow a notice's link, marking it read on the way."""
    notification = get_notification_or_404(notification_id, current_user)
    services.mark_read(notification)
    # A notice's link is a path inside the app: never a full URL (a forged Host header would make one "safe").
    target = (
        notification.link
        if is_safe_redirect(notification.link, allow_absolute=False)
        else url_for("notifications.list_notifications")
    )
    return redirect(target)


@blueprint.route("/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
def mark_notification_read(notification_id: int):
    notification = get_notification_or_404(notification_id, current_user)
    form = ConfirmForm()
    back = url_for("notifications.list_notifications")
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    services.mark_read(notification)
    return done(back, _("Marked as read."), {"id": notification.id, "read": True})


@blueprint.route("/notifications/read-all", methods=["POST"])
@login_required
def mark_all_notifications_read():
    require(current_user, "notification.view")
    form = ConfirmForm()
    back = url_for("notifications.list_notifications")
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    count = services.mark_all_read(current_user)
    return done(back, _("All notifications marked as read."), {"marked": count})


@blueprint.route("/mail/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # a mail client posts here without cookies (RFC 8058): the signed token is the credential
def unsubscribe(token: str):
    """The List-Unsubscribe link of an e-mail. No sign-in: the token, signed for one person and one
    category of mail, is the only thing that lets anyone through, and it can do nothing but switch that
    category off for that person. GET asks first; POST (the mail client's one click, or the page's
    button) switches it off. Mandatory categories stay on, and the page says why."""
    from flask_babel import force_locale

    from app.auth.models import User
    from app.notifications.models import CATEGORIES
    from app.notifications.unsubscribe import read_token

    found = read_token(token)
    person = db.session.get(User, found[0]) if found and 0 < found[0] <= MAX_ID else None
    if person is None:
        return render_template("notifications/unsubscribe.html", state="unknown"), 404
    category = found[1]
    status = 200
    if services.is_mandatory(category):
        state, status = "mandatory", (409 if request.method == "POST" else 200)
    elif request.method == "POST":
        services.switch_off_mail(person, category)
        state = "done"
    else:  # GET, and HEAD (link checkers and mail gateways probe links with it): only ask
        state = "ask" if services.wants_mail(person, category) else "off"
    with force_locale(services.mail_language(person)):  # the page speaks the mail's language
        return render_template(
            "notifications/unsubscribe.html", state=state, label=CATEGORIES[category][0], person=person
        ), status


@blueprint.route("/account/notifications", methods=["GET", "POST"])
@login_required
def preferences():
    require(current_user, "notification.view")
    form = MailChoicesForm()
    if request.method == "GET":
        off = services.switched_off(current_user)
        form.categories.data = [name for name in CATEGORIES if name not in off]
    elif form.validate_on_submit():
        services.set_mail_choices(current_user, set(form.categories.data or []))
        return done(url_for("notifications.preferences"), _("Your mail choices are saved."))
    status = 422 if form.errors else 200
    # Shown once, right after it was made: only its hash is kept beyond that.
    new_feed_url = reveal.take(current_user, "calendar_url", request.args.get("shown"))
    if request.args.get("shown"):
        keep_even_if_refused()  # the address is gone once shown
    return render_template(
        "notifications/preferences.html",
        form=form,
        categories=services.categories_for(current_user),
        feed=services.calendar_feed_of(current_user),
        confirm=ConfirmForm(),
        mail_paused=services.mail_paused(),
        new_feed_url=new_feed_url,
    ), status


@blueprint.route("/account/calendar", methods=["POST"])
@login_required
def create_calendar_feed():
    require(current_user, "notification.view")
    form = ConfirmForm()
    back = url_for("notifications.preferences")
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    token = services.create_calendar_feed(current_user)
    feed_url = services.absolute_url(url_for("notifications.calendar_feed", token=token))
    if not wants_json():  # a page shows it once, from the server; a JSON client gets it in the answer
        back = url_for("notifications.preferences", shown=reveal.keep(current_user, "calendar_url", feed_url))
    return done(back, _("Your calendar address is ready: copy it now, it is shown only once."), {"url": feed_url})


@blueprint.route("/account/calendar/revoke", methods=["POST"])
@login_required
def revoke_calendar_feed():
    require(current_user, "notification.view")
    form = ConfirmForm()
    back = url_for("notifications.preferences")
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    services.revoke_calendar_feed(current_user)
    return done(back, _("Your calendar address no longer works."))


@blueprint.route("/calendar/<token>.ics")
def calendar_feed(token: str):
    """No session: calendar programs fetch it with the secret in the address."""
    user = services.user_for_calendar_token(token)
    if user is None:
        abort(404)
    body = build_calendar(user, clock.today())
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": 'inline; filename="sharaka.ics"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- the outbox, for administrators ------------------------------------------------------


@blueprint.route("/admin/outbox")
@login_required
def list_outbox():
    require(current_user, "outbox.view")
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    status = request.args.get("status")
    if status in OUTBOX_STATUSES:
        query = query.where(OutboxMessage.status == status)
    elif status:
        flash(_("Some filters were not valid and were ignored."), "warning")
        status = None
    pause_form = MailPauseForm(paused=services.mail_paused())
    return render_template(
        "notifications/outbox.html",
        page=paginate(query, per_page=50, grows_with_portfolio=True),
        status=status,
        statuses=OUTBOX_STATUSES,
        counts=outbox.outbox_counts(),
        pause_form=pause_form,
        mail_paused=services.mail_paused(),
        mail_server=current_app.config.get("MAIL_SERVER"),
        mail_held=outbox.held_because() is not None,
    )


@blueprint.route("/admin/outbox/<int:message_id>")
@login_required
def view_outbox_message(message_id: int):
    from app.notifications.lapsed import about_link, lapsed

    message = get_outbox_message_or_404(message_id, current_user)
    body_text, _body_html = services.shown_to_staff(services.bodies_of(message))
    # Why a message is not (to be) sent, in the reader's language as things stand now.
    no_longer_true = lapsed([message]).get(message.id) if message.status in ("withdrawn", "failed") else None
    return render_template(
        "notifications/outbox_message.html",
        message=message,
        body_text=body_text,
        form=ConfirmForm(),
        about=about_link(message),
        no_longer_true=no_longer_true,
        category_label=CATEGORIES[message.category][0] if message.category in CATEGORIES else message.category,
        mail_held=outbox.held_because() is not None,
    )


@blueprint.route("/admin/outbox/<int:message_id>/html")
@login_required
def outbox_message_html(message_id: int):
    """The HTML part as sent, sandboxed: no scripts, no forms, nothing fetched."""
    message = get_outbox_message_or_404(message_id, current_user)
    return Response(
        services.shown_to_staff(services.bodies_of(message))[1],
        mimetype="text/html",
        headers={
            "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@blueprint.route("/admin/outbox/<int:message_id>/retry", methods=["POST"])
@login_required
def retry_outbox_message(message_id: int):
    message = get_outbox_message_or_404(message_id, current_user, need="manage")
    form = ConfirmForm()
    back = url_for("notifications.view_outbox_message", message_id=message.id)
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    if message.status != "failed":
        return refused(back, ValidationFailed(_("Only a message that failed can be sent again.")))
    from app.notifications.lapsed import lapsed

    if reason := lapsed([message]).get(message.id):
        refusal = _("It is no longer true, so it is not sent again: %(reason)s", reason=reason)
        return refused(back, ValidationFailed(refusal))
    outbox.retry(message, by=current_user)
    return done(back, _("The message will be sent again."), {"id": message.id, "message_status": "pending"})


@blueprint.route("/admin/outbox/retry-failed", methods=["POST"])
@login_required
def retry_failed_outbox_messages():
    """The outbox's "Send all failed again": every message that failed for good goes back in the queue."""
    from app.core.i18n import ngettext

    require(current_user, "outbox.manage")
    form = ConfirmForm()
    back = url_for("notifications.list_outbox")
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    count, left_aside = outbox.retry_all_failed(by=current_user)
    said = {"count": count, "no_longer_true": left_aside}
    if not count and not left_aside:
        return done(back, _("No failed message to send again."), said, category="info")
    told = [
        ngettext("%(num)s failed message will be sent again.", "%(num)s failed messages will be sent again.", count)
        if count
        else _("No failed message is sent again.")
    ]
    if left_aside:
        told.append(
            ngettext(
                "%(num)s is no longer true and stays as it was (its page says why).",
                "%(num)s are no longer true and stay as they were (each one's page says why).",
                left_aside,
            )
        )
    return done(back, " ".join(told), said, category="success" if count else "info")


@blueprint.route("/admin/outbox/pause", methods=["POST"])
@login_required
def pause_mail():
    require(current_user, "outbox.manage")
    form = MailPauseForm()
    back = url_for("notifications.list_outbox")
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    services.set_mail_paused(form.paused.data, by=current_user)
    message = (
        _("Outgoing mail is paused; messages wait in the outbox.")
        if form.paused.data
        else _("Outgoing mail is flowing again.")
    )
    return done(back, message, {"paused": bool(form.paused.data)})
