"""Health, readiness, metrics and the jobs page."""

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_login import current_user, login_required

from app.core import metrics
from app.core.models import utcnow
from app.core.permissions import can_scrape_metrics, require
from app.operations import services

blueprint = Blueprint("operations", __name__)


@blueprint.route("/healthz")
def health():
    """The process is up and answering (a load balancer's liveness check: no database)."""
    return jsonify(status="ok", version=current_app.config.get("VERSION", "dev"))


@blueprint.route("/readyz")
def ready():
    """Ready for traffic: the database answers, its schema is at head, storage takes writes."""
    checks = services.readiness()
    ready_ = all(value == "ok" for value in checks.values())
    if not ready_:
        current_app.logger.warning("not ready: %s", checks)
    # Only "ok"/"failed" to the world; the reasons are in the log.
    public = {name: "ok" if value == "ok" else "failed" for name, value in checks.items()}
    return jsonify(status="ok" if ready_ else "unavailable", checks=public), 200 if ready_ else 503


@blueprint.route("/metrics")
def prometheus_metrics():
    if not can_scrape_metrics(request.remote_addr, request.headers.get("Authorization"), current_app.config):
        abort(404)
    from app.operations.metrics import DatabaseCollector

    body, content_type = metrics.render(DatabaseCollector())
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


@blueprint.route("/admin/jobs")
@login_required
def list_jobs():
    require(current_user, "job.view")
    jobs = services.job_statuses()
    return render_template(
        "operations/jobs.html",
        jobs=jobs,
        silent_since=services.scheduler_silent_since(jobs, utcnow()),
        never_ran=services.scheduler_never_ran(jobs),
        job_labels=services.JOB_LABELS,
        shown_counts=services.shown_counts,
    )
