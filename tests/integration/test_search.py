"""The top bar's search (#16): Arabic clitics and accents, partners' names, ranked, each result
limited to what the reader may see; the agreements list's search uses the same index."""

from __future__ import annotations

from io import BytesIO

import pytest
from sqlalchemy import select

from app.extensions import db
from app.search.index import rebuild
from app.search.models import SearchEntry
from app.search.services import search
from tests import factories


@pytest.fixture
def portfolio(world):
    mistral = factories.organization(
        "mistral", name_ar="ميسترال للذكاء الاصطناعي", name_fr="Mistral AI", name_en="Mistral AI"
    )
    officer = world.users["officer"]
    ai = factories.agreement(
        by=officer, partners=[mistral], title_fr="Mémorandum d'entente", title_ar="مذكرة تفاهم في مجال الذكاء الاصطناعي"
    )
    lab = factories.agreement(
        by=officer, partners=[mistral], title_fr="Laboratoire commun", title_ar="مختبر مشترك للذكاء الاصطناعي"
    )
    skills = factories.agreement(
        by=officer, partners=[world.partner_a], title_fr="Éducation numérique", title_ar="اتفاقية والذكاء التطبيقي"
    )
    banks = factories.agreement(
        by=officer, partners=[world.partner_b], title_fr="Banque", title_ar="شراكة بالذكاء المالي"
    )
    factories.shown_to_partners(ai, lab, skills, banks)  # drafts their partners were shown
    db.session.commit()
    return {"mistral": mistral, "ai": ai, "lab": lab, "skills": skills, "banks": banks}


def _references(user, query):
    return [r.reference for r in search(user, query) if r.kind == "agreement"]


def test_arabic_clitics_are_handled(app, world, portfolio):
    with app.test_request_context():
        found = set(_references(world.users["officer"], "الذكاء"))
    # "الذكاء" finds "للذكاء", "والذكاء", "بالذكاء" and "الذكاء".
    assert {portfolio[name].reference for name in ("ai", "lab", "skills", "banks")} <= found


def test_organisation_names_find_their_agreements_in_arabic(app, world, portfolio):
    with app.test_request_context():
        results = search(world.users["officer"], "ميسترال")
    kinds = {(r.kind, r.reference or r.label) for r in results}
    assert ("agreement", portfolio["ai"].reference) in kinds and ("agreement", portfolio["lab"].reference) in kinds
    assert ("organization", "Mistral AI") in {(r.kind, r.label) for r in results}
    assert portfolio["skills"].reference not in {r.reference for r in results}


def test_latin_accents_are_folded_and_words_stemmed(app, world, portfolio):
    with app.test_request_context():
        assert portfolio["skills"].reference in _references(world.users["officer"], "education numeriques")
        assert portfolio["skills"].reference in _references(world.users["officer"], "ÉDUCATION")


def test_a_match_in_the_title_ranks_above_one_in_a_partners_name(app, world, portfolio):
    world.partner_a.name_fr = "Laboratoire national"  # partner A's agreement mentions "laboratoire" in its partner
    db.session.commit()
    with app.test_request_context():
        references = _references(world.users["officer"], "laboratoire")
    assert references.index(portfolio["lab"].reference) < references.index(portfolio["skills"].reference)


def test_a_whole_reference_comes_first(app, world, portfolio):
    with app.test_request_context():
        results = search(world.users["officer"], portfolio["banks"].reference)
    assert results[0].reference == portfolio["banks"].reference and results[0].kind == "agreement"


def test_partners_see_only_their_own_results(app, world, portfolio):
    partner_b = world.users["partner_b"]
    with app.test_request_context():
        results = search(partner_b, "الذكاء")
        assert {r.reference for r in results if r.kind == "agreement"} == {portfolio["banks"].reference}
        assert not search(partner_b, "ميسترال")
        assert not search(partner_b, world.agreement_a.reference)
        assert [r.label for r in search(partner_b, "Partenaire") if r.kind == "organization"] == ["Partner B"]


def test_documents_are_found_by_file_name_and_renames_follow(app, world, portfolio):
    from werkzeug.datastructures import FileStorage

    from app.workflow.services import attach_document

    upload = FileStorage(
        BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="annexe-budgétaire.pdf", content_type="application/pdf"
    )
    attach_document(portfolio["ai"], "text_version", upload, by=world.users["officer"])
    db.session.commit()
    with app.test_request_context():
        found = [r for r in search(world.users["officer"], "annexe budgetaire") if r.kind == "document"]
        assert [r.label for r in found] == ["annexe-budgétaire.pdf"]
        assert not search(world.users["partner_b"], "annexe")  # not their agreement
    # An organisation renamed: its agreements are found by the new name.
    portfolio["mistral"].name_ar = "شركة ميسترال"
    db.session.commit()
    with app.test_request_context():
        assert portfolio["ai"].reference in _references(world.users["officer"], "شركة")


def test_an_organisation_renamed_reindexes_its_agreements(app, world, portfolio):
    portfolio["mistral"].name_fr = "Mistral Intelligence"
    db.session.commit()
    with app.test_request_context():
        assert portfolio["lab"].reference in _references(world.users["officer"], "intelligence")


def test_the_page_and_the_agreements_list_answer_arabic_queries(world, portfolio, signed_in):
    officer, partner = signed_in("officer"), signed_in("partner")
    page = officer.get("/search?q=ميسترال").get_data(as_text=True)
    assert portfolio["ai"].reference in page and portfolio["lab"].reference in page
    listed = officer.get("/agreements/?q=بالذكاء").get_data(as_text=True)
    assert portfolio["banks"].reference in listed and portfolio["ai"].reference in listed
    assert portfolio["ai"].reference not in partner.get("/search?q=ميسترال").get_data(as_text=True)
    assert partner.get("/search?q=").status_code == 200
    assert signed_in(None).get("/search?q=x").status_code in (302, 401)
    # Nothing found: what to try next, and a way on.
    nothing = partner.get("/search?q=zzqqxxv").get_data(as_text=True)
    assert "Nothing matches" in nothing and 'href="/agreements/"' in nothing
    assert "Nothing matches" not in page


def test_rebuild_gives_the_same_entries_as_the_listener(app, world, portfolio):
    before = sorted(db.session.execute(select(SearchEntry.kind, SearchEntry.object_id, SearchEntry.terms)).all())
    rebuild(db.session.connection())
    after = sorted(db.session.execute(select(SearchEntry.kind, SearchEntry.object_id, SearchEntry.terms)).all())
    assert before == after and len(after) >= 7


def test_more_results_than_shown_lead_to_the_whole_list(world, signed_in):
    from app.search.services import LIMIT

    officer = world.users["officer"]
    for number in range(LIMIT):
        factories.agreement(by=officer, partners=[world.partner_a], title_fr=f"Convention identique {number}")
    db.session.commit()
    client = signed_in("officer")
    exactly = client.get("/search?q=identique").get_data(as_text=True)
    assert f"{LIMIT} results for" in exactly and "The first" not in exactly
    factories.agreement(by=officer, partners=[world.partner_a], title_fr="Convention identique de plus")
    db.session.commit()
    more = client.get("/search?q=identique").get_data(as_text=True)
    assert f"The first {LIMIT} results for" in more and 'href="/agreements/?q=identique"' in more
    assert f"All {LIMIT + 1} agreements matching it, in the list" in more
    listed = client.get("/agreements/?q=identique").get_data(as_text=True)
    assert f"{LIMIT + 1} agreements" in listed


def test_an_agreements_entry_is_written_again_only_when_what_it_is_made_of_changes(world):
    """A move, a date or a signature flushes the agreement (its version, its state) without changing its entry:
    writing it again on every flush cost an import of signed agreements half its time. A new title still
    reaches the search at once."""
    from sqlalchemy import event

    from app.agreements.models import Agreement

    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Avant")
    db.session.commit()
    written = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO SEARCH_ENTRIES"):
            written.append(statement)

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        agreement.state, agreement.signed_on = "negotiation", None
        agreement.effective_on = agreement.effective_on  # set, unchanged
        db.session.flush()
        assert written == []
        agreement.title_fr = "Après le renommage"
        db.session.flush()
        assert len(written) == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)
    entry = db.session.scalar(
        select(SearchEntry).where(SearchEntry.kind == "agreement", SearchEntry.object_id == agreement.id)
    )
    assert "renommage" in entry.title_terms or "renommag" in entry.title_terms
    assert db.session.get(Agreement, agreement.id).title_fr == "Après le renommage"
