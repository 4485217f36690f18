"""Importing an existing portfolio from a spreadsheet (app/agreements/importing.py): a manager or an admin sends
a CSV or XLSX file, every row is checked as the agreement form checks it, and every row is created or none.
Rows with a signature date go to the signature stage by the workflow's move for agreements signed elsewhere."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.api.tokens import create_token
from app.core.audit import AuditEvent
from app.extensions import db
from app.organizations import retirement
from tests import factories

HEADER = (
    ";".join(
        ["type", "title_fr", "title_ar", "partners", "owner", "signed_on", "effective_on", "expires_on"]
        + ["renewal_terms", "renewal_months", "notice_period"]
    )
    + "\n"
)


def _count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Agreement))


def _send(client, content: bytes | str, *, action: str = "import", name: str = "portefeuille.csv", reason: str = ""):
    if isinstance(content, str):
        content = content.encode("utf-8-sig")  # as Excel's "CSV UTF-8" writes it
    return client.post(
        "/agreements/import",
        data={"file": (io.BytesIO(content), name), "reason": reason, "action": action},
        content_type="multipart/form-data",
        follow_redirects=True,  # an import that succeeds goes to its own page (a reload does not send it again)
    )


@pytest.fixture
def portfolio_csv(world):
    officer = world.users["officer"]
    return HEADER + (
        f"mou;Mémorandum sur l'IA souveraine;مذكرة حول الذكاء الاصطناعي;Partner A;{officer.email};15/07/2025;"
        "2025-07-15;14/07/2028;tacit;36;3\n"
        f'Convention;Convention de formation;;"Partenaire B; Partner A ";{officer.email};;;;;\n'
        ";;;;;;;;;\n"  # a blank row, as spreadsheets leave them: skipped
    )


def test_a_manager_imports_a_portfolio_every_row_checked_then_created(world, signed_in, portfolio_csv):
    manager, before = signed_in("manager"), _count()
    checked = _send(manager, portfolio_csv, action="check")
    page = checked.get_data(as_text=True)
    assert checked.status_code == 200 and "2 rows ready to import" in page
    assert _count() == before  # a check writes nothing
    response = _send(manager, portfolio_csv, reason="Signé lors de la cérémonie de juillet 2025, avant Sharaka")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "2 agreements imported" in page
    assert "1 of them was signed before Sharaka: it waits at the signature stage" in page
    assert _count() == before + 2
    signed = db.session.scalar(select(Agreement).where(Agreement.title_fr == "Mémorandum sur l'IA souveraine"))
    assert signed.reference in page
    assert signed.type == "mou" and signed.title_ar == "مذكرة حول الذكاء الاصطناعي"
    assert (signed.signed_on, signed.effective_on, signed.expires_on) == (
        date(2025, 7, 15),
        date(2025, 7, 15),
        date(2028, 7, 14),
    )
    assert (signed.renewal_terms, signed.renewal_months, signed.notice_period) == ("tacit", 36, 3)
    assert signed.owner_id == world.users["officer"].id
    assert signed.state == "signature"  # its signatories and signed copy are recorded next, as for any other
    move = db.session.scalar(
        select(AuditEvent).where(AuditEvent.object_id == signed.id, AuditEvent.action == "transition")
    )
    assert move.comment == "Signé lors de la cérémonie de juillet 2025, avant Sharaka"
    assert move.changes["transition"] == "record_signed_elsewhere"
    # Type by its name, partners by their name in another language, spaces around them: found all the same.
    convention = db.session.scalar(select(Agreement).where(Agreement.title_fr == "Convention de formation"))
    assert convention.type == "convention" and convention.state == "draft"
    assert {party.organization_id for party in convention.parties} == {world.partner_a.id, world.partner_b.id}


def test_one_refused_row_and_nothing_is_imported(world, signed_in, portfolio_csv):
    manager, before = signed_in("manager"), _count()
    bad = portfolio_csv + "protocol;Protocole avec un inconnu;;Nobody Inc;;31/02/2025;;;;\n"
    response = _send(manager, bad, reason="Signés avant Sharaka")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "1 row refused" in page and "nothing was imported" in page
    assert 'id="import-row-5"' in page  # the spreadsheet's own row number (the heading is row 1)
    assert "No organisation is named “Nobody Inc”" in page
    assert "“31/02/2025” is not a date" in page
    assert _count() == before


def test_the_form_rules_apply_to_each_row(world, signed_in):
    manager, officer = signed_in("manager"), world.users["officer"]
    rows = HEADER + (
        "amendment;Avenant;;Partner A;;;;;;\n"  # amendments are proposed from their parent
        "mou;;;Partner A;;;;;;\n"  # no title
        f"mou;Dates à l'envers;;Partner A;{officer.email};;2026-01-10;2025-01-10;;\n"
        "mou;Propriétaire inconnu;;Partner A;nobody@example.org;;;;;\n"
        f'mou;Partenaire deux fois;;"Partner A; partner-a";{officer.email};;;;;\n'
        f"mou;Futur;;Partner A;{officer.email};2099-01-01;;;;\n"
        f"mou;Avec le ministère;;Ministère de la Transition numérique;{officer.email};;;;;\n"
        f"gadget;Type inconnu;;Partner A;{officer.email};;;;;\n"
    )
    page = _send(manager, rows).get_data(as_text=True)
    assert "8 rows refused" in page
    for said in (
        "An amendment is proposed from the agreement it amends",
        "Give a title in at least one language.",
        "The end date must come after the effective date.",
        "No account has the address nobody@example.org.",
        "is listed twice",
        "A signature date cannot be in the future.",
        "The ministry itself cannot be its own partner.",
        "Unknown type “gadget”",
    ):
        assert said in page, said


def test_dates_and_numbers_in_arabic_indic_digits_are_read_as_the_forms_read_them(world, signed_in):
    """A row written in Arabic-Indic (or Extended) digits was refused: "A whole number of at most four digits."
    and "is not a date", where the agreement's form reads the same digits."""
    rows = HEADER + "mou;;مذكرة بأرقام عربية;Partner A;;١٥/٠٧/٢٠٢٥;۲۰۲۵-۰۷-۱۵;١٤/٠٧/٢٠٢٨;tacit;١٢;٣\n"
    manager, before = signed_in("manager"), _count()
    page = _send(manager, rows, reason="Signée avant Sharaka").get_data(as_text=True)
    assert "is not a date" not in page and "A whole number" not in page
    assert _count() == before + 1
    agreement = db.session.scalars(select(Agreement).where(Agreement.title_ar == "مذكرة بأرقام عربية")).one()
    assert (agreement.signed_on, agreement.effective_on, agreement.expires_on) == (
        date(2025, 7, 15),
        date(2025, 7, 15),
        date(2028, 7, 14),
    )
    assert (agreement.renewal_terms, agreement.renewal_months, agreement.notice_period) == ("tacit", 12, 3)


def test_the_same_file_twice_is_refused_by_its_titles(world, signed_in, portfolio_csv):
    manager = signed_in("manager")
    assert _send(manager, portfolio_csv, reason="Avant Sharaka").status_code == 200
    before = _count()
    again = _send(manager, portfolio_csv, reason="Avant Sharaka")
    page = again.get_data(as_text=True)
    assert again.status_code == 422 and "has this title already" in page
    assert _count() == before
    twice_in_file = HEADER + "mou;Même titre;;Partner A;;;;;;\nmou;Même titre;;Partner B;;;;;;\n"
    assert "Row 2 has this title too." in _send(manager, twice_in_file).get_data(as_text=True)


def test_signed_rows_need_the_reason(world, signed_in, portfolio_csv):
    manager, before = signed_in("manager"), _count()
    response = _send(manager, portfolio_csv, reason="   ")
    assert response.status_code == 422
    assert "Say why the agreements with a signature date skip" in response.get_data(as_text=True)
    assert _count() == before


def test_a_retired_partner_is_refused(world, signed_in, portfolio_csv):
    gone = factories.organization("gone", name_fr="Disparu")
    retirement.retire(gone, by=world.users["admin"], reason="Dissous")
    db.session.commit()
    page = _send(signed_in("manager"), HEADER + "mou;Avec un disparu;;Disparu;;;;;;\n").get_data(as_text=True)
    assert "1 row refused" in page and "retired" in page


def test_an_xlsx_file_with_date_cells(world, signed_in):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["type", "title_en", "partners", "signed_on", "expires_on"])
    sheet.append(["protocol", "Protocol from a workbook", "Partner B", date(2025, 9, 4), date(2027, 9, 3)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    admin, before = signed_in("admin"), _count()
    response = _send(admin, buffer.getvalue(), name="portfolio.xlsx", reason="Signed in September 2025")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _count() == before + 1
    made = db.session.scalar(select(Agreement).where(Agreement.title_en == "Protocol from a workbook"))
    assert made.signed_on == date(2025, 9, 4) and made.expires_on == date(2027, 9, 3) and made.state == "signature"


@pytest.mark.parametrize(
    ("content", "name", "said"),
    [
        (b"", "empty.csv", "The file is empty"),
        (b"type;partners\n", "heading.csv", "has no agreement under them"),
        ("type;titre;partners\n".encode(), "unknown.csv", "Unknown columns: titre."),
        (b"type;title_fr\nmou;x\n", "no-partners.csv", "no column “partners”"),
        (b"type;type;partners\n", "twice.csv", "Columns named twice: type."),
        (b"type;partners;\nmou;Partner A;oops\n", "unnamed.csv", "Row 2 has a value in column 3, which has no heading"),
        # Past the columns read: said, not left unread (the heading's own columns end long before).
        (b"type;partners\nmou;Partner A" + b";" * 50 + b"far\n", "far.csv", "Row 2 has a value past column 50"),
        ("type;title_fr;partners\nmou;Accord é;Partner A\n".encode("cp1252"), "latin.csv", "not UTF-8"),
        (b"PK\x03\x04 not really a workbook", "fake.xlsx", "could not be read as an Excel workbook"),
        (b"\x89PNG\r\n\x1a\n\x00\x00" * 50, "binary.csv", "not UTF-8"),
        (b"\x00\x01\x02garbage;partners" * 20, "controls.csv", "Unknown columns: garbage"),
    ],
)
def test_files_that_are_not_a_portfolio(world, signed_in, content, name, said):
    manager, before = signed_in("manager"), _count()
    response = _send(manager, content, name=name)
    assert response.status_code == 422, response.status_code
    assert said in response.get_data(as_text=True)
    assert _count() == before


@pytest.mark.parametrize(
    ("row", "column"),
    [
        (2, 51),
        (2, 52),  # past the one column beyond those read: had been left unread without a word (a probe's find)
        (2, 16384),  # Excel's last column
        (1, 55),  # a heading there, a real column's (summary_en): its values had been dropped
    ],
)
def test_a_workbook_value_past_the_columns_read_is_refused(app, world, signed_in, row, column):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["type", "title_fr", "partners"])
    sheet.append(["mou", "Tableur large", "Partner A"])
    sheet.cell(row=row, column=column, value="summary_en" if row == 1 else "far")
    sheet.cell(row=2, column=column, value="English summary")
    buffer = io.BytesIO()
    workbook.save(buffer)
    manager, before = signed_in("manager"), _count()
    for action in ("check", "import"):
        response = _send(manager, buffer.getvalue(), name="far.xlsx", action=action)
        assert response.status_code in (200, 422)
        assert f"Row {row} has a value past column 50" in response.get_data(as_text=True), action
    refused = _api(app, world.users["manager"])(buffer.getvalue(), name="far.xlsx", reason="Avant Sharaka")
    assert refused.status_code == 422
    assert refused.json["errors"]["file"] == [
        f"Row {row} has a value past column 50: only the first 50 columns are read. Empty it."
    ]
    assert _count() == before


def test_an_archive_that_would_inflate_is_refused(world, signed_in):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (300 * 1024 * 1024))
    response = _send(signed_in("manager"), buffer.getvalue(), name="bomb.xlsx")
    assert response.status_code == 422
    assert "expands to more than the server accepts" in response.get_data(as_text=True)


def test_at_most_a_hundred_rows(world, signed_in):
    rows = HEADER + "".join(f"mou;Accord {n};;Partner A;;;;;;\n" for n in range(101))
    response = _send(signed_in("manager"), rows)
    assert response.status_code == 422 and "At most 100 agreements a file" in response.get_data(as_text=True)


def test_control_characters_and_nul_are_not_stored(world, signed_in):
    rows = HEADER + "mou;Accord\x00 importé\u202e sans contrôle;;Partner A;;;;;;\n"
    response = _send(signed_in("admin"), rows)
    assert response.status_code == 200, response.get_data(as_text=True)
    made = db.session.scalar(select(Agreement).where(Agreement.title_fr.like("Accord%import%")))
    assert "\x00" not in made.title_fr and "\u202e" not in made.title_fr


def test_the_templates_name_every_column(world, signed_in):
    manager = signed_in("manager")
    csv_template = manager.get("/agreements/import/template.csv")
    assert csv_template.status_code == 200
    assert csv_template.get_data(as_text=True).lstrip("\ufeff").splitlines()[0].startswith("type,title_fr,title_ar")
    xlsx_template = manager.get("/agreements/import/template.xlsx")
    assert xlsx_template.status_code == 200 and xlsx_template.data.startswith(b"PK")


@pytest.mark.parametrize("role", ["officer", "legal", "auditor", "partner"])
def test_only_managers_and_admins_import(world, signed_in, role, portfolio_csv):
    client, before = signed_in(role), _count()
    token = client.csrf("/account/password")
    response = client.http.post(
        "/agreements/import",
        data={"file": (io.BytesIO(portfolio_csv.encode()), "p.csv"), "action": "import", "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert _count() == before
    assert 'id="import-link"' not in client.get("/agreements/").get_data(as_text=True)


def _api(app, user):
    secret = create_token(user, "import script", by=user)[1]
    db.session.commit()
    client = app.test_client()

    def send(content: str | bytes | None, name: str = "portfolio.csv", **fields):
        data = dict(fields)
        if content is not None:
            raw = content.encode("utf-8") if isinstance(content, str) else content
            data["file"] = (io.BytesIO(raw), name)
        return client.post(
            "/api/v1/agreements/import",
            data=data,
            content_type="multipart/form-data",
            headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"},
        )

    return send


def test_the_api_checks_and_imports_with_the_same_rules(app, world, portfolio_csv):
    send, before = _api(app, world.users["manager"]), _count()
    checked = send(portfolio_csv, check="true")
    assert checked.status_code == 200
    assert checked.json["ok"] and [row["row"] for row in checked.json["rows"]] == [2, 3]
    assert all(row["agreement"] is None and row["errors"] == {} for row in checked.json["rows"])
    assert _count() == before
    refused = send(portfolio_csv + "mou;Sans partenaire connu;;Nobody Inc;;;;;;;\n", reason="Avant Sharaka")
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert "No organisation is named “Nobody Inc”" in refused.json["errors"]["row_5.partners"][0]
    assert _count() == before
    no_reason = send(portfolio_csv)
    assert no_reason.status_code == 422 and "reason" in no_reason.json["errors"]
    imported = send(portfolio_csv, reason="Signé en juillet 2025, avant Sharaka")
    assert imported.status_code == 201
    made = {row["agreement"]["reference"]: row["agreement"]["state"] for row in imported.json["rows"]}
    assert sorted(made.values()) == ["draft", "signature"]
    assert _count() == before + 2


def test_the_api_refuses_who_may_not_import_and_what_is_not_a_file(app, world, portfolio_csv):
    for role in ("officer", "partner", "auditor"):
        assert _api(app, world.users[role])(portfolio_csv, check="true").status_code == 403
    send = _api(app, world.users["admin"])
    missing = send(None, check="true")
    assert missing.status_code == 422 and missing.json["errors"]["file"] == ["Choose the file."]
    unreadable = send(b"\xff\xfe\x00\x00not text", reason="x")
    assert unreadable.status_code == 422 and "not UTF-8" in unreadable.json["errors"]["file"][0]
    assert send(portfolio_csv, check="maybe").status_code == 422


def test_a_parent_and_its_children_in_one_file(world, signed_in):
    """The MoU and the convention that implements it, in one spreadsheet: the child names its parent by the
    title of the row above (or, for one already in Sharaka, by its reference)."""
    manager, before = signed_in("manager"), _count()
    rows = (
        HEADER.rstrip("\n")
        + ";parent\n"
        + (
            "mou;Mémorandum cadre importé;;Partner A;;;2025-09-01;2030-08-31;;;;\n"
            "convention;Convention d'application importée;;Partner A;;;2026-01-15;2028-01-14;;;;"
            "Mémorandum cadre importé\n"
            f"protocol;Protocole sous un accord connu;;Partner A;;;;;;;;{world.agreement_a.reference.lower()}\n"
        )
    )
    response = _send(manager, rows)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _count() == before + 3
    framework = db.session.scalar(select(Agreement).where(Agreement.title_fr == "Mémorandum cadre importé"))
    child = db.session.scalar(select(Agreement).where(Agreement.title_fr == "Convention d'application importée"))
    under_known = db.session.scalar(select(Agreement).where(Agreement.title_fr == "Protocole sous un accord connu"))
    assert child.parent_id == framework.id and under_known.parent_id == world.agreement_a.id


def test_a_child_above_its_parent_or_past_its_end_is_refused(world, signed_in):
    manager, before = signed_in("manager"), _count()
    header = HEADER.rstrip("\n") + ";parent\n"
    above = header + (
        "convention;Enfant trop tôt;;Partner A;;;;;;;;Parent plus bas\nmou;Parent plus bas;;Partner A;;;;;;;;\n"
    )
    page = _send(manager, above).get_data(as_text=True)
    assert "no row above has this title" in page and _count() == before
    # The MoU refuses a child ending after it (workflows/mou.yaml): found as the child is made, nothing kept.
    past_end = header + (
        "mou;Parent court;;Partner A;;;2025-01-01;2026-12-31;;;;\n"
        "convention;Enfant trop long;;Partner A;;;2025-02-01;2028-12-31;;;;Parent court\n"
    )
    response = _send(manager, past_end)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "The end date cannot be after the end of the parent agreement" in page
    assert 'id="import-row-3"' in page and _count() == before


def test_the_signatories_of_a_signed_row_are_recorded_on_its_date(world, signed_in):
    """The ceremony's signatories in the file: named and signed on the row's date, so the agreement waits for
    its signed copy alone."""
    from app.workflow.models import Signatory

    manager = signed_in("manager")
    header = "type;title_fr;partners;signed_on;ministry_signatory;partner_signatories\n"
    rows = header + (
        'mou;Signé par tous;"Partner A; Partner B";15/07/2025;Amal El Fallah Seghrouchni;"Signataire A; Signataire B"\n'
    )
    response = _send(manager, rows, reason="Cérémonie de juillet 2025")
    assert response.status_code == 200, response.get_data(as_text=True)
    made = db.session.scalar(select(Agreement).where(Agreement.title_fr == "Signé par tous"))
    signatories = db.session.scalars(
        select(Signatory).where(Signatory.agreement_id == made.id).order_by(Signatory.position)
    ).all()
    assert [(s.side, s.name, s.organization_id, s.signed_on) for s in signatories] == [
        ("ministry", "Amal El Fallah Seghrouchni", world.ministry.id, date(2025, 7, 15)),
        ("partner", "Signataire A", world.partner_a.id, date(2025, 7, 15)),
        ("partner", "Signataire B", world.partner_b.id, date(2025, 7, 15)),
    ]
    assert made.state == "signature" and made.signed_on == date(2025, 7, 15)


def test_signatories_need_the_date_and_one_per_partner(world, signed_in):
    manager, before = signed_in("manager"), _count()
    header = "type;title_fr;partners;signed_on;ministry_signatory;partner_signatories\n"
    rows = header + (
        "mou;Sans date;Partner A;;La ministre;Signataire A\n"
        'mou;Deux partenaires, un signataire;"Partner A; Partner B";15/07/2025;La ministre;Signataire A\n'
    )
    page = _send(manager, rows, reason="Avant Sharaka").get_data(as_text=True)
    assert "Signatories are recorded with their signature date" in page
    assert "One signatory per partner, in the order of the partners column." in page
    assert _count() == before


def _workbook_with_sheet(sheet_xml: str) -> bytes:
    """A real workbook whose first sheet's XML is `sheet_xml` (what a damaged or crafted file holds)."""
    workbook = Workbook()
    workbook.active.append(["type", "title_fr", "partners"])
    source = io.BytesIO()
    workbook.save(source)
    crafted = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(crafted, "w", zipfile.ZIP_DEFLATED) as target:
        for item in original.infolist():
            data = original.read(item.filename)
            target.writestr(item, sheet_xml.encode() if item.filename == "xl/worksheets/sheet1.xml" else data)
    return crafted.getvalue()


SHEET = '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{}</worksheet>'


@pytest.mark.parametrize(
    ("sheet", "said"),
    [
        ('<worksheet><sheetData><row r="1"><c r="A1"', "could not be read as an Excel workbook"),
        (
            SHEET.format('<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>type</t></is></c></row><row r="2"><c'),
            "could not be read as an Excel workbook",
        ),
        # A 5 KB sheet naming row 5,000,000 (its dimension, then a cell there): openpyxl made every row before it.
        (
            SHEET.format(
                '<dimension ref="A1:G5000000"/><sheetData><row r="5000000"><c r="A5000000" t="inlineStr">'
                "<is><t>x</t></is></c></row></sheetData>"
            ),
            "The file goes on past row 5000",
        ),
        # Without a dimension, what lies past row 5,000 is never read: this one is then a sheet with no heading.
        (
            SHEET.format(
                '<sheetData><row r="900000"><c r="A900000" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
            ),
            "The file has no column",
        ),
    ],
)
def test_a_damaged_or_crafted_workbook_is_refused_at_once(world, signed_in, sheet, said):
    manager = signed_in("manager")
    for action in ("check", "import"):
        response = _send(manager, _workbook_with_sheet(sheet), name="portfolio.xlsx", action=action)
        assert response.status_code in (200, 422) and said in response.get_data(as_text=True), action


def _inline_row(number: int, texts: tuple[str, ...], after: str = "") -> str:
    cells = "".join(
        f'<c r="{column}{number}" t="inlineStr"><is><t>{text}</t></is></c>' for column, text in zip("ABC", texts)
    )
    return f'<row r="{number}">{cells}{after}</row>'


def test_an_empty_formatted_cell_far_right_is_no_value(world, signed_in):
    """Read to its last cell, a row whose last is an empty one at Excel's last column (formatting) passes."""
    rows = _inline_row(1, ("type", "title_fr", "partners")) + _inline_row(
        2, ("mou", "Tableur mis en forme", "Partner A"), after='<c r="XFD2" s="0"/>'
    )
    sheet = SHEET.format(f'<dimension ref="A1:XFD2"/><sheetData>{rows}</sheetData>')
    page = _send(signed_in("manager"), _workbook_with_sheet(sheet), name="portfolio.xlsx", action="check")
    assert "1 row ready to import" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (HEADER + "mou;Un accord;;Partner A;;;;;;\n" + "\n" * 3_000_000, "The file goes on past row 5000"),
        (HEADER + "\r" * 3_000_000, "The file goes on past row 5000"),
        ("type;partners\n" + "," * 3_000_000 + "\n", "A line of the file is longer than 600000 characters"),
    ],
)
def test_a_csv_file_too_long_to_be_a_portfolio_is_refused_at_once(world, signed_in, content, said):
    response = _send(signed_in("manager"), content, action="check")
    assert said in response.get_data(as_text=True)


def test_what_the_check_finds_is_what_the_import_would(world, signed_in):
    """Every rule a row breaks is said at the first check, the form's included, and the import refuses nothing
    the check let through (found by a hostile run: each of these passed the check, then failed the import)."""
    header = HEADER.rstrip("\n") + ";parent;ministry_signatory\n"
    many = "; ".join(f"Signataire {n}" for n in range(21))
    rows = header + (
        f"mou;;;Inconnu SA;{world.users['partner'].email};2099-01-01;;;;;;;\n"  # four problems at once
        "mou;Parent court;;Partner A;;;2025-01-01;2026-12-31;;;;;\n"
        "convention;Enfant trop long;;Partner A;;;2025-02-01;2028-12-31;;;;parent court;\n"
        f'mou;Trop de signataires;;Partner A;;15/07/2025;;;;;;;"{many}"\n'
        "mou;IMP ACCORD AVEC A;;Partner A;;;;;;;;;\n"  # "Accord avec A" is in Sharaka already
    )
    manager, before = signed_in("manager"), _count()
    page = _send(manager, rows, action="check").get_data(as_text=True)
    row_2 = page[page.index('id="import-row-2"') : page.index('id="import-row-3"')]
    for said in (
        "Give a title in at least one language.",
        "No organisation is named “Inconnu SA”",
        "The owner must be an active ministry officer or manager.",
        "A signature date cannot be in the future.",
    ):
        assert said in row_2, said
    row_4 = page[page.index('id="import-row-4"') : page.index('id="import-row-5"')]
    assert "The end date cannot be after the end of the parent agreement row 3" in row_4
    assert "An agreement has at most 20 signatories." in page
    assert "Import Accord" not in page and _count() == before


def test_near_identical_titles_are_one_title(world, signed_in):
    manager = signed_in("manager")
    for title in ("ACCORD AVEC A", "accord\u00a0avec a", "Accord avec A\u200f"):
        page = _send(manager, HEADER + f"mou;{title};;Partner A;;;;;;\n", action="check").get_data(as_text=True)
        assert "has this title already" in page, repr(title)
    page = _send(manager, HEADER + "mou;Éducation;;Partner A;;;;;;\nmou;E\u0301ducation;;Partner B;;;;;;\n").get_data(
        as_text=True
    )
    assert "Row 2 has this title too." in page  # the second spelled with a combining accent


def test_names_as_people_paste_them(world, signed_in):
    """An organisation whose name holds a ";", a partner or signatory pasted with direction marks around it."""
    oriental = factories.organization("oriental", name_fr="Wilaya et Région de l'Oriental ; Province de Nador")
    db.session.commit()
    header = "type;title_fr;partners;signed_on;partner_signatories\n"
    rows = header + (
        "mou;Avec l'Oriental;\"Wilaya et Région de l'Oriental ; Province de Nador\";;\n"
        'mou;Avec des marques;"\u200fPartner A\u200e; Partner B";15/07/2025;"\u200fSignataire A; \u200f"\n'
    )
    page = _send(signed_in("manager"), rows, action="check").get_data(as_text=True)
    assert 'id="import-row-2"' in page and "No organisation is named" not in page
    assert "One signatory per partner" in page  # the invisible second name is no name
    assert oriental.id


def test_the_apis_agreements_read_as_everywhere_else(app, world, portfolio_csv):
    imported = _api(app, world.users["manager"])(portfolio_csv, reason="Signé en juillet 2025")
    assert imported.status_code == 201
    signed = next(row["agreement"] for row in imported.json["rows"] if row["agreement"]["signed_on"])
    assert signed["signed_on"] == "2025-07-15"


def test_an_import_sent_again_by_a_second_click_is_answered_not_refused(world, signed_in, portfolio_csv):
    """The same form sent twice (a double click, a reload of the answer): the second gets the first's answer,
    the page of what it imported, rather than "nothing was imported: these titles are there already"."""
    manager, before = signed_in("manager"), _count()
    form_page = manager.get("/agreements/import").get_data(as_text=True)
    key = re.search(r'name="form_key" value="([^"]+)"', form_page).group(1)
    token = manager.csrf("/agreements/import")

    def send():
        data = {"file": (io.BytesIO(portfolio_csv.encode()), "p.csv"), "reason": "Avant Sharaka", "action": "import"}
        data.update(csrf_token=token, form_key=key)
        return manager.http.post("/agreements/import", data=data, content_type="multipart/form-data")

    first, second = send(), send()
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    page = manager.get(first.headers["Location"]).get_data(as_text=True)
    assert 'id="import-done"' in page and page.count('class="reference"') >= 2
    assert _count() == before + 2


def test_the_page_of_an_import_shows_only_agreements_and_only_those_one_may_see(world, signed_in):
    manager = signed_in("manager")
    page = manager.get(f"/agreements/import?imported={world.agreement_a.id},x,-1,99999999,,{world.agreement_a.id}")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count(world.agreement_a.reference) == 1
    assert 'id="import-done"' not in manager.get("/agreements/import?imported=<script>").get_data(as_text=True)
