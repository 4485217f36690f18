""" "Amend" on an agreement's page: offered among its actions to those who may create agreements, only while
the agreement may take an amendment (the rule its parent is checked by when saved); it opens the new-agreement
form with the type, the parent and the parent's parties chosen, and the save still checks the parent."""

import html as html_module
import re

import pytest
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.core import permissions
from app.extensions import db
from tests import factories


def _amend_link(html: str) -> str | None:
    found = re.search(r"<a\b[^>]*\bdata-amend\b[^>]*>", html)
    if found is None:
        return None
    return re.search(r'href="([^"]+)"', found.group(0)).group(1).replace("&amp;", "&")


@pytest.mark.parametrize(
    ("role", "offered"),
    [
        ("officer", True),
        ("other_officer", True),  # not its owner: any editor may draft an amendment, as on the new-agreement form
        ("manager", True),
        ("admin", True),
        ("legal", False),
        ("auditor", False),
        ("partner", False),
    ],
)
def test_amend_is_offered_on_an_active_agreement_to_those_who_create_agreements(signed_in, world, role, offered):
    agreement = world.agreement_a
    factories.shown_to_partners(agreement)
    db.session.commit()
    response = signed_in(role).get(f"/agreements/{agreement.id}")
    assert response.status_code == 200
    link = _amend_link(response.get_data(as_text=True))
    if offered:
        assert link == f"/agreements/new?type=amendment&parent_id={agreement.id}"
    else:
        assert link is None


@pytest.mark.parametrize("state", ["draft", "internal_review", "negotiation", "signature", "terminated", "expired"])
def test_amend_is_not_offered_where_the_rule_refuses_an_amendment(signed_in, world, state):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], state=state)
    db.session.commit()
    for role in ("officer", "manager"):
        html = signed_in(role).get(f"/agreements/{agreement.id}").get_data(as_text=True)
        assert _amend_link(html) is None, (state, role)


def test_amend_is_offered_on_a_signed_or_suspended_agreement_not_on_an_amendment(signed_in, world):
    officer = world.users["officer"]
    signed = factories.agreement(by=officer, partners=[world.partner_a], state="signed")
    suspended = factories.agreement(by=officer, partners=[world.partner_a], state="suspended")
    amendment = factories.amendment(world.agreement_a, officer, partners=[world.partner_a])
    amendment.state = "active"
    db.session.commit()
    client = signed_in("officer")
    for agreement, offered in ((signed, True), (suspended, True), (amendment, False)):
        html = client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
        assert (_amend_link(html) is not None) is offered, agreement.state


def _chosen(html: str, name: str) -> set[str]:
    """The values chosen in the form's <select name=…>."""
    select_ = re.search(rf'<select[^>]*name="{name}".*?</select>', html, re.S).group(0)
    return set(re.findall(r'<option[^>]*\bselected value="([^"]*)"', select_))


def test_the_link_opens_the_form_with_type_parent_and_parties_chosen(signed_in, world):
    agreement = world.agreement_a
    html = signed_in("officer").get(f"/agreements/new?type=amendment&parent_id={agreement.id}").get_data(as_text=True)
    assert _chosen(html, "type") == {"amendment"}
    assert _chosen(html, "parent_id") == {str(agreement.id)}
    assert _chosen(html, "partners") == {str(world.partner_a.id)}


def test_saving_the_form_opened_by_amend_makes_the_amendment(signed_in, world):
    agreement = world.agreement_a
    client = signed_in("officer")
    link = f"/agreements/new?type=amendment&parent_id={agreement.id}"
    response = client.post(
        "/agreements/new",
        data={
            "type": "amendment",
            "title_fr": "Avenant n° 1",
            "partners": [str(world.partner_a.id)],
            "parent_id": str(agreement.id),
        },
        csrf_from=link,
    )
    assert response.status_code == 302
    made = db.session.scalar(select(Agreement).where(Agreement.parent_id == agreement.id))
    assert made.type == "amendment" and made.state == "draft"


def _warnings(html: str) -> list[str]:
    """The flashed warnings' texts."""
    found = re.findall(r'<div class="alert alert-warning[^"]*"[^>]*>(.*?)</div>', html, re.S)
    return [" ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", text)).split()) for text in found]


def test_a_link_naming_a_parent_the_rule_refuses_says_why_on_opening(signed_in, world):
    """A link naming an agreement that may not be amended (a draft, an ended one), or naming none (an id that
    does not exist, or garbage), opens the form saying why at once, in the words the save would refuse it with,
    and chooses no parent; the save still checks it, nothing stored."""
    officer = world.users["officer"]
    draft = factories.agreement(by=officer, partners=[world.partner_a], state="draft")
    ended = factories.agreement(by=officer, partners=[world.partner_a], state="terminated")
    db.session.commit()
    client = signed_in("officer")
    expected = {
        draft.id: f"{draft.reference} is not signed (Draft): only a signed agreement is amended; until then, edit it.",
        ended.id: f"{ended.reference} has ended (Terminated): an agreement cannot be placed under it.",
        999999999: "Unknown parent agreement.",
        "abc": "Unknown parent agreement.",
    }
    for parent_id, reason in expected.items():
        response = client.get(f"/agreements/new?type=amendment&parent_id={parent_id}")
        assert response.status_code == 200, parent_id
        html = response.get_data(as_text=True)
        (warning,) = _warnings(html)
        assert warning.startswith("The link's parent agreement is not chosen:"), warning
        assert reason in warning, (parent_id, warning)
        assert _chosen(html, "parent_id") == {"None"}, parent_id  # the blank: no parent
        assert _chosen(html, "type") == {"amendment"}
    # A parent the rule takes is chosen, with no warning.
    html = client.get(f"/agreements/new?type=amendment&parent_id={world.agreement_a.id}").get_data(as_text=True)
    assert _warnings(html) == [] and _chosen(html, "parent_id") == {str(world.agreement_a.id)}
    link = f"/agreements/new?type=amendment&parent_id={draft.id}"
    before = db.session.scalar(select(func.count(Agreement.id)))
    response = client.post(
        "/agreements/new",
        data={"type": "amendment", "title_fr": "Avenant", "partners": [str(world.partner_a.id)], "parent_id": draft.id},
        csrf_from=link,
    )
    assert response.status_code == 422
    assert "only a signed agreement is amended" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Agreement.id))) == before
    partner = signed_in("partner")
    assert partner.get(f"/agreements/new?type=amendment&parent_id={world.agreement_a.id}").status_code == 403


def test_a_link_naming_an_unseen_parent_reads_as_one_naming_none(signed_in, world, monkeypatch):
    """Only ministry roles create agreements today, and they see all of them; granted the right, a partner
    would read an agreement hidden from them as one that does not exist (the visibility rule)."""
    monkeypatch.setitem(
        permissions.GRANTS, "agreement.create", permissions.GRANTS["agreement.create"] | {permissions.PARTNER}
    )
    factories.shown_to_partners(world.agreement_a, world.agreement_b)
    db.session.commit()
    client = signed_in("partner")  # partner A's: agreement B is not theirs
    unseen = client.get(f"/agreements/new?type=amendment&parent_id={world.agreement_b.id}")
    missing = client.get("/agreements/new?type=amendment&parent_id=999999999")
    assert unseen.status_code == missing.status_code == 200
    assert _warnings(unseen.get_data(as_text=True)) == _warnings(missing.get_data(as_text=True))
    assert _chosen(unseen.get_data(as_text=True), "parent_id") == {"None"}
