"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

Every operation is called with generated input (valid and invalid), as a ministry
officer and as a partner. Whatever is sent, the answer must never be a server
error, and its status code, content type and body must be the ones the document
declares for that operation (the document lists each operation's errors and has no
catch-all "default" answer, so an undocumented status fails here).

Left out on purpose: schemathesis' `positive_data_acceptance` and
`negative_data_rejection` checks. The document describes the shape of the input;
whether a well-shaped agreement is accepted depends on business rules it cannot
express (a title in at least one language, partners that exist, dates in order,
the agreement's stage, the caller's role and version), so a valid-looking body is
often rightly refused with 403/404/409/422. The contract tests
(tests/integration/test_api.py) check acceptance and refusal case by case.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.agreements.models import Agreement
from app.api.tokens import create_token
from app.deliverables.models import Occurrence
from app.extensions import db
from tests.conftest import make_test_app
from tests.integration.test_api import build_api_world


def _openapi_document() -> dict:
    # The document does not depend on any data: read it from an app on an empty
    # in-memory database, at import, so that each operation is a test of its own
    # (and so runs in its own rolled-back transaction).
    return make_test_app("sqlite://").test_client().get("/api/v1/openapi.json").get_json()


schema = schemathesis.openapi.from_dict(_openapi_document())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ROLES = ("officer", "partner")
TRANSITIONS = (
    "submit_for_review",
    "approve_review",
    "suspend",
    "resume",
    "close",
    "cancel",
    "terminate",
    "activate",
    "back_to_draft",
)


@pytest.fixture
def tokens(world):
    # Made once per test, outside the examples: a person may hold only so many tokens.
    return {role: create_token(world.users[role], "fuzz", by=None)[1] for role in ROLES}


@pytest.fixture
def targets(world):
    """Ids that exist, per parameter: both partners' objects, so the partner's calls
    also reach objects it must not see."""
    ids = build_api_world(world)
    return {
        "agreement_id": [ids["a"], ids["b"], ids["draft"]],
        "document_id": [ids["doc_a"], ids["doc_b"]],
        "occurrence_id": [ids["occ_a"], ids["done_a"], ids["occ_b"], ids["done_b"]],
        "file_id": [ids["file_a"], ids["file_b"]],
        "notification_id": [ids["notice"], ids["notice_partner"]],
        "organization_id": [ids["org_a"], ids["org_b"], ids["ministry"]],
        "event_id": [ids["event"], ids["event_b_only"]],
        # Fields of an agreement's body.
        "signing_event_id": [ids["event"], ids["event_b_only"]],
        "parent_id": [ids["a"], ids["b"], ids["draft"]],
        "owner_id": [world.users["officer"].id, world.users["other_officer"].id, world.users["partner"].id],
        # The plan's lines, people to delegate to, organisations responsible for a deliverable.
        "deliverable_id": [ids["line_a"], ids["line_b"]],
        "delegate_id": [world.users["manager"].id, world.users["legal"].id, world.users["partner"].id],
        "responsible_organization_id": [ids["org_a"], ids["org_b"], ids["ministry"]],
    }


def _pick(value: int, choices: list):
    """Usually one of `choices` (chosen by the generated value), sometimes the value itself."""
    index = value % (len(choices) + 1)
    return choices[index] if index < len(choices) else value


def _is_int(value) -> bool:
    return type(value) is int


def aim(case, targets: dict) -> None:
    """Random ids almost never exist, so every call would stop at a 404 (and random
    versions at a 409): turn most generated ids, versions and move names into real
    ones, keeping the rest of the generated input as it is."""
    path = case.path_parameters or {}
    for name, value in path.items():
        if name in targets and _is_int(value):
            path[name] = _pick(value, targets[name])
        elif name == "transition" and isinstance(value, str):
            path[name] = _pick(len(value), list(TRANSITIONS))
    body = case.body
    if not isinstance(body, dict):
        return
    for name in ("signing_event_id", "parent_id", "owner_id", "delegate_id", "responsible_organization_id"):
        if _is_int(body.get(name)):
            body[name] = _pick(body[name], targets[name])
    if isinstance(body.get("transition"), str):
        body["transition"] = _pick(len(body["transition"]), list(TRANSITIONS))
    for party in body.get("parties") if isinstance(body.get("parties"), list) else []:
        if isinstance(party, dict) and _is_int(party.get("organization_id")):
            party["organization_id"] = _pick(party["organization_id"], targets["organization_id"])
    if _is_int(body.get("version")) and body["version"] % 3:
        current = _current_version(path)
        if current is not None:
            body["version"] = current


def _current_version(path: dict) -> int | None:
    for name, model in (("agreement_id", Agreement), ("occurrence_id", Occurrence)):
        object_id = path.get(name)
        if _is_int(object_id):
            if not 0 < object_id < 2**31:
                return None
            try:
                found = db.session.get(model, object_id)
                return found.version if found is not None else None
            finally:
                # Read, then let go: the calls change rows behind this session's back, and
                # a savepoint left open here would interleave with the calls' own.
                db.session.rollback()
    return None


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(app, tokens, targets, role, case):
    aim(case, targets)
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {tokens[role]}"}, checks=CHECKS)
