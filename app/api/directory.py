"""/api/v1: the caller, organisations, signing events and the caller's notifications."""

from __future__ import annotations

from flask import abort
from sqlalchemy import false, select

from app.agreements.models import SigningEvent
from app.api import schemas
from app.api.agreements import organization_ref, texts
from app.api.core import api_blueprint, api_user, errors, page_of
from app.choices.kinds import organization_matching
from app.core.permissions import (
    can,
    get_event_or_404,
    get_notification_or_404,
    get_organization_or_404,
    visible_events_clause,
    visible_organizations_clause,
)
from app.notifications import services as notifications
from app.notifications.messages import detail, headline
from app.organizations.models import Organization

blueprint = api_blueprint("directory", "The caller, organisations, signing events and notifications.")


@blueprint.route("/me", methods=["GET"])
@blueprint.response(200, schemas.MeSchema)
@errors(blueprint)
def get_me():
    """Who the token belongs to."""
    user = api_user()
    return {
        "id": user.id,
        "email": user.email,
        "name": user.full_name,
        "role": user.role,
        "language": user.language,
        "organization": organization_ref(user.organization) if user.organization else None,
    }


def present_organization(organization: Organization) -> dict:
    return {
        **organization_ref(organization),
        "names": texts(organization, "name"),
        "kind": organization.kind,
        "country": organization.country,
        "is_ministry": organization.is_home,
        "retired_at": organization.retired_at,
        "merged_into_id": organization.merged_into_id,
    }


@blueprint.route("/organizations", methods=["GET"])
@blueprint.arguments(schemas.OrganizationQuerySchema, location="query", as_kwargs=True)
@blueprint.response(200, schemas.page_schema(schemas.OrganizationSchema, "OrganizationPage"))
@errors(blueprint, 400, 403)
def list_organizations(page, per_page, q=None, retired=None):
    user = api_user()
    if not can(user, "organization.list"):
        abort(403)
    query = select(Organization).where(visible_organizations_clause(user))
    if retired is not None:
        query = query.where(Organization.retired_at.is_not(None) if retired else Organization.retired_at.is_(None))
    if q and q.strip():
        # Folded as the pages' searches fold: "ministere" finds "Ministère", "الإنتقال" finds "الانتقال".
        matching = organization_matching(q)
        query = query.where(*matching) if matching else query.where(false())
    result = page_of(query.order_by(Organization.name_fr, Organization.id), {"page": page, "per_page": per_page})
    result["items"] = [present_organization(o) for o in result["items"]]
    return result


@blueprint.route("/organizations/<int:organization_id>", methods=["GET"])
@blueprint.response(200, schemas.OrganizationSchema)
@errors(blueprint, 403, 404)
def get_organization(organization_id: int):
    return present_organization(get_organization_or_404(organization_id, api_user()))


def present_event(event: SigningEvent) -> dict:
    return {
        "id": event.id,
        "name": event.name,
        "names": texts(event, "name"),
        "held_on": event.held_on,
        "ends_on": event.ends_on,
        "place": event.place,
    }


@blueprint.route("/signing-events", methods=["GET"])
@blueprint.arguments(schemas.PageQuerySchema, location="query", as_kwargs=True)
@blueprint.response(200, schemas.page_schema(schemas.SigningEventSchema, "SigningEventPage"))
@errors(blueprint, 400, 403)
def list_signing_events(page, per_page):
    user = api_user()
    if not can(user, "event.list"):
        abort(403)
    query = (
        select(SigningEvent).where(visible_events_clause(user)).order_by(SigningEvent.held_on.desc(), SigningEvent.id)
    )
    result = page_of(query, {"page": page, "per_page": per_page})
    result["items"] = [present_event(e) for e in result["items"]]
    return result


@blueprint.route("/signing-events/<int:event_id>", methods=["GET"])
@blueprint.response(200, schemas.SigningEventSchema)
@errors(blueprint, 403, 404)
def get_signing_event(event_id: int):
    return present_event(get_event_or_404(event_id, api_user()))


def present_notification(notification) -> dict:
    return {
        "id": notification.id,
        "kind": notification.kind,
        "category": notification.category,
        "headline": headline(notification.kind, notification.params or {}),
        "detail": detail(notification.kind, notification.params or {}),
        "link": notification.link,
        "created_at": notification.created_at,
        "read_at": notification.read_at,
    }


@blueprint.route("/notifications", methods=["GET"])
@blueprint.arguments(schemas.NotificationQuerySchema, location="query", as_kwargs=True)
@blueprint.response(200, schemas.page_schema(schemas.NotificationSchema, "NotificationPage"))
@errors(blueprint, 400)
def list_notifications(page, per_page, unread=False):
    """The caller's own notices, newest first."""
    query = notifications.notifications_query(api_user(), unread_only=unread)
    result = page_of(query, {"page": page, "per_page": per_page})
    result["items"] = [present_notification(n) for n in result["items"]]
    return result


@blueprint.route("/notifications/<int:notification_id>/read", methods=["POST"])
@blueprint.response(200, schemas.NotificationSchema)
@errors(blueprint, 404)
def mark_notification_read(notification_id: int):
    notification = get_notification_or_404(notification_id, api_user())
    notifications.mark_read(notification)
    return present_notification(notification)
