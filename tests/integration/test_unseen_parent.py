"""A parent the caller may not see is, to them, a parent that does not exist: the same status and the same
message whether the id names nothing or an agreement hidden from them, so ids cannot be probed. Only ministry
roles create agreements today and they see everything; the rule is the permission module's visibility rule all
the same, shown here by granting a partner the right to create."""

import pytest
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.core import permissions
from app.extensions import db
from tests import factories
from tests.integration.test_api import api, assert_problem, tokens  # noqa: F401  (fixtures)

P = "/api/v1"


@pytest.fixture
def partners_create(monkeypatch):
    monkeypatch.setitem(
        permissions.GRANTS, "agreement.create", permissions.GRANTS["agreement.create"] | {permissions.PARTNER}
    )


def _amendment_of(client, parent_id, partner):
    parties = [{"organization_id": partner.id, "role": "partner"}]
    return client.post(
        f"{P}/agreements", json={"type": "amendment", "title_fr": "Avenant", "parent_id": parent_id, "parties": parties}
    )


def test_an_unseen_parent_answers_as_a_missing_one(api, world, partners_create):
    factories.shown_to_partners(world.agreement_a, world.agreement_b)
    db.session.commit()
    client = api("partner")  # partner A's: agreement B is not theirs
    before = db.session.scalar(select(func.count(Agreement.id)))
    missing = assert_problem(_amendment_of(client, 999999999, world.partner_a), 422)
    unseen = assert_problem(_amendment_of(client, world.agreement_b.id, world.partner_a), 422)
    assert unseen["errors"]["parent_id"] == missing["errors"]["parent_id"] == ["Unknown parent agreement."]
    assert unseen["detail"] == missing["detail"]
    assert db.session.scalar(select(func.count(Agreement.id))) == before
    # Their own agreement, shown to them, is a parent they may name.
    assert _amendment_of(client, world.agreement_a.id, world.partner_a).status_code == 201


def test_a_parent_not_yet_shown_to_the_partner_is_unknown_to_them(api, world, partners_create):
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Pas encore montré")
    draft.state = "active"
    db.session.commit()
    answer = assert_problem(_amendment_of(api("partner"), draft.id, world.partner_a), 422)
    assert answer["errors"]["parent_id"] == ["Unknown parent agreement."]


def test_a_ministry_editor_names_any_parent(api, world):
    answer = _amendment_of(api("officer"), world.agreement_b.id, world.partner_b)
    assert answer.status_code == 201, answer.get_json()
