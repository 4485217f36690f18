"""Exports of the agreements and deliverables lists (CSV, XLSX) and the printable agreement summary."""

from __future__ import annotations

import csv
import io
import re
import sys
from datetime import date, datetime, timedelta, timezone

import openpyxl
import pytest
from sqlalchemy import func, select

from app.auth.models import DeliverableGrant
from app.core import clock
from app.core.exports import csv_bytes, neutralised, xlsx_bytes
from app.deliverables import services as deliverables
from app.deliverables.models import Submission
from app.extensions import db
from app.workflow import engine
from tests import factories
from tests.bulk import counting_queries

TODAY = clock.today()


@pytest.fixture(autouse=True)
def _today_is_today(monkeypatch):
    """A run that crosses midnight must not compare yesterday's date with the app's today."""
    monkeypatch.setattr(sys.modules[__name__], "TODAY", clock.today())


LISTS = ["/agreements/export", "/deliverables/export"]
AGREEMENT_HEADINGS = [
    "Reference",
    "Type",
    "Title",
    "State",
    "Partners",
    "Owner",
    "Signed on",
    "Effective on",
    "Ends on",
    "Signing event",
]
DELIVERABLE_HEADINGS = [
    "Agreement",
    "Agreement title",
    "Deliverable",
    "Responsible",
    "Due on",
    "Status",
    "Last handed in",
    "Decided on",
]


def read_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf"), "no byte-order mark: Excel would garble Arabic"
    text = body[3:].decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline="")))


def read_xlsx(response):
    return openpyxl.load_workbook(io.BytesIO(response.get_data())).active


def column(rows, heading, headings=AGREEMENT_HEADINGS):
    return [row[headings.index(heading)] for row in rows[1:]]


def plan(agreement, responsible, *, due_in=5, title="Rapport"):
    return deliverables.plan_deliverable(
        agreement,
        deliverables.PlanData(
            title_fr=title,
            title_ar=None,
            title_en=None,
            description=None,
            responsible_organization_id=responsible.id,
            recurrence="once",
            first_due_on=TODAY + timedelta(days=due_in),
        ),
        by=None,
    ).occurrences[0]


@pytest.fixture
def portfolio(world):
    """Besides A's and B's active agreements: a draft for A with an Arabic title and a hostile one for B."""
    officer = world.users["officer"]
    arabic = factories.agreement(
        by=officer, partners=[world.partner_a], title_fr=None, title_ar="اتفاقية شراكة في مجال التحول الرقمي"
    )
    hostile = factories.agreement(
        by=officer,
        partners=[world.partner_b],
        title_fr='=HYPERLINK("http://x","y")',
        effective_on=date(2025, 8, 1),
        expires_on=date(2028, 8, 1),
        signed_on=date(2025, 7, 15),
    )
    factories.shown_to_partners(arabic, hostile)  # drafts their partners were shown
    db.session.commit()
    return {"arabic": arabic, "hostile": hostile}


@pytest.fixture
def occurrences(world):
    """Partner A: one overdue, one accepted (handed in and decided); partner B: one not yet due."""
    overdue = plan(world.agreement_a, world.partner_a, due_in=-3, title="Rapport en retard")
    accepted = plan(world.agreement_a, world.partner_a, due_in=-40, title="Rapport accepté")
    accepted.submissions.append(Submission(number=1, submitted_at=datetime(2026, 5, 10, 12, 0, tzinfo=timezone.utc)))
    accepted.status, accepted.decided_at = "accepted", datetime(2026, 5, 12, 12, 0, tzinfo=timezone.utc)
    later = plan(world.agreement_b, world.partner_b, due_in=60, title="Rapport de B")
    db.session.commit()
    return {"overdue": overdue, "accepted": accepted, "later": later}


# --- the writers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+1", "'=1+1"),
        ("+33 6", "'+33 6"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
        ("شراكة", "شراكة"),
    ],
)
def test_formula_starts_are_neutralised(value, expected):
    assert neutralised(value) == expected


def test_a_sheet_whose_rows_stop_half_way_leaves_nothing_open(monkeypatch):
    """A background export stopped mid-file (SIGTERM): the half-written sheet is ended where it stopped,
    not by the interpreter at exit with a traceback in the scheduler's log."""
    import gc

    from app.core.exports import write_xlsx

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def rows():
        for number in range(1000):
            if number == 500:
                raise RuntimeError("asked to stop")
            yield [number, "ligne"]

    with pytest.raises(RuntimeError):
        write_xlsx(io.BytesIO(), ["Numéro", "Texte"], rows(), title="Arrêt")
    gc.collect()
    assert unraisable == []


def test_writers_handle_quotes_newlines_control_characters_and_dates():
    rows = [['say "hi", then\nleave', date(2026, 1, 2), None, 3], ["bell\x07 \x1b", None, "=A1", -4]]
    parsed = list(csv.reader(io.StringIO(csv_bytes(["a", "b", "c", "d"], rows)[3:].decode(), newline="")))
    assert parsed[1] == ['say "hi", then\nleave', "2026-01-02", "", "3"]
    assert parsed[2] == ["bell\x07 \x1b", "", "'=A1", "-4"]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(["a", "b", "c", "d"], rows, title="x/y: [z]*?"))).active
    assert sheet.title == "x y   z"
    assert sheet["A3"].value == "bell " and sheet["C3"].data_type == "s" and sheet["C3"].value == "=A1"
    assert sheet["D3"].value == -4


# --- agreements --------------------------------------------------------------------------


def test_agreements_csv_has_every_visible_agreement_without_pages(app, world, signed_in, portfolio):
    for index in range(app.config["PER_PAGE"] + 1):
        factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr=f"Lot {index}")
    db.session.commit()
    response = signed_in("officer").get("/agreements/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="sharaka-agreements-\d{4}-\d{2}-\d{2}\.csv"', response.headers["Content-Disposition"]
    )
    assert f"sharaka-agreements-{TODAY.isoformat()}.csv" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response)
    assert rows[0] == AGREEMENT_HEADINGS
    assert len(rows) == 1 + 4 + app.config["PER_PAGE"] + 1
    a = rows[column(rows, "Reference").index(world.agreement_a.reference) + 1]
    assert a == [
        world.agreement_a.reference,
        "Memorandum of understanding",
        "Accord avec A",
        "Active",
        "Partner A",
        world.users["officer"].full_name,
        "2025-07-01",
        "",
        "",
        "Cérémonie",
    ]


def test_agreements_csv_read_in_pieces_keeps_each_rows_partners(app, world, signed_in, portfolio, monkeypatch):
    """The rows are read a piece at a time and each piece's partners beside it: at every piece's edge a row
    keeps its own partners, in the order of its parties."""
    monkeypatch.setattr("app.core.exports.STREAM_ROWS", 2)
    both = factories.agreement(
        by=world.users["officer"], partners=[world.partner_b, world.partner_a], title_fr="Deux partenaires"
    )
    db.session.commit()
    rows = read_csv(signed_in("manager").get("/agreements/export.csv"))
    partners = dict(zip(column(rows, "Reference"), column(rows, "Partners")))
    assert partners[both.reference] == "Partner B; Partner A"
    assert partners[world.agreement_a.reference] == "Partner A"
    assert partners[world.agreement_b.reference] == "Partner B"
    assert len(rows) - 1 == len(set(partners)) > 4


def test_arabic_titles_round_trip_and_formulas_are_neutralised(app, world, signed_in, portfolio):
    rows = read_csv(signed_in("officer").get("/agreements/export.csv"))
    titles = column(rows, "Title")
    assert "اتفاقية شراكة في مجال التحول الرقمي" in titles
    assert '\'=HYPERLINK("http://x","y")' in titles
    assert '=HYPERLINK("http://x","y")' not in titles

    sheet = read_xlsx(signed_in("officer").get("/agreements/export.xlsx"))
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    hostile = cells[portfolio["hostile"].reference]
    assert hostile[2].data_type == "s" and hostile[2].value == '=HYPERLINK("http://x","y")'
    assert cells[portfolio["arabic"].reference][2].value == "اتفاقية شراكة في مجال التحول الرقمي"


def test_agreements_xlsx_has_date_cells_and_a_bold_frozen_header(app, world, signed_in, portfolio):
    response = signed_in("officer").get("/agreements/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f"sharaka-agreements-{TODAY.isoformat()}.xlsx" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    sheet = read_xlsx(response)
    assert sheet.title == "Agreements"
    assert [c.value for c in sheet[1]] == AGREEMENT_HEADINGS
    assert all(c.font.b for c in sheet[1]) and sheet.freeze_panes == "A2"
    assert sheet.max_row == 1 + 4
    hostile = next(row for row in sheet.iter_rows(min_row=2) if row[0].value == portfolio["hostile"].reference)
    signed, effective, ends = hostile[6], hostile[7], hostile[8]
    assert signed.is_date and signed.number_format == "yyyy-mm-dd" and signed.value.date() == date(2025, 7, 15)
    assert effective.value.date() == date(2025, 8, 1) and ends.value.date() == date(2028, 8, 1)
    assert 8 <= sheet.column_dimensions["C"].width <= 60
    assert not sheet.sheet_view.rightToLeft


def test_an_arabic_spreadsheet_reads_from_the_right(app, world, signed_in, portfolio):
    client = signed_in("officer")
    client.post("/language", data={"language": "ar", "next": "/agreements/"})
    sheet = read_xlsx(client.get("/agreements/export.xlsx"))
    assert sheet.sheet_view.rightToLeft and sheet.max_row == 1 + 4


def test_a_partner_exports_only_its_own_agreements(app, world, signed_in, portfolio):
    mine = {world.agreement_a.reference, portfolio["arabic"].reference}
    theirs = {world.agreement_b.reference, portfolio["hostile"].reference}
    for role, expected in (("partner", mine), ("partner_b", theirs)):
        client = signed_in(role)
        assert set(column(read_csv(client.get("/agreements/export.csv")), "Reference")) == expected
        sheet = read_xlsx(client.get("/agreements/export.xlsx"))
        assert {row[0].value for row in sheet.iter_rows(min_row=2)} == expected
        # Naming the other side's organisation in the filter finds nothing rather than leaking.
        other = world.partner_b if role == "partner" else world.partner_a
        rows = read_csv(client.get(f"/agreements/export.csv?partner={other.id}"))
        assert set(column(rows, "Reference")) <= expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ("state=draft", {"arabic", "hostile"}),
        ("state=active", {"a", "b"}),
        ("q=hyperlink", {"hostile"}),
        ("q=التحول", {"arabic"}),
        ("q=accord+avec&type=mou", {"a", "b"}),
        ("partner={partner_a}", {"a", "arabic"}),
        ("state=draft&partner={partner_b}", {"hostile"}),
        ("year=2025", {"a", "b", "hostile"}),
    ],
)
def test_the_export_applies_the_filters_on_screen(app, world, signed_in, portfolio, query, expected):
    references = {
        "a": world.agreement_a.reference,
        "b": world.agreement_b.reference,
        "arabic": portfolio["arabic"].reference,
        "hostile": portfolio["hostile"].reference,
    }
    query = query.format(partner_a=world.partner_a.id, partner_b=world.partner_b.id)
    client = signed_in("officer")
    assert set(column(read_csv(client.get(f"/agreements/export.csv?{query}")), "Reference")) == {
        references[key] for key in expected
    }
    sheet = read_xlsx(client.get(f"/agreements/export.xlsx?{query}"))
    assert {row[0].value for row in sheet.iter_rows(min_row=2)} == {references[key] for key in expected}
    # The list shows the same agreements.
    page = client.get(f"/agreements/?{query}").get_data(as_text=True)
    assert all(references[key] in page for key in expected)


def test_headings_and_labels_follow_the_readers_language(app, world, signed_in, portfolio):
    french = factories.user("officer", world.ministry, language="fr")
    db.session.commit()
    rows = read_csv(signed_in(french).get("/agreements/export.csv"))
    assert rows[0][:4] == ["Référence", "Type", "Intitulé", "Statut"]
    row = rows[column(rows, "Reference").index(world.agreement_a.reference) + 1]
    assert row[1] == "Mémorandum d’entente" and row[3] == "Actif"


def test_the_list_pages_link_to_exports_with_their_filters(app, world, signed_in, portfolio, occurrences):
    client = signed_in("officer")
    page = client.get("/agreements/?state=draft&q=x&page=2").get_data(as_text=True)
    links = re.findall(r'href="(/agreements/export\.(?:csv|xlsx)[^"]*)"', page)
    assert len(links) == 2
    for link in links:
        assert "state=draft" in link and "q=x" in link and "page=" not in link
    page = client.get(f"/deliverables/?status=overdue&agreement={world.agreement_a.id}").get_data(as_text=True)
    links = re.findall(r'href="(/deliverables/export\.(?:csv|xlsx)[^"]*)"', page)
    assert len(links) == 2 and all("status=overdue" in link for link in links)
    assert "Print summary" in client.get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)


# --- deliverables --------------------------------------------------------------------------


def test_deliverables_csv_shows_statuses_and_dates(app, world, signed_in, occurrences):
    response = signed_in("officer").get("/deliverables/export.csv")
    assert response.status_code == 200
    assert f"sharaka-deliverables-{TODAY.isoformat()}.csv" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == DELIVERABLE_HEADINGS
    by_title = {row[2]: row for row in rows[1:]}
    assert set(by_title) == {"Rapport en retard", "Rapport accepté", "Rapport de B"}
    assert by_title["Rapport accepté"] == [
        world.agreement_a.reference,
        "Accord avec A",
        "Rapport accepté",
        "Partner A",
        (TODAY - timedelta(days=40)).isoformat(),
        "Accepted",
        "2026-05-10",
        "2026-05-12",
    ]
    assert by_title["Rapport en retard"][5:] == ["Overdue", "", ""]
    assert by_title["Rapport de B"][5] == "Not yet due"
    # Soonest first, as on the list.
    assert [row[2] for row in rows[1:]] == ["Rapport accepté", "Rapport en retard", "Rapport de B"]


def test_deliverables_xlsx_has_date_cells(app, world, signed_in, occurrences):
    sheet = read_xlsx(signed_in("officer").get("/deliverables/export.xlsx"))
    assert sheet.title == "Deliverables" and [c.value for c in sheet[1]] == DELIVERABLE_HEADINGS
    accepted = next(row for row in sheet.iter_rows(min_row=2) if row[2].value == "Rapport accepté")
    for cell, expected in (
        (accepted[4], TODAY - timedelta(days=40)),
        (accepted[6], date(2026, 5, 10)),
        (accepted[7], date(2026, 5, 12)),
    ):
        assert cell.is_date and cell.number_format == "yyyy-mm-dd" and cell.value.date() == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status=overdue", {"Rapport en retard"}),
        ("status=accepted", {"Rapport accepté"}),
        ("status=open", {"Rapport en retard"}),
        ("status=not_yet_due", {"Rapport de B"}),
        ("agreement={b}", {"Rapport de B"}),
        ("partner={partner_a}", {"Rapport en retard", "Rapport accepté"}),
        ("due_before={yesterday}", {"Rapport en retard", "Rapport accepté"}),
    ],
)
def test_the_deliverables_export_applies_the_filters(app, world, signed_in, occurrences, query, expected):
    query = query.format(
        b=world.agreement_b.id, partner_a=world.partner_a.id, yesterday=(TODAY - timedelta(days=1)).isoformat()
    )
    rows = read_csv(signed_in("manager").get(f"/deliverables/export.csv?{query}"))
    assert {row[2] for row in rows[1:]} == expected


def test_a_partner_exports_only_its_own_deliverables(app, world, signed_in, occurrences):
    mine = read_csv(signed_in("partner").get("/deliverables/export.csv"))
    assert {row[2] for row in mine[1:]} == {"Rapport en retard", "Rapport accepté"}
    theirs = read_xlsx(signed_in("partner_b").get("/deliverables/export.xlsx"))
    assert {row[2].value for row in theirs.iter_rows(min_row=2)} == {"Rapport de B"}
    # Asking for the other partner's agreement is an invalid filter there: ignored, still only its own.
    rows = read_csv(signed_in("partner_b").get(f"/deliverables/export.csv?agreement={world.agreement_a.id}"))
    assert {row[2] for row in rows[1:]} == {"Rapport de B"}


def test_deliverables_csv_rows_keep_their_status_hand_in_and_reader_in_one_statement(
    app, world, signed_in, occurrences, monkeypatch
):
    """The rows are plain columns read a piece at a time: each keeps its shown status (not owed while its
    agreement does not run), its latest hand-in's day on the ministry's calendar and what its reader may see
    (a partner whose admin granted one agreement's deliverables reads those only); however many rows, the
    same statements."""
    monkeypatch.setattr("app.core.exports.STREAM_ROWS", 2)
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Brouillon")
    factories.shown_to_partners(draft)
    plan(draft, world.partner_a, due_in=-1, title="Rapport du brouillon")
    resubmitted = plan(world.agreement_a, world.partner_a, due_in=-10, title="Rapport remis deux fois")
    resubmitted.submissions += [
        Submission(number=1, submitted_at=datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)),
        # 00:30 on 21 April in Casablanca: the day the reader's calendar says.
        Submission(number=2, submitted_at=datetime(2026, 4, 20, 23, 30, tzinfo=timezone.utc)),
    ]
    resubmitted.status = "submitted"
    restricted = world.users["partner"]
    restricted.deliverables_restricted = True
    db.session.add(DeliverableGrant(user_id=restricted.id, agreement_id=draft.id))
    db.session.commit()
    manager = signed_in("manager")
    read_csv(manager.get("/deliverables/export.csv"))  # what a process reads once, read before counting

    def exported():
        with counting_queries() as statements:
            rows = read_csv(manager.get("/deliverables/export.csv"))
        return {row[2]: row[3:] for row in rows[1:]}, len(statements)

    by_title, statements = exported()
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    assert by_title["Rapport du brouillon"] == ["Partner A", yesterday, "Not owed now", "", ""]
    assert by_title["Rapport remis deux fois"][2:] == ["Submitted", "2026-04-21", ""]
    assert by_title["Rapport accepté"][2:] == ["Accepted", "2026-05-10", "2026-05-12"]
    assert by_title["Rapport en retard"][2] == "Overdue" and by_title["Rapport de B"][2] == "Not yet due"
    for due_in in range(5):
        plan(world.agreement_b, world.partner_b, due_in=due_in, title=f"Rapport {due_in}")
    db.session.commit()
    more, more_statements = exported()
    assert len(more) == len(by_title) + 5 and more_statements == statements
    granted = read_csv(signed_in(restricted).get("/deliverables/export.csv"))
    assert [row[2] for row in granted[1:]] == ["Rapport du brouillon"]


# --- access and hostile queries -------------------------------------------------------------


@pytest.mark.parametrize("path", [f"{base}.{fmt}" for base in LISTS for fmt in ("csv", "xlsx")])
def test_anonymous_is_sent_to_sign_in(app, world, client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/sign-in?next=" in response.headers["Location"]


@pytest.mark.parametrize(
    "path", ["/agreements/export.pdf", "/agreements/export.", "/deliverables/export.json", "/agreements/export.CSV"]
)
def test_unknown_formats_are_404(app, world, signed_in, path):
    assert signed_in("officer").get(path).status_code == 404


HOSTILE_QUERIES = [
    "state=%3Cscript%3E",
    "type=%3Cscript%3E",
    "page=-1",
    "page=abc",
    "year=abc",
    "year=-0",
    "year=99999999999999999999",
    "partner=2147483648",
    "partner=9223372036854775808",
    "partner=-1",
    "agreement=99999999999999999999",
    "status=%3Cscript%3E",
    "due_before=2026-02-30",
    "due_before=99999-01-01",
    "q=%00",
    "q=%25%25_%5C",
    "q=" + "ش" * 3000,
    "state=%00&type=%00&partner=%00&year=%00",
    "state=draft&state=active",
    "_external=1&_scheme=javascript&_anchor=x",
    "fmt=pdf",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_filters_never_fail(app, world, signed_in, portfolio, occurrences, query):
    client = signed_in("officer")
    for base in LISTS:
        for fmt in ("csv", "xlsx"):
            response = client.get(f"{base}.{fmt}?{query}")
            assert response.status_code == 200, f"{base}.{fmt}?{query[:80]}: {response.status_code}"
        assert client.get(f"{base.rsplit('/', 1)[0]}/?{query}").status_code == 200


def test_invalid_filters_are_ignored_as_on_the_list(app, world, signed_in, portfolio):
    """Only the invalid filter is ignored: the others still narrow the list and its export (a "from"
    date typed after the "to" date must not list, and export, the whole portfolio under "Signed")."""
    client = signed_in("officer")
    everything = read_csv(client.get("/agreements/export.csv"))
    matching = read_csv(client.get("/agreements/export.csv?q=accord"))
    assert read_csv(client.get("/agreements/export.csv?state=%3Cscript%3E&q=accord")) == matching
    assert "Some filters were not valid" in client.get("/agreements/?state=%3Cscript%3E").get_data(as_text=True)
    drafts = read_csv(client.get("/agreements/export.csv?state=draft"))
    assert 1 < len(drafts) < len(everything)
    swapped = "state=draft&signed_after=2026-02-01&signed_before=2025-01-01"
    assert read_csv(client.get(f"/agreements/export.csv?{swapped}")) == read_csv(
        client.get("/agreements/export.csv?state=draft&signed_after=2026-02-01")
    )
    page = client.get(f"/agreements/?{swapped}").get_data(as_text=True)
    assert "Some filters were not valid" in page and page.count("<tr") <= len(drafts)


# --- the printable summary -------------------------------------------------------------------


@pytest.fixture
def reviewed(world):
    """Partner A's MoU through internal review (sent back once, then approved), with a deliverable."""
    officer, legal, manager = world.users["officer"], world.users["legal"], world.users["manager"]
    mou = factories.agreement(
        by=officer,
        partners=[world.partner_a],
        title_fr="MoU résumé",
        title_ar="مذكرة تفاهم",
        signing_event_id=world.event.id,
    )
    engine.take(mou, "submit_for_review", by=officer, expected_version=mou.version)
    engine.decide(
        mou, "approve_review", by=legal, decision="reject", comment="Préciser la clause 4", expected_version=mou.version
    )
    engine.take(mou, "submit_for_review", by=officer, expected_version=mou.version)
    engine.decide(
        mou,
        "approve_review",
        by=legal,
        decision="approve",
        comment="Texte conforme au modèle",
        expected_version=mou.version,
    )
    engine.decide(mou, "approve_review", by=manager, decision="approve", comment=None, expected_version=mou.version)
    plan(mou, world.partner_a, due_in=-2, title="Note de cadrage")
    db.session.commit()
    assert mou.state == "negotiation"
    return mou


@pytest.mark.parametrize("role", ["admin", "officer", "other_officer", "manager", "legal", "auditor"])
def test_the_summary_shows_everything_to_the_ministry(app, world, signed_in, reviewed, role):
    response = signed_in(role).get(f"/agreements/{reviewed.id}/summary")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in (
        reviewed.reference,
        "MoU résumé",
        "مذكرة تفاهم",
        "Partner A",
        "Partner",
        "Cérémonie",
        world.users["officer"].full_name,
        "Memorandum of understanding",
        "Negotiation",
    ):
        assert text in page, text
    # Stage history: created as a draft, into internal review, sent back, again, into negotiation.
    assert re.findall(r'<tr data-state="(\w+)"', page) == [
        "draft",
        "internal_review",
        "draft",
        "internal_review",
        "negotiation",
    ]
    assert page.count("Sent back") >= 3  # the move back, the round's outcome, legal's decision
    # Approvals with who decided and why.
    assert re.findall(r'data-round-status="(\w+)"', page) == ["rejected", "approved"]
    assert "Préciser la clause 4" in page
    assert world.users["legal"].full_name in page and "Texte conforme au modèle" in page
    # Deliverables with their occurrences and statuses.
    # Planned during the talks and past its date: not owed before the agreement runs (falling_due).
    assert "Note de cadrage" in page and 'data-status="not_owed"' in page
    assert "data-print" in page and "Back to the agreement" in page


def test_the_partner_sees_its_summary_without_the_internal_history(app, world, signed_in, reviewed):
    page = signed_in("partner").get(f"/agreements/{reviewed.id}/summary").get_data(as_text=True)
    assert reviewed.reference in page and "Partner A" in page and "Note de cadrage" in page
    assert "history-heading" not in page and "Texte conforme au modèle" not in page
    assert "Préciser la clause 4" not in page and "data-round-status" not in page
    assert signed_in("partner_b").get(f"/agreements/{reviewed.id}/summary").status_code == 404


def test_the_summary_is_the_record_budget_signatures_renewal_and_amendments(app, world, signed_in):
    """The facts a reader of the official record looks for: what each party contributes, who signed and
    when, the renewal terms and deadline, and each amendment with what it changes."""
    from datetime import date

    from app.workflow.models import Signatory

    agreement = world.agreement_a  # active
    agreement.renewal_terms, agreement.renewal_months, agreement.notice_period = "tacit", 12, 3
    agreement.expires_on = date(2028, 12, 31)
    factories.budget_line(agreement, world.partner_a, "1250000.50", label="Experts")
    db.session.add(
        Signatory(
            agreement_id=agreement.id,
            position=1,
            side="ministry",
            name="Amal Exemple",
            title="Ministre",
            signed_on=date(2026, 1, 5),
        )
    )
    changes = {"expires_on": "2029-06-30"}
    amendment = factories.amendment(agreement, world.users["officer"], partners=[world.partner_a], changes=changes)
    factories.shown_to_partners(amendment)  # past the ministry's own stages: the partner reads it in the record
    db.session.commit()
    page = signed_in("partner").get(f"/agreements/{agreement.id}/summary").get_data(as_text=True)
    for text in (
        "budget-heading",
        "Experts",
        "1,250,000.50",
        "Amal Exemple",
        "Ministre",
        "Tacit renewal for 12 months",
        "Notice deadline",
        amendment.reference,
        "Ends on",
    ):
        assert text in page, text
    other = signed_in("partner_b").get(f"/agreements/{world.agreement_b.id}/summary").get_data(as_text=True)
    assert amendment.reference not in other


def test_the_summary_is_refused_like_the_agreement(app, world, client, signed_in):
    url = f"/agreements/{world.agreement_b.id}/summary"
    assert signed_in("partner").get(url).status_code == 404
    assert signed_in("partner_b").get(url).status_code == 200
    assert client.get(url).status_code == 302
    for bad in ("999999", "2147483648", "0"):
        assert signed_in("officer").get(f"/agreements/{bad}/summary").status_code == 404


@pytest.mark.parametrize(
    "language, direction, text",
    [
        ("ar", "rtl", "<bdi>مذكرة تفاهم</bdi>"),
        ("fr", "ltr", "<bdi>MoU résumé</bdi>"),
        # No English title: the French one, saying it is French (core.i18n.localized_with_language).
        ("en", "ltr", '<bdi lang="fr" dir="auto">MoU résumé</bdi>'),
    ],
)
def test_the_summary_in_each_language(app, world, signed_in, reviewed, language, direction, text):
    reader = factories.user("manager", world.ministry, language=language)
    db.session.commit()
    page = signed_in(reader).get(f"/agreements/{reviewed.id}/summary").get_data(as_text=True)
    assert f'lang="{language}" dir="{direction}"' in page
    assert text in page


@pytest.mark.parametrize("path", ["/agreements/export", "/deliverables/export"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_long_list_has_its_file_written_in_the_background(
    app, world, signed_in, portfolio, occurrences, monkeypatch, path, fmt
):
    """Past EXPORT_INLINE_MAX_ROWS neither format is written in the request: a CSV streamed by a sync worker
    for half a minute (100,000 occurrences took 15 s) is killed by gunicorn's timeout mid-file."""
    client = signed_in("manager")
    monkeypatch.setitem(app.config, "EXPORT_INLINE_MAX_ROWS", 1)
    queued = client.post(f"{path}.{fmt}?q=", follow_redirects=False)
    assert queued.status_code == 303 and re.fullmatch(r"/exports/\d+", queued.headers["Location"])
    page = client.get(queued.headers["Location"]).get_data(as_text=True)
    assert "its spreadsheet is being prepared" in page and "Waiting" in page


@pytest.mark.parametrize("path", ["/agreements/export", "/deliverables/export"])
def test_a_list_within_the_limit_streams_its_csv(app, world, signed_in, portfolio, occurrences, monkeypatch, path):
    from app.core import exports

    monkeypatch.setattr(exports, "STREAM_ROWS", 1)  # a piece per row, as a long list would go
    response = signed_in("manager").get(f"{path}.csv?q=")
    assert response.status_code == 200 and response.is_streamed
    assert len(list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))) > 2


def test_a_spreadsheet_no_longer_kept_says_so(app, world, signed_in):
    """The "ready" e-mail's link answered a bare "Not found" once the spreadsheet was forgotten (after 72
    hours, or a change of role). The same words for an id that never was: they tell a prober nothing."""
    officer = signed_in("officer")
    for path in ("/exports/999999", "/exports/999999/download", "/exports/not-a-number"):
        response = officer.get(path)
        assert response.status_code == 404, path
        assert "This spreadsheet is no longer kept" in response.get_data(as_text=True), path


def test_a_person_has_at_most_three_spreadsheets_waiting(app, world, signed_in, portfolio, monkeypatch):
    """A link (a GET) asks for an export: one on another site had queued a spreadsheet for each filter it named."""
    from app.exports.models import ExportJob

    client = signed_in("manager")
    monkeypatch.setitem(app.config, "EXPORT_INLINE_MAX_ROWS", 1)
    for query in ("a", "b", "c"):
        assert client.post(f"/agreements/export.xlsx?q={query}").status_code == 303
    fourth = client.post("/agreements/export.xlsx?q=d", follow_redirects=True)
    assert "3 of your spreadsheets are still being written" in fourth.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ExportJob.id))) == 3
    # The same one again is the same job, as before.
    assert client.post("/agreements/export.xlsx?q=a").status_code == 303


def test_narrowing_a_partners_agreements_forgets_the_spreadsheets_written_before(app, world, signed_in):
    """Written with every agreement of the organisation, a finished export must not outlive a limit to some
    of them (as on a change of role or organisation): its link then says it is no longer kept."""
    from app.auth.members import set_deliverable_access
    from app.exports.models import ExportJob

    partner = world.users["partner"]
    job = ExportJob(user_id=partner.id, list_name="deliverables", fmt="xlsx", language="en", status="failed")
    db.session.add(job)
    db.session.commit()
    client = signed_in("partner")
    assert client.get(f"/exports/{job.id}").status_code == 200
    set_deliverable_access(partner, restricted=True, agreement_ids=[world.agreement_a.id], by=world.users["admin"])
    db.session.commit()
    assert db.session.get(ExportJob, job.id) is None
    assert "This spreadsheet is no longer kept" in client.get(f"/exports/{job.id}").get_data(as_text=True)


def test_each_spreadsheet_says_which_filters_it_holds(app, world, signed_in, portfolio, monkeypatch):
    """Several spreadsheets of one list differed by their row count alone; its page's "Back to the list" dropped
    the filters."""
    client = signed_in("manager")
    monkeypatch.setitem(app.config, "EXPORT_INLINE_MAX_ROWS", 0)
    drafts = client.post("/agreements/export.xlsx?state=active&q=accord").headers["Location"]
    everything = client.post("/agreements/export.xlsx").headers["Location"]
    listed = client.get("/exports/").get_data(as_text=True)
    assert "State: <bdi>Active</bdi>" in listed and "Search: <bdi>accord</bdi>" in listed
    assert "The whole list, unfiltered" in listed
    page = client.get(drafts).get_data(as_text=True)
    assert 'href="/agreements/?q=accord&amp;state=active"' in page and "State: <bdi>Active</bdi>" in page
    assert 'href="/agreements/"' in client.get(everything).get_data(as_text=True)
    from app.deliverables.services import OccurrenceFilters
    from app.exports.services import request_export

    manager = world.users["manager"]
    late = request_export(
        manager, "deliverables", OccurrenceFilters(status="overdue", owner_id=manager.id), language="en"
    )
    db.session.commit()
    page = client.get(f"/exports/{late.id}").get_data(as_text=True)
    assert "Status: <bdi>Overdue</bdi>" in page and "Only my agreements" in page
    assert 'href="/deliverables/?status=overdue&amp;mine=y"' in page


def test_a_link_to_a_long_spreadsheet_asks_before_writing_anything(app, world, signed_in, portfolio, monkeypatch):
    """A page viewed writes nothing: the link (a GET, which a page on another site can make a signed-in
    person follow) shows what would be written and a button; only that button's POST queues it."""
    from app.exports.models import ExportJob

    client = signed_in("manager")
    monkeypatch.setitem(app.config, "EXPORT_INLINE_MAX_ROWS", 0)
    page = client.get("/agreements/export.xlsx?state=active")
    assert page.status_code == 200 and "Write the spreadsheet" in page.get_data(as_text=True)
    assert 'action="/agreements/export.xlsx?state=active"' in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ExportJob.id))) == 0
    forged = client.post("/agreements/export.xlsx?state=active", data={"csrf_token": "forged"})
    assert forged.status_code in (302, 400) and db.session.scalar(select(func.count(ExportJob.id))) == 0
    asked = client.post("/agreements/export.xlsx?state=active")
    assert asked.status_code == 303 and asked.headers["Location"].startswith("/exports/")
    job = db.session.scalars(select(ExportJob)).one()
    assert job.filters == {"state": "active", "in_force": False, "ending": False}
