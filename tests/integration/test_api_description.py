"""The served OpenAPI description says what a careful client needs: the Idempotency-Key every change
takes, the 405 and 503 any call may get and the 412 of a write that honours If-Match, and minLength 1
on the required strings no operation takes empty. It stays one valid JSON document."""

from __future__ import annotations

import json

import pytest

P = "/api/v1"
CHANGING = ("post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def described(app):
    response = app.test_client().get(f"{P}/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return json.loads(response.get_data(as_text=True))  # valid JSON, read without Flask's help


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", *CHANGING):
                yield path, method, operation


def test_every_change_declares_the_idempotency_key_it_takes(described):
    for path, method, operation in _operations(described):
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if method in CHANGING:
            key = headers.get("Idempotency-Key")
            assert key and not key["required"], f"{method} {path}"
            assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)
            assert {"400", "422"} <= set(operation["responses"]), f"{method} {path}: a malformed or reused key"
        else:
            assert "Idempotency-Key" not in headers, f"{method} {path}"


def test_every_operation_declares_405_and_503_and_writes_with_if_match_412(described):
    conditional = 0
    for path, method, operation in _operations(described):
        assert {"405", "503"} <= set(operation["responses"]), f"{method} {path}"
        if any(p["name"] == "If-Match" for p in operation.get("parameters", [])):
            conditional += 1
            assert "412" in operation["responses"], f"{method} {path}"
    assert conditional >= 10  # the writes to agreements, deliverables and amendments


def test_required_strings_are_never_empty(described):
    checked = 0
    for name, schema in described["components"]["schemas"].items():
        for field in schema.get("required", []):
            prop = schema["properties"][field]
            if prop.get("type") == "string" and "format" not in prop:
                assert prop.get("minLength", 0) >= 1, f"{name}.{field}"
                checked += 1
    assert checked >= 10
    assert described["components"]["schemas"]["WaiveInput"]["properties"]["reason"]["minLength"] == 1
