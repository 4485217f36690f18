"""Every route × every role (and anonymous): who gets in, who is refused, and how.

The expectations are written out here by hand, not derived from the permission
module, so a wrong rule there makes this test fail.
"""

from __future__ import annotations

import pytest

from app.core import clock
from tests.conftest import SignedInClient

ROLES = [
    "anonymous",
    "admin",
    "officer",
    "other_officer",
    "manager",
    "legal",
    "finance",
    "auditor",
    "partner",
    "partner_b",
]
EDITORS = {"admin", "officer", "other_officer", "manager"}
MINISTRY = {"admin", "officer", "other_officer", "manager", "legal", "finance", "auditor"}
ACTORS = {"admin", "officer", "other_officer", "manager", "legal", "finance", "partner", "partner_b"}
APPROVERS = {"admin", "officer", "other_officer", "manager", "legal", "finance"}
SIGNED_IN = [r for r in ROLES if r != "anonymous"]


def expect(default: int, **overrides) -> dict[str, int]:
    table = {role: default for role in SIGNED_IN}
    table.update(overrides)
    table.setdefault("anonymous", 302)
    return table


def only(allowed: set[str], ok: int = 200, refused: int = 403, **overrides) -> dict[str, int]:
    table = {role: (ok if role in allowed else refused) for role in SIGNED_IN}
    table.update(overrides)
    table.setdefault("anonymous", 302)
    return table


# (method, url template, expected status per role). {a} is partner A's agreement
# (owned by "officer"), {org_a}/{org_b} the partner organisations, {event} the
# ceremony both agreements were signed at, {user} the officer's account.
GET_ROUTES = [
    ("/", expect(302)),
    ("/healthz", expect(200, anonymous=200)),
    ("/readyz", expect(200, anonymous=200)),
    # Neither METRICS_TOKEN nor METRICS_ALLOW_NETWORKS in tests: the page does not exist.
    ("/metrics", expect(404, anonymous=404)),
    ("/admin/jobs", only({"admin", "auditor"})),
    ("/admin/workflows/simulate", only({"admin"})),
    ("/sign-in", expect(302, anonymous=200)),
    ("/account/password", expect(200)),
    ("/agreements/", expect(200)),
    ("/agreements/new", only(EDITORS)),
    ("/agreements/import", only({"admin", "manager"})),
    ("/agreements/import/template.csv", only({"admin", "manager"})),
    ("/agreements/import/template.xlsx", only({"admin", "manager"})),
    ("/agreements/{a}", expect(200, partner_b=404)),
    ("/agreements/{b}", expect(200, partner=404)),
    ("/agreements/999999", expect(404)),
    ("/agreements/{a}/edit", only({"admin", "officer", "manager"}, partner_b=404)),
    ("/agreements/{a}/summary", expect(200, partner_b=404)),
    ("/agreements/{b}/summary", expect(200, partner=404)),
    ("/agreements/999999/summary", expect(404)),
    ("/agreements/export.csv", expect(200)),
    ("/agreements/export.xlsx", expect(200)),
    # Each export is its requester's alone: nobody else learns it exists.
    ("/exports/", expect(200)),
    ("/exports/999999", expect(404)),
    ("/exports/999999/download", expect(404)),
    ("/organizations/", expect(200)),
    ("/organizations/new", only(EDITORS)),
    ("/organizations/{org_a}", expect(200, partner_b=404)),
    ("/organizations/{org_b}", expect(200, partner=404)),
    ("/organizations/{ministry}", expect(200, partner=404, partner_b=404)),
    ("/organizations/{org_a}/edit", only(EDITORS, partner_b=404)),
    ("/organizations/{ministry}/edit", only({"admin"}, partner=404, partner_b=404)),
    ("/events/", expect(200)),
    ("/events/new", only(EDITORS)),
    ("/events/{event}", expect(200, partner_b=404)),
    ("/events/{event_b_only}", expect(200, partner=404)),
    ("/events/{event}/edit", only(EDITORS, partner_b=404)),
    ("/admin/users", only({"admin", "auditor"})),
    ("/admin/users/new", only({"admin"})),
    ("/admin/users/{user}", only({"admin", "auditor"})),
    ("/admin/users/{user}/edit", only({"admin"})),
    ("/inbox", only(ACTORS, partner=302, partner_b=302)),  # a partner's list of what waits: their portal
    ("/search?q=accord", expect(200)),
    # Drop-downs searched as one types: only what the reader may choose (tests/integration/test_choices.py).
    ("/choices/agreements?q=accord", expect(200, anonymous=401)),
    ("/choices/owners?q=a", only(EDITORS, anonymous=401)),
    ("/workflows/", only(MINISTRY)),
    ("/workflows/mou", only(MINISTRY)),
    ("/account/delegations", only(APPROVERS)),
    ("/agreements/{a}/documents/999999", expect(404)),
    ("/portal", only({"partner", "partner_b"})),
    ("/deliverables/", expect(200)),
    ("/deliverables/{occ_a}", expect(200, partner_b=404)),
    ("/deliverables/{occ_b}", expect(200, partner=404)),
    ("/deliverables/files/999999", expect(404)),
    ("/deliverables/export.csv", expect(200)),
    ("/deliverables/export.xlsx", expect(200)),
    ("/agreements/{a}/deliverables/new", only({"admin", "officer", "manager"}, partner_b=404)),
    ("/agreements/{a}/budget/new", only({"admin", "officer", "manager"}, partner_b=404)),
    # {a} is an MoU, not an amendment: editors are sent back to its page.
    ("/agreements/{a}/amendment", only({"admin", "officer", "manager"}, ok=303, partner_b=404)),
    ("/portfolio/budget", only(MINISTRY)),
    ("/portfolio/budget/export.csv", only(MINISTRY)),
    ("/portfolio/budget/export.xlsx", only(MINISTRY)),
    ("/notifications", expect(200)),
    ("/notifications/{notice}/open", expect(404, officer=302)),
    ("/notifications/999999/open", expect(404)),
    ("/account/notifications", expect(200)),
    ("/calendar/not-a-token.ics", expect(404, anonymous=404)),
    # The List-Unsubscribe link: no sign-in, only a token signed for one person and one category of mail.
    ("/mail/unsubscribe/not-a-token", expect(404, anonymous=404)),
    ("/approvals/999999/reassign", only({"admin", "manager"}, ok=404)),
    ("/admin/outbox", only({"admin", "auditor"})),
    ("/admin/outbox/{mail}", only({"admin", "auditor"})),
    ("/admin/outbox/{mail}/html", only({"admin", "auditor"})),
    ("/admin/outbox/999999", only({"admin", "auditor"}, ok=404)),
    ("/account/tokens", expect(200)),
    ("/account/security", expect(200)),
    ("/password/forgot", expect(302, anonymous=200)),
    ("/password/reset/not-a-real-token", expect(404, anonymous=404)),
    ("/audit", only({"admin", "auditor"})),
    ("/audit/events", only({"admin", "auditor"})),
    ("/audit/events?action=nothing&who=x&since=2026-02-30&before=abc&about_id=-1", only({"admin", "auditor"})),
    ("/audit/events.csv", only({"admin", "auditor"})),
    ("/audit/events.xlsx?system=y", only({"admin", "auditor"})),
    # Partners have one home, their portal.
    ("/dashboard", expect(200, partner=302, partner_b=302)),
    ("/portfolio/board", expect(200)),
    ("/portfolio/timeline", expect(200)),
    ("/portfolio/calendar", expect(200)),
    ("/portfolio/analytics", only(MINISTRY)),
    ("/portfolio/indicators", expect(200)),
    ("/portfolio/indicators/export.csv", expect(200)),
    ("/portfolio/indicators/export.xlsx", expect(200)),
    ("/agreements/{a}/compare", expect(200, partner_b=404)),
    ("/agreements/{b}/compare", expect(200, partner=404)),
    ("/agreements/{a}/deliverables/{deliv_a}/indicators/new", only({"admin", "officer", "manager"}, partner_b=404)),
    ("/agreements/{a}/indicators/999999/edit", only({"admin", "officer", "manager"}, ok=404, partner_b=404)),
    ("/api/v1/docs", expect(200, anonymous=200)),
    ("/api/v1/openapi.json", expect(200, anonymous=200)),
    # A session cookie never authenticates the API: only a Bearer token does (tests/integration/test_api*.py).
    ("/api/v1/me", expect(401, anonymous=401)),
    ("/api/v1/agreements", expect(401, anonymous=401)),
    ("/api/v1/budget-totals", expect(401, anonymous=401)),
    ("/api/v1/agreements/{a}/transitions", expect(401, anonymous=401)),
    ("/api/v1/deliverables", expect(401, anonymous=401)),
    ("/api/v1/deliverables/files/999999/content", expect(401, anonymous=401)),
    ("/api/v1/organizations", expect(401, anonymous=401)),
    ("/api/v1/signing-events", expect(401, anonymous=401)),
    ("/api/v1/delegations", expect(401, anonymous=401)),
    ("/api/v1/notifications", expect(401, anonymous=401)),
    # Accounts people run themselves (#15): the second step without a password first sends back to
    # the sign-in; the team pages are an admin's or a partner organisation admin's ("partner" is not one).
    ("/sign-in/code", expect(302, anonymous=302)),
    ("/account", expect(200)),
    ("/account/two-factor", expect(200)),
    # The link confirming one's own new address: no sign-in, only its token (test_own_email_change.py).
    ("/account/email/confirm/not-a-real-token", expect(404, anonymous=404)),
    ("/team", only({"admin"})),
    ("/team/{user}", only({"admin"})),
    ("/team/999999", only({"admin"}, ok=404)),
    ("/invitations/new", only({"admin"})),
    ("/invitation/not-a-real-token", expect(404, anonymous=404)),
    ("/api/v1/agreements/{a}/threads/shared/messages", expect(401, anonymous=401)),
    ("/api/v1/discussions/attachments/999999/content", expect(401, anonymous=401)),
    ("/verify", expect(200)),
    ("/verify?code=0000-0000-0000", expect(200)),
    ("/discussions/attachments/999999", expect(404)),
    ("/approvals/by-mail/not-a-real-token", expect(404, anonymous=404)),
]

# POSTs with a valid CSRF token and an invalid form: allowed roles get the form
# back with errors (422), others are refused before anything is validated.
BAD = {"slug": "Not A Slug!", "held_on": "not a date", "email": "not-an-email", "partners": ""}
POST_ROUTES = [
    ("/agreements/new", only(EDITORS, ok=422)),
    ("/agreements/import", only({"admin", "manager"}, ok=422)),
    # A session is no API credential: without a token, nobody imports (tests/integration/test_import.py with one).
    ("/api/v1/agreements/import", expect(401, anonymous=401)),
    ("/admin/workflows/simulate", only({"admin"}, ok=422)),
    ("/agreements/{a}/edit", only({"admin", "officer", "manager"}, ok=422, partner_b=404)),
    ("/organizations/new", only(EDITORS, ok=422)),
    ("/organizations/{org_a}/edit", only(EDITORS, ok=422, partner_b=404)),
    ("/events/new", only(EDITORS, ok=422)),
    ("/events/{event}/edit", only(EDITORS, ok=422, partner_b=404)),
    ("/admin/users/new", only({"admin"}, ok=422)),
    ("/admin/users/{user}/edit", only({"admin"}, ok=422)),
    ("/account/password", expect(422)),
    # Workflow moves answer an invalid form by going back to the agreement with the reason.
    ("/agreements/{a}/actions/submit_for_review", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{a}/negotiation/versions", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{a}/negotiation/accept", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{a}/negotiation/acceptances", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{a}/signatories", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{a}/signatories/1/sign", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{a}/signed-copy", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{b}/actions/submit_for_review", only(ACTORS - {"partner"}, ok=303, partner=404)),
    ("/agreements/{a}/amendment", only({"admin", "officer", "manager"}, ok=303, partner_b=404)),
    ("/agreements/{a}/budget/new", only({"admin", "officer", "manager"}, ok=422, partner_b=404)),
    ("/agreements/{a}/budget/999999/delete", only({"admin", "officer", "manager"}, ok=404, partner_b=404)),
    ("/agreements/{a}/deliverables/999999/delete", only({"admin", "officer", "manager"}, ok=404, partner_b=404)),
    ("/account/delegations", only(APPROVERS, ok=422)),
    ("/account/delegations/999999/revoke", only(APPROVERS, ok=404)),
    ("/approvals/999999/remind", only({"admin", "officer", "other_officer", "manager"}, ok=404)),
    # Deliverables answer an invalid form by going back to the occurrence with the reason.
    ("/deliverables/{occ_a}/submissions", only({"partner"}, ok=303, partner_b=404)),
    ("/deliverables/{occ_a}/review", only({"admin", "officer", "manager"}, ok=303, partner_b=404)),
    ("/deliverables/{occ_a}/waive", only({"admin", "manager"}, ok=303, partner_b=404)),
    ("/agreements/{a}/deliverables/new", only({"admin", "officer", "manager"}, ok=422, partner_b=404)),
    (
        "/agreements/{a}/deliverables/{deliv_a}/indicators/new",
        only({"admin", "officer", "manager"}, ok=422, partner_b=404),
    ),
    ("/agreements/{a}/documents/999999/check-signatures", only({"admin"}, ok=404, partner_b=404)),
    # Notices are their recipient's alone; the rest only needs the CSRF token.
    ("/notifications/{notice}/read", expect(404, officer=303)),
    ("/notifications/read-all", expect(303)),
    ("/account/notifications", expect(303)),
    ("/account/calendar", expect(303)),
    ("/account/calendar/revoke", expect(303)),
    # A message that has not failed cannot be sent again: the admin is told so on the page.
    ("/admin/outbox/{mail}/retry", only({"admin"}, ok=303)),
    ("/admin/outbox/retry-failed", only({"admin"}, ok=303)),
    ("/admin/outbox/pause", only({"admin"}, ok=303)),
    ("/account/tokens", expect(422)),
    ("/account/tokens/999999/revoke", expect(404)),
    ("/account/sessions/999999/end", expect(404)),
    ("/password/forgot", expect(302, anonymous=422)),
    ("/password/reset/not-a-real-token", expect(404, anonymous=404)),
    ("/account/sessions/end-others", expect(303)),
    ("/audit/verify", only({"admin", "auditor"})),
    # Threads: an empty message goes back to the page with the reason; auditors read but never write;
    # the internal thread does not exist for partners.
    ("/agreements/{a}/threads/shared/messages", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{a}/threads/internal/messages", only(APPROVERS, ok=303, partner=404, partner_b=404)),
    ("/agreements/{b}/threads/shared/messages", only(ACTORS - {"partner"}, ok=303, partner=404)),
    ("/agreements/{a}/threads/shared/messages/999999/edit", expect(404)),
    ("/deliverables/{occ_a}/threads/shared/messages", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/deliverables/{occ_a}/threads/internal/messages", only(APPROVERS, ok=303, partner=404, partner_b=404)),
    ("/deliverables/{occ_a}/threads/internal/messages/999999/edit", expect(404)),
    ("/verify", expect(422)),
    ("/approvals/by-mail/not-a-real-token", expect(404, anonymous=404)),
    ("/api/v1/agreements", expect(401, anonymous=401)),
    ("/api/v1/agreements/{a}/transitions", expect(401, anonymous=401)),
    ("/api/v1/deliverables/{occ_a}/submissions", expect(401, anonymous=401)),
    ("/api/v1/deliverables/{occ_a}/review", expect(401, anonymous=401)),
    ("/api/v1/notifications/{notice}/read", expect(401, anonymous=401)),
    ("/sign-in/code", expect(302, anonymous=302)),
    ("/account", expect(422)),
    ("/account/two-factor", expect(422)),
    ("/account/email", expect(303)),
    ("/account/email/cancel", expect(303)),
    ("/account/email/confirm/not-a-real-token", expect(404, anonymous=404)),
    ("/account/two-factor/off", expect(303)),
    ("/account/two-factor/recovery-codes", expect(303)),
    ("/admin/users/{user}/two-factor/reset", only({"admin"}, ok=303)),
    ("/admin/users/{user}/sign-out-everywhere", only({"admin"}, ok=303)),
    ("/admin/users/999999/sign-out-everywhere", only({"admin"}, ok=404)),
    ("/team/{user}", only({"admin"}, ok=422)),
    ("/team/999999/deactivate", only({"admin"}, ok=404)),
    ("/invitations/new", only({"admin"}, ok=422)),
    ("/invitations/999999/resend", only({"admin"}, ok=404)),
    ("/invitation/not-a-real-token", expect(404, anonymous=404)),
]


@pytest.fixture
def ids(world):
    from datetime import timedelta

    from app.deliverables import services as deliverables
    from tests import factories

    def plan(agreement, organization):
        return deliverables.plan_deliverable(
            agreement,
            deliverables.PlanData(
                title_fr="Rapport",
                title_ar=None,
                title_en=None,
                description=None,
                responsible_organization_id=organization.id,
                recurrence="once",
                first_due_on=clock.today() + timedelta(days=3),
            ),
            by=world.users["officer"],
        ).occurrences[0]

    occ_a, occ_b = plan(world.agreement_a, world.partner_a), plan(world.agreement_b, world.partner_b)
    event_b_only = factories.event("Cérémonie B")
    world.agreement_b.signing_event_id = event_b_only.id
    from app.extensions import db
    from app.notifications.models import Notification, OutboxMessage

    notice = Notification(
        user_id=world.users["officer"].id,
        kind="agreement_moved",
        category="agreement_activity",
        params={"reference": "X"},
        link=f"/agreements/{world.agreement_a.id}",
    )
    mail = OutboxMessage(
        to_address="someone@example.org",
        language="en",
        category="agreement_activity",
        kind="agreement_moved",
        subject="Subject",
        body_text="Text",
        body_html="<p>HTML</p>",
        message_id="<matrix@example.org>",
    )
    db.session.add_all([notice, mail])
    db.session.commit()
    return {
        "notice": notice.id,
        "mail": mail.id,
        "a": world.agreement_a.id,
        "b": world.agreement_b.id,
        "org_a": world.partner_a.id,
        "org_b": world.partner_b.id,
        "ministry": world.ministry.id,
        "event": world.event.id,
        "event_b_only": event_b_only.id,
        "user": world.users["officer"].id,
        "occ_a": occ_a.id,
        "occ_b": occ_b.id,
        "deliv_a": occ_a.deliverable_id,
    }


def _client(app, world, role):
    return SignedInClient(app, None if role == "anonymous" else world.users[role])


@pytest.mark.parametrize("role", ROLES)
def test_get_routes(app, world, ids, role):
    client = _client(app, world, role)
    failures = []
    for template, table in GET_ROUTES:
        url = template.format(**ids)
        status = client.get(url).status_code
        if status != table[role]:
            failures.append(f"GET {url}: expected {table[role]}, got {status}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
def test_post_routes(app, world, ids, role):
    client = _client(app, world, role)
    token = client.csrf("/sign-in" if role == "anonymous" else "/account/password")
    failures = []
    for template, table in POST_ROUTES:
        url = template.format(**ids)
        status = client.http.post(url, data={**BAD, "csrf_token": token}).status_code
        if status != table[role]:
            failures.append(f"POST {url}: expected {table[role]}, got {status}")
    assert not failures, "\n".join(failures)


def test_every_route_is_in_the_matrix(app):
    """A new route must be added above, so nobody forgets to decide who may use it."""
    covered = {template.split("{")[0].rstrip("/") for template, _ in GET_ROUTES + POST_ROUTES}
    covered |= {"/sign-out", "/language", "/static", "/agreements", "/deliverables"}
    for rule in app.url_map.iter_rules():
        prefix = rule.rule.split("<")[0].rstrip("/")
        assert prefix in covered or any(c.startswith(prefix) for c in covered if prefix), rule.rule


def test_anonymous_is_sent_to_sign_in_with_next(app, world):
    response = app.test_client().get("/agreements/")
    assert response.status_code == 302
    assert "/sign-in?next=" in response.headers["Location"]
