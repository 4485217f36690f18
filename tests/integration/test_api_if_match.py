"""Optimistic locking over HTTP: a record kept by its version (an agreement, a deliverable's occurrence,
an amendment) answers its GET with a strong ETag, and a write to it honours If-Match: a stale one is
refused (412) and changes nothing; `*` or the current ETag goes on to the service's own check."""

from __future__ import annotations

from app.agreements.models import Agreement
from app.deliverables.models import Occurrence
from tests.integration.test_api import P, api, assert_problem, ids, refreshed, tokens  # noqa: F401 (fixtures)


def _etag(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.headers["ETag"]


def test_an_agreement_answers_its_version_as_a_strong_etag(api, ids):
    draft = refreshed(Agreement, ids["draft"])
    etag = _etag(api("officer").get(f"{P}/agreements/{draft.id}"))
    assert etag == f'"v{draft.version}"'  # strong: no W/
    # Anyone who reads it gets the same tag, as long as it does not change.
    assert _etag(api("auditor").get(f"{P}/agreements/{draft.id}")) == etag


def test_a_stale_if_match_is_412_and_changes_nothing(api, ids):
    officer = api("officer")
    url = f"{P}/agreements/{ids['draft']}"
    stale = _etag(officer.get(url))
    assert officer.patch(url, json={"title_en": "First"}).status_code == 200
    before = refreshed(Agreement, ids["draft"])
    response = officer.patch(url, json={"title_en": "Second"}, headers={"If-Match": stale})
    body = assert_problem(response, 412)
    assert _etag(officer.get(url)) in body["detail"]  # names the current one
    after = refreshed(Agreement, ids["draft"])
    assert (after.title_en, after.version) == ("First", before.version)
    # A move made against the stale tag is refused the same way.
    response = officer.post(
        f"{url}/transitions", json={"transition": "submit_for_review", "comment": "x"}, headers={"If-Match": stale}
    )
    assert_problem(response, 412)
    assert refreshed(Agreement, ids["draft"]).state == "draft"


def test_the_current_etag_or_a_star_lets_the_write_through_with_the_new_etag(api, ids):
    officer = api("officer")
    url = f"{P}/agreements/{ids['draft']}"
    current = _etag(officer.get(url))
    response = officer.patch(url, json={"title_en": "Renamed"}, headers={"If-Match": f'"v0", {current}'})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] != current and response.headers["ETag"] == _etag(officer.get(url))
    response = officer.patch(url, json={"title_en": "Again"}, headers={"If-Match": "*"})
    assert response.status_code == 200
    # A weak tag never matches: If-Match compares strongly.
    weak = "W/" + _etag(officer.get(url))
    assert_problem(officer.patch(url, json={"title_en": "x"}, headers={"If-Match": weak}), 412)


def test_if_match_and_a_body_version_must_both_name_the_stored_row(api, ids):
    officer = api("officer")
    url = f"{P}/agreements/{ids['draft']}"
    current = _etag(officer.get(url))
    version = refreshed(Agreement, ids["draft"]).version
    # The header is right, the body's version is not: the service's check refuses (409).
    ahead = {"title_en": "x", "version": version + 1}
    assert_problem(officer.patch(url, json=ahead, headers={"If-Match": current}), 409)
    # The body's version is right, the header is not: 412.
    assert_problem(officer.patch(url, json={"title_en": "x", "version": version}, headers={"If-Match": '"v0"'}), 412)
    assert refreshed(Agreement, ids["draft"]).version == version
    both = officer.patch(url, json={"title_en": "x", "version": version}, headers={"If-Match": current})
    assert both.status_code == 200


def test_a_deliverable_answers_an_etag_and_its_review_honours_if_match(api, ids):
    officer = api("officer")
    occurrence = refreshed(Occurrence, ids["done_a"])
    etag = _etag(officer.get(f"{P}/deliverables/{occurrence.id}"))
    assert etag == f'"v{occurrence.version}"'
    response = officer.post(
        f"{P}/deliverables/{occurrence.id}/review", json={"decision": "accept"}, headers={"If-Match": '"v999"'}
    )
    assert_problem(response, 412)
    assert refreshed(Occurrence, ids["done_a"]).version == occurrence.version


def test_the_description_names_the_etag_if_match_and_412(app):
    document = app.test_client().get(f"{P}/openapi.json").get_json()
    agreement = document["paths"]["/api/v1/agreements/{agreement_id}"]
    assert "ETag" in agreement["get"]["responses"]["200"]["headers"]
    for operation in (agreement["patch"], document["paths"]["/api/v1/agreements/{agreement_id}/transitions"]["post"]):
        assert "412" in operation["responses"]
        assert any(p["in"] == "header" and p["name"] == "If-Match" for p in operation["parameters"])
    assert "If-Match" in document["info"]["description"]
