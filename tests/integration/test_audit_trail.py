"""The audit trail's own page (/audit/events): the auditors read who did what and when across the whole
ministry, filtered, newest first, a page at a time; nobody else reads it."""

from __future__ import annotations

from types import SimpleNamespace

from app.core import audit
from app.extensions import db


def _page(client, query: str = "") -> str:
    response = client.get(f"/audit/events{query}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _shown(page: str) -> list[str]:
    """What each listed row says was done, in order."""
    return [part.split("<")[0] for part in page.split('<span class="fw-semibold">')[1:]]


def test_the_auditor_reads_who_did_what_across_the_ministry(world, signed_in):
    officer = world.users["officer"]
    audit.record("deactivated", world.users["other_officer"], actor=world.users["admin"])
    audit.record("retired", world.partner_b, actor=world.users["admin"], comment="Dissoute")
    audit.record("updated", world.agreement_a, actor=officer)
    db.session.commit()
    page = _page(signed_in("auditor"))
    assert {"Account deactivated", "Organisation retired", "Updated"} <= set(_shown(page)) and "Dissoute" in page
    assert f'href="/agreements/{world.agreement_a.id}"' in page and officer.email in page
    # Newest first.
    shown = _shown(page)
    assert shown.index("Updated") < shown.index("Organisation retired") < shown.index("Account deactivated")

    by_action = _page(signed_in("auditor"), "?action=retired")
    assert _shown(by_action) == ["Organisation retired"]
    by_person = _page(signed_in("auditor"), f"?who={officer.email.upper()}")
    assert "Updated" in _shown(by_person) and "Organisation retired" not in _shown(by_person)
    about = _page(signed_in("auditor"), f"?about=organizations&about_id={world.partner_b.id}")
    assert _shown(about) == ["Organisation retired"]
    nobody = _page(signed_in("auditor"), "?who=nobody@example.org")
    assert "No account has this address." in nobody and "Nothing recorded matches these filters." in nobody


def test_the_trail_is_read_a_page_at_a_time_without_gaps_or_repeats(world, signed_in):
    for number in range(120):
        audit.record("updated", SimpleNamespace(id=number + 1), object_type="settings", comment=f"entry-{number:03d}")
    db.session.commit()
    auditor = signed_in("auditor")
    seen, query = [], "?about=settings"
    for _turn in range(5):
        page = _page(auditor, query)
        seen += [int(part[:3]) for part in page.split("entry-")[1:]]
        if 'rel="next"' not in page:
            break
        older = page.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
        query = older[len("/audit/events") :]
    assert seen == list(range(119, -1, -1))


def test_bad_filters_are_said_and_ignored_never_a_server_error(world, signed_in):
    auditor = signed_in("auditor")
    for query in (
        "?since=2026-02-30",
        "?since=2026-05-01&until=2026-01-01",
        "?about_id=abc",
        "?before=-5",
        "?before=99999999999999999999",
        "?action=%00",
        "?since=0001-01-01",
        "?who=" + "x" * 400,
    ):
        response = auditor.get(f"/audit/events{query}")
        assert response.status_code == 200, (query, response.status_code)


def test_only_the_auditors_and_admins_read_the_trail(world, signed_in):
    for role in ("officer", "manager", "legal", "partner"):
        assert signed_in(role).get("/audit/events").status_code == 403
    assert "/audit/events" in _page(signed_in("admin"))  # the menu leads there
