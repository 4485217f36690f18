"""Who may make a call is decided before what it sent: a caller refused a write (403, or 404 for an
object it may not see) is refused so whatever its body; only a caller who may make the call is told
what is wrong with the body (400/422). Every write operation of the API tables, for every role."""

from __future__ import annotations

import pytest

from app.discussions.services import MAX_BODY
from tests.integration.test_api import (  # noqa: F401 (fixtures)
    ROLES,
    WRITE_ROUTES,
    api,
    assert_problem,
    ids,
    tokens,
)

# Refused by every JSON schema: not an object, or not JSON at all.
BAD_JSON_BODIES = {"a list": ("[1]", 422), "unreadable JSON": ('{"title_fr": ', 400)}
# Refused by every multipart schema: a version that is no number, a check that is no boolean, a
# message past its length.
BAD_FORM = {"version": "x", "check": "maybe", "organization_id": "x", "body": "x" * (MAX_BODY + 1)}


# Whether a move is the caller's depends on which move it is, and the JSON move names it in its body;
# the engine decides it as it takes the move (engine.act), for the multipart one too.
DECIDED_BY_THE_MOVE = {"/transitions"}


@pytest.mark.parametrize("role", ROLES)
def test_a_caller_refused_a_write_is_refused_whatever_its_body(api, ids, role):
    client = api(role)
    failures = []
    for method, template, body, table in WRITE_ROUTES:
        if body is None:
            continue  # an operation that reads no body
        if any(part in template for part in DECIDED_BY_THE_MOVE):
            continue
        url = template.format(**ids)
        refused = table[role] in (403, 404)
        if body == "multipart":
            sent = {"multipart": (client.post(url, data=BAD_FORM, content_type="multipart/form-data"), 422)}
        else:
            sent = {
                name: (client.open(url, method, data=text, content_type="application/json"), status)
                for name, (text, status) in BAD_JSON_BODIES.items()
            }
        for name, (response, invalid) in sent.items():
            expected = table[role] if refused else invalid
            if response.status_code != expected:
                failures.append(f"{method} {url} ({name}): expected {expected}, got {response.status_code}")
    assert not failures, "\n".join(failures)


def test_an_auditor_is_told_403_not_what_is_wrong_with_its_body(api, ids):
    response = api("auditor").post(f"{P_AGREEMENTS}", json={"type": 12, "parties": "none"})
    body = assert_problem(response, 403)
    assert "errors" not in body or not body["errors"]
    # The same body from an editor: what is wrong with it, field by field.
    body = assert_problem(api("officer").post(f"{P_AGREEMENTS}", json={"type": 12, "parties": "none"}), 422)
    assert {"type", "parties"} <= set(body["errors"])


P_AGREEMENTS = "/api/v1/agreements"
