"""RFC 6750 §3.1: a call without credentials, with a token that does not work, and with an
Authorization header that is not a bearer token are told apart by the challenge, and a token that
does not work says nothing of whether it ever existed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.api.models import ApiToken
from app.core.models import utcnow
from app.extensions import db
from tests.integration.test_api import P, _deactivated, _revoked, assert_problem, tokens  # noqa: F401 (fixtures)

PLAIN = 'Bearer realm="sharaka"'
INVALID_TOKEN = 'Bearer realm="sharaka", error="invalid_token"'
INVALID_REQUEST = 'Bearer realm="sharaka", error="invalid_request"'


def _expired(world, tokens):
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == world.users["officer"].id))
    token.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()
    return tokens["officer"]


TOKENS_THAT_DO_NOT_WORK = {
    "unknown": lambda world, tokens: "shk_" + "x" * 43,
    "not ours": lambda world, tokens: "abc",
    "very long": lambda world, tokens: "shk_" + "x" * 5000,
    "revoked": _revoked,
    "of a deactivated account": _deactivated,
    "expired": _expired,
}
NOT_A_BEARER_TOKEN = {
    "bearer alone": "Bearer",
    "bearer and spaces": "Bearer   ",
    "two words": "Bearer shk_abc def",
    "not a token's characters": "Bearer shk_abc,def",
    "basic scheme": "Basic b2ZmaWNlcjpzZWNyZXQ=",
    "no scheme": "shk_abcdef",
    "empty header": "",
}


def _call(app, headers):
    return app.test_client().get(f"{P}/me", headers=headers)


def test_a_call_without_credentials_gets_the_plain_challenge(app, world):
    response = _call(app, {})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == PLAIN


@pytest.mark.parametrize("case", list(TOKENS_THAT_DO_NOT_WORK))
def test_a_token_that_does_not_work_is_an_invalid_token(app, world, tokens, case):
    secret = TOKENS_THAT_DO_NOT_WORK[case](world, tokens)
    response = _call(app, {"Authorization": f"Bearer {secret}"})
    body = assert_problem(response, 401)
    challenge = response.headers["WWW-Authenticate"]
    if case == "expired":  # only whoever holds the token itself is told when it ended
        assert challenge == INVALID_TOKEN + ', error_description="expired"'
        assert "expired" in body["detail"]
    else:
        assert challenge == INVALID_TOKEN
        # The same words whether the token never existed, was revoked or its account closed.
        assert body["detail"] == assert_problem(_call(app, {"Authorization": "Bearer shk_never"}), 401)["detail"]


@pytest.mark.parametrize("case", list(NOT_A_BEARER_TOKEN))
def test_an_authorization_that_is_not_a_bearer_token_is_an_invalid_request(app, world, case):
    response = _call(app, {"Authorization": NOT_A_BEARER_TOKEN[case]})
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == INVALID_REQUEST
    assert "Authorization: Bearer" in body["detail"]
