"""Two tabs (or two colleagues) on the same edit form: the later save of a stale form is refused (409), what
its author typed stays in the form, and each field someone changed meanwhile says what it holds now; saved
again, it goes through. Organisations, signing events, plan lines and indicators had no version: each
later save had undone the earlier one's change without a word (an outside probe's lost updates)."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from werkzeug.datastructures import MultiDict

from app.agreements.models import SigningEvent
from app.budget import services as budget
from app.budget.models import BudgetLine
from app.core import clock
from app.deliverables import services as deliverables
from app.deliverables.models import Deliverable
from app.extensions import db
from app.indicators import services as indicators
from app.indicators.models import Indicator
from app.organizations.models import Organization


class _EditForm(HTMLParser):
    """What a browser sends for the page's form that carries `seen`: its fields and chosen options."""

    def __init__(self):
        super().__init__()
        self.forms: list[list[tuple[str, str]]] = []
        self.inside, self.select, self.textarea = False, None, None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.inside = True
            self.forms.append([])
        if not self.inside:
            return
        values = self.forms[-1]
        if tag == "input" and attributes.get("name") and attributes.get("type") not in ("submit", "checkbox", "file"):
            values.append((attributes["name"], attributes.get("value") or ""))
        elif tag == "select":
            self.select = attributes.get("name")
        elif tag == "option" and self.select and "selected" in attributes:
            values.append((self.select, attributes.get("value") or ""))
        elif tag == "textarea":
            self.textarea = attributes.get("name")
            values.append((self.textarea, ""))

    def handle_data(self, data):
        if self.textarea:
            name, value = self.forms[-1][-1]
            self.forms[-1][-1] = (name, value + data.lstrip("\n"))

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def _shown_form(client, path: str) -> MultiDict:
    parser = _EditForm()
    parser.feed(client.get(path).get_data(as_text=True))
    (form,) = [values for values in parser.forms if any(name == "seen" and value for name, value in values)]
    return MultiDict(form)


@pytest.fixture
def plan_line(world):
    line = deliverables.plan_deliverable(
        world.agreement_a,
        deliverables.PlanData(
            title_fr="Rapport trimestriel",
            title_ar=None,
            title_en=None,
            description="Première description",
            responsible_organization_id=world.partner_a.id,
            recurrence="quarterly",
            first_due_on=clock.today() + timedelta(days=30),
            until_on=clock.today() + timedelta(days=400),
        ),
        by=world.users["officer"],
    )
    db.session.commit()
    return line


@pytest.fixture
def indicator(world, plan_line):
    made = indicators.add_indicator(
        plan_line,
        indicators.IndicatorData(
            name_ar=None,
            name_fr="Ateliers",
            name_en=None,
            unit="ateliers",
            baseline="0",
            target="12",
            target_scope="term",
        ),
        by=world.users["officer"],
    )
    db.session.commit()
    return made


@pytest.fixture
def budget_line(world):
    """A line of a draft's budget (a signed agreement's budget changes only by amendment)."""
    from tests import factories

    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Projet")
    line = budget.add_line(
        draft,
        budget.LineData(organization_id=world.partner_a.id, label="Formation", amount="1000", currency="MAD"),
        by=world.users["officer"],
    )
    db.session.commit()
    return line


CASES = {
    # path, (field, first tab's value), (field, second tab's value), model, how to find the record again
    "organisation": (
        lambda w, **_: f"/organizations/{w.partner_a.id}/edit",
        ("contact", "Alice, alice@partner-a.example"),
        ("notes", "Notes of the second tab"),
        lambda w, **_: db.session.get(Organization, w.partner_a.id),
    ),
    "signing event": (
        lambda w, **_: f"/events/{w.event.id}/edit",
        ("description", "Description of the first tab"),
        ("place", "Casablanca, salle 2"),
        lambda w, **_: db.session.get(SigningEvent, w.event.id),
    ),
    "plan line": (
        lambda w, plan_line, **_: f"/agreements/{w.agreement_a.id}/deliverables/{plan_line.id}/edit",
        ("description", "Description of the first tab"),
        ("title_en", "Quarterly report"),
        lambda w, plan_line, **_: db.session.get(Deliverable, plan_line.id),
    ),
    "indicator": (
        lambda w, indicator, **_: f"/agreements/{w.agreement_a.id}/indicators/{indicator.id}/edit",
        ("unit", "sessions"),
        ("target", "999"),
        lambda w, indicator, **_: db.session.get(Indicator, indicator.id),
    ),
    "budget line": (
        lambda w, budget_line, **_: f"/agreements/{budget_line.agreement_id}/budget/{budget_line.id}/edit",
        ("label", "Formation de 40 formateurs"),
        ("period", "2026-2028"),
        lambda w, budget_line, **_: db.session.get(BudgetLine, budget_line.id),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_stale_form_is_refused_keeps_what_was_typed_and_says_what_changed(
    world, signed_in, plan_line, indicator, budget_line, case
):
    path_of, (first_field, first_value), (second_field, second_value), stored = CASES[case]
    context = {"plan_line": plan_line, "indicator": indicator, "budget_line": budget_line}
    path = path_of(world, **context)
    first, second = signed_in("officer"), signed_in("manager")
    first_tab, second_tab = _shown_form(first, path), _shown_form(second, path)

    first_tab[first_field] = first_value
    assert first.http.post(path, data=first_tab).status_code in (302, 303)

    second_tab[second_field] = second_value
    refused = second.http.post(path, data=second_tab)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409, page
    assert "Someone saved this since you opened it" in page
    assert "Someone else changed this meanwhile: it now shows what they saved." in page
    # Told as news under the field, not as a mistake: nothing typed was wrong.
    assert f'id="{first_field}-meanwhile"' in page and "Please correct the errors below" not in page
    assert "is-invalid" not in page
    assert second_value in page  # what the second tab typed is still in the form
    db.session.expire_all()
    record = stored(world, **context)
    assert str(getattr(record, first_field)) == first_value
    assert str(getattr(record, second_field) or "") != second_value

    # Read, and saved again from the form as it came back: both changes are kept.
    parser = _EditForm()
    parser.feed(page)
    (again,) = [values for values in parser.forms if any(name == "seen" for name, _value in values)]
    assert second.http.post(path, data=MultiDict(again)).status_code in (302, 303)
    db.session.expire_all()
    record = stored(world, **context)
    assert str(getattr(record, first_field)) == first_value
    assert str(getattr(record, second_field)).rstrip("0").rstrip(".") == second_value


def test_a_form_without_what_it_showed_saves_as_before(world, signed_in):
    """Scripts that post the form's fields alone (no `seen`) are not refused: the check is the page's."""
    client = signed_in("officer")
    form = _shown_form(client, f"/organizations/{world.partner_a.id}/edit")
    del form["seen"]
    form["notes"] = "Posted by a script"
    assert client.http.post(f"/organizations/{world.partner_a.id}/edit", data=form).status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(Organization, world.partner_a.id).notes == "Posted by a script"


def test_a_field_both_changed_keeps_what_this_tab_typed_and_shows_theirs(world, signed_in):
    path = f"/organizations/{world.partner_a.id}/edit"
    first, second = signed_in("officer"), signed_in("manager")
    first_tab, second_tab = _shown_form(first, path), _shown_form(second, path)
    first_tab["contact"] = "Alice, first tab"
    assert first.http.post(path, data=first_tab).status_code in (302, 303)
    second_tab["contact"] = "Bob, second tab"
    page = second.http.post(path, data=second_tab).get_data(as_text=True)
    assert "Someone else saved this meanwhile: Alice, first tab. Keep what you typed or take theirs." in page
    parser = _EditForm()
    parser.feed(page)
    (again,) = [MultiDict(values) for values in parser.forms if any(name == "seen" for name, _value in values)]
    assert again["contact"] == "Bob, second tab"
    assert second.http.post(path, data=again).status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(Organization, world.partner_a.id).contact == "Bob, second tab"
