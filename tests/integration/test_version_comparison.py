"""Comparing versions of an agreement's text: DOCX, ODT and PDF, paragraph then word level,
Arabic right to left, changes per section, bounded extraction, the cache, permissions, the API."""

from io import BytesIO

import pytest
from flask import current_app
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.api.tokens import create_token
from app.extensions import db
from app.versions import compare as compare_module
from app.versions import extract as extraction
from app.versions.compare import compare, word_diff
from app.versions.models import DocumentText
from app.workflow import services as workflow
from tests import factories
from tests.support.documents import corrupt_docx, docx_bomb, docx_bytes, odt_bytes
from tests.support.signed_pdfs import plain_pdf

V1 = [
    ("h1", "Article 1 : Objet"),
    ("p", "Le ministère forme 100 personnes."),
    ("h1", "Article 2 : Durée"),
    ("p", "La convention dure trois ans."),
    ("h1", "المادة 3"),
    ("p", "يلتزم الطرفان بالتعاون."),
]
V2 = [
    ("h1", "Article 1 : Objet"),
    ("p", "Le ministère forme 250 personnes par an."),
    ("h1", "Article 2 : Durée"),
    ("p", "La convention dure trois ans."),
    ("h1", "المادة 3"),
    ("p", "يلتزم الطرفان بالتعاون الوثيق."),
    ("p", "Une clause ajoutée."),
]


@pytest.fixture
def mou(world):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="MoU textes")
    factories.shown_to_partners(agreement)  # its texts are exchanged with the partner
    db.session.commit()
    return agreement


def attach(agreement, body: bytes, name: str, by, kind="text_version"):
    document = workflow.attach_document(agreement, kind, FileStorage(BytesIO(body), filename=name), by=by)
    db.session.commit()
    return document


def test_word_level_diff_and_sections_without_a_database():
    assert word_diff("forme 100 personnes.", "forme 250 personnes par an.") == [
        ("equal", "forme "),
        ("delete", "100"),
        ("insert", "250"),
        ("equal", " personnes"),
        ("insert", " par an"),
        ("equal", "."),
    ]
    result = compare(
        [[1, "A"], [0, "un deux trois"], [1, "B"], [0, "gone entirely"]],
        [[1, "A"], [0, "un deux quatre"], [1, "B"], [0, "zzz qqq www"]],
    )
    assert (result.added, result.removed, result.changed) == (1, 1, 1)
    assert result.sections == [("A", 1), ("B", 2)]


def test_texts_costly_to_compare_are_compared_within_a_budget_of_steps():
    """Many repeated words or paragraphs cost difflib far more than their length (a few KB of "a b a b …"
    against "b c a …" took minutes of a worker, on a partner's request). Its steps are counted: past the
    budget, the words of a paragraph are shown whole, and paragraphs are no longer aligned."""
    counted = []

    class Counting(compare_module._BudgetedMatcher):
        def find_longest_match(self, *args, **kwargs):
            counted.append(self.budget.left)
            return super().find_longest_match(*args, **kwargs)

    original = compare_module._BudgetedMatcher
    compare_module._BudgetedMatcher = Counting
    try:
        assert word_diff("a b " * 1000, "b c a " * 666) == [("delete", "a b " * 1000), ("insert", "b c a " * 666)]
        assert min(counted) >= 0  # stopped before the search that would have gone past the budget
        result = compare([[0, "a"], [0, "b"]] * 10000, [[0, "b"], [0, "c"], [0, "a"]] * 6667)
        assert result.rough and (result.removed, result.added) == (20000, 20001)
    finally:
        compare_module._BudgetedMatcher = original
    # An everyday revision stays word by word.
    paragraphs = [[0, f"Article {n} : le partenaire remet un rapport {n} fois par an."] for n in range(300)]
    revised = [
        [0, text.replace("rapport", "rapport détaillé")] if n % 10 == 0 else [0, text]
        for n, (_level, text) in enumerate(paragraphs)
    ]
    result = compare(paragraphs, revised)
    assert not result.rough and result.changed == 30
    assert all(
        [text.strip() for op, text in row.words if op != "equal"] == ["détaillé"]
        for row in result.rows
        if row.kind == "changed"
    )


@pytest.mark.parametrize("make, name", [(docx_bytes, "v.docx"), (odt_bytes, "v.odt")])
def test_office_versions_compare_paragraph_then_word(app, world, signed_in, mou, make, name):
    officer = world.users["officer"]
    old, new = attach(mou, make(V1), "1-" + name, officer), attach(mou, make(V2), "2-" + name, officer)
    page = signed_in("officer").get(f"/agreements/{mou.id}/compare?old={old.id}&new={new.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<del class="diff-del">100</del><ins class="diff-ins">250</ins>' in html
    assert '<ins class="diff-ins">Une clause ajoutée.</ins>' in html
    assert '<ins class="diff-ins"> الوثيق</ins>' in html
    assert '<p class="mb-0" dir="auto"><ins class="diff-ins">Une clause' in html  # each paragraph finds its direction
    assert "1 paragraph added" in html and "2 paragraphs changed" in html
    # Changes counted per section (heading).
    assert '<td><bdi>Article 1 : Objet</bdi></td><td class="text-end">1</td>' in html
    assert '<td><bdi>المادة 3</bdi></td><td class="text-end">2</td>' in html
    assert "Article 2" not in html.split("section-changes")[1].split("</table>")[0]


def test_pdf_versions_and_a_scan_that_has_no_text(app, world, signed_in, mou):
    officer = world.users["officer"]
    old = attach(mou, plain_pdf("Article 1", "Le ministere forme 100 personnes."), "v1.pdf", officer)
    new = attach(mou, plain_pdf("Article 1", "Le ministere forme 300 personnes."), "v2.pdf", officer)
    scan = attach(mou, plain_pdf(""), "scan.pdf", officer)
    client = signed_in("officer")
    html = client.get(f"/agreements/{mou.id}/compare?old={old.id}&new={new.id}").get_data(as_text=True)
    assert '<del class="diff-del">100</del><ins class="diff-ins">300</ins>' in html
    html = client.get(f"/agreements/{mou.id}/compare?old={new.id}&new={scan.id}").get_data(as_text=True)
    assert 'data-status="no_text"' in html and "perhaps a scan" in html
    assert "diff-row" not in html


def test_a_damaged_file_says_so_and_a_zip_bomb_is_refused_without_inflating(app, world, signed_in, mou, tmp_path):
    officer = world.users["officer"]
    good = attach(mou, docx_bytes(V1), "v1.docx", officer)
    broken = attach(mou, corrupt_docx(), "broken.docx", officer)
    html = (
        signed_in("officer").get(f"/agreements/{mou.id}/compare?old={good.id}&new={broken.id}").get_data(as_text=True)
    )
    assert 'data-status="unreadable"' in html and "could not be read" in html
    # A bomb never gets past the upload; read directly, the extraction refuses it from the declared sizes.
    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(docx_bomb(60))
    assert extraction.extract(bomb, extraction.DOCX).status == "too_large"
    # Within the upload bounds but past the extraction's own bound on the main part.
    small = tmp_path / "big.docx"
    small.write_bytes(docx_bytes(V1))
    limit = current_app.config["EXTRACT_MAX_XML_BYTES"]
    current_app.config["EXTRACT_MAX_XML_BYTES"] = 100
    try:
        assert extraction.extract(small, extraction.DOCX).status == "too_large"
    finally:
        current_app.config["EXTRACT_MAX_XML_BYTES"] = limit


def test_long_texts_are_cut_and_marked(app, tmp_path):
    path = tmp_path / "long.docx"
    path.write_bytes(docx_bytes([("p", f"Paragraphe {n}") for n in range(40)]))
    limit = current_app.config["EXTRACT_MAX_PARAGRAPHS"]
    current_app.config["EXTRACT_MAX_PARAGRAPHS"] = 10
    try:
        result = extraction.extract(path, extraction.DOCX)
    finally:
        current_app.config["EXTRACT_MAX_PARAGRAPHS"] = limit
    assert result.status == "truncated" and len(result.paragraphs) == 10


def test_a_direction_override_in_a_version_is_dropped_and_arabic_keeps_its_marks(app, tmp_path):
    """An override made the comparison page show "live" for "evil", or "1000" for "0001": where a
    counterparty's change is checked, what is shown is what the text says."""
    path = tmp_path / "spoof.docx"
    path.write_bytes(docx_bytes([("p", "يدفع 0001\u202e درهم.\u202e evil \u202c \u2067x\u2069 \u200fRLM\u200e")]))
    result = extraction.extract(path, extraction.DOCX)
    assert result.paragraphs == [[0, "يدفع 0001 درهم. evil x \u200fRLM"]]


def test_the_text_is_extracted_once_and_cached(app, world, signed_in, mou):
    officer = world.users["officer"]
    old, new = attach(mou, docx_bytes(V1), "a.docx", officer), attach(mou, docx_bytes(V2), "b.docx", officer)
    client = signed_in("officer")
    client.get(f"/agreements/{mou.id}/compare?old={old.id}&new={new.id}")
    rows = db.session.scalars(select(DocumentText)).all()
    assert {r.stored_file_id for r in rows} >= {old.stored_file_id, new.stored_file_id}
    assert all(r.status == "ok" for r in rows)
    stamp = {r.stored_file_id: r.extracted_at for r in rows}
    client.get(f"/agreements/{mou.id}/compare?old={new.id}&new={old.id}")
    db.session.expire_all()
    assert {r.stored_file_id: r.extracted_at for r in db.session.scalars(select(DocumentText))} == stamp


def test_who_may_compare(app, world, signed_in, mou):
    officer = world.users["officer"]
    old, new = attach(mou, docx_bytes(V1), "a.docx", officer), attach(mou, docx_bytes(V2), "b.docx", officer)
    url = f"/agreements/{mou.id}/compare?old={old.id}&new={new.id}"
    for role in ("officer", "manager", "legal", "auditor", "admin", "partner"):
        assert signed_in(role).get(url).status_code == 200, role
    assert signed_in("partner_b").get(url).status_code == 404  # another organisation's agreement
    assert signed_in(None).get(url).status_code in (302, 401)
    other = factories.agreement(by=officer, partners=[world.partner_b], title_fr="Autre")
    db.session.commit()
    foreign = attach(other, docx_bytes(V1), "c.docx", officer)
    client = signed_in("officer")
    assert client.get(f"/agreements/{mou.id}/compare?old={old.id}&new={foreign.id}").status_code == 404
    assert client.get(f"/agreements/{mou.id}/compare?old=abc&new={new.id}").status_code == 404
    assert client.get(f"/agreements/{mou.id}/compare?old=99999999999&new={new.id}").status_code == 404


def test_only_one_version_gives_a_clear_message(app, world, signed_in, mou):
    attach(mou, docx_bytes(V1), "a.docx", world.users["officer"])
    html = signed_in("officer").get(f"/agreements/{mou.id}/compare").get_data(as_text=True)
    assert "Two versions in DOCX, ODT or PDF are needed" in html


def test_one_version_and_a_later_document_are_compared_by_default_never_a_version_with_itself(
    app, world, signed_in, mou
):
    """Opened without choosing (the documents panel's link), the page compares the last two versions, or with
    one version, the last two comparable documents: the agreed version and the signed copy, say. It had
    compared the one version with itself ("no change") when another document followed it."""
    officer = world.users["officer"]
    attach(mou, docx_bytes(V1), "v1.docx", officer)
    attach(mou, docx_bytes(V2), "signed.docx", officer, kind="signed_copy")
    html = signed_in("officer").get(f"/agreements/{mou.id}/compare").get_data(as_text=True)
    assert '<del class="diff-del">100</del><ins class="diff-ins">250</ins>' in html  # V1 against V2, not V1 twice


def test_the_negotiation_panel_links_each_version_to_the_previous_one(app, world, signed_in, mou):
    from tests.integration.test_workflow_pages import act, post

    officer, legal, manager, partner = (signed_in(r) for r in ("officer", "legal", "manager", "partner"))
    act(officer, mou, "submit_for_review")
    act(legal, mou, "approve_review", decision="approve")
    act(manager, mou, "approve_review", decision="approve")
    assert (
        post(officer, mou, "negotiation/versions", {"file": (BytesIO(docx_bytes(V1)), "projet v1.docx")}).status_code
        == 303
    )
    assert (
        post(partner, mou, "negotiation/versions", {"file": (BytesIO(docx_bytes(V2)), "projet v2.docx")}).status_code
        == 303
    )
    db.session.refresh(mou)
    first, second = mou.negotiation_rounds
    html = partner.get(f"/agreements/{mou.id}").get_data(as_text=True)
    link = f"/agreements/{mou.id}/compare?old={first.document_id}&amp;new={second.document_id}"
    assert link in html and "Compare with version 1" in html
    assert html.count("compare-link") == 1  # version 1 has nothing before it
    assert "250" in partner.get(link.replace("&amp;", "&")).get_data(as_text=True)


def test_the_api_compares_with_the_same_rules(app, world, mou):
    officer = world.users["officer"]
    old, new = attach(mou, docx_bytes(V1), "a.docx", officer), attach(mou, odt_bytes(V2), "b.odt", officer)
    scan = attach(mou, plain_pdf(""), "scan.pdf", officer)
    tokens = {role: create_token(world.users[role], "t", by=None)[1] for role in ("officer", "partner", "partner_b")}
    db.session.commit()
    client = app.test_client()

    def get(role, query):
        return client.get(
            f"/api/v1/agreements/{mou.id}/comparison?{query}", headers={"Authorization": f"Bearer {tokens[role]}"}
        )

    body = get("partner", f"old={old.id}&new={new.id}").get_json()
    assert body["is_comparable"] and (body["added"], body["changed"]) == (1, 2)
    assert {"section": "المادة 3", "changes": 2} in body["sections"]
    changed = [r for r in body["rows"] if r["kind"] == "changed"][0]
    assert ["delete", "100"] in changed["words"] and ["insert", "250"] in changed["words"]
    body = get("officer", f"old={old.id}&new={scan.id}").get_json()
    assert not body["is_comparable"] and body["new"]["status"] == "no_text" and body["rows"] == []
    assert get("partner_b", f"old={old.id}&new={new.id}").status_code == 404
    assert get("officer", f"old={old.id}").status_code == 400
    assert get("officer", f"old={old.id}&new=2147483000").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(DocumentText)) >= 3


def test_the_documents_panel_offers_the_comparison_once_there_are_two_versions(app, world, signed_in, mou):
    officer = world.users["officer"]
    attach(mou, docx_bytes(V1), "a.docx", officer)
    client = signed_in("partner")
    assert "compare-documents" not in client.get(f"/agreements/{mou.id}").get_data(as_text=True)
    attach(mou, odt_bytes(V2), "b.odt", officer)
    assert f'href="/agreements/{mou.id}/compare"' in client.get(f"/agreements/{mou.id}").get_data(as_text=True)


def _pages_sharing_one_long_stream(pages: int = 20, operators: int = 200_000) -> bytes:
    """A few KB of PDF whose every page draws the same stream of empty text operators: no character is
    added, so no text bound is ever reached, and reading it took minutes."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 12 Tf " + b"() Tj " * operators + b"ET")
    contents = writer._add_object(stream.flate_encode())
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    for _ in range(pages):
        page = writer.add_blank_page(200, 200)
        page[NameObject("/Contents")] = contents
        page[NameObject("/Resources")] = resources
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_file_costly_to_read_is_stopped_and_kept_as_too_large(app, world, signed_in, mou):
    """A 6 KB PDF had held a web worker 84 s (and killed it under gunicorn), read again at every try."""
    import time

    officer = world.users["officer"]
    good = attach(mou, plain_pdf("Article 1", "Texte"), "v1.pdf", officer)
    slow = attach(mou, _pages_sharing_one_long_stream(), "v2.pdf", officer)
    seconds = app.config["EXTRACT_SECONDS"]
    app.config["EXTRACT_SECONDS"] = 2
    try:
        started = time.monotonic()
        page = signed_in("officer").get(f"/agreements/{mou.id}/compare?old={good.id}&new={slow.id}")
        assert time.monotonic() - started < 30  # stopped at its bound, not read through
        assert page.status_code == 200 and 'data-status="too_large"' in page.get_data(as_text=True)
    finally:
        app.config["EXTRACT_SECONDS"] = seconds
    cached = db.session.get(DocumentText, slow.stored_file_id)
    assert cached is not None and cached.status == "too_large"  # the next request does not read it again


def test_a_file_that_needs_too_much_memory_to_read_is_too_large(app, tmp_path):
    """A 15 MB DOCX whose style sheet unpacks to 100 MB passed every ZIP bound and took 1.2 GB to open."""
    import zipfile

    plain = BytesIO(docx_bytes([("p", "Paragraphe")]))
    path = tmp_path / "v.docx"
    style = '<w:style w:type="paragraph" w:styleId="S{n}"><w:name w:val="Style {n}"/></w:style>'
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/styles.xml":
                head, _sep, tail = data.decode().rpartition("</w:styles>")
                data = (head + "".join(style.format(n=n) for n in range(300_000)) + "</w:styles>" + tail).encode()
            target.writestr(item, data)
    limit = current_app.config["EXTRACT_MEMORY_MB"]
    current_app.config["EXTRACT_MEMORY_MB"] = 64  # the 300,000 styles need several hundred
    try:
        # Python says "out of memory" as MemoryError (too large); libxml2 as a parse error (unreadable).
        assert extraction.extract(path, extraction.DOCX).status in ("too_large", "unreadable")
    finally:
        current_app.config["EXTRACT_MEMORY_MB"] = limit
    # Within the default memory bound it is read. The clock's bound is the test's to lift: 300,000 styles take a
    # few seconds alone, past EXTRACT_SECONDS on a machine busy with other work (the memory is what is tested).
    seconds = current_app.config["EXTRACT_SECONDS"]
    current_app.config["EXTRACT_SECONDS"] = 600
    try:
        assert extraction.extract(path, extraction.DOCX).status == "ok"
    finally:
        current_app.config["EXTRACT_SECONDS"] = seconds
