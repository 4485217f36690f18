"""The audit trail's own page (/audit/events): the auditors read who did what and when across the whole
ministry, filtered, newest first, a page at a time; nobody else reads it."""

from __future__ import annotations

import csv
import io
import json
import re
from types import SimpleNamespace

import openpyxl

from app.core import audit, stored_texts
from app.extensions import db
from tests import factories


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
    assert "No account has this name or address." in nobody and "Nothing recorded matches these filters." in nobody


def test_one_agreement_is_found_by_its_reference_with_its_deliverables_hand_ins(world, signed_in):
    """An auditor knows an agreement by its reference, not its database id; asked for it, the trail had left
    out the hand-ins and reviews of its deliverables (filed under the deliverable)."""
    officer = world.users["officer"]
    mine = factories.plan_line(world.agreement_a, officer, responsible=world.partner_a).occurrences[0]
    theirs = factories.plan_line(world.agreement_b, officer, responsible=world.partner_b).occurrences[0]
    audit.record("updated", world.agreement_a, actor=officer, comment="about-a")
    audit.record("deliverable_waived", mine, actor=officer, object_type="deliverable_occurrences", comment="hand-a")
    audit.record("deliverable_waived", theirs, actor=officer, object_type="deliverable_occurrences", comment="hand-b")
    audit.record("updated", world.agreement_b, actor=officer, comment="about-b")
    db.session.commit()
    auditor = signed_in("auditor")
    for typed in (world.agreement_a.reference, world.agreement_a.reference.lower(), str(world.agreement_a.id)):
        page = _page(auditor, f"?about=agreements&about_id={typed}")
        assert "about-a" in page and "hand-a" in page, typed
        assert "about-b" not in page and "hand-b" not in page, typed
    unknown = _page(auditor, "?about_id=MTNRA-1999-999")
    assert "No agreement has this reference." in unknown and "Nothing recorded matches these filters." in unknown
    mixed = _page(auditor, f"?about=organizations&about_id={world.agreement_a.reference}")
    assert "A reference names an agreement" in mixed
    # The agreement's page leads there.
    detail = auditor.get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    assert f"/audit/events?about=agreements&amp;about_id={world.agreement_a.reference}" in detail
    assert "/audit/events" not in signed_in("officer").get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)


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
        "?about_id=%00",
        "?about_id=99999999999999999999",
        "?about_id=%C2%B2",
        "?about_id=" + "9" * 400,  # past a float: WTForms' NumberRange had raised OverflowError
        "?about_id=" + "9" * 5000,  # past Python's own limit for reading digits
        "?who=a%00b",  # a NUL reached PostgreSQL
        "?about=agreements&about_id=MTNRA%00",
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


def test_the_trail_as_filtered_downloads_whole_with_each_moment_to_the_second(world, signed_in):
    for number in range(60):  # more than a page: the download is every page
        audit.record("updated", SimpleNamespace(id=number + 1), object_type="settings", comment=f"=cmd-{number}")
    audit.record("retired", world.partner_b, actor=world.users["admin"], changes={"name": "Société ب"})
    db.session.commit()
    auditor = signed_in("auditor")
    response = auditor.get("/audit/events.csv?about=settings")
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="sharaka-audit-' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data()[3:].decode("utf-8"))))
    assert len(rows) == 1 + 60 and rows[1][7] == "'=cmd-59" and rows[-1][7] == "'=cmd-0"  # inert, newest first
    assert rows[1][2] == "Sharaka (a scheduled job or a command)" and rows[1][3] == "Updated"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d", rows[1][1])
    retired = list(csv.reader(io.StringIO(auditor.get("/audit/events.csv?action=retired").get_data()[3:].decode())))
    assert json.loads(retired[1][8]) == {"name": "Société ب"} and world.users["admin"].email in retired[1][2]
    sheet = openpyxl.load_workbook(io.BytesIO(auditor.get("/audit/events.xlsx?about=settings").get_data())).active
    assert sheet.max_row == 61
    for role in ("officer", "manager", "legal", "partner"):
        assert signed_in(role).get("/audit/events.csv").status_code == 403, role


def test_sharakas_own_rows_are_asked_for_alone(world, signed_in):
    audit.record("updated", SimpleNamespace(id=1), object_type="settings", comment="by-a-job")
    audit.record("updated", world.agreement_a, actor=world.users["officer"], comment="by-a-person")
    db.session.commit()
    auditor = signed_in("auditor")
    page = _page(auditor, "?system=y")
    assert "by-a-job" in page and "by-a-person" not in page
    both = _page(auditor, f"?system=y&who={world.users['officer'].email}")
    assert "clear the e-mail address or this box" in both


def test_an_agreements_history_names_sharaka_for_its_own_rows(world, signed_in):
    audit.record("updated", world.agreement_a, comment="fixed-by-a-job")
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    row = page.split("fixed-by-a-job")[0].rsplit("<li", 1)[-1]
    assert "System" in row and "system" not in row.replace("System", "")


def test_who_is_found_by_part_of_a_name_or_address(world, signed_in):
    officer, other = world.users["officer"], world.users["other_officer"]
    officer.full_name = "Hélène Benali"
    audit.record("updated", world.agreement_a, actor=officer, comment="by-helene")
    audit.record("updated", world.agreement_a, actor=other, comment="by-the-other")
    db.session.commit()
    auditor = signed_in("auditor")
    by_name = _page(auditor, "?who=helene+BENALI")  # folded as stored: accents and case aside
    assert "by-helene" in by_name and "by-the-other" not in by_name
    by_part = _page(auditor, "?who=" + officer.email.split("@")[0].upper())
    assert "by-helene" in by_part and "by-the-other" not in by_part
    for number in range(7):
        factories.user("officer", world.ministry, email=f"twin{number}@ministry.example")
    db.session.commit()
    several = _page(auditor, "?who=twin")
    assert "Several accounts match" in several and "twin0@ministry.example" in several and "…" in several
    assert "Nothing recorded matches these filters." in several


def test_what_changed_reads_as_written_and_an_agreement_is_named_by_its_reference(world, signed_in):
    """The tester's find: "what changed" showed \\u escapes on one line ("\\u0627\\u0644…", "num\\u00e9rique",
    "L\\u0027un"), rows named agreements by database id, and Sharaka's own notes stayed in English."""
    auditor = world.users["auditor"]
    auditor.language = "ar"
    title = "التقرير الفصلي"
    audit.record(
        "updated",
        world.agreement_a,
        actor=world.users["officer"],
        changes={"before": {"title": "Le numérique"}, "after": {"title": title, "notes": "L'un <b>"}},
        comment=stored_texts.DEMO_LOADED,
    )
    db.session.commit()
    page = _page(signed_in("auditor"))
    changed = page.split('<dl class="mb-0 audit-changes">')[1].split("</dl>")[0]
    assert "\\u" not in changed
    # Each field by its name in the reader's language, one a line; each value isolated for its own direction,
    # HTML escaped once.
    assert f"<bdi>{title}</bdi>" in changed and "<bdi>Le numérique</bdi>" in changed
    assert "<bdi>L&#39;un &lt;b&gt;</bdi>" in changed
    assert changed.count("<dt") == 2 and "title" not in changed and "notes" not in changed
    assert f'<span class="reference">{world.agreement_a.reference}</span>' in page
    assert f">الاتفاقية {world.agreement_a.id}</a>" not in page
    assert "Loaded from the demo portfolio." not in page and "حُمِّل من محفظة العرض التوضيحي." in page


def _history_and_trail_in_french(world, signed_in, agreement) -> tuple[str, str]:
    """The agreement's history as a manager reads it and its trail as an auditor does, both in French."""
    for reader in ("manager", "auditor"):
        world.users[reader].language = "fr"
    db.session.commit()
    history = signed_in("manager").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    trail = _page(signed_in("auditor"), f"?about=agreements&about_id={agreement.id}")
    return history.split('id="history-heading"')[1], trail


def test_what_changed_names_each_field_in_the_readers_language_and_writes_values_as_the_pages_do(world, signed_in):
    """A probe's find: after a plan line was moved, the agreement's history read "first_due_on 2020-01-01 →
    2027-01-31", "occurrences_moved vide → [[34, '2020-01-01', '2027-01-31']]" and "occurrences_dropped vide →
    vide"; an amended budget read "8000000.00 MAD" where every other page writes "8 000 000,00 MAD". The
    history and the trail read a row the same way: each field by its name, each value as the pages write it,
    the due dates that moved in a sentence, nothing said of what stayed empty."""
    from datetime import date

    from app.agreements import amendments
    from app.deliverables import services as plan

    officer, parent = world.users["officer"], world.agreement_a
    parent.effective_on, parent.expires_on = date(2025, 7, 1), date(2027, 6, 30)
    line = factories.plan_line(
        parent, officer, responsible=world.partner_a, recurrence="quarterly", first=date(2027, 1, 1)
    )
    values = {name: getattr(line, name) for name in plan.PLAN_FIELDS}
    plan.update_plan(line, plan.PlanData(**{**values, "first_due_on": date(2027, 1, 31)}), by=officer)
    budget = {"organization_id": world.partner_a.id, "label": "Calcul", "amount": "8000000.00", "currency": "MAD"}
    amendment = factories.amendment(
        parent,
        officer,
        partners=[world.partner_a],
        changes={"budget_lines": [{**budget, "kind": "cash", "year": 2026}], "expires_on": "2027-12-31"},
    )
    amendments.apply(amendment, by=officer)
    for page in _history_and_trail_in_french(world, signed_in, parent):
        for stored in ("first_due_on", "occurrences_moved", "occurrences_dropped", "budget_lines", "expires_on"):
            assert stored not in page
        assert "vide → vide" not in re.sub(r"<[^>]+>|\s+", " ", page).replace("  ", " ")
        assert "8000000.00" not in page and "2027-01-31" not in page and "2027-12-31" not in page
        assert "Première échéance" in page and "Budget" in page and "Date de fin" in page
        assert re.search(r"8\s000\s000,00\s*MAD", page), "the amount as the budget card writes it"
        assert "2\u00a0échéances déplacées" in page and "31 janv. 2027" in page and "30 avr. 2027" in page
        assert "31 déc. 2027" in page and world.partner_a.name_fr in page


def test_rows_stored_in_older_shapes_read_as_the_newer_ones(world, signed_in):
    """A probe's find: a budget line's change recorded before its row kept the line's currency (21caa54) read
    "8 000 000,00" where newer rows read "8 000 000,00 MAD", and the parties an amendment proposes (kept as
    [organisation, role] pairs, as amended rows kept them before e6e3bf0) read "[2, 'partner']". Both read as
    the pages write them, in the history and the trail alike."""
    officer, agreement = world.users["officer"], world.agreement_a
    line = factories.budget_line(agreement, world.partner_a, "5000.00", currency="MAD")
    old_change = {"before": {"amount": "5000.00"}, "after": {"amount": "8000000.00"}, "line": line.id}
    audit.record("budget_line_changed", agreement, actor=officer, changes=old_change)
    pairs = [[world.partner_a.id, "partner"]]
    audit.record(
        "amended",
        agreement,
        actor=officer,
        changes={"before": {"parties": []}, "after": {"parties": pairs}, "amendment": "AV-1", "term": "parties"},
    )
    for page in _history_and_trail_in_french(world, signed_in, agreement):
        assert re.search(r"5\s000,00\s*MAD", page) and re.search(r"8\s000\s000,00\s*MAD", page)
        assert "&#39;partner&#39;" not in page and f"[{world.partner_a.id}," not in page
        assert f"{world.partner_a.name_fr}</bdi> (Partenaire)" in page
