"""A hand-in with two files of the same bytes keeps the file once, and both the API's answer and the page's
message say so, naming each file kept once and the one it is kept as: the second had been dropped in
silence, and someone who sent a report and, by mistake, the same file as its annex believed both handed in."""

from __future__ import annotations

import html

from app.extensions import db
from tests.integration.test_api import PDF, _submit, api, ids, tokens  # noqa: F401 (fixtures)
from tests.integration.test_deliverables import _files, _post, due  # noqa: F401 (fixture)


def test_the_api_names_the_files_kept_once(api, ids):
    files = [
        (PDF + b"report", "report.pdf"),
        (PDF + b"report", "annex.pdf"),
        (PDF + b"other", "other.pdf"),
        (PDF + b"report", "copy.pdf"),
    ]
    response = _submit(api("partner"), ids["occ_a"], files, note="Q1")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert [f["name"] for f in body["submissions"][0]["files"]] == ["report.pdf", "other.pdf"]
    assert body["kept_once"] == [
        {"name": "annex.pdf", "same_as": "report.pdf"},
        {"name": "copy.pdf", "same_as": "report.pdf"},
    ]


def test_each_file_different_nothing_is_said(api, ids):
    response = _submit(api("partner"), ids["occ_a"], [(PDF + b"1", "one.pdf"), (PDF + b"2", "two.pdf")])
    assert response.status_code == 201 and response.get_json()["kept_once"] == []


def test_the_page_says_which_files_it_kept_once(world, signed_in, due):
    """The same on the page: the hand-in is thanked for, and the message names the file chosen twice."""
    mine, _other = due
    partner = signed_in("partner")
    files = _files((PDF + b"report", "report.pdf"), (PDF + b"report", "annex.pdf"), (PDF + b"other", "other.pdf"))
    response = _post(partner, mine, "submissions", {"note": "Q1", **files})
    assert response.status_code == 303
    page = partner.get(response.headers["Location"]).get_data(as_text=True)
    assert "Handed in: thank you." in page
    assert html.escape("“annex.pdf” is the same file as “report.pdf”: it is kept once.") in page
    db.session.refresh(mine)
    assert [f.original_name for f in mine.submissions[0].files] == ["report.pdf", "other.pdf"]
