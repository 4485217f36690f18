import re
from datetime import date

import pytest
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.core import clock
from app.core.audit import AuditEvent
from app.extensions import db
from app.workflow.models import StageVisit
from tests import factories


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def _form(world, **overrides):
    data = {
        "type": "mou",
        "title_fr": "Protocole de test",
        "title_ar": "مذكرة تفاهم تجريبية",
        "partners": [str(world.partner_a.id)],
        "owner_id": str(world.users["officer"].id),
        "signed_on": "2026-02-01",
        "effective_on": "2026-02-15",
        "expires_on": "2029-02-15",
    }
    data.update(overrides)
    return data


def test_officer_creates_an_agreement_with_a_generated_reference(app, world, signed_in):
    client = signed_in("officer")
    response = client.post("/agreements/new", data=_form(world))
    assert response.status_code == 302, response.get_data(as_text=True)
    agreement = db.session.scalar(select(Agreement).where(Agreement.title_fr == "Protocole de test"))
    assert agreement.reference.startswith(f"MTNRA-{clock.today().year}-")
    assert agreement.state == "draft" and agreement.owner_id == world.users["officer"].id
    assert [p.organization_id for p in agreement.parties] == [world.partner_a.id]
    created = db.session.scalar(
        select(AuditEvent).where(AuditEvent.object_id == agreement.id, AuditEvent.object_type == "agreements")
    )
    assert created.action == "created" and created.actor_id == world.users["officer"].id
    page = client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert agreement.reference in page and "مذكرة تفاهم تجريبية" in page


def test_references_are_sequential_and_unique(app, world):
    officer = world.users["officer"]
    first = factories.agreement(by=officer, partners=[world.partner_a])
    second = factories.agreement(by=officer, partners=[world.partner_a])
    assert int(second.reference.rsplit("-", 1)[1]) == int(first.reference.rsplit("-", 1)[1]) + 1


@pytest.mark.parametrize(
    "overrides, field_message",
    [
        ({"title_fr": "", "title_ar": ""}, "at least one language"),
        ({"partners": []}, "at least one partner"),
        ({"effective_on": "2026-01-01"}, "cannot be before the signature"),
        ({"expires_on": "2026-02-10"}, "must come after"),
        ({"signed_on": "31/02/2026"}, "Not a valid date"),
        ({"signed_on": "9999-99-99"}, "Not a valid date"),
        ({"type": "treaty"}, "Not a valid choice"),
        ({"partners": ["999999"]}, "valid choice"),
        ({"partners": ["abc"]}, "valid choice"),
        ({"owner_id": "999999"}, "Not a valid choice"),
        ({"owner_id": "abc"}, "Not a valid choice"),
        ({"parent_id": "99999999999999999999999"}, "Not a valid choice"),
        ({"title_fr": "x" * 501}, "500"),
        ({"summary_fr": "y" * 20001}, "20000"),
        ({"witnesses": ["PARTNER"]}, "only one role"),
        ({"signed_on": "1800-01-01", "effective_on": "", "expires_on": ""}, "out of range"),
    ],
)
def test_bad_input_is_a_form_error_and_nothing_is_written(app, world, signed_in, overrides, field_message):
    client = signed_in("officer")
    if overrides.get("witnesses") == ["PARTNER"]:
        overrides["witnesses"] = [str(world.partner_a.id)]
    before_agreements, before_audit = _count(Agreement), _count(AuditEvent)
    response = client.post("/agreements/new", data=_form(world, **overrides))
    assert response.status_code == 422
    assert field_message in response.get_data(as_text=True)
    assert _count(Agreement) == before_agreements and _count(AuditEvent) == before_audit


@pytest.mark.parametrize("language", ["ar", "fr", "en"])
def test_a_title_missing_in_every_language_is_shown_under_the_first_title_field(app, world, signed_in, language):
    """The form shows the reader's language first: that field carries the error (not always the French one)."""
    client = signed_in("officer")
    client.post("/language", data={"language": language})
    response = client.post("/agreements/new", data=_form(world, title_ar="", title_fr="", title_en=""))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    invalid = set(re.findall(r'<input[^>]*class="[^"]*is-invalid[^"]*"[^>]*id="(title_\w+)"', page))
    invalid |= set(re.findall(r'<input[^>]*id="(title_\w+)"[^>]*class="[^"]*is-invalid', page))
    assert invalid == {f"title_{language}"}


def test_garbage_bytes_and_nul_characters_do_not_break_the_form(app, world, signed_in):
    client = signed_in("officer")
    response = client.post("/agreements/new", data=_form(world, title_fr="A\x00B\u202e", summary_fr="\x00" * 10))
    assert response.status_code in (302, 422)


def test_editing_writes_a_diff_to_the_history(app, world, signed_in):
    client = signed_in("officer")
    agreement = world.agreement_a
    version_before = agreement.version
    data = _form(
        world,
        title_fr="Nouveau titre",
        version=str(agreement.version),
        signed_on="2025-07-01",
        effective_on="",
        expires_on="",
    )
    response = client.post(f"/agreements/{agreement.id}/edit", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(agreement)
    assert agreement.title_fr == "Nouveau titre" and agreement.version == version_before + 1
    updated = db.session.scalar(
        select(AuditEvent).where(AuditEvent.object_id == agreement.id, AuditEvent.action == "updated")
    )
    assert updated.changes["before"]["title_fr"] == "Accord avec A"
    assert updated.changes["after"]["title_fr"] == "Nouveau titre"
    page = client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Nouveau titre" in page and "Accord avec A" in page  # history shows before and after


def test_the_history_names_renewal_terms_in_words(app, world, signed_in):
    """A recorded renewal term reads as the form says it ("Renewal: Tacit renewal unless notice is given"),
    not as the column and its code ("renewal_terms | none")."""
    from app.core import audit

    agreement = world.agreement_a
    audit.record(
        "updated",
        agreement,
        actor=world.users["officer"],
        changes={
            "before": {"renewal_terms": "none", "notice_unit": "months"},
            "after": {"renewal_terms": "tacit", "notice_unit": "days"},
        },
    )
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "No renewal" in page and "Tacit renewal unless notice is given" in page and "Notice period in" in page
    assert "renewal_terms" not in page and ">tacit<" not in page


def test_a_stale_edit_is_refused_and_changes_nothing(app, world, signed_in):
    agreement = world.agreement_a
    stale_version = agreement.version
    first = signed_in("officer")
    second = signed_in("manager")
    ok = first.post(
        f"/agreements/{agreement.id}/edit",
        data=_form(
            world,
            title_fr="Version 1",
            version=str(stale_version),
            effective_on="",
            expires_on="",
            signed_on="2025-07-01",
        ),
    )
    assert ok.status_code == 302
    late = second.post(
        f"/agreements/{agreement.id}/edit",
        data=_form(
            world,
            title_fr="Version 2",
            version=str(stale_version),
            effective_on="",
            expires_on="",
            signed_on="2025-07-01",
        ),
    )
    # Refused on the form itself (409), with what the second person typed: sent to a fresh form, they had
    # lost their edits. Their title is kept; they see the other's under it, and the form is now current.
    assert late.status_code == 409
    page = late.get_data(as_text=True)
    assert "has changed since you opened it" in page and 'value="Version 2"' in page
    assert f'name="version" type="hidden" value="{stale_version}"' not in page
    db.session.refresh(agreement)
    assert agreement.title_fr == "Version 1"


def test_two_editors_of_one_agreement_keep_both_changes(app, world, signed_in):
    """The later of two forms opened at once is refused, comes back with its own change and takes in the
    other's (a field it left alone), and goes through when saved again: both changes are kept."""
    from werkzeug.datastructures import MultiDict

    agreement = world.agreement_a
    first, second = signed_in("officer"), signed_in("manager")
    path = f"/agreements/{agreement.id}/edit"
    first_form = MultiDict(_submitted_values(first.get(path).get_data(as_text=True)))
    second_form = MultiDict(_submitted_values(second.get(path).get_data(as_text=True)))
    first_form["notes"] = "Notes of the first"
    assert first.http.post(path, data=first_form).status_code == 302
    second_form["title_en"] = "Title of the second"
    late = second.http.post(path, data=second_form)
    page = late.get_data(as_text=True)
    assert late.status_code == 409 and "Someone else changed this meanwhile" in page
    again = MultiDict(_submitted_values(page))
    # A browser drops the newline that opens a text area's content.
    assert again["title_en"] == "Title of the second" and again["notes"].lstrip("\r\n") == "Notes of the first"
    assert second.http.post(path, data=again).status_code == 302
    db.session.refresh(agreement)
    assert (agreement.notes, agreement.title_en) == ("Notes of the first", "Title of the second")


def test_an_agreement_cannot_become_its_own_ancestor(app, world, signed_in):
    officer = world.users["officer"]
    child = factories.agreement(by=officer, partners=[world.partner_a], parent_id=world.agreement_a.id)
    db.session.commit()
    client = signed_in("officer")
    response = client.post(
        f"/agreements/{world.agreement_a.id}/edit",
        data=_form(
            world,
            parent_id=str(child.id),
            version=str(world.agreement_a.version),
            signed_on="2025-07-01",
            effective_on="",
            expires_on="",
        ),
    )
    assert response.status_code == 422
    assert "own parent" in response.get_data(as_text=True)
    # The child's page names its parent, in the relations and in the history.
    page = client.get(f"/agreements/{child.id}").get_data(as_text=True)
    assert page.count(world.agreement_a.reference) >= 2


def test_partner_list_shows_only_their_organisations_agreements(app, world, signed_in):
    page = signed_in("partner").get("/agreements/").get_data(as_text=True)
    assert world.agreement_a.reference in page
    assert world.agreement_b.reference not in page
    # Filtering by the other partner reveals nothing either.
    page = signed_in("partner").get(f"/agreements/?partner={world.partner_b.id}").get_data(as_text=True)
    assert world.agreement_b.reference not in page


def test_a_partner_sees_the_other_parties_names_without_links_to_their_pages(app, world, signed_in):
    """Partner B is a co-party of partner A's agreement: partner A reads its name, and only their own
    organisation's name is a link (the other's page answers 404 to them); the ministry's staff get both links."""
    both = factories.agreement(by=world.users["officer"], partners=[world.partner_a, world.partner_b])
    factories.shown_to_partners(both)
    db.session.commit()
    other_page = f'href="/organizations/{world.partner_b.id}"'
    own_page = f'href="/organizations/{world.partner_a.id}"'
    page = signed_in("partner").get(f"/agreements/{both.id}").get_data(as_text=True)
    assert world.partner_b.name in page and other_page not in page and own_page in page
    assert signed_in("partner").get(f"/organizations/{world.partner_b.id}").status_code == 404
    page = signed_in("officer").get(f"/agreements/{both.id}").get_data(as_text=True)
    assert other_page in page and own_page in page


def test_search_folds_accents_and_arabic_variants(app, world, signed_in):
    officer = world.users["officer"]
    arabic_only = factories.agreement(by=officer, partners=[world.partner_a], title_fr=None, title_ar="إصلاح الإدارة")
    factories.agreement(by=officer, partners=[world.partner_a], title_fr="Éducation numérique")
    db.session.commit()
    client = signed_in("officer")
    assert "Éducation numérique" in client.get("/agreements/?q=education").get_data(as_text=True)
    found = client.get("/agreements/?q=اصلاح الادارة").get_data(as_text=True)
    assert arabic_only.reference in found and "إصلاح الإدارة" in found
    assert "Éducation numérique" not in found
    assert "Éducation numérique" not in client.get("/agreements/?q=zzz").get_data(as_text=True)
    assert client.get("/agreements/?q=%25%25_").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "state=nonsense",
        "type=' OR 1=1 --",
        "partner=abc",
        "year=abc",
        "year=99999999999999999999",
        "page=-1",
        "page=abc",
        "page=99999999999999999999",
        "q=" + "x" * 5000,
        "partner=999999",
        "partner=%20",
        "year=%20",
        "year=%09%20",
        "type=%20",
    ],
)
def test_strange_filters_never_fail(app, world, signed_in, query):
    client = signed_in("officer")
    assert client.get(f"/agreements/?{query}").status_code == 200
    assert client.get(f"/agreements/export.csv?{query}").status_code == 200
    # The deliverables list's filters alike (a choice sent as spaces is no choice).
    narrowed = query.replace("year=", "agreement=").replace("type=", "status=")
    assert client.get(f"/deliverables/?{narrowed}").status_code == 200
    assert client.get(f"/deliverables/export.csv?{narrowed}").status_code == 200


def test_filters_narrow_the_list(app, world, signed_in):
    officer = world.users["officer"]
    factories.agreement(by=officer, partners=[world.partner_b], title_fr="Brouillon B", state="draft")
    db.session.commit()
    client = signed_in("officer")
    drafts = client.get("/agreements/?state=draft").get_data(as_text=True)
    assert "Brouillon B" in drafts and world.agreement_a.reference not in drafts
    by_partner = client.get(f"/agreements/?partner={world.partner_a.id}").get_data(as_text=True)
    assert world.agreement_a.reference in by_partner and world.agreement_b.reference not in by_partner
    by_year = client.get("/agreements/?year=2025").get_data(as_text=True)
    assert world.agreement_a.reference in by_year and "Brouillon B" not in by_year


def test_pagination(app, world, signed_in):
    officer = world.users["officer"]
    for number in range(app.config["PER_PAGE"] + 3):
        factories.agreement(by=officer, partners=[world.partner_a], title_fr=f"Accord en série {number}")
    db.session.commit()
    client = signed_in("officer")
    first = client.get("/agreements/?q=en serie").get_data(as_text=True)
    second = client.get("/agreements/?q=en serie&page=2").get_data(as_text=True)
    assert first.count("Accord en série") == app.config["PER_PAGE"]
    assert second.count("Accord en série") == 3
    # Past the end (an old bookmark, a list that shrank): its last page, not an empty one.
    beyond = client.get("/agreements/?q=en serie&page=7").get_data(as_text=True)
    assert beyond.count("Accord en série") == 3 and "This page is empty." not in beyond


def test_long_lists_are_counted_up_to_a_ceiling(app, world, signed_in, monkeypatch):
    """Past pagination.COUNTED_UP_TO rows a list says "more than" instead of counting them all; its pages
    go as far as the counted rows, and a filtered list that fits is counted exactly."""
    from app.core import pagination

    officer = world.users["officer"]
    for number in range(7):
        factories.agreement(by=officer, partners=[world.partner_a], title_fr=f"Accord compté {number}")
    db.session.commit()
    monkeypatch.setattr(pagination, "COUNTED_UP_TO", 5)
    monkeypatch.setitem(app.config, "PER_PAGE", 2)
    client = signed_in("officer")
    capped = client.get("/agreements/?q=compte").get_data(as_text=True)
    assert "More than 5 agreements" in capped and "Showing 1–2 of more than 5" in capped
    assert 'href="/agreements/?q=compte&amp;page=3"' in capped and "page=4" not in capped
    assert "Accord compté" in client.get("/agreements/?q=compte&page=3").get_data(as_text=True)
    exact = client.get("/agreements/?q=compte+3").get_data(as_text=True)
    assert "More than" not in exact and "1 agreement" in exact
    client.post("/language", data={"language": "fr", "next": "/agreements/"})
    french = client.get("/agreements/?q=compte").get_data(as_text=True)
    assert "Plus de 5\u00a0accords" in french and "sur plus de 5" in french


def test_partner_does_not_see_internal_notes_or_history(app, world, signed_in):
    world.agreement_a.notes = "Internal: negotiation margin"
    db.session.commit()
    partner_page = signed_in("partner").get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    officer_page = signed_in("officer").get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    assert "negotiation margin" in officer_page
    assert "negotiation margin" not in partner_page


def test_a_draft_cancelled_before_it_was_shown_stays_the_ministrys(app, world, signed_in):
    """Partners see an agreement once it leaves the ministry's internal stages. Cancelled straight from the
    draft, it never left them: its partners still find nothing of it (an outside probe read a cancelled
    draft's budget floor as its partner). One cancelled after it was shown stays shown."""
    from app.notifications.models import Notification
    from app.workflow import engine

    manager, partner_user = world.users["manager"], world.users["partner"]
    never_shown = factories.agreement(by=manager, partners=[world.partner_a], title_fr="Brouillon abandonné")
    shown = factories.agreement(by=manager, partners=[world.partner_a], title_fr="Négocié puis abandonné")
    factories.shown_to_partners(shown)
    db.session.commit()
    for agreement in (never_shown, shown):
        db.session.refresh(agreement)
        engine.take(agreement, "cancel", by=manager, comment="Abandonné", expected_version=agreement.version)
        db.session.commit()
        assert agreement.state == "cancelled"
    assert never_shown.shared_at is None and shown.shared_at is not None
    partner = signed_in("partner")
    assert partner.get(f"/agreements/{never_shown.id}").status_code == 404
    assert partner.get(f"/agreements/{shown.id}").status_code == 200
    listed = partner.get("/agreements/?state=cancelled").get_data(as_text=True)
    assert "Brouillon abandonné" not in listed and "Négocié puis abandonné" in listed
    told = db.session.scalars(select(Notification.object_id).where(Notification.user_id == partner_user.id)).all()
    assert never_shown.id not in told


def test_json_clients_get_json_errors(app, world, signed_in):
    client = signed_in("partner")
    response = client.get(f"/agreements/{world.agreement_b.id}", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 404


def test_signed_terms_change_only_through_the_workflow(app, world, signed_in):
    agreement = world.agreement_a  # active, signed 2025-07-01
    client = signed_in("officer")
    page = f"/agreements/{agreement.id}/edit"
    response = client.post(
        page, data=_form(world, version=str(agreement.version), signed_on="2025-07-05", effective_on="", expires_on="")
    )
    assert response.status_code == 422
    assert "only through the workflow or an amendment" in response.get_data(as_text=True)
    db.session.refresh(agreement)
    assert agreement.signed_on == date(2025, 7, 1)
    # Titles and summaries stay editable (typos, translations).
    ok = client.post(
        page,
        data=_form(
            world,
            version=str(agreement.version),
            signed_on="2025-07-01",
            effective_on="",
            expires_on="",
            title_en="Agreement with A",
        ),
    )
    assert ok.status_code == 302


def test_a_draft_can_change_type_and_then_runs_on_that_workflow(app, world, signed_in):
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Brouillon")
    db.session.commit()
    response = signed_in("officer").post(
        f"/agreements/{draft.id}/edit",
        data=_form(
            world,
            type="convention",
            title_fr="Brouillon",
            version=str(draft.version),
            signed_on="",
            effective_on="",
            expires_on="",
        ),
    )
    assert response.status_code == 302
    db.session.refresh(draft)
    assert draft.type == "convention" and draft.workflow_version.type == "convention"
    # Its stays count under its new type in stage analytics (each stay carries its agreement's type).
    stays = db.session.scalars(select(StageVisit.agreement_type).where(StageVisit.agreement_id == draft.id)).all()
    assert stays == ["convention"]


def _submitted_values(page: str) -> list[tuple[str, str]]:
    """What a browser sends for the page's edit form: named inputs (checked boxes only), selected options,
    text areas."""
    from html.parser import HTMLParser

    class Form(HTMLParser):
        def __init__(self):
            super().__init__()
            self.values, self.select, self.textarea = [], None, None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "input" and a.get("name") and "disabled" not in a:
                if a.get("type") not in ("checkbox", "radio", "submit") or "checked" in a:
                    self.values.append((a["name"], a.get("value") or ""))
            elif tag == "select" and "disabled" not in a:
                self.select = a.get("name")
            elif tag == "option" and self.select and "selected" in a:
                self.values.append((self.select, a.get("value") or ""))
            elif tag == "textarea":
                self.textarea = [a.get("name"), ""]

        def handle_endtag(self, tag):
            if tag == "select":
                self.select = None
            elif tag == "textarea" and self.textarea:
                self.values.append(tuple(self.textarea))
                self.textarea = None

        def handle_data(self, data):
            if self.textarea:
                self.textarea[1] += data

    form_html = page.split('<form method="post" action="/agreements/')[1].split("</form>")[0]
    parser = Form()
    parser.feed(form_html)
    return parser.values


def test_a_signed_agreements_form_shows_its_signed_terms_as_read_and_saves_the_rest(app, world, signed_in):
    """In force, the edit form offered the signed terms as inputs and refused them only after Save (422);
    they are shown as read, sent back unchanged, and the rest saves."""
    from werkzeug.datastructures import MultiDict

    agreement = world.agreement_a  # active
    officer = signed_in("officer")
    page = officer.get(f"/agreements/{agreement.id}/edit").get_data(as_text=True)
    for name in ("type", "signed_on", "effective_on", "expires_on", "partners", "renewal_terms"):
        assert f'data-locked="{name}"' in page and f'id="{name}"' not in page, name
    assert "Partner A" in page.split('data-locked="partners"')[1].split("</div>\n</div>")[0]
    values = MultiDict(_submitted_values(page))
    values["summary_fr"] = "Résumé revu"
    response = officer.http.post(f"/agreements/{agreement.id}/edit", data=values)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.refresh(agreement)
    assert agreement.summary_fr == "Résumé revu" and agreement.signed_on == date(2025, 7, 1)
    assert [p.organization_id for p in agreement.parties] == [world.partner_a.id]
    # A draft's form keeps every input.
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    db.session.commit()
    assert "data-locked" not in officer.get(f"/agreements/{draft.id}/edit").get_data(as_text=True)


def test_the_new_agreement_form_says_what_leaving_the_draft_needs(world, signed_in):
    """An MoU (and the types that extend its workflow) goes to internal review with its French title
    (workflows/mou.yaml): the form says so before an officer writing only in Arabic saves one, in their
    language, once for the types that all need it."""
    world.users["officer"].language = "ar"
    db.session.commit()
    page = signed_in("officer").get("/agreements/new").get_data(as_text=True)
    needs = re.findall(r"<p[^>]*data-draft-needs>(.*?)</p>", page, re.S)
    assert len(needs) == 1, needs
    assert "بالفرنسية" in needs[0] and "إحالة على المراجعة الداخلية" in needs[0]


def test_the_list_is_newest_first_past_the_999th_agreement_of_a_year(world, signed_in):
    """References compare as text: "MTNRA-2026-999" came before "MTNRA-2026-1000" made after it."""
    older = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Ancien")
    newer = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Nouveau")
    older.reference, newer.reference = "TEST-2026-999", "TEST-2026-1000"
    db.session.commit()
    page = signed_in("officer").get("/agreements/").get_data(as_text=True)
    assert page.index("TEST-2026-1000") < page.index("TEST-2026-999")
