"""Every route × every role (and anonymous): who gets in, who is refused, and how.

The expectations are written out here by hand, not derived from the permission
module, so a wrong rule there makes this test fail.
"""
from __future__ import annotations

import pytest

from tests.conftest import SignedInClient

ROLES = ["anonymous", "admin", "officer", "other_officer", "manager", "legal", "auditor", "partner", "partner_b"]
EDITORS = {"admin", "officer", "other_officer", "manager"}
MINISTRY = {"admin", "officer", "other_officer", "manager", "legal", "auditor"}
ACTORS = {"admin", "officer", "other_officer", "manager", "legal", "partner", "partner_b"}
APPROVERS = {"admin", "officer", "other_officer", "manager", "legal"}
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
    ("/sign-in", expect(302, anonymous=200)),
    ("/account/password", expect(200)),
    ("/agreements/", expect(200)),
    ("/agreements/new", only(EDITORS)),
    ("/agreements/{a}", expect(200, partner_b=404)),
    ("/agreements/{b}", expect(200, partner=404)),
    ("/agreements/999999", expect(404)),
    ("/agreements/{a}/edit", only({"admin", "officer", "manager"}, partner_b=404)),
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
    ("/admin/users/{user}/edit", only({"admin"})),
    ("/inbox", only(ACTORS)),
    ("/workflows/", only(MINISTRY)),
    ("/workflows/mou", only(MINISTRY)),
    ("/account/delegations", only(APPROVERS)),
    ("/agreements/{a}/documents/999999", expect(404)),
    ("/portal", only({"partner", "partner_b"})),
    ("/deliverables/", expect(200)),
    ("/deliverables/{occ_a}", expect(200, partner_b=404)),
    ("/deliverables/{occ_b}", expect(200, partner=404)),
    ("/deliverables/files/999999", expect(404)),
    ("/agreements/{a}/deliverables/new", only({"admin", "officer", "manager"}, partner_b=404)),
]

# POSTs with a valid CSRF token and an invalid form: allowed roles get the form
# back with errors (422), others are refused before anything is validated.
BAD = {"slug": "Not A Slug!", "held_on": "not a date", "email": "not-an-email", "partners": ""}
POST_ROUTES = [
    ("/agreements/new", only(EDITORS, ok=422)),
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
    ("/agreements/{a}/signatories", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{a}/signatories/1/sign", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{a}/signed-copy", only(ACTORS - {"partner_b"}, ok=303, partner_b=404)),
    ("/agreements/{b}/actions/submit_for_review", only(ACTORS - {"partner"}, ok=303, partner=404)),
    ("/agreements/{a}/amendment", only({"admin", "officer", "manager"}, ok=303, partner_b=404)),
    ("/account/delegations", only(APPROVERS, ok=422)),
    ("/account/delegations/999999/revoke", only(APPROVERS, ok=404)),
    # Deliverables answer an invalid form by going back to the occurrence with the reason.
    ("/deliverables/{occ_a}/submissions", only({"partner"}, ok=303, partner_b=404)),
    ("/deliverables/{occ_a}/review", only({"admin", "officer", "manager"}, ok=303, partner_b=404)),
    ("/deliverables/{occ_a}/waive", only({"admin", "manager"}, ok=303, partner_b=404)),
    ("/agreements/{a}/deliverables/new", only({"admin", "officer", "manager"}, ok=422, partner_b=404)),
]


@pytest.fixture
def ids(world):
    from tests import factories

    from app.deliverables import services as deliverables
    from datetime import date, timedelta

    def plan(agreement, organization):
        return deliverables.plan_deliverable(agreement, deliverables.PlanData(
            title_fr="Rapport", title_ar=None, title_en=None, description=None,
            responsible_organization_id=organization.id, recurrence="once",
            first_due_on=date.today() + timedelta(days=3)), by=world.users["officer"]).occurrences[0]

    occ_a, occ_b = plan(world.agreement_a, world.partner_a), plan(world.agreement_b, world.partner_b)
    event_b_only = factories.event("Cérémonie B")
    world.agreement_b.signing_event_id = event_b_only.id
    from app.extensions import db

    db.session.commit()
    return {
        "a": world.agreement_a.id, "b": world.agreement_b.id,
        "org_a": world.partner_a.id, "org_b": world.partner_b.id, "ministry": world.ministry.id,
        "event": world.event.id, "event_b_only": event_b_only.id, "user": world.users["officer"].id,
        "occ_a": occ_a.id, "occ_b": occ_b.id,
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
