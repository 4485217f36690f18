"""The JSON API under /api/v1: every endpoint for every role, authentication,
filters, isolation between partners, writes, workflow moves, files and errors.

Calls carry a personal token (`Authorization: Bearer shk_…`) made with the same
service as the profile page; the expectations are written out by hand, like the
permission matrix of the pages (tests/integration/test_permissions_matrix.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, timedelta
from io import BytesIO

import pytest
import schemathesis
from sqlalchemy import func, select, text
from werkzeug.datastructures import FileStorage

from app.agreements.models import Agreement
from app.api.models import ApiToken
from app.api.tokens import create_token, revoke_token
from app.core import clock
from app.deliverables import services as deliverables
from app.extensions import db
from app.notifications.models import Notification
from app.workflow import engine
from app.workflow.services import attach_document
from tests import factories

PROBLEM = "application/problem+json"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"
ROLES = ["admin", "officer", "other_officer", "manager", "legal", "auditor", "partner", "partner_b"]
EDITORS = {"admin", "officer", "other_officer", "manager"}
MINISTRY = {"admin", "officer", "other_officer", "manager", "legal", "auditor"}
APPROVERS = MINISTRY - {"auditor"}
# Who speaks for the ministry in agreement A's negotiation and signatures: its owner, managers, admins.
MINISTRY_SIDE = {"admin", "officer", "manager"}


# --- fixtures ------------------------------------------------------------------------------


class ApiClient:
    """The Flask test client, sending a Bearer token with every call."""

    def __init__(self, app, secret: str | None):
        self.http = app.test_client()
        self.http.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        self.secret = secret

    def headers(self, extra=None) -> dict:
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        return {**headers, **(extra or {})}

    def get(self, path, **kwargs):
        return self.http.get(path, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path, **kwargs):
        return self.http.post(path, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def patch(self, path, **kwargs):
        return self.http.patch(path, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def open(self, path, method, **kwargs):
        return self.http.open(path, method=method, headers=self.headers(kwargs.pop("headers", None)), **kwargs)


@pytest.fixture
def tokens(world):
    """One token per role, made the way the profile page makes them."""
    made = {role: create_token(user, f"{role} script", by=user)[1] for role, user in world.users.items()}
    db.session.commit()
    return made


@pytest.fixture
def api(app, tokens):
    """api("officer") -> a client calling the API with the officer's token."""
    return lambda role: ApiClient(app, tokens[role] if role else None)


def upload(body: bytes = PDF, name: str = "rapport.pdf") -> FileStorage:
    return FileStorage(stream=BytesIO(body), filename=name)


def plan(agreement, organization, by, days: int = 5):
    return deliverables.plan_deliverable(
        agreement,
        deliverables.PlanData(
            title_fr="Rapport",
            title_ar=None,
            title_en="Report",
            description=None,
            responsible_organization_id=organization.id,
            recurrence="once",
            first_due_on=clock.today() + timedelta(days=days),
        ),
        by=by,
    ).occurrences[0]


def build_api_world(world) -> dict:
    """Objects of both partners behind every kind of id the API takes, as a dict of ids.

    occ_a/occ_b are pending deliverables of partner A/B; done_a/done_b were handed in
    (with file_a/file_b); doc_a/doc_b are signed copies; draft is a draft of partner A
    owned by the officer; notice/notice_partner belong to the officer and the partner.
    """
    officer = world.users["officer"]
    occ_a = plan(world.agreement_a, world.partner_a, officer)
    occ_b = plan(world.agreement_b, world.partner_b, officer)
    done_a = plan(world.agreement_a, world.partner_a, officer, days=9)
    done_b = plan(world.agreement_b, world.partner_b, officer, days=9)
    deliverables.submit(
        done_a, [upload(PDF, "a.pdf")], note="A", by=world.users["partner"], expected_version=done_a.version
    )
    deliverables.submit(
        done_b, [upload(PDF + b"b", "b.pdf")], note="B", by=world.users["partner_b"], expected_version=done_b.version
    )
    doc_a = attach_document(world.agreement_a, "signed_copy", upload(PDF + b"sa", "signed A.pdf"), by=officer)
    doc_b = attach_document(world.agreement_b, "signed_copy", upload(PDF + b"sb", "signed B.pdf"), by=officer)
    draft = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Brouillon avec A")
    factories.shown_to_partners(draft)  # a draft its partner was shown (sent back from the negotiation)
    # The ceremony of agreement A only; agreement B gets its own.
    event_b_only = factories.event("Cérémonie B")
    world.agreement_b.signing_event_id = event_b_only.id
    notice = Notification(
        user_id=officer.id,
        kind="agreement_moved",
        category="agreement_activity",
        params={"reference": "X"},
        link=f"/agreements/{world.agreement_a.id}",
    )
    notice_partner = Notification(
        user_id=world.users["partner"].id,
        kind="agreement_moved",
        category="agreement_activity",
        params={"reference": "Y"},
        link=None,
    )
    db.session.add_all([notice, notice_partner])
    db.session.commit()
    return {
        "a": world.agreement_a.id,
        "b": world.agreement_b.id,
        "draft": draft.id,
        "org_a": world.partner_a.id,
        "org_b": world.partner_b.id,
        "ministry": world.ministry.id,
        "event": world.event.id,
        "event_b_only": event_b_only.id,
        "occ_a": occ_a.id,
        "occ_b": occ_b.id,
        "done_a": done_a.id,
        "done_b": done_b.id,
        "file_a": done_a.submissions[0].files[0].id,
        "file_b": done_b.submissions[0].files[0].id,
        "doc_a": doc_a.id,
        "doc_b": doc_b.id,
        "line_a": occ_a.deliverable_id,
        "line_b": occ_b.deliverable_id,
        "deliv_a": occ_a.deliverable_id,
        "notice": notice.id,
        "notice_partner": notice_partner.id,
    }


@pytest.fixture
def ids(world):
    return build_api_world(world)


def refreshed(model, object_id):
    db.session.expire_all()
    return db.session.get(model, object_id)


def assert_problem(response, status: int):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# --- endpoint × role ---------------------------------------------------------------------------


def everyone(status: int, **overrides) -> dict[str, int]:
    return {role: overrides.get(role, status) for role in ROLES}


def only(allowed: set[str], ok: int = 200, refused: int = 403, **overrides) -> dict[str, int]:
    return {role: overrides.get(role, ok if role in allowed else refused) for role in ROLES}


P = "/api/v1"
GET_ROUTES = [
    (f"{P}/me", everyone(200)),
    (f"{P}/agreements", everyone(200)),
    (P + "/agreements/{a}", everyone(200, partner_b=404)),
    (P + "/agreements/{b}", everyone(200, partner=404)),
    (f"{P}/agreements/999999", everyone(404)),
    (f"{P}/agreements/4294967296", everyone(404)),
    (P + "/agreements/{a}/transitions", everyone(200, partner_b=404)),
    (P + "/agreements/{b}/transitions", everyone(200, partner=404)),
    (P + "/agreements/{a}/approvals", everyone(200, partner_b=404)),
    (P + "/agreements/{b}/approvals", everyone(200, partner=404)),
    (P + "/agreements/{a}/history", only(MINISTRY, partner_b=404)),
    (P + "/agreements/{b}/history", only(MINISTRY, partner=404)),
    (P + "/agreements/{a}/documents", everyone(200, partner_b=404)),
    (P + "/agreements/{b}/documents", everyone(200, partner=404)),
    (P + "/agreements/{a}/documents/{doc_a}/content", everyone(200, partner_b=404)),
    (P + "/agreements/{b}/documents/{doc_b}/content", everyone(200, partner=404)),
    # A document is reached only through its own agreement.
    (P + "/agreements/{a}/documents/{doc_b}/content", everyone(404)),
    (P + "/agreements/{a}/documents/999999/content", everyone(404)),
    (f"{P}/deliverables", everyone(200)),
    (P + "/deliverables/{occ_a}", everyone(200, partner_b=404)),
    (P + "/deliverables/{occ_b}", everyone(200, partner=404)),
    (f"{P}/deliverables/999999", everyone(404)),
    (P + "/deliverables/files/{file_a}/content", everyone(200, partner_b=404)),
    (P + "/deliverables/files/{file_b}/content", everyone(200, partner=404)),
    (f"{P}/deliverables/files/999999/content", everyone(404)),
    (f"{P}/organizations", everyone(200)),
    (P + "/organizations/{org_a}", everyone(200, partner_b=404)),
    (P + "/organizations/{org_b}", everyone(200, partner=404)),
    (P + "/organizations/{ministry}", everyone(200, partner=404, partner_b=404)),
    (f"{P}/organizations/999999", everyone(404)),
    (f"{P}/signing-events", everyone(200)),
    (P + "/signing-events/{event}", everyone(200, partner_b=404)),
    (P + "/signing-events/{event_b_only}", everyone(200, partner=404)),
    (f"{P}/signing-events/999999", everyone(404)),
    (f"{P}/notifications", everyone(200)),
    (P + "/agreements/{a}/negotiation", everyone(200, partner_b=404)),
    (P + "/agreements/{b}/negotiation", everyone(200, partner=404)),
    (P + "/agreements/{a}/signatories", everyone(200, partner_b=404)),
    (P + "/agreements/{b}/signatories", everyone(200, partner=404)),
    (P + "/agreements/{a}/deliverables", everyone(200, partner_b=404)),
    (P + "/agreements/{b}/deliverables", everyone(200, partner=404)),
    (f"{P}/delegations", only(APPROVERS)),
    (P + "/agreements/{a}/budget-lines", everyone(200, partner_b=404)),
    (P + "/agreements/{b}/budget-lines", everyone(200, partner=404)),
    (f"{P}/budget-totals", only(MINISTRY)),
    # {a} is an MoU: it proposes no amendment.
    (P + "/agreements/{a}/amendment", everyone(404)),
    (P + "/agreements/{a}/comparison?old={doc_a}&new={doc_a}", everyone(200, partner_b=404)),
    (P + "/agreements/{b}/comparison?old={doc_b}&new={doc_b}", everyone(200, partner=404)),
    (P + "/agreements/{a}/comparison?old={doc_a}&new={doc_b}", everyone(404)),
    (P + "/agreements/{a}/documents/{doc_a}/signatures", everyone(200, partner_b=404)),
    (P + "/agreements/{a}/documents/{doc_b}/signatures", everyone(404)),
    (P + "/agreements/{a}/indicators", everyone(200, partner_b=404)),
    (P + "/agreements/{b}/indicators", everyone(200, partner=404)),
    (P + "/deliverables/{done_a}/indicator-values", everyone(200, partner_b=404)),
    (P + "/agreements/{a}/threads/shared/messages", everyone(200, partner_b=404)),
    (P + "/agreements/{a}/threads/internal/messages", only(MINISTRY, refused=404)),
    (P + "/agreements/{b}/threads/shared/messages", everyone(200, partner=404)),
    (P + "/deliverables/{occ_a}/threads/shared/messages", everyone(200, partner_b=404)),
    (P + "/deliverables/{occ_a}/threads/internal/messages", only(MINISTRY, refused=404)),
    (f"{P}/discussions/attachments/999999/content", everyone(404)),
]

# Writes with a well-formed body that changes nothing: who may try (and is told
# why it cannot be done), who is refused, and who is never told the object exists.
NEW_AGREEMENT = {"type": "mou", "title_fr": "Accord API", "parties": [{"organization_id": "{org_a}"}]}
WRITE_ROUTES = [
    ("POST", f"{P}/agreements", NEW_AGREEMENT, only(EDITORS, ok=201)),
    ("PATCH", P + "/agreements/{a}", {"title_en": "Renamed"}, only({"admin", "officer", "manager"}, partner_b=404)),
    ("PATCH", P + "/agreements/{b}", {"title_en": "Renamed"}, only({"admin", "officer", "manager"}, partner=404)),
    # Suspending needs a comment: the owner and managers are told so (422), others may not suspend.
    (
        "POST",
        P + "/agreements/{a}/transitions",
        {"transition": "suspend"},
        only({"officer", "manager"}, ok=422, partner_b=404),
    ),
    # Nothing was handed in: reviewers are told so (422).
    (
        "POST",
        P + "/deliverables/{occ_a}/review",
        {"decision": "accept"},
        only({"admin", "officer", "manager"}, ok=422, partner_b=404),
    ),
    (
        "POST",
        P + "/deliverables/{occ_b}/review",
        {"decision": "accept"},
        only({"admin", "officer", "manager"}, ok=422, partner=404),
    ),
    # Importing a spreadsheet: managers and admins; without a file they are told to choose one.
    ("POST", P + "/agreements/import", "multipart", only({"admin", "manager"}, ok=422)),
    # Only partner A hands in A's deliverable; without a file it is told to choose one.
    ("POST", P + "/deliverables/{occ_a}/submissions", "multipart", only({"partner"}, ok=422, partner_b=404)),
    ("POST", P + "/deliverables/{occ_b}/submissions", "multipart", only({"partner_b"}, ok=422, partner=404)),
    # Moves with their documents (multipart): as the JSON move, suspending needs a comment.
    (
        "POST",
        P + "/agreements/{a}/transitions/suspend",
        "multipart",
        only({"officer", "manager"}, ok=422, partner_b=404),
    ),
    # A is active: no version is exchanged, no signatory added (409) by those who may; others are refused.
    ("POST", P + "/agreements/{a}/negotiation/versions", "multipart", everyone(409, auditor=403, partner_b=404)),
    ("POST", P + "/agreements/{a}/negotiation/accept", {}, only(MINISTRY_SIDE | {"partner"}, ok=409, partner_b=404)),
    # Recording a partner's acceptance needs the party and its proof: the ministry side is told so (422).
    ("POST", P + "/agreements/{a}/negotiation/acceptances", "multipart", only(MINISTRY_SIDE, ok=422, partner_b=404)),
    (
        "POST",
        P + "/agreements/{a}/signatories",
        {"side": "ministry", "name": "X"},
        only(MINISTRY_SIDE, ok=409, partner_b=404),
    ),
    (
        "POST",
        P + "/agreements/{b}/signatories",
        {"side": "ministry", "name": "X"},
        only(MINISTRY_SIDE, ok=409, partner=404),
    ),
    (
        "POST",
        P + "/agreements/{a}/signatories/999999/signature",
        {"signed_on": "2025-01-01"},
        only(MINISTRY_SIDE, ok=409, partner_b=404),
    ),
    (
        "DELETE",
        P + "/agreements/{a}/signatories/999999/signature",
        None,
        only(MINISTRY_SIDE, ok=409, partner_b=404),
    ),
    (
        "DELETE",
        P + "/agreements/{a}/signatories/999999",
        None,
        only(MINISTRY_SIDE, ok=409, partner_b=404),
    ),
    ("POST", P + "/agreements/{a}/signed-copy", "multipart", only(MINISTRY_SIDE, ok=409, partner_b=404)),
    # The draft (shown to partner A) takes a draft text from its editors: without a file, they are told to choose one.
    (
        "POST",
        P + "/agreements/{draft}/drafts",
        "multipart",
        only({"admin", "officer", "manager"}, ok=422, partner_b=404),
    ),
    # A is not an amendment.
    (
        "POST",
        P + "/agreements/{a}/amendment",
        {"new_expires_on": "2031-01-01"},
        only({"admin", "officer", "manager"}, ok=422, partner_b=404),
    ),
    # Partner B is not a party to A: nobody may make it responsible for one of A's deliverables.
    (
        "POST",
        P + "/agreements/{a}/deliverables",
        {"title_fr": "X", "responsible_organization_id": "{org_b}", "first_due_on": "2030-01-01"},
        only({"admin", "officer", "manager"}, ok=422, partner_b=404),
    ),
    (
        "PATCH",
        P + "/agreements/{a}/deliverables/{line_a}",
        {"responsible_organization_id": "{org_b}"},
        only({"admin", "officer", "manager"}, ok=422, partner_b=404),
    ),
    (
        "PATCH",
        P + "/agreements/{b}/deliverables/{line_a}",
        {"title_en": "X"},
        only({"admin", "officer", "manager"}, ok=404, partner=404),
    ),
    # Another agreement's line, or none: those who plan are told there is no such line.
    (
        "DELETE",
        P + "/agreements/{b}/deliverables/{line_a}",
        None,
        only({"admin", "officer", "manager"}, ok=404, partner=404),
    ),
    # A waiver needs its reason.
    ("POST", P + "/deliverables/{occ_a}/waive", {"reason": " "}, only({"admin", "manager"}, ok=422, partner_b=404)),
    ("POST", P + "/deliverables/{occ_b}/waive", {"reason": " "}, only({"admin", "manager"}, ok=422, partner=404)),
    (
        "POST",
        f"{P}/delegations",
        {"delegate_id": 999999, "starts_on": "2030-01-01", "ends_on": "2030-01-02"},
        only(APPROVERS, ok=422),
    ),
    ("POST", f"{P}/delegations/999999/revoke", None, only(APPROVERS, ok=404)),
    # A negative target is refused with its reason (422) to those who edit the agreement.
    (
        "POST",
        P + "/agreements/{a}/deliverables/{deliv_a}/indicators",
        {"names": {"fr": "Ateliers"}, "target": "-1", "target_scope": "term"},
        only({"admin", "officer", "manager"}, ok=422, partner_b=404),
    ),
    ("POST", P + "/agreements/{a}/documents/{doc_a}/signatures/check", None, only({"admin"}, partner_b=404)),
    ("POST", P + "/notifications/{notice}/read", None, everyone(404, officer=200)),
    ("POST", P + "/notifications/{notice_partner}/read", None, everyone(404, partner=200)),
    ("POST", f"{P}/notifications/999999/read", None, everyone(404)),
    # {a} is signed: its budget changes only through an amendment (422 for its editors).
    (
        "POST",
        P + "/agreements/{a}/budget-lines",
        {"organization_id": "{org_a}", "label": "x", "amount": "1"},
        only({"admin", "officer", "manager"}, ok=422, partner_b=404),
    ),
    (
        "PUT",
        P + "/agreements/{a}/budget-lines/999999",
        {"organization_id": "{org_a}", "label": "x", "amount": "1"},
        only({"admin", "officer", "manager"}, ok=404, partner_b=404),
    ),
    (
        "DELETE",
        P + "/agreements/{a}/budget-lines/999999",
        None,
        only({"admin", "officer", "manager"}, ok=404, partner_b=404),
    ),
    (
        "PUT",
        P + "/agreements/{a}/amendment",
        {"changes": {"title_en": "x"}},
        only({"admin", "officer", "manager"}, ok=404, partner_b=404),
    ),
    # Threads: an empty message is refused (422) to those who may write; auditors read only.
    (
        "POST",
        P + "/agreements/{a}/threads/shared/messages",
        "multipart",
        only(MINISTRY - {"auditor"} | {"partner"}, ok=422, partner_b=404),
    ),
    (
        "POST",
        P + "/agreements/{a}/threads/internal/messages",
        "multipart",
        only(MINISTRY - {"auditor"}, ok=422, partner=404, partner_b=404),
    ),
    (
        "POST",
        P + "/deliverables/{occ_a}/threads/shared/messages",
        "multipart",
        only(MINISTRY - {"auditor"} | {"partner"}, ok=422, partner_b=404),
    ),
    ("PATCH", P + "/agreements/{a}/threads/shared/messages/999999", {"body": "x"}, everyone(404, partner_b=404)),
    ("PATCH", P + "/deliverables/{occ_a}/threads/internal/messages/999999", {"body": "x"}, everyone(404)),
    # A has no renewal terms: those who may record a notice are told so (422).
    (
        "POST",
        P + "/agreements/{a}/non-renewal",
        {"given_on": "2030-01-01", "side": "ministry"},
        only(MINISTRY_SIDE, ok=422, partner_b=404),
    ),
    # Nor a notice to withdraw: the same people are told so (422).
    (
        "POST",
        P + "/agreements/{a}/non-renewal/withdrawal",
        {"reason": "Saisi par erreur"},
        only(MINISTRY_SIDE, ok=422, partner_b=404),
    ),
    # Last, as it is the one write that succeeds: "Renew" starts a draft renewal of A.
    ("POST", P + "/agreements/{a}/renewals", None, only(MINISTRY_SIDE, ok=201, partner_b=404)),
]


def fill(value, ids):
    if isinstance(value, str):
        return int(value.format(**ids)) if value.startswith("{") else value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


@pytest.fixture(scope="module")
def document(app):
    return app.test_client().get(f"{P}/openapi.json").get_json()


def documented_path(app, method: str, url: str) -> str:
    """The OpenAPI path of the operation answering `url`: /api/v1/agreements/{agreement_id}."""
    rule, _args = app.url_map.bind("sharaka.test").match(url.split("?")[0], method=method, return_rule=True)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)


def documented_answers(app, document, method: str, url: str) -> dict[int, set[str]]:
    """Status code -> content types, as the OpenAPI document lists them for the operation answering `url`."""
    answers = {}
    for code, answer in document["paths"][documented_path(app, method, url)][method.lower()]["responses"].items():
        if "$ref" in answer:
            answer = document["components"]["responses"][answer["$ref"].split("/")[-1]]
        answers[int(code)] = set(answer.get("content", {}))
    return answers


def documented_statuses(app, document, method: str, url: str) -> set[int]:
    return set(documented_answers(app, document, method, url))


@pytest.fixture(scope="module")
def contract(document):
    return schemathesis.openapi.from_dict(document)


def check_answer(app, document, contract, method, url, response, expected) -> str | None:
    """None when `response` has the expected status and is what the document says for it."""
    if response.status_code != expected:
        body = response.get_data(as_text=True)[:200]
        return f"{method} {url}: expected {expected}, got {response.status_code} {body}"
    if response.status_code >= 400 and response.mimetype != PROBLEM:
        return f"{method} {url}: {response.status_code} as {response.mimetype}"
    answers = documented_answers(app, document, method, url)
    if response.status_code not in answers:
        return f"{method} {url}: {response.status_code} is not in the OpenAPI document"
    if response.mimetype not in answers[response.status_code]:
        return f"{method} {url}: {response.mimetype} is not documented for {response.status_code}"
    try:
        contract[documented_path(app, method, url)][method].validate_response(response)
    except Exception as error:  # schemathesis reports every mismatch in one error
        return f"{method} {url}: the body does not match the document: {error}"
    return None


@pytest.mark.parametrize("role", ROLES)
def test_get_routes(app, document, contract, api, ids, role):
    client = api(role)
    failures = []
    for template, table in GET_ROUTES:
        url = template.format(**ids)
        failures.append(check_answer(app, document, contract, "GET", url, client.get(url), table[role]))
    failures = [f for f in failures if f]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
def test_write_routes(app, document, contract, api, ids, role):
    client = api(role)
    failures = []
    for method, template, body, table in WRITE_ROUTES:
        url = template.format(**ids)
        if body == "multipart":
            response = client.post(url, data={"note": "no file"}, content_type="multipart/form-data")
        else:
            response = client.open(url, method, json=fill(body, ids) if body is not None else None)
        failures.append(check_answer(app, document, contract, method, url, response, table[role]))
    failures = [f for f in failures if f]
    assert not failures, "\n".join(failures)


def test_every_api_operation_is_in_the_tables(app):
    """A new API route must be added above, so nobody forgets to decide who may use it."""

    def shape(path: str) -> str:  # /api/v1/agreements/{a}/documents/999999 -> /api/v1/agreements/*/documents/*
        return re.sub(r"<[^>]+>|\{\w+\}|\b\d+\b", "*", path.split("?")[0])

    covered = {(m, shape(t)) for m, t, _b, _t in WRITE_ROUTES} | {("GET", shape(t)) for t, _ in GET_ROUTES}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(P + "/") or rule.rule in (f"{P}/openapi.json", f"{P}/docs"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            # Literal segments stay (/transitions/suspend is the rule /transitions/<transition>).
            pattern = re.escape(shape(rule.rule)).replace(r"\*", "[^/]+")
            assert any(m == method and re.fullmatch(pattern, path) for m, path in covered), f"{method} {rule.rule}"


# --- authentication ---------------------------------------------------------------------------


def _deactivated(world, tokens):
    world.users["officer"].is_active_account = False
    db.session.commit()
    return tokens["officer"]


def _revoked(world, tokens):
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == world.users["officer"].id))
    revoke_token(token, by=world.users["officer"])
    db.session.commit()
    return tokens["officer"]


BAD_CREDENTIALS = {
    "no header": lambda world, tokens: None,
    "empty bearer": lambda world, tokens: "Bearer ",
    "unknown token": lambda world, tokens: "Bearer shk_" + "x" * 43,
    "not our prefix": lambda world, tokens: "Bearer abc",
    "very long": lambda world, tokens: "Bearer shk_" + "x" * 5000,
    "basic scheme": lambda world, tokens: "Basic " + tokens["officer"],
    "token without scheme": lambda world, tokens: tokens["officer"],
    "revoked token": lambda world, tokens: "Bearer " + _revoked(world, tokens),
    "deactivated user": lambda world, tokens: "Bearer " + _deactivated(world, tokens),
}


@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
def test_without_a_valid_token_every_call_is_401(app, world, tokens, ids, case):
    header = BAD_CREDENTIALS[case](world, tokens)
    client = app.test_client()
    headers = {"Authorization": header} if header else {}
    calls = [
        ("GET", f"{P}/me", None),
        ("GET", f"{P}/agreements", None),
        ("GET", f"{P}/agreements/{ids['a']}", None),
        ("POST", f"{P}/agreements", fill(NEW_AGREEMENT, ids)),
        ("PATCH", f"{P}/agreements/{ids['draft']}", {"title_en": "x"}),
        ("POST", f"{P}/notifications/{ids['notice']}/read", None),
        ("GET", f"{P}/deliverables/files/{ids['file_a']}/content", None),
        # Unknown addresses too: nothing is told to a caller without a token.
        ("GET", f"{P}/nope", None),
    ]
    before = db.session.scalar(select(func.count()).select_from(Agreement))
    for method, url, body in calls:
        response = client.open(url, method=method, json=body, headers=headers)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == before


def test_the_description_of_the_api_needs_no_token(app):
    client = app.test_client()
    document = client.get(f"{P}/openapi.json")
    assert document.status_code == 200 and document.get_json()["openapi"].startswith("3.")
    page = client.get(f"{P}/docs").get_data(as_text=True)
    # The description's `code` spans are shown as code, not as backticks.
    assert "<code>Idempotency-Key</code>" in page and "`Idempotency-Key`" not in page


def test_a_session_cookie_alone_never_opens_the_api(app, world, ids, signed_in):
    officer = signed_in("officer")
    assert officer.get("/agreements/").status_code == 200  # signed in to the pages
    before = db.session.scalar(select(func.count()).select_from(Agreement))
    for method, url, body in [
        ("GET", f"{P}/me", None),
        ("GET", f"{P}/agreements", None),
        ("POST", f"{P}/agreements", fill(NEW_AGREEMENT, ids)),
        ("PATCH", f"{P}/agreements/{ids['draft']}", {"title_en": "Forged"}),
        ("POST", f"{P}/agreements/{ids['draft']}/transitions", {"transition": "submit_for_review"}),
        ("POST", f"{P}/notifications/{ids['notice']}/read", None),
    ]:
        response = officer.http.open(url, method=method, json=body)
        assert_problem(response, 401)
    draft = refreshed(Agreement, ids["draft"])
    assert draft.state == "draft" and draft.title_en is None
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == before
    assert refreshed(Notification, ids["notice"]).read_at is None


def test_the_last_use_of_a_token_is_recorded(api, world, tokens):
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == world.users["auditor"].id))
    assert token.last_used_at is None
    assert api("auditor").get(f"{P}/me").status_code == 200
    first_use = refreshed(ApiToken, token.id).last_used_at
    assert first_use is not None
    # Written at most once a minute, so a busy script does not write on every call.
    assert api("auditor").get(f"{P}/agreements").status_code == 200
    assert refreshed(ApiToken, token.id).last_used_at == first_use


def test_a_revoked_token_stops_working_at_once(api, world):
    client = api("partner")
    assert client.get(f"{P}/me").status_code == 200
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == world.users["partner"].id))
    revoke_token(token, by=world.users["partner"])
    db.session.commit()
    assert_problem(client.get(f"{P}/me"), 401)


def test_the_command_line_token_works_and_only_its_hash_is_stored(app, world):
    user = world.users["manager"]
    result = app.test_cli_runner().invoke(args=["users", "create-token", user.email, "--name", "CI export"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1].strip()
    assert secret.startswith("shk_")
    response = ApiClient(app, secret).get(f"{P}/me")
    assert response.status_code == 200 and response.get_json()["email"] == user.email
    for table in ("api_tokens", "audit_events"):  # nor in the trail of its creation
        rows = db.session.execute(text(f"SELECT * FROM {table}")).all()
        assert rows and not any(secret in str(value) for row in rows for value in row), table
    stored = db.session.scalar(select(ApiToken).where(ApiToken.name == "CI export"))
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert stored.prefix == secret[:10]


def test_a_token_stops_working_at_its_end_date_and_says_so(app, world):
    officer = world.users["officer"]
    made = clock.utcnow()
    token, secret = create_token(officer, "Nightly export", by=officer, days=30)
    db.session.commit()
    assert token.expires_at - token.created_at == timedelta(days=30) and token.created_at >= made
    client = ApiClient(app, secret)
    with clock.frozen(token.expires_at - timedelta(minutes=1)):
        assert client.get(f"{P}/me").status_code == 200
    with clock.frozen(token.expires_at + timedelta(seconds=1)):
        problem = assert_problem(client.get(f"{P}/me"), 401)
        assert "expired" in problem["detail"] and "tokens page" in problem["detail"]
        challenge = client.get(f"{P}/agreements").headers["WWW-Authenticate"]
        assert 'error="invalid_token"' in challenge
        assert not refreshed(ApiToken, token.id).is_active
        # Nothing else is told to a caller with an unknown or revoked token.
        assert "expired" not in assert_problem(ApiClient(app, "shk_" + "x" * 43).get(f"{P}/me"), 401)["detail"]
        revoke_token(refreshed(ApiToken, token.id), by=officer)
        db.session.commit()
        assert "expired" not in assert_problem(client.get(f"{P}/me"), 401)["detail"]


def test_the_default_life_of_a_token_and_its_limit(app, world):
    officer = world.users["officer"]
    token, _secret = create_token(officer, "Default", by=officer)
    assert token.expires_at - token.created_at == timedelta(days=90)
    from app.core.errors import ValidationFailed

    for days in (-1, 366, 0):  # 0 (no end date) only where API_TOKEN_MAX_DAYS is 0
        with pytest.raises(ValidationFailed):
            create_token(officer, "Too long", by=officer, days=days)
    from flask import current_app

    current_app.config["API_TOKEN_MAX_DAYS"] = 0
    try:
        forever, _secret = create_token(officer, "Forever", by=officer, days=0)
        assert forever.expires_at is None and forever.is_active
    finally:
        current_app.config["API_TOKEN_MAX_DAYS"] = 365


def test_the_tokens_page_offers_the_lives_allowed_and_refuses_others(app, world):
    from tests.conftest import SignedInClient

    person = SignedInClient(app, world.users["partner"])
    page = person.get("/account/tokens").get_data(as_text=True)
    offered = re.findall(r'<option (?:selected )?value="(\d+)"', page)
    assert offered == ["7", "30", "90", "365"] and '<option selected value="90"' in page
    for days in ("0", "400", "abc", ""):
        response = person.post("/account/tokens", data={"name": "Script", "days": days})
        assert response.status_code == 422, days
    assert not db.session.scalars(select(ApiToken).where(ApiToken.name == "Script")).all()
    response = person.post("/account/tokens", data={"name": "Unsaid"})  # a script's form, without the field
    assert response.status_code == 303
    unsaid = db.session.scalar(select(ApiToken).where(ApiToken.name == "Unsaid"))
    assert unsaid.expires_at - unsaid.created_at == timedelta(days=90)
    response = person.post("/account/tokens", data={"name": "Script", "days": "7"})
    assert response.status_code == 303
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == "Script"))
    assert token.expires_at - token.created_at == timedelta(days=7)
    token.expires_at = clock.utcnow() - timedelta(minutes=1)  # a week later (the session would have ended)
    db.session.commit()
    rows = person.get("/account/tokens").get_data(as_text=True).split("<tbody>")[1].split("<tr")
    [row] = [row for row in rows if "<bdi>Script</bdi>" in row]
    assert "Expired" in row and "Revoke" not in row


def test_the_command_line_gives_a_token_its_life(app, world):
    user = world.users["manager"]
    result = app.test_cli_runner().invoke(args=["users", "create-token", user.email, "--name", "BI", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert "until" in result.output
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == "BI"))
    assert token.expires_at - token.created_at == timedelta(days=3)
    refused = app.test_cli_runner().invoke(args=["users", "create-token", user.email, "--days", "0"])
    assert refused.exit_code != 0 and "end date" in refused.output


def test_the_command_line_refuses_an_unknown_account(app, world):
    result = app.test_cli_runner().invoke(args=["users", "create-token", "nobody@example.org"])
    assert result.exit_code != 0 and "no active account" in result.output


# --- errors are problem+json, never HTML ------------------------------------------------------


def test_unknown_addresses_and_wrong_methods_answer_problem_json(api):
    client = api("officer")
    for headers in ({}, {"Accept": "text/html"}):
        assert_problem(client.get(f"{P}/nope", headers=headers), 404)
        assert_problem(client.get(f"{P}/agreements/not-a-number", headers=headers), 404)
        response = client.open(f"{P}/me", "DELETE", headers=headers)
        assert_problem(response, 405)
        assert "GET" in response.headers["Allow"]
        assert_problem(client.open(f"{P}/agreements", "PUT", json={}, headers=headers), 405)


def test_me(api, world):
    body = api("partner").get(f"{P}/me").get_json()
    user = world.users["partner"]
    assert body == {
        "id": user.id,
        "email": user.email,
        "name": user.full_name,
        "role": "partner",
        "language": user.language,
        "organization": {"id": world.partner_a.id, "name": world.partner_a.name, "acronym": world.partner_a.acronym},
    }
    assert api("officer").get(f"{P}/me").get_json()["organization"]["id"] == world.ministry.id


# --- the agreements list ----------------------------------------------------------------------


@pytest.fixture
def portfolio(world):
    """Besides A and B (active MoUs signed on 1 and 2 July 2025): an energy convention with
    partner B ending in 2027, and a draft protocol with partner A."""
    officer = world.users["officer"]
    world.agreement_a.expires_on = date(2026, 6, 30)
    convention = factories.agreement(
        by=officer,
        partners=[world.partner_b],
        type="convention",
        title_fr="Convention Énergie solaire",
        signed_on=date(2024, 3, 1),
        expires_on=date(2027, 3, 1),
        state="active",
    )
    draft = factories.agreement(by=officer, partners=[world.partner_a], type="protocol", title_fr="Protocole santé")
    db.session.commit()
    return {"a": world.agreement_a.id, "b": world.agreement_b.id, "convention": convention.id, "draft": draft.id}


def _listed(client, query: str = "") -> set[int]:
    response = client.get(f"{P}/agreements?per_page=100&{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return {item["id"] for item in response.get_json()["items"]}


def test_agreement_filters(api, world, portfolio):
    officer = api("officer")
    a, b, convention, draft = portfolio["a"], portfolio["b"], portfolio["convention"], portfolio["draft"]
    assert _listed(officer) == {a, b, convention, draft}
    assert _listed(officer, "state=draft") == {draft}
    assert _listed(officer, "state=active") == {a, b, convention}
    assert _listed(officer, "type=convention") == {convention}
    assert _listed(officer, "type=protocol&state=active") == set()
    assert _listed(officer, f"partner={world.partner_b.id}") == {b, convention}
    assert _listed(officer, "q=energie") == {convention}  # accents and case ignored
    assert _listed(officer, "q=ÉNERGIE SOLAIRE") == {convention}
    assert _listed(officer, "q=100%25") == set()  # a LIKE wildcard is a plain character
    assert _listed(officer, "signed_after=2025-07-02") == {b}
    assert _listed(officer, "signed_before=2025-07-01") == {a, convention}
    assert _listed(officer, "signed_after=2025-07-01&signed_before=2025-07-01") == {a}
    assert _listed(officer, "ends_after=2026-07-01") == {convention}
    assert _listed(officer, "ends_before=2026-06-30") == {a}
    assert _listed(officer, "year=2024") == {convention}
    assert _listed(officer, "unknown_argument=1") == {a, b, convention, draft}  # ignored


def test_agreements_list_is_paginated(api, portfolio):
    officer = api("officer")
    body = officer.get(f"{P}/agreements?per_page=3").get_json()
    assert (body["total"], body["pages"], body["page"], body["per_page"], len(body["items"])) == (4, 2, 1, 3, 3)
    second = officer.get(f"{P}/agreements?per_page=3&page=2").get_json()
    assert len(second["items"]) == 1
    assert not {i["id"] for i in body["items"]} & {i["id"] for i in second["items"]}
    beyond = officer.get(f"{P}/agreements?per_page=3&page=9").get_json()
    assert beyond["items"] == [] and beyond["total"] == 4
    assert officer.get(f"{P}/agreements").get_json()["per_page"] == 20
    assert officer.get(f"{P}/agreements?per_page=100").status_code == 200


def test_linked_agreements_are_named_only_to_who_may_see_them_in_one_question_a_page(api, world):
    """An amendment names its parent, a renewal what it renews: to a partner only when the partner is a
    party to that agreement too. The list asks which linked agreements the caller may see once for the
    page (permissions.viewable_agreement_ids), not once per item."""
    from tests.bulk import counting_queries

    officer = world.users["officer"]
    theirs = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Cadre partagé")
    hidden = factories.agreement(by=officer, partners=[world.partner_b], title_fr="Cadre d'un autre")
    for parent in (theirs, hidden):  # signed: only a signed agreement is amended
        parent.state, parent.signed_on = "active", clock.today()
    db.session.flush()
    amendments = [
        factories.agreement(by=officer, partners=[world.partner_a], type="amendment", parent_id=parent.id)
        for parent in (theirs, hidden, theirs, hidden)
    ]
    factories.shown_to_partners(theirs, hidden, *amendments)
    db.session.commit()
    partner = api("partner")
    with counting_queries() as statements:
        items = {i["id"]: i for i in partner.get(f"{P}/agreements?per_page=50").get_json()["items"]}
    parents = {items[a.id]["parent_id"] for a in amendments}
    assert parents == {theirs.id, None} and hidden.id not in items
    assert not [s for s in statements if "WHERE agreements.id = " in s]  # no linked agreement loaded alone
    every = {i["id"]: i for i in api("officer").get(f"{P}/agreements?per_page=50").get_json()["items"]}
    assert {every[a.id]["parent_id"] for a in amendments} == {theirs.id, hidden.id}
    single = partner.get(f"{P}/agreements/{amendments[1].id}").get_json()
    assert single["parent_id"] is None


def test_an_amendment_stays_with_a_signed_agreement_it_amends(api, world):
    """Only a signed agreement is amended, never through another amendment; once submitted, an amendment
    cannot be moved to another agreement (its approval was for this one), and a signed agreement's place
    holds too. The refusals are 422s naming parent_id, and nothing is stored."""
    officer, client = world.users["officer"], api("officer")
    draft = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Brouillon")
    signed, other = world.agreement_a, world.agreement_b
    for agreement in (signed, other):
        agreement.state, agreement.signed_on = "active", clock.today()
    db.session.commit()
    of_a_draft = client.post(
        f"{P}/agreements", json={"type": "amendment", "title_fr": "Avenant", "parent_id": draft.id, "parties": []}
    )
    assert_problem(of_a_draft, 422)
    assert "not signed" in of_a_draft.get_json()["errors"]["parent_id"][0]
    amendment = factories.amendment(signed, officer, partners=[world.partner_a], changes={"expires_on": "2031-12-31"})
    under_it = client.post(
        f"{P}/agreements", json={"type": "mou", "title_fr": "Sous l'avenant", "parent_id": amendment.id, "parties": []}
    )
    assert_problem(under_it, 422)
    assert "amendment" in under_it.get_json()["errors"]["parent_id"][0]
    engine.take(amendment, "submit_for_review", by=officer, expected_version=amendment.version)
    db.session.commit()
    moves = ((amendment, {"parent_id": other.id}), (amendment, {"parent_id": None}), (other, {"parent_id": signed.id}))
    for target, payload in moves:
        before = target.parent_id
        moved = client.patch(f"{P}/agreements/{target.id}", json=payload | {"version": target.version})
        assert_problem(moved, 422)
        assert "parent_id" in moved.get_json()["errors"]
        db.session.expire_all()
        assert refreshed(Agreement, target.id).parent_id == before


def test_a_send_back_on_a_move_that_is_not_an_approval_is_refused(api, world, ids):
    """ "reject" with a plain move had taken the agreement forward."""
    refused = api("officer").post(
        f"{P}/agreements/{ids['draft']}/transitions",
        json={"transition": "submit_for_review", "decision": "reject", "comment": "Je refuse"},
    )
    assert_problem(refused, 422)
    assert "decision" in refused.get_json()["errors"]
    assert refreshed(Agreement, ids["draft"]).state == "draft"


def test_a_partner_sees_an_amendment_but_not_the_agreement_it_amends_when_not_a_party_to_it(api, world):
    """A partner party to an amendment of an agreement it is not party to reads what is proposed, never
    that agreement's current terms, its plan or its other amendments."""
    officer = world.users["officer"]
    hidden = world.agreement_b
    hidden.state, hidden.signed_on, hidden.expires_on = "active", clock.today(), clock.today() + timedelta(days=400)
    db.session.commit()
    factories.plan_line(hidden, officer, responsible=world.partner_b, recurrence="monthly")
    theirs = factories.amendment(hidden, officer, partners=[world.partner_a], changes={"expires_on": "2031-12-31"})
    factories.amendment(hidden, officer, partners=[world.partner_b], changes={"expires_on": "2030-12-31"})
    factories.shown_to_partners(theirs)
    db.session.commit()
    shown = api("partner").get(f"{P}/agreements/{theirs.id}/amendment").get_json()
    assert shown["parent_id"] is None and shown["plan"] == [] and shown["overlaps"] == []
    assert [(t["term"], t["current"], t["proposed"]) for t in shown["terms"]] == [("expires_on", None, "2031-12-31")]
    ministry = api("officer").get(f"{P}/agreements/{theirs.id}/amendment").get_json()
    assert ministry["parent_id"] == hidden.id and ministry["terms"][0]["current"] == hidden.expires_on.isoformat()
    assert ministry["plan"] and len(ministry["overlaps"]) == 1


@pytest.mark.parametrize(
    "query, field",
    [
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=abc", "per_page"),
        ("page=0", "page"),
        ("page=100001", "page"),
        ("page=-1", "page"),
        ("state=bogus", "state"),
        ("type=treaty", "type"),
        ("partner=abc", "partner"),
        ("partner=0", "partner"),
        ("partner=99999999999", "partner"),
        ("signed_after=yesterday", "signed_after"),
        ("signed_before=2025-13-01", "signed_before"),
        ("ends_after=2025-02-30", "ends_after"),
        ("ends_before=x", "ends_before"),
        ("year=1800", "year"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_invalid_list_arguments_are_400_by_field(api, world, query, field):
    body = assert_problem(api("officer").get(f"{P}/agreements?{query}"), 400)
    assert field in body["errors"] and body["errors"][field]
    assert field in body["detail"]  # the message names the parameter


@pytest.mark.parametrize(
    "path, query, field",
    [
        ("deliverables", "status=late", "status"),
        ("deliverables", "due_after=soon", "due_after"),
        ("deliverables", "agreement=-3", "agreement"),
        ("organizations", "per_page=1000", "per_page"),
        ("signing-events", "page=0", "page"),
        ("notifications", "unread=perhaps", "unread"),
    ],
)
def test_invalid_arguments_of_other_lists_are_400_by_field(api, world, path, query, field):
    body = assert_problem(api("officer").get(f"{P}/{path}?{query}"), 400)
    assert field in body["errors"] and field in body["detail"]


# --- a partner sees its own organisation only ---------------------------------------------------


def test_a_partner_lists_only_its_own(api, world, ids, portfolio):
    partner = api("partner")
    agreements = partner.get(f"{P}/agreements?per_page=100").get_json()["items"]
    # Not the protocol still in its first draft: the ministry's own until shown to its partners.
    assert {a["id"] for a in agreements} == {portfolio["a"], ids["draft"]}
    assert all(any(p["organization"]["id"] == world.partner_a.id for p in a["parties"]) for a in agreements)
    assert all(a["notes"] is None for a in agreements)  # ministry staff only
    # Asking for another partner's agreements finds nothing rather than an error.
    assert _listed(partner, f"partner={world.partner_b.id}") == set()
    occurrences = partner.get(f"{P}/deliverables?per_page=100").get_json()["items"]
    assert occurrences and {o["agreement"]["id"] for o in occurrences} == {ids["a"]}
    assert {o["id"] for o in occurrences} >= {ids["occ_a"], ids["done_a"]}
    organizations = partner.get(f"{P}/organizations").get_json()
    assert [o["id"] for o in organizations["items"]] == [world.partner_a.id] and organizations["total"] == 1
    assert partner.get(f"{P}/organizations?q=Partner B").get_json()["items"] == []
    events = partner.get(f"{P}/signing-events").get_json()["items"]
    assert [e["id"] for e in events] == [ids["event"]]
    # Ministry staff see both partners.
    officer_occurrences = api("officer").get(f"{P}/deliverables?per_page=100").get_json()["items"]
    assert {o["agreement"]["id"] for o in officer_occurrences} == {ids["a"], ids["b"]}


def test_organisations_are_found_by_name_folded_as_the_pages_find_them(api, world):
    officer = api("officer")

    def found(q: str) -> set[int]:
        response = officer.get(f"{P}/organizations", query_string={"q": q})
        assert response.status_code == 200
        return {o["id"] for o in response.get_json()["items"]}

    # The ministry is "Ministère …" / "وزارة الانتقال الرقمي" in the test world.
    assert world.ministry.id in found("ministere") and world.ministry.id in found("MINISTÈRE transition")
    assert world.ministry.id in found("الإنتقال")
    assert found(world.partner_b.slug) == {world.partner_b.id}
    assert found("%") == set() and found("nothing-like-it") == set()


def test_a_partner_never_learns_that_another_organisations_objects_exist(api, ids):
    """Every /{id} route, with partner A's token and partner B's ids: 404, as for an id that does not exist."""
    partner = api("partner")
    urls = [
        f"{P}/agreements/{ids['b']}",
        f"{P}/agreements/{ids['b']}/transitions",
        f"{P}/agreements/{ids['b']}/approvals",
        f"{P}/agreements/{ids['b']}/history",
        f"{P}/agreements/{ids['b']}/documents",
        f"{P}/agreements/{ids['b']}/documents/{ids['doc_b']}/content",
        f"{P}/agreements/{ids['a']}/documents/{ids['doc_b']}/content",
        f"{P}/deliverables/{ids['occ_b']}",
        f"{P}/deliverables/{ids['done_b']}",
        f"{P}/deliverables/files/{ids['file_b']}/content",
        f"{P}/organizations/{ids['org_b']}",
        f"{P}/organizations/{ids['ministry']}",
        f"{P}/signing-events/{ids['event_b_only']}",
    ]
    for url in urls:
        assert_problem(partner.get(url), 404)
    writes = [
        ("PATCH", f"{P}/agreements/{ids['b']}", {"title_en": "x"}),
        ("POST", f"{P}/agreements/{ids['b']}/transitions", {"transition": "suspend", "comment": "x"}),
        ("POST", f"{P}/deliverables/{ids['done_b']}/review", {"decision": "accept"}),
        ("POST", f"{P}/notifications/{ids['notice']}/read", None),
    ]
    for method, url, body in writes:
        assert_problem(partner.open(url, method, json=body), 404)
    response = partner.post(
        f"{P}/deliverables/{ids['occ_b']}/submissions",
        data={"files": [(BytesIO(PDF), "r.pdf")]},
        content_type="multipart/form-data",
    )
    assert_problem(response, 404)
    # Their answers are the same as for ids that do not exist at all.
    assert partner.get(f"{P}/agreements/{ids['b']}").get_json() == partner.get(f"{P}/agreements/999999").get_json()


# --- creating and changing agreements -----------------------------------------------------------


def test_an_editor_creates_a_draft(api, world, ids):
    body = {
        "type": "mou",
        "title_fr": "  Accord créé par l'API  ",
        "title_ar": "اتفاقية",
        "summary_en": "Why",
        "notes": "Internal",
        "parties": [{"organization_id": world.partner_a.id}],
        "signing_event_id": world.event.id,
    }
    response = api("officer").post(f"{P}/agreements", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert created["state"] == "draft" and created["type"] == "mou"
    assert created["reference"].startswith("MTNRA-")
    assert created["titles"] == {"ar": "اتفاقية", "fr": "Accord créé par l'API", "en": None}
    assert created["owner"]["id"] == world.users["officer"].id  # an officer owns what they create
    assert created["parties"] == [
        {"organization": {"id": world.partner_a.id, "name": world.partner_a.name, "acronym": None}, "role": "partner"}
    ]
    assert created["notes"] == "Internal" and created["version"] >= 1
    assert created["url"] == f"/agreements/{created['id']}"
    # The partner does not see the ministry's draft; shown to it (sent back from the negotiation, say), reads
    # it without the ministry's notes.
    assert api("partner").get(f"{P}/agreements/{created['id']}").status_code == 404
    factories.shown_to_partners(db.session.get(Agreement, created["id"]))
    db.session.commit()
    seen = api("partner").get(f"{P}/agreements/{created['id']}").get_json()
    assert seen["reference"] == created["reference"] and seen["notes"] is None
    # A manager may name another owner.
    other = api("manager").post(f"{P}/agreements", json={**body, "owner_id": world.users["other_officer"].id})
    assert other.status_code == 201 and other.get_json()["owner"]["id"] == world.users["other_officer"].id


@pytest.mark.parametrize("role", ["partner", "partner_b", "auditor", "legal"])
def test_only_editors_create(api, ids, role):
    before = db.session.scalar(select(func.count()).select_from(Agreement))
    assert_problem(api(role).post(f"{P}/agreements", json=fill(NEW_AGREEMENT, ids)), 403)
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == before


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"type"}),
        ({"type": "treaty", "title_fr": "x"}, {"type"}),
        (
            {"type": "mou", "title_fr": 12, "parties": [{"organization_id": "x"}]},
            {"title_fr", "parties.0.organization_id"},
        ),
        ({"type": "mou", "title_fr": "x", "parties": [{}]}, {"parties.0.organization_id"}),
        ({"type": "mou", "title_fr": "x", "parties": "org"}, {"parties"}),
        ({"type": "mou", "title_fr": "x", "signed_on": "1 July"}, {"signed_on"}),
        ({"type": "mou", "title_fr": "x", "owner_id": 2**31}, {"owner_id"}),
        ({"type": "mou", "title_fr": "x", "owner_id": "1"}, {"owner_id"}),  # ids are integers, strictly
        ({"type": "mou", "title_fr": "x", "owner_id": True}, {"owner_id"}),
        # Unknown fields are refused, not silently dropped: a typo must not lose data.
        ({"type": "mou", "title_fr": "x", "state": "active"}, {"state"}),
        ({"type": "mou", "title_fr": "x", "reference": "MTNRA-1999-001", "id": 1}, {"reference", "id"}),
        # Business rules answer with the fields at fault too.
        ({"type": "mou"}, {"title_fr", "partners"}),
        ({"type": "mou", "title_fr": "   ", "parties": [{"organization_id": 999999}]}, {"title_fr", "partners"}),
        ({"type": "mou", "title_fr": "x", "parties": [{"organization_id": "{ministry}"}]}, {"partners"}),
        (
            {
                "type": "mou",
                "title_fr": "x",
                "parties": [{"organization_id": "{org_a}"}],
                "signed_on": "2025-07-01",
                "expires_on": "2025-06-01",
            },
            {"expires_on"},
        ),
        (
            {"type": "mou", "title_fr": "x", "parties": [{"organization_id": "{org_a}"}], "owner_id": "{partner_user}"},
            {"owner_id"},
        ),
        (
            {"type": "mou", "title_fr": "x", "parties": [{"organization_id": "{org_a}"}], "signing_event_id": 999999},
            {"signing_event_id"},
        ),
        (
            {"type": "mou", "title_fr": "x", "parties": [{"organization_id": "{org_a}"}], "signed_on": "1900-01-01"},
            {"signed_on"},
        ),
        # Huge strings are refused by length, by field.
        ({"type": "mou", "title_fr": "x" * 501, "parties": [{"organization_id": "{org_a}"}]}, {"title_fr"}),
        (
            {"type": "mou", "title_fr": "x", "summary_en": "é" * 20001, "parties": [{"organization_id": "{org_a}"}]},
            {"summary_en"},
        ),
        (
            {"type": "mou", "title_fr": "x", "notes": "n" * 1_000_000, "parties": [{"organization_id": "{org_a}"}]},
            {"notes"},
        ),
        (
            {"type": "mou", "title_fr": "x", "parties": [{"organization_id": "{org_a}", "role": "r" * 41}]},
            {"parties.0.role"},
        ),
        ({"type": "mou", "title_fr": "x", "parties": [{"organization_id": "{org_a}"}] * 51}, {"parties"}),
        # Titles of invisible characters only (spaces, a zero-width space, a direction override) are no title.
        (
            {
                "type": "mou",
                "title_fr": " \u00a0 ",
                "title_en": "\u200b",
                "title_ar": "\u202e\u200f\ufeff",
                "parties": [{"organization_id": "{org_a}"}],
            },
            {"title_fr"},
        ),
    ],
)
def test_invalid_agreements_are_422_with_field_errors(api, world, ids, body, fields):
    ids = {**ids, "partner_user": world.users["partner"].id}
    before = db.session.scalar(select(func.count()).select_from(Agreement))
    problem = assert_problem(api("officer").post(f"{P}/agreements", json=fill(body, ids)), 422)
    assert fields <= set(problem["errors"]), problem["errors"]
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == before


def test_bodies_that_are_not_a_json_object_are_refused(api):
    officer = api("officer")
    # Malformed JSON: the request cannot be understood.
    assert_problem(officer.post(f"{P}/agreements", data='{"type": "mou",', content_type="application/json"), 400)
    assert_problem(officer.post(f"{P}/agreements", data=b"\xff\xfe", content_type="application/json"), 400)
    # Well-formed JSON of the wrong shape, or no JSON at all: invalid input.
    for body in ([{"type": "mou"}], "mou", 42, None):
        response = officer.post(f"{P}/agreements", json=body)
        assert_problem(response, 422)
    assert_problem(officer.post(f"{P}/agreements"), 422)
    # A body of a type the API does not read is refused as such (it was read as no body at all), and so is
    # JSON declared in another charset than UTF-8.
    for data, content_type in (
        ("type=mou", "application/x-www-form-urlencoded"),
        ('{"type": "mou"}', "text/plain"),
        ('{"type": "mou"}', "application/xml"),
        ('{"type": "mou"}', "application/json; charset=utf-16"),
        ('{"type": "mou"}', "application/json; charset=latin-1"),
    ):
        response = officer.post(f"{P}/agreements", data=data, content_type=content_type)
        assert_problem(response, 415)
        assert "application/json" in response.get_json()["detail"]
        # The refusal names what was sent as sent: its charset, when that is the reason.
        assert response.get_json()["detail"].endswith(f"not {content_type}.")
    # UTF-8 said in any spelling, or a +json type, is read.
    for content_type in ("application/json; charset=UTF-8", "application/json;charset=utf8", "application/x+json"):
        assert_problem(officer.post(f"{P}/agreements", data='{"type": "mou"}', content_type=content_type), 422)
    # A UTF-8 byte order mark before the JSON is passed over (RFC 8259 lets a reader), not "unreadable".
    marked = officer.post(f"{P}/agreements", data=b"\xef\xbb\xbf" + b'{"type": "mou"}', content_type="application/json")
    assert "title" in str(assert_problem(marked, 422))


def test_a_patch_sent_as_text_changes_nothing_and_says_so(api, ids):
    officer = api("officer")
    path = f"{P}/agreements/{ids['draft']}"
    before = officer.get(path).get_json()
    body = json.dumps({"title_fr": "Par texte", "version": before["version"]})
    sent = officer.patch(path, data=body, content_type="text/plain")
    assert_problem(sent, 415)
    assert officer.get(path).get_json()["titles"] == before["titles"]


def test_an_oversized_json_body_is_413(api, ids, app, document, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64 * 1024)
    body = {**fill(NEW_AGREEMENT, ids), "summary_fr": "x" * (100 * 1024)}
    for method, url in [
        ("POST", f"{P}/agreements"),
        ("PATCH", f"{P}/agreements/{ids['draft']}"),
        ("POST", f"{P}/agreements/{ids['draft']}/transitions"),
        ("POST", f"{P}/deliverables/{ids['done_a']}/review"),
    ]:
        assert_problem(api("officer").open(url, method, json=body), 413)
        assert 413 in documented_statuses(app, document, method, url)


def test_the_document_lists_each_operations_answers(document):
    """No catch-all "default" answer (it would document any status), OpenAPI 3 parameter
    locations only, and the hand-in's multipart body with its fields and files."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert "default" not in operation["responses"], f"{method} {path}"
            assert "401" in operation["responses"], f"{method} {path}"
            for parameter in operation.get("parameters", []) + operations.get("parameters", []):
                assert parameter["in"] in ("path", "query", "header", "cookie"), f"{method} {path}"
    hand_in = document["paths"][P + "/deliverables/{occurrence_id}/submissions"]["post"]
    schema_name = hand_in["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].split("/")[-1]
    assert set(document["components"]["schemas"][schema_name]["properties"]) == {"note", "version", "files"}
    assert "413" in hand_in["responses"]


def test_patch_changes_only_what_is_sent(api, world, ids):
    draft = db.session.get(Agreement, ids["draft"])
    version, title_fr = draft.version, draft.title_fr
    response = api("officer").patch(
        f"{P}/agreements/{ids['draft']}", json={"title_en": "Draft with A", "version": version}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["titles"]["en"] == "Draft with A" and body["titles"]["fr"] == title_fr
    assert body["version"] > version
    assert [p["organization"]["id"] for p in body["parties"]] == [world.partner_a.id]
    # Without a version the change applies to whatever is stored.
    assert api("manager").patch(f"{P}/agreements/{ids['draft']}", json={"summary_fr": "Résumé"}).status_code == 200
    # Parties and type may change while it is a draft.
    response = api("officer").patch(
        f"{P}/agreements/{ids['draft']}",
        json={"type": "convention", "parties": [{"organization_id": world.partner_b.id}]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["type"] == "convention"
    # Now partner A no longer sees it.
    assert_problem(api("partner").get(f"{P}/agreements/{ids['draft']}"), 404)


def test_names_and_titles_stay_on_one_line_and_a_blank_one_is_no_title(api, world, ids, signed_in):
    """A title or a name is shown inside the app's words and mails: its line breaks become spaces and
    direction overrides go; a title of blank-looking characters (braille blank, Hangul filler) is none."""
    url = f"{P}/agreements/{ids['draft']}"
    response = api("officer").patch(url, json={"title_en": "Plan\r\nBcc: x@example.org\u202e", "summary_en": "a\nb"})
    assert response.status_code == 200, response.get_data(as_text=True)
    draft = refreshed(Agreement, ids["draft"])
    assert draft.title_en == "Plan Bcc: x@example.org" and draft.summary_en == "a\nb"
    created = api("officer").post(
        f"{P}/agreements",
        json={"type": "mou", "title_fr": "\u2800\u2800\u3164", "parties": [{"organization_id": world.partner_a.id}]},
    )
    assert "title_fr" in assert_problem(created, 422)["errors"]
    partner = signed_in("partner")
    partner.post("/account", data={"full_name": "Camille\u202e\r\nBcc: evil@example.org", "language": "en"})
    db.session.expire_all()
    assert world.users["partner"].full_name == "Camille Bcc: evil@example.org"


def test_patch_with_a_stale_version_is_409(api, ids):
    draft = db.session.get(Agreement, ids["draft"])
    old = draft.version
    assert (
        api("officer").patch(f"{P}/agreements/{ids['draft']}", json={"title_en": "First", "version": old}).status_code
        == 200
    )
    problem = assert_problem(
        api("manager").patch(f"{P}/agreements/{ids['draft']}", json={"title_en": "Second", "version": old}), 409
    )
    assert "changed" in problem["detail"]
    assert refreshed(Agreement, ids["draft"]).title_en == "First"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"signed_on": "2024-01-01"}, "signed_on"),
        ({"effective_on": "2025-08-01"}, "effective_on"),
        ({"expires_on": "2030-01-01"}, "expires_on"),
        ({"type": "convention"}, "type"),
        ({"parties": [{"organization_id": "{org_b}"}]}, "partners"),
    ],
)
def test_signed_terms_of_an_active_agreement_cannot_be_patched(api, ids, body, field):
    problem = assert_problem(api("officer").patch(f"{P}/agreements/{ids['a']}", json=fill(body, ids)), 422)
    assert field in problem["errors"]
    assert refreshed(Agreement, ids["a"]).signed_on == date(2025, 7, 1)


def test_patch_refuses_unknown_fields_and_bad_versions(api, ids):
    officer = api("officer")
    for body, field in [
        ({"state": "active"}, "state"),
        ({"version": "3"}, "version"),
        ({"version": 0}, "version"),
        ({"title_fr": None, "title_ar": None, "title_en": None}, "title_fr"),
    ]:
        problem = assert_problem(officer.patch(f"{P}/agreements/{ids['draft']}", json=body), 422)
        assert field in problem["errors"]


# --- workflow moves -----------------------------------------------------------------------------


def _options(client, agreement_id) -> dict:
    response = client.get(f"{P}/agreements/{agreement_id}/transitions")
    assert response.status_code == 200, response.get_data(as_text=True)
    return {option["name"]: option for option in response.get_json()}


def test_transitions_list_allowed_and_blocked_moves_with_reasons(api, world, ids):
    officer = api("officer")
    options = _options(officer, ids["draft"])
    assert set(options) == {"submit_for_review", "cancel"}
    submit = options["submit_for_review"]
    assert submit["allowed"] is True and submit["reasons"] == [] and submit["target"] == "internal_review"
    assert submit["label"] == "Submit for internal review" and submit["is_approval"] is False
    assert options["cancel"]["comment"] == "required"
    # A draft without a French title cannot go to review yet: blocked, and why.
    untitled = api("officer").post(
        f"{P}/agreements",
        json={"type": "mou", "title_en": "English only", "parties": [{"organization_id": world.partner_a.id}]},
    )
    blocked = _options(officer, untitled.get_json()["id"])["submit_for_review"]
    assert blocked["allowed"] is False and blocked["reasons"] and "Missing" in blocked["reasons"][0]
    # Terminating needs a termination notice, sent with the move: managers see it, as on the page.
    terminate = _options(api("manager"), ids["a"])["terminate"]
    assert terminate["allowed"] is True and terminate["documents"] == ["termination_notice"]
    assert "terminate" not in _options(officer, ids["a"])  # not the officer's move
    # Who may not act gets an empty list; others' agreements stay hidden.
    assert _options(api("auditor"), ids["a"]) == {}
    assert _options(api("partner"), ids["a"]) == {}
    assert _options(api("other_officer"), ids["draft"]) == {}
    assert_problem(api("partner_b").get(f"{P}/agreements/{ids['draft']}/transitions"), 404)


def test_submit_for_review_then_approve_or_reject(api, world, ids):
    officer, legal, manager = api("officer"), api("legal"), api("manager")
    url = f"{P}/agreements/{ids['draft']}/transitions"
    response = officer.post(url, json={"transition": "submit_for_review", "comment": "Ready"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["agreement"]["state"] == "internal_review" and body["message"]
    assert refreshed(Agreement, ids["draft"]).state == "internal_review"
    # The same move again is no longer possible.
    problem = assert_problem(officer.post(url, json={"transition": "submit_for_review"}), 409)
    assert "no longer possible" in problem["detail"]
    # The approvers see their decision.
    approve = _options(legal, ids["draft"])["approve_review"]
    assert approve["allowed"] is True and approve["is_approval"] is True and approve["approval_step"]
    # A rejection needs a comment.
    problem = assert_problem(legal.post(url, json={"transition": "approve_review", "decision": "reject"}), 422)
    assert "comment" in problem["errors"]
    assert_problem(legal.post(url, json={"transition": "approve_review", "decision": "maybe"}), 422)
    # Approvals: legal, then the head of department; the parallel step completes with both.
    assert legal.post(url, json={"transition": "approve_review"}).get_json()["agreement"]["state"] == "internal_review"
    problem = assert_problem(legal.post(url, json={"transition": "approve_review"}), 409)  # already approved
    assert "already approved" in problem["detail"]
    assert (
        manager.post(url, json={"transition": "approve_review", "comment": "Go"}).get_json()["agreement"]["state"]
        == "negotiation"
    )
    rounds = officer.get(f"{P}/agreements/{ids['draft']}/approvals").get_json()
    assert rounds[0]["status"] == "approved" and rounds[0]["transition"] == "approve_review"
    assert {d["by"]["id"] for d in rounds[0]["decisions"]} == {world.users["legal"].id, world.users["manager"].id}
    assert {d["decision"] for d in rounds[0]["decisions"]} == {"approve"}
    # The partner reads the approvals of its agreement too, and the history is the ministry's.
    assert api("partner").get(f"{P}/agreements/{ids['draft']}/approvals").status_code == 200
    history = officer.get(f"{P}/agreements/{ids['draft']}/history").get_json()
    actions = [event["action"] for event in history]
    assert actions[-1] == "created" and actions.count("transition") == 2 and "approval_approved" in actions
    moves = [e["changes"] for e in history if e["action"] == "transition"]
    assert moves[-1]["after"] == {"state": "internal_review"} and moves[0]["after"] == {"state": "negotiation"}
    assert_problem(api("partner").get(f"{P}/agreements/{ids['draft']}/history"), 403)


def test_a_rejection_with_a_comment_sends_it_back_to_draft(api, ids):
    url = f"{P}/agreements/{ids['draft']}/transitions"
    assert api("officer").post(url, json={"transition": "submit_for_review"}).status_code == 200
    response = api("manager").post(
        url, json={"transition": "approve_review", "decision": "reject", "comment": "Clarify article 3"}
    )
    assert response.status_code == 200 and response.get_json()["agreement"]["state"] == "draft"
    rounds = api("officer").get(f"{P}/agreements/{ids['draft']}/approvals").get_json()
    assert rounds[0]["status"] == "rejected" and rounds[0]["decisions"][0]["comment"] == "Clarify article 3"


def test_only_an_approver_of_the_step_sends_it_back(api, signed_in, ids):
    """A partner of the agreement, the officer who asked and another officer may not send back the
    internal review, through the API or the page: 403 and nothing recorded, as for approving."""
    url = f"{P}/agreements/{ids['draft']}/transitions"
    assert api("officer").post(url, json={"transition": "submit_for_review"}).status_code == 200
    refusal = {"transition": "approve_review", "decision": "reject", "comment": "Veto"}
    for role in ("partner", "officer", "other_officer"):
        assert_problem(api(role).post(url, json=refusal), 403)
    agreement = refreshed(Agreement, ids["draft"])
    page = f"/agreements/{ids['draft']}/actions/approve_review"
    form = {"decision": "reject", "comment": "Veto", "version": agreement.version}
    response = signed_in("partner").post(
        page, data=form, csrf_from=f"/agreements/{ids['draft']}", follow_redirects=True
    )
    assert "You are not an approver of this step." in response.get_data(as_text=True)
    agreement = refreshed(Agreement, ids["draft"])
    assert agreement.state == "internal_review"
    rounds = api("officer").get(f"{P}/agreements/{ids['draft']}/approvals").get_json()
    assert rounds[0]["status"] == "open" and rounds[0]["decisions"] == []


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"transition": "fly_to_the_moon"}, 422, "transition"),  # no move of this workflow: bad input
        ({"transition": "activate"}, 409, None),  # a move of the workflow, but not from a draft
        ({"transition": ""}, 422, "transition"),
        ({"transition": "x" * 61}, 422, "transition"),
        ({}, 422, "transition"),
        ({"transition": "submit_for_review", "fields": {"signed_on": "x"}}, 422, "fields.signed_on"),
        ({"transition": "submit_for_review", "fields": {"colour": "red"}}, 422, "fields.colour"),
        ({"transition": "submit_for_review", "extra": 1}, 422, "extra"),
        ({"transition": "submit_for_review", "comment": "c" * 2001}, 422, "comment"),
        ({"transition": "submit_for_review", "version": 999}, 409, None),
        ({"transition": "cancel"}, 422, "comment"),
        # A required reason of invisible characters alone (zero-width space, right-to-left mark) says nothing.
        ({"transition": "cancel", "comment": "\u200b\u200f"}, 422, "comment"),
    ],
)
def test_invalid_moves_are_refused(api, ids, body, status, field):
    problem = assert_problem(api("officer").post(f"{P}/agreements/{ids['draft']}/transitions", json=body), status)
    if field:
        assert field in problem["errors"]
    assert refreshed(Agreement, ids["draft"]).state == "draft"


@pytest.mark.parametrize("expires_on", ["9999-12-31", "2201-01-01"])
def test_a_move_refuses_a_date_sharaka_does_not_keep(api, world, expires_on):
    """Activation sets the end date: one past 2200 is refused as the agreement's form refuses it (renewing
    it later counted years past Python's calendar: a 500)."""
    from datetime import date

    signed = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], state="signed", signed_on=date(2026, 1, 10)
    )
    db.session.commit()
    body = {"transition": "activate", "fields": {"effective_on": "2026-02-01", "expires_on": expires_on}}
    problem = assert_problem(api("officer").post(f"{P}/agreements/{signed.id}/transitions", json=body), 422)
    assert problem["errors"]["expires_on"] == ["This date is out of range."]
    again = refreshed(Agreement, signed.id)
    assert again.state == "signed" and again.expires_on is None


def test_a_move_with_the_current_version_then_a_blocked_one(api, ids):
    officer, url = api("officer"), f"{P}/agreements/{ids['a']}/transitions"
    agreement = db.session.get(Agreement, ids["a"])
    response = officer.post(
        url, json={"transition": "suspend", "comment": "Budget freeze", "version": agreement.version}
    )
    assert response.status_code == 200 and response.get_json()["agreement"]["state"] == "suspended"
    # Agreement A never got an effective date: it cannot become active again, and the list says why.
    resume = _options(officer, ids["a"])["resume"]
    assert resume["allowed"] is False and resume["reasons"] == ["Missing: Effective on."]
    problem = assert_problem(officer.post(url, json={"transition": "resume"}), 422)
    assert "Effective on" in problem["detail"]
    assert refreshed(Agreement, ids["a"]).state == "suspended"


def test_a_move_that_needs_a_document_is_refused_without_it(api, ids):
    """Terminating needs a termination notice: the JSON move cannot carry it, so it is refused
    and says what is missing (the multipart move carries it: tests/integration/test_api_lifecycle.py)."""
    manager = api("manager")
    terminate = _options(manager, ids["a"])["terminate"]
    assert terminate["documents"] == ["termination_notice"] and terminate["reasons"] == []
    problem = assert_problem(
        manager.post(f"{P}/agreements/{ids['a']}/transitions", json={"transition": "terminate", "comment": "Breach"}),
        422,
    )
    assert "Termination notice" in problem["detail"]
    assert refreshed(Agreement, ids["a"]).state == "active"


# --- documents -----------------------------------------------------------------------------------


def test_documents_are_listed_and_downloaded(api, world, ids):
    documents = api("partner").get(f"{P}/agreements/{ids['a']}/documents").get_json()
    assert [d["id"] for d in documents] == [ids["doc_a"]]
    document = documents[0]
    assert document["kind"] == "signed_copy" and document["name"] == "signed A.pdf"
    assert document["content_type"] == "application/pdf" and document["size"] == len(PDF + b"sa")
    assert document["sha256"] == hashlib.sha256(PDF + b"sa").hexdigest()
    assert document["uploaded_by"]["id"] == world.users["officer"].id
    response = api("partner").get(document["download_url"])
    assert response.status_code == 200 and response.data == PDF + b"sa"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert api("officer").get(f"{P}/agreements/{ids['draft']}/documents").get_json() == []
    assert_problem(api("partner_b").get(document["download_url"]), 404)
    assert_problem(api("officer").get(f"{P}/agreements/{ids['b']}/documents/{ids['doc_a']}/content"), 404)


# --- deliverables ------------------------------------------------------------------------------


def _submit(client, occurrence_id, files, **fields):
    return client.post(
        f"{P}/deliverables/{occurrence_id}/submissions",
        data={**fields, "files": [(BytesIO(body), name) for body, name in files]},
        content_type="multipart/form-data",
    )


def test_deliverables_list_and_get(api, world, ids):
    officer = api("officer")
    body = officer.get(f"{P}/deliverables?per_page=2").get_json()
    assert body["total"] == 4 and body["pages"] == 2 and len(body["items"]) == 2
    occurrence = officer.get(f"{P}/deliverables/{ids['occ_a']}").get_json()
    assert occurrence["status"] == "pending" and occurrence["shown_status"] == "due"
    assert occurrence["agreement"]["id"] == ids["a"] and occurrence["responsible"]["id"] == world.partner_a.id
    assert occurrence["deliverable"]["titles"]["en"] == "Report" and occurrence["submissions"] == []
    assert occurrence["url"] == f"/deliverables/{ids['occ_a']}"
    submitted = officer.get(f"{P}/deliverables?status=submitted&per_page=100").get_json()["items"]
    assert {o["id"] for o in submitted} == {ids["done_a"], ids["done_b"]}
    mine = officer.get(f"{P}/deliverables?agreement={ids['a']}&status=open").get_json()["items"]
    assert {o["id"] for o in mine} == {ids["occ_a"]}
    of_b = officer.get(f"{P}/deliverables?responsible={world.partner_b.id}").get_json()["items"]
    assert {o["id"] for o in of_b} == {ids["occ_b"], ids["done_b"]}
    soon = clock.today() + timedelta(days=6)
    assert {o["id"] for o in officer.get(f"{P}/deliverables?due_before={soon}").get_json()["items"]} == {
        ids["occ_a"],
        ids["occ_b"],
    }
    assert {o["id"] for o in officer.get(f"{P}/deliverables?due_after={soon}").get_json()["items"]} == {
        ids["done_a"],
        ids["done_b"],
    }


def test_a_partner_hands_in_a_real_file(api, world, ids):
    partner = api("partner")
    response = _submit(partner, ids["occ_a"], [(PDF + b"q1", "rapport T1.pdf")], note="Q1 report")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "submitted"
    submission = body["submissions"][0]
    assert submission["number"] == 1 and submission["note"] == "Q1 report"
    assert submission["submitted_by"]["id"] == world.users["partner"].id
    file = submission["files"][0]
    assert file["name"] == "rapport T1.pdf" and file["sha256"] == hashlib.sha256(PDF + b"q1").hexdigest()
    download = api("officer").get(file["download_url"])
    assert download.status_code == 200 and download.data == PDF + b"q1"
    assert_problem(api("partner_b").get(file["download_url"]), 404)
    # The owner is told.
    notices = api("officer").get(f"{P}/notifications?unread=true&per_page=100").get_json()["items"]
    assert any(n["kind"] == "deliverable_submitted" for n in notices)
    # Handed in: it cannot be handed in again before the review.
    assert_problem(_submit(partner, ids["occ_a"], [(PDF, "again.pdf")]), 422)


def test_hand_in_refusals(api, ids, app, monkeypatch):
    partner = api("partner")
    assert_problem(_submit(api("partner_b"), ids["occ_a"], [(PDF, "r.pdf")]), 404)
    assert_problem(_submit(api("officer"), ids["occ_a"], [(PDF, "r.pdf")]), 403)
    problem = assert_problem(_submit(partner, ids["occ_a"], [(b"", "vide.pdf")]), 422)
    assert "files" in problem["errors"]
    problem = assert_problem(_submit(partner, ids["occ_a"], []), 422)
    assert "files" in problem["errors"]
    problem = assert_problem(_submit(partner, ids["occ_a"], [(b"MZ\x90\x00" + b"\x00" * 64, "r.pdf")]), 422)
    assert "not accepted" in problem["errors"]["files"][0]
    # Text in the files field is not a file.
    response = partner.post(
        f"{P}/deliverables/{ids['occ_a']}/submissions", data={"files": "plain text"}, content_type="multipart/form-data"
    )
    assert_problem(response, 422)
    problem = assert_problem(_submit(partner, ids["occ_a"], [(PDF, "r.pdf")], note="n" * 20001), 422)
    assert "note" in problem["errors"]
    problem = assert_problem(_submit(partner, ids["occ_a"], [(PDF, "r.pdf")], version="abc"), 422)
    assert "version" in problem["errors"]
    assert_problem(_submit(partner, ids["occ_a"], [(PDF, "r.pdf")], version="999"), 409)
    # A file over the per-file limit is refused by the service, the body over the request limit by the server.
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 1024)
    problem = assert_problem(_submit(partner, ids["occ_a"], [(PDF + b"0" * 2048, "gros.pdf")]), 422)
    assert "larger" in problem["errors"]["files"][0]
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    problem = assert_problem(_submit(partner, ids["occ_a"], [(PDF + b"0" * 8192, "gros.pdf")]), 413)
    assert "MB" in problem["detail"]
    assert refreshed(deliverables.Occurrence, ids["occ_a"]).status == "pending"


def test_storage_that_takes_no_file_is_a_503_saying_to_try_later(api, ids, app, monkeypatch, signed_in, tmp_path):
    """The upload folder cannot take the file (here a plain file where a folder should be; a full or
    read-only disk takes the same path): 503 with what to do, and nothing recorded, never a bare 500."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(blocked / "uploads"))
    problem = assert_problem(_submit(api("partner"), ids["occ_a"], [(PDF + b"full", "r.pdf")]), 503)
    assert "try again later" in problem["detail"]
    assert refreshed(deliverables.Occurrence, ids["occ_a"]).status == "pending"
    page = signed_in("partner").post(
        f"/deliverables/{ids['occ_a']}/submissions",
        data={
            "files": (BytesIO(PDF + b"full"), "r.pdf"),
            "version": str(refreshed(deliverables.Occurrence, ids["occ_a"]).version),
        },
        content_type="multipart/form-data",
        csrf_from=f"/deliverables/{ids['occ_a']}",
        follow_redirects=True,
    )
    assert "try again later" in page.get_data(as_text=True)
    assert refreshed(deliverables.Occurrence, ids["occ_a"]).status == "pending"


def test_review_send_back_and_accept(api, world, ids):
    officer, url = api("officer"), f"{P}/deliverables/{ids['done_a']}/review"
    problem = assert_problem(officer.post(url, json={"decision": "send_back"}), 422)
    assert problem["errors"]
    assert_problem(officer.post(url, json={"decision": "send_back", "comment": "   "}), 422)
    assert_problem(officer.post(url, json={"decision": "maybe"}), 422)
    assert_problem(officer.post(url, json={"decision": "accept", "version": 999}), 409)
    assert_problem(officer.post(url, json={"decision": "accept", "rating": 5}), 422)
    assert_problem(api("other_officer").post(url, json={"decision": "accept"}), 403)
    version = db.session.get(deliverables.Occurrence, ids["done_a"]).version
    response = officer.post(url, json={"decision": "send_back", "comment": "Add the annexes", "version": version})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "sent_back" and body["submissions"][0]["feedback"] == "Add the annexes"
    # The partner reads the feedback and hands in again; the stale version it read first is refused.
    seen = api("partner").get(f"{P}/deliverables/{ids['done_a']}").get_json()
    assert seen["shown_status"] == "sent_back" and seen["submissions"][0]["decision"] == "send_back"
    assert_problem(_submit(api("partner"), ids["done_a"], [(PDF + b"v2", "v2.pdf")], version=str(version)), 409)
    again = _submit(api("partner"), ids["done_a"], [(PDF + b"v2", "v2.pdf")], version=str(seen["version"]))
    assert again.status_code == 201, again.get_data(as_text=True)
    accepted = api("manager").post(url, json={"decision": "accept"})
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    assert [s["decision"] for s in accepted.get_json()["submissions"]] == ["send_back", "accept"]


# --- notifications -------------------------------------------------------------------------------


def test_notifications_are_their_recipients_own(api, world, ids):
    officer = api("officer")
    body = officer.get(f"{P}/notifications").get_json()
    own = {n["id"] for n in body["items"]}
    assert ids["notice"] in own and ids["notice_partner"] not in own
    notice = next(n for n in body["items"] if n["id"] == ids["notice"])
    assert notice["read_at"] is None and notice["headline"] and notice["link"] == f"/agreements/{ids['a']}"
    unread_before = officer.get(f"{P}/notifications?unread=true").get_json()["total"]
    response = officer.post(f"{P}/notifications/{ids['notice']}/read")
    assert response.status_code == 200 and response.get_json()["read_at"] is not None
    unread = officer.get(f"{P}/notifications?unread=true").get_json()
    assert unread["total"] == unread_before - 1 and ids["notice"] not in {n["id"] for n in unread["items"]}
    assert ids["notice"] in {n["id"] for n in officer.get(f"{P}/notifications?unread=false").get_json()["items"]}
    # Marking again is harmless; another person's notice does not exist for you.
    assert officer.post(f"{P}/notifications/{ids['notice']}/read").status_code == 200
    assert_problem(officer.post(f"{P}/notifications/{ids['notice_partner']}/read"), 404)
    assert_problem(api("partner_b").post(f"{P}/notifications/{ids['notice_partner']}/read"), 404)
    assert refreshed(Notification, ids["notice_partner"]).read_at is None
    partner_list = api("partner").get(f"{P}/notifications").get_json()["items"]
    assert {n["id"] for n in partner_list} == {ids["notice_partner"]}


def test_a_json_body_past_a_megabyte_is_refused_before_it_is_read(api, ids, app, document):
    """Far larger than any operation takes: refused at once (200,000 unknown keys took seconds to list)."""
    body = {f"k{number}": 1 for number in range(120_000)}  # about 1.3 MB
    for method, url in [("POST", f"{P}/agreements"), ("PATCH", f"{P}/agreements/{ids['draft']}")]:
        assert_problem(api("officer").open(url, method, json=body), 413)
    undocumented = [
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method != "parameters" and "413" not in operation["responses"]
    ]
    assert not undocumented, undocumented  # any request may be too large


def test_a_signatory_needs_a_visible_name_and_the_list_has_an_end(api, world):
    from app.workflow.services import MAX_SIGNATORIES

    signing = factories.agreement(by=world.users["officer"], partners=[world.partner_a], state="signature")
    db.session.commit()
    path = f"{P}/agreements/{signing.id}/signatories"
    problem = assert_problem(api("officer").post(path, json={"side": "ministry", "name": "\u200b\u202e"}), 422)
    assert "name" in problem["errors"]
    for number in range(MAX_SIGNATORIES):
        assert api("officer").post(path, json={"side": "partner", "name": f"Signataire {number}"}).status_code == 201
    problem = assert_problem(api("officer").post(path, json={"side": "partner", "name": "Un de trop"}), 422)
    assert "name" in problem["errors"]
    assert len(refreshed(Agreement, signing.id).signatories) == MAX_SIGNATORIES


def test_an_owned_agreement_keeps_an_owner(api, world, ids):
    """Clearing the owner left nobody to remind, and locked the officer who did it out of their agreement."""
    problem = assert_problem(api("officer").patch(f"{P}/agreements/{ids['draft']}", json={"owner_id": None}), 422)
    assert "owner_id" in problem["errors"]
    assert refreshed(Agreement, ids["draft"]).owner_id == world.users["officer"].id


def test_a_changed_owner_is_the_one_the_answer_shows(api, world, ids):
    other = world.users["other_officer"]
    response = api("manager").patch(f"{P}/agreements/{ids['draft']}", json={"owner_id": other.id})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["owner"]["id"] == other.id, body["owner"]
    assert api("manager").get(f"{P}/agreements/{ids['draft']}").get_json()["owner"] == body["owner"]


@pytest.mark.parametrize("name", ["\u200b", "\u202e\u200b", " \u200f "])
def test_a_token_needs_a_visible_name(world, name):
    from app.core.errors import ValidationFailed

    officer = world.users["officer"]
    with pytest.raises(ValidationFailed):
        create_token(officer, name, by=officer)


def test_a_body_of_the_kind_an_operation_does_not_read_is_refused(api, ids):
    """Multipart to a JSON operation was read as no body (200, nothing changed); JSON to a multipart one as
    an empty message. Each is a 415 naming the kind the operation takes; either kind where both are read."""
    officer = api("officer")
    before = refreshed(Agreement, ids["draft"]).notes
    problem = assert_problem(officer.patch(f"{P}/agreements/{ids['draft']}", data={"notes": "x"}), 415)
    assert "takes its body as application/json, not application/x-www-form-urlencoded" in problem["detail"]
    assert refreshed(Agreement, ids["draft"]).notes == before
    thread = f"{P}/agreements/{ids['draft']}/threads/shared/messages"
    problem = assert_problem(officer.post(thread, json={"body": "Bonjour"}), 415)
    assert "takes its body as multipart/form-data" in problem["detail"]
    # A form to an upload is told the same kind (it had been told "JSON or multipart", then JSON refused).
    form = officer.post(thread, data={"body": "Bonjour"}, content_type="application/x-www-form-urlencoded")
    assert "takes its body as multipart/form-data" in assert_problem(form, 415)["detail"]
    # Both kinds where the operation reads both (a move, with a document or without).
    moved = officer.post(f"{P}/agreements/{ids['draft']}/transitions", json={"transition": "submit_for_review"})
    assert moved.status_code == 200, moved.get_data(as_text=True)


def test_a_json_body_past_its_own_limit_names_that_limit(api, ids):
    """The general 413 named the upload limit (26 MB) for a JSON body refused past 1 MB."""
    body = {**fill(NEW_AGREEMENT, ids), "summary_fr": "x" * (1024 * 1024 + 10)}
    problem = assert_problem(api("officer").open(f"{P}/agreements", "POST", json=body), 413)
    assert "A JSON body is at most 1 MB." in problem["detail"]


def test_a_file_sent_under_another_name_is_refused_not_dropped(api, ids):
    """A message posted with its attachment under `attachments` had answered 201 without it."""
    partner = api("partner")
    response = partner.post(
        f"{P}/deliverables/{ids['occ_a']}/threads/shared/messages",
        data={"body": "Voici l'annexe", "attachments": [(BytesIO(PDF), "annexe.pdf")]},
        content_type="multipart/form-data",
    )
    problem = assert_problem(response, 422)
    assert "attachments" in problem["errors"] and "files" in problem["detail"]
    response = partner.post(
        f"{P}/deliverables/{ids['occ_a']}/submissions",
        data={"fichier": [(BytesIO(PDF), "rapport.pdf")]},
        content_type="multipart/form-data",
    )
    assert "fichier" in assert_problem(response, 422)["errors"]
