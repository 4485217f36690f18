"""A hand-in with two files of the same bytes keeps the file once, as the page does, and the API's answer
says so, naming each file kept once and the one it is kept as: the second had been dropped in silence, and
a script that sent a report and, by mistake, the same file as its annex believed both handed in."""

from __future__ import annotations

from tests.integration.test_api import PDF, _submit, api, ids, tokens  # noqa: F401 (fixtures)


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
