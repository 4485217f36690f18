"""Drop-downs that grow with the portfolio (app/choices): the JSON search offers only what the reader may
choose, pages list every choice only while they are few, and a form keeps and checks what was chosen."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.deliverables.models import Deliverable
from app.extensions import db
from tests import factories
from tests.bulk import add_bulk_portfolio, counting_queries
from tests.integration.test_flat_queries import _without_child_loads

LISTED = 3


@pytest.fixture
def few(app, monkeypatch):
    """Past three choices a drop-down lists only the chosen ones (the setting is 60 by default)."""
    monkeypatch.setitem(app.config, "CHOICES_LISTED", LISTED)
    return LISTED


@pytest.fixture
def more_partners(world):
    """Six more partner organisations, one with Arabic and French names."""
    created = [factories.organization(f"extra-{n}") for n in range(5)]
    created.append(
        factories.organization("mistral", name_ar="ميسترال للطاقة", name_fr="Mistral Énergie", acronym="MSE")
    )
    db.session.commit()
    return created


def _results(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["results"]


def _values(response) -> set[int]:
    return {int(item["value"]) for item in _results(response)}


# --- the endpoint ---------------------------------------------------------------------------------


def test_anonymous_gets_a_json_401(client, world):
    response = client.get("/choices/agreements?q=accord")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_an_unknown_kind_is_a_json_404(signed_in):
    response = signed_in("officer").get("/choices/passwords?q=a")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("role", ["officer", "manager", "auditor", "legal", "admin"])
def test_the_ministry_finds_every_agreement_and_organisation(signed_in, world, role):
    client = signed_in(role)
    assert {world.agreement_a.id, world.agreement_b.id} <= _values(client.get("/choices/agreements?q=accord avec"))
    assert _values(client.get("/choices/partners?q=partenaire")) == {world.partner_a.id, world.partner_b.id}
    # The ministry itself is an organisation (co-signatory), never a partner.
    assert world.ministry.id in _values(client.get("/choices/organizations?q=ministere"))
    assert world.ministry.id not in _values(client.get("/choices/partners?q=ministere"))


def test_a_partner_finds_only_their_own_organisations_things(signed_in, world):
    other_event = factories.event("Cérémonie B seulement")
    world.agreement_b.signing_event_id = other_event.id
    db.session.commit()
    client = signed_in("partner")  # partner A
    assert _values(client.get("/choices/agreements?q=accord")) == {world.agreement_a.id}
    assert _values(client.get("/choices/agreements?q=accord avec b")) == set()
    # Asking for the other organisation's ids by number reveals nothing either.
    probe = f"/choices/agreements?ids={world.agreement_b.id},{world.agreement_a.id}"
    assert _values(client.get(probe)) == {world.agreement_a.id}
    assert _values(client.get(f"/choices/organizations?ids={world.partner_b.id}")) == set()
    assert _values(client.get("/choices/organizations?q=partenaire")) == {world.partner_a.id}
    assert _values(client.get("/choices/parties")) == {world.partner_a.id}
    assert _values(client.get("/choices/events", query_string={"q": "Cérémonie"})) == {world.event.id}
    assert _values(client.get("/choices/planned")) <= {world.agreement_a.id}
    # Who may own an agreement is the ministry's business.
    assert client.get("/choices/owners?q=officer").status_code == 403


def test_owners_are_active_people_who_may_own_agreements(signed_in, world):
    found = _values(signed_in("manager").get("/choices/owners?q=officer"))
    assert world.users["officer"].id in found and world.users["other_officer"].id in found
    assert world.users["partner"].id not in _values(signed_in("manager").get("/choices/owners?q=partner"))
    assert signed_in("auditor").get("/choices/owners").status_code == 403


def test_people_and_events_are_found_without_accents_or_diacritics_and_by_their_new_names(signed_in, world):
    """Names as people type them: "helene" finds "Hélène", "ceremonie" a "Cérémonie", an Arabic name without
    its vowel marks; a renamed person or event by the new name only."""
    officer = world.users["officer"]
    officer.full_name = "Hélène Bennani-Smires"
    ceremony = factories.event("Cérémonie des accords d'IA")
    ceremony.name_ar = "حَفْل توقيع الاتفاقيات"
    db.session.commit()
    manager = signed_in("manager")
    for typed in ("helene", "HÉLÈNE benn", "smires", officer.email.split("@")[0]):
        assert officer.id in _values(manager.get("/choices/owners", query_string={"q": typed})), typed
    assert officer.id in _values(manager.get("/choices/agreement-owners", query_string={"q": "helene"}))
    users_page = signed_in("admin").get("/admin/users", query_string={"q": "Helene BENN"}).get_data(as_text=True)
    assert officer.email in users_page and world.users["manager"].email not in users_page
    for typed in ("ceremonie", "accords ia", "حفل توقيع", "الاتفاقيات"):
        assert ceremony.id in _values(manager.get("/choices/events", query_string={"q": typed})), typed
    officer.full_name = "Nadia Alami"
    ceremony.name_fr, ceremony.name_ar = "Signature à Dakhla", None
    db.session.commit()
    assert officer.id not in _values(manager.get("/choices/owners", query_string={"q": "helene"}))
    assert officer.id in _values(manager.get("/choices/owners", query_string={"q": "nadia"}))
    assert ceremony.id not in _values(manager.get("/choices/events", query_string={"q": "ceremonie"}))
    assert ceremony.id in _values(manager.get("/choices/events", query_string={"q": "dakhla"}))


def test_every_language_name_finds_an_organisation(signed_in, world, more_partners):
    client = signed_in("officer")
    mistral = more_partners[-1].id
    for typed in ("ميسترال", "ميستر", "mistral", "energie", "ÉNERGIE", "mse"):
        assert mistral in _values(client.get("/choices/partners", query_string={"q": typed})), typed
    assert world.ministry.id in _values(client.get("/choices/organizations", query_string={"q": "الرقمي"}))


def test_at_most_twenty_matches_in_order(signed_in, world):
    for n in range(25):
        factories.organization(f"many-{n:02d}", name_fr=f"Beaucoup {n:02d}")
    db.session.commit()
    found = _results(signed_in("officer").get("/choices/partners?q=beaucoup"))
    assert len(found) == 20
    assert [item["text"] for item in found] == sorted(item["text"] for item in found)


@pytest.mark.parametrize(
    "query",
    ["' OR 1=1 --", "%", "_", "\\", "accord%' UNION SELECT password FROM users --", "😀 ﷽", "a" * 200, " ", ""],
)
def test_hostile_queries_are_answered_with_matches_or_nothing(signed_in, world, query):
    response = signed_in("partner").get("/choices/agreements", query_string={"q": query})
    found = _values(response)
    assert found <= {world.agreement_a.id}
    if query.strip() and query != "a" * 200:
        assert found == set(), query  # a wildcard typed is a character, not "everything"


@pytest.mark.parametrize(
    "query_string",
    [
        {"q": "a" * 201},
        {"q": "accord\x00"},
        {"ids": "1,x"},
        {"ids": "-1"},
        {"ids": "1" * 11},
        {"ids": ",".join(["1"] * 51)},
        {"exclude": "1;2"},
    ],
)
def test_malformed_parameters_are_a_json_400(signed_in, world, query_string):
    response = signed_in("officer").get("/choices/agreements", query_string=query_string)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_the_search_costs_the_same_queries_at_two_portfolio_sizes(signed_in, world):
    client = signed_in("officer")
    counts = []
    for size, start in ((30, 0), (120, 30)):
        add_bulk_portfolio(world, size - start, start=start)
        client.get("/choices/agreements?q=masse")
        with counting_queries() as statements:
            assert len(_results(client.get("/choices/agreements?q=masse"))) == 20
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 4, counts


# --- pages ----------------------------------------------------------------------------------------


class _Form(HTMLParser):
    """What a browser without JavaScript sends for the page's form `action`: its fields and chosen options."""

    def __init__(self, action: str):
        super().__init__()
        self.action, self.inside, self.select, self.textarea = action, False, None, None
        self.data: list[tuple[str, str]] = []
        self.selects: dict[str, dict] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.inside = (attributes.get("action") or "").endswith(self.action)
        if not self.inside:
            return
        if tag == "input" and attributes.get("name") and attributes.get("type") not in ("submit", "checkbox", "file"):
            self.data.append((attributes["name"], attributes.get("value") or ""))
        elif tag == "select":
            self.select = attributes.get("name")
            self.selects[self.select] = {"attributes": attributes, "options": []}
        elif tag == "option" and self.select:
            self.selects[self.select]["options"].append(attributes.get("value"))
            if "selected" in attributes:
                self.data.append((self.select, attributes.get("value") or ""))
        elif tag == "textarea":
            self.textarea = attributes.get("name")
            self.data.append((self.textarea, ""))

    def handle_data(self, data):
        if self.textarea:
            name, value = self.data[-1]
            self.data[-1] = (name, value + data.lstrip("\n"))

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def _read_form(page: str, action: str) -> _Form:
    form = _Form(action)
    form.feed(page)
    return form


def _multidict(pairs):
    from werkzeug.datastructures import MultiDict

    return MultiDict(pairs)


def test_editing_past_the_limit_keeps_the_parent_partners_and_owner(signed_in, world, few, more_partners):
    officer = world.users["officer"]
    child = factories.agreement(
        by=officer,
        partners=[world.partner_b, more_partners[-1]],
        title_fr="Avenant",
        parent_id=world.agreement_a.id,
        owner_id=officer.id,
    )
    for n in range(LISTED + 2):
        factories.agreement(by=officer, partners=[world.partner_a], title_fr=f"Autre {n}")
    db.session.commit()
    client = signed_in("officer")
    path = f"/agreements/{child.id}/edit"
    page = client.get(path).get_data(as_text=True)
    form = _read_form(page, path)
    parent = form.selects["parent_id"]
    # Only the blank and the stored parent are in the page; the rest comes from the endpoint.
    assert parent["options"] == ["None", str(world.agreement_a.id)]
    assert parent["attributes"]["data-remote"].startswith("/choices/agreements")
    assert sorted(form.selects["partners"]["options"]) == sorted([str(world.partner_b.id), str(more_partners[-1].id)])
    assert "needs JavaScript" in page
    response = client.http.post(path, data=_multidict(form.data))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    db.session.expire_all()
    child = db.session.get(Agreement, child.id)
    assert child.parent_id == world.agreement_a.id and child.owner_id == officer.id
    assert sorted(p.organization_id for p in child.parties) == sorted([world.partner_b.id, more_partners[-1].id])


def test_a_value_found_by_typing_is_accepted_and_one_never_offered_is_refused(signed_in, world, few, more_partners):
    officer = world.users["officer"]
    for n in range(LISTED + 2):
        factories.agreement(by=officer, partners=[world.partner_a], title_fr=f"Autre {n}")
    db.session.commit()
    client = signed_in("officer")
    form = _read_form(client.get("/agreements/new").get_data(as_text=True), "/agreements/new")
    assert form.selects["parent_id"]["options"] == ["None"]
    base = [(name, value) for name, value in form.data if name not in ("parent_id", "partners", "title_fr", "type")]
    base += [("title_fr", "Nouveau"), ("type", "mou")]
    # As Tom Select adds the option found by typing: an id the officer may choose.
    sent = base + [("partners", str(more_partners[-1].id)), ("parent_id", str(world.agreement_b.id))]
    response = client.http.post("/agreements/new", data=_multidict(sent))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    created = db.session.scalar(select(Agreement).where(Agreement.title_fr == "Nouveau"))
    assert created.parent_id == world.agreement_b.id
    # An id that is nobody's, and the home ministry as a partner: refused with the field's error.
    for name, value in (("parent_id", "999999"), ("partners", str(world.ministry.id)), ("owner_id", "999999")):
        sent = [pair for pair in base if pair[0] != name] + [(name, value)]
        if name != "partners":
            sent.append(("partners", str(world.partner_a.id)))
        sent = [pair for pair in sent if pair[0] != "title_fr"] + [("title_fr", f"Refusé {name}")]
        response = client.http.post("/agreements/new", data=_multidict(sent))
        assert response.status_code == 422, (name, response.status_code)
        assert "not a valid choice" in response.get_data(as_text=True).lower(), name
        assert db.session.scalar(select(Agreement).where(Agreement.title_fr == f"Refusé {name}")) is None


def test_a_filter_value_the_reader_may_not_choose_is_flagged_and_ignored(signed_in, world, few, more_partners):
    client = signed_in("partner")  # partner A
    for path in (
        f"/deliverables/?agreement={world.agreement_b.id}",
        f"/deliverables/?partner={world.partner_b.id}",
        f"/portfolio/board?partner={world.partner_b.id}",
        f"/portfolio/board?owner={world.users['admin'].id}",
    ):
        page = client.get(path, follow_redirects=True).get_data(as_text=True)
        assert "Some filters were not valid and were ignored." in page, path
    officer = signed_in("officer")
    page = officer.get(f"/agreements/?partner={more_partners[-1].id}").get_data(as_text=True)
    assert "Some filters were not valid" not in page
    assert re.search(rf'<option [^>]*selected value="{more_partners[-1].id}"', page)


FORM_PAGES = [
    ("officer", "/agreements/new"),
    ("officer", "/agreements/{a}/edit"),
    ("officer", "/agreements/?partner={p}"),
    ("officer", "/deliverables/?agreement={d}"),
    ("manager", "/deliverables/?partner={p}"),
    ("manager", "/portfolio/board?partner={p}&owner={o}"),
    ("partner", "/deliverables/"),
    ("partner", "/portfolio/board"),
]


def _selects(page: str) -> list[str]:
    return re.findall(r"<select.*?</select>", page, re.S)


@pytest.mark.parametrize(("role", "template"), FORM_PAGES, ids=[f"{r}:{t}" for r, t in FORM_PAGES])
def test_form_pages_stay_the_same_size_past_the_limit(
    app, monkeypatch, signed_in, world, more_partners, role, template
):
    """Past the limit, a page's queries and its drop-downs' options and size do not grow with the portfolio."""
    # One: a partner's own few agreements with a plan, and their owners, are past it at both sizes too.
    monkeypatch.setitem(app.config, "CHOICES_LISTED", 1)
    client = signed_in(role)
    measures = []
    for size, start in ((60, 0), (150, 60)):
        add_bulk_portfolio(world, size - start, start=start)
        for n in range(size // 10):  # organisations grow too
            factories.organization(f"grown-{start}-{n}")
        db.session.commit()
        planned = db.session.scalar(select(func.min(Deliverable.agreement_id)))
        path = template.format(a=world.agreement_a.id, d=planned, p=world.partner_a.id, o=world.users["officer"].id)
        client.get(path)
        with counting_queries() as statements:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        selects = _selects(response.get_data(as_text=True))
        assert "Some filters were not valid" not in response.get_data(as_text=True)
        # The shown rows' own children (frozen definitions, hand-ins) aside, as in test_flat_queries.
        measures.append(
            (len(_without_child_loads(statements)), sum(s.count("<option") for s in selects), sum(map(len, selects)))
        )
    assert measures[0] == measures[1], measures


def test_an_account_form_past_the_limit_keeps_the_organisation(signed_in, world, few, more_partners):
    partner = world.users["partner"]
    client = signed_in("admin")
    path = f"/admin/users/{partner.id}/edit"
    form = _read_form(client.get(path).get_data(as_text=True), path)
    assert form.selects["organization_id"]["options"] == ["None", str(world.partner_a.id)]
    assert form.selects["organization_id"]["attributes"]["data-remote"] == "/choices/organizations"
    sent = [pair for pair in form.data if pair[0] != "organization_id"] + [
        ("organization_id", str(more_partners[0].id))
    ]
    response = client.http.post(path, data=_multidict(sent))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert db.session.get(type(partner), partner.id).organization_id == more_partners[0].id
