"""Retiring an organisation (dissolved, merged, entered twice): only an admin, never the ministry's own, never
while it is a party to an agreement that has not ended; its accounts stop and its invitations are withdrawn;
it keeps its history but is never chosen again, by a page, a drop-down's search or the API, until an admin
reinstates it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from app.api.tokens import create_token
from app.auth import invitations
from app.auth.models import Invitation, User
from app.core.audit import AuditEvent
from app.extensions import db
from app.organizations.models import Organization
from tests import factories
from tests.conftest import SignedInClient


def _fresh(model, object_id):
    db.session.expire_all()
    return db.session.get(model, object_id)


@pytest.fixture
def gone(world):
    """Partner C: one expired agreement, an account and a waiting invitation."""
    partner_c = factories.organization("partner-c", name_fr="Partenaire C", name_en="Partner C")
    officer = world.users["officer"]
    ended = factories.agreement(
        by=officer, partners=[partner_c], title_fr="Accord fini avec C", signed_on=date(2024, 1, 10), state="expired"
    )
    member = factories.user("partner", partner_c, email="someone@partner-c.example")
    invitations.invite(
        email="newcomer@partner-c.example",
        role="partner",
        organization=partner_c,
        language="fr",
        by=world.users["admin"],
    )
    db.session.commit()
    return partner_c, ended, member


def _retire(client, organization, reason="Dissolved in 2026"):
    page = f"/organizations/{organization.id}"
    return client.post(f"{page}/retire", data={"reason": reason}, csrf_from=page)


def test_an_admin_retires_an_organisation_whose_agreements_have_ended(app, world, signed_in, gone):
    partner_c, ended, member = gone
    someone = SignedInClient(app, member)
    assert someone.get("/portal").status_code == 200
    admin = signed_in("admin")
    response = _retire(admin, partner_c)
    assert response.status_code == 303
    said = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Partner C is retired" in said and "Accounts turned off: 1; invitations withdrawn: 1." in said
    assert 'id="organization-retired"' in said
    assert _fresh(Organization, partner_c.id).retired_at is not None
    # Nobody signs in for it: the account is off, its session ended, the invitation's link dead.
    assert not _fresh(User, member.id).is_active_account
    assert someone.get("/portal").status_code in (302, 401)
    waiting = db.session.scalar(select(Invitation).where(Invitation.email == "newcomer@partner-c.example"))
    assert waiting.status == "revoked"
    row = db.session.scalar(
        select(AuditEvent).where(AuditEvent.object_type == "organizations", AuditEvent.action == "retired")
    )
    assert row.object_id == partner_c.id and row.comment == "Dissolved in 2026"
    assert row.changes["accounts_deactivated"] == [member.email]
    # Its history stays: the ended agreement still names it, its page still opens.
    assert "Partner C" in admin.get(f"/agreements/{ended.id}").get_data(as_text=True)
    # Listed apart: not among the current organisations, under "Retired".
    current = admin.get("/organizations/").get_data(as_text=True)
    assert "Partner A" in current and "Partner C" not in current and "Retired" in current
    retired = admin.get("/organizations/?show=retired").get_data(as_text=True)
    assert "Partner C" in retired and "Partner A" not in retired


def test_retiring_is_refused_while_the_organisation_is_a_party_to_an_agreement_under_way(app, world, signed_in):
    admin = signed_in("admin")
    # The page says so before anyone tries, and offers no form.
    page = admin.get(f"/organizations/{world.partner_a.id}").get_data(as_text=True)
    assert 'id="retire-blocked"' in page and 'id="retire-form"' not in page
    assert world.agreement_a.reference in page.split('id="retire-blocked"')[1]
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    response = _retire(admin, world.partner_a)
    assert response.status_code == 303
    said = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "a party to 1 agreement that has not ended" in said and world.agreement_a.reference in said
    assert _fresh(Organization, world.partner_a.id).retired_at is None
    assert _fresh(User, world.users["partner"].id).is_active_account
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_in_arabic_the_agreements_under_way_are_counted_and_listed_as_arabic_writes_them(app, world, signed_in):
    """Two agreements: "اتفاقيتين" (Arabic's dual), not "2 اتفاقية"; their references joined by the Arabic
    comma, each isolated, so the first stays first read from the right (a Latin ", " between two Latin
    references had run them together, left to right, the comma in front)."""
    second = factories.agreement(by=world.users["officer"], partners=[world.partner_a], state="negotiation")
    world.users["admin"].language = "ar"
    db.session.commit()
    admin = signed_in("admin")
    blocked = admin.get(f"/organizations/{world.partner_a.id}").get_data(as_text=True).split('id="retire-blocked"')[1]
    references = sorted([world.agreement_a.reference, second.reference])
    # On the page each is kept on one line too (a reference had broken at its hyphens).
    listed = '<bdi class="reference">%s</bdi>، <bdi class="reference">%s</bdi>' % tuple(references)
    assert "اتفاقيتين" in blocked.split("</p>")[0] and listed in blocked
    said = admin.get(_retire(admin, world.partner_a).headers["Location"]).get_data(as_text=True)
    assert "طرف في اتفاقيتين لم تنتهيا بعد" in said and "\u2068%s\u2069، \u2068%s\u2069" % tuple(references) in said


@pytest.mark.parametrize("role", ["officer", "manager", "legal", "auditor"])
def test_only_an_admin_retires_or_reinstates(app, world, signed_in, gone, role):
    partner_c, _ended, _member = gone
    client = signed_in(role)
    page = f"/organizations/{partner_c.id}"
    assert 'id="retire-panel"' not in client.get(page).get_data(as_text=True)
    assert _retire(client, partner_c).status_code == 403
    assert client.post(f"{page}/reinstate", csrf_from=page).status_code == 403
    assert _fresh(Organization, partner_c.id).retired_at is None


def test_a_partner_cannot_retire_their_own_organisation_nor_see_another(app, world, signed_in, gone):
    partner_c, _ended, _member = gone
    client = signed_in("partner")
    own = f"/organizations/{world.partner_a.id}"
    assert client.post(f"{own}/retire", data={"reason": ""}, csrf_from=own).status_code == 403
    assert client.post(f"/organizations/{partner_c.id}/retire", data={}, csrf_from=own).status_code == 404
    assert _fresh(Organization, partner_c.id).retired_at is None


def test_the_ministry_itself_is_never_retired(app, world, signed_in):
    admin = signed_in("admin")
    page = f"/organizations/{world.ministry.id}"
    assert 'id="retire-panel"' not in admin.get(page).get_data(as_text=True)
    assert _retire(admin, world.ministry).status_code == 403
    assert _fresh(Organization, world.ministry.id).retired_at is None


def test_a_reason_too_long_or_a_second_retirement_is_refused_with_a_message(app, world, signed_in, gone):
    partner_c, _ended, member = gone
    admin = signed_in("admin")
    response = _retire(admin, partner_c, reason="x" * 501)
    said = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Not saved: Why (kept in the audit trail): Field cannot be longer than 500 characters." in said
    assert _fresh(Organization, partner_c.id).retired_at is None and _fresh(User, member.id).is_active_account
    _retire(admin, partner_c)
    response = _retire(admin, partner_c)
    assert "Partner C is retired already." in admin.get(response.headers["Location"]).get_data(as_text=True)


def test_a_retired_organisation_is_never_chosen_again(app, world, signed_in, gone):
    partner_c, _ended, member = gone
    admin = signed_in("admin")
    _retire(admin, partner_c)
    officer = signed_in("officer")
    # Not offered by the new agreement's form nor found by its search as one types; a filter still finds it.
    form = officer.get("/agreements/new").get_data(as_text=True)
    assert f'value="{partner_c.id}"' not in form
    assert officer.get("/choices/partners?q=Partner").get_json()["results"] == [
        {"value": str(world.partner_a.id), "text": "Partner A"},
        {"value": str(world.partner_b.id), "text": "Partner B"},
    ]
    found = officer.get("/choices/any-partner?q=Partner+C").get_json()["results"]
    assert found == [{"value": str(partner_c.id), "text": "Partner C"}]
    # Sent anyway, it is a form error, and nothing is stored.
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    response = officer.post(
        "/agreements/new",
        data={
            "type": "mou",
            "title_fr": "Avec C",
            "partners": [str(partner_c.id)],
            "owner_id": str(world.users["officer"].id),
        },
    )
    assert response.status_code == 422
    assert "Partner C was retired on" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
    # Nor through the API.
    secret = create_token(world.users["officer"], "script", by=world.users["officer"])[1]
    db.session.commit()
    api = app.test_client()
    answer = api.post(
        "/api/v1/agreements",
        json={"type": "mou", "title_fr": "Avec C", "parties": [{"organization_id": partner_c.id}]},
        headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"},
    )
    assert answer.status_code == 422 and "was retired on" in answer.get_data(as_text=True)
    # Nor for a new account, an invitation, or an account turned back on.
    response = admin.post(
        "/admin/users/new",
        data={
            "email": "late@partner-c.example",
            "full_name": "Late",
            "role": "partner",
            "organization_id": str(partner_c.id),
            "language": "en",
            "password": "a-long-enough-password-2026",
        },
    )
    assert response.status_code == 422 and "Partner C was retired on" in response.get_data(as_text=True)
    response = admin.post(
        "/invitations/new",
        data={
            "email": "late@partner-c.example",
            "role": "partner",
            "organization_id": str(partner_c.id),
            "language": "en",
        },
    )
    assert response.status_code == 422 and "Partner C was retired on" in response.get_data(as_text=True)
    assert db.session.scalar(select(User.id).where(User.email == "late@partner-c.example")) is None
    response = admin.post(f"/team/{member.id}/reactivate", csrf_from=f"/team/{member.id}")
    said = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "reinstate it before an account of it can sign in" in said
    assert not _fresh(User, member.id).is_active_account


def test_reinstating_lets_it_be_chosen_again_and_leaves_its_accounts_off(app, world, signed_in, gone):
    partner_c, _ended, member = gone
    admin = signed_in("admin")
    _retire(admin, partner_c)
    page = f"/organizations/{partner_c.id}"
    response = admin.post(f"{page}/reinstate", csrf_from=page)
    said = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Partner C is reinstated" in said and "Its 1 account stays turned off" in said
    assert _fresh(Organization, partner_c.id).retired_at is None
    assert not _fresh(User, member.id).is_active_account
    assert db.session.scalar(
        select(AuditEvent.id).where(AuditEvent.object_id == partner_c.id, AuditEvent.action == "reinstated")
    )
    officer = signed_in("officer")
    assert f'value="{partner_c.id}"' in officer.get("/agreements/new").get_data(as_text=True)
    admin.post(f"/team/{member.id}/reactivate", csrf_from=f"/team/{member.id}")
    assert _fresh(User, member.id).is_active_account


def test_the_api_says_which_organisations_are_retired(app, world, signed_in, gone):
    partner_c, _ended, _member = gone
    _retire(signed_in("admin"), partner_c)
    secret = create_token(world.users["manager"], "script", by=world.users["manager"])[1]
    db.session.commit()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    retired = api.get("/api/v1/organizations?retired=true", headers=headers).get_json()["items"]
    assert [item["id"] for item in retired] == [partner_c.id] and retired[0]["retired_at"]
    current = api.get("/api/v1/organizations?retired=false", headers=headers).get_json()["items"]
    assert partner_c.id not in [item["id"] for item in current]
    assert all(item["retired_at"] is None for item in current)
    assert api.get("/api/v1/organizations?retired=maybe", headers=headers).status_code == 400


def test_refreshing_the_demo_reinstates_a_demo_organisation_retired_meanwhile(app):
    """`flask demo load` puts the demo back as printed: an organisation of it retired since (its accounts off)
    is reinstated and its accounts on again, instead of the refresh failing on them."""
    from app.core.models import utcnow

    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    mistral = db.session.scalar(select(Organization).where(Organization.slug == "mistral"))
    people = list(db.session.scalars(select(User).where(User.organization_id == mistral.id)))
    assert people
    mistral.retired_at = utcnow()
    for person in people:
        person.is_active_account = False
    db.session.commit()
    loaded = runner.invoke(args=["demo", "load"])
    assert loaded.exit_code == 0, loaded.output
    assert _fresh(Organization, mistral.id).retired_at is None
    assert all(_fresh(User, person.id).is_active_account for person in people)
    assert db.session.scalar(
        select(AuditEvent.id).where(AuditEvent.object_id == mistral.id, AuditEvent.action == "reinstated")
    )


@pytest.fixture
def twice(world):
    """Partner A entered a second time as "A bis": an agreement under way with a plan line, a budget line, a
    signatory, an amendment proposing a budget for it, an account and a waiting invitation."""
    from app.agreements.amendments import keep_changes
    from app.budget.models import BudgetLine
    from app.workflow.models import Signatory

    officer = world.users["officer"]
    bis = factories.organization("partner-a-bis", name_fr="Partenaire A bis", name_en="Partner A bis")
    bis.country = "FR"  # entered twice, the second time with the wrong country
    world.partner_a.country = "MA"
    running = factories.agreement(
        by=officer, partners=[bis], title_fr="Accord avec A bis", signed_on=date(2025, 9, 1), state="active"
    )
    line = factories.plan_line(running, officer, responsible=bis)
    funded = factories.budget_line(running, bis, 1000)
    signatory = Signatory(
        agreement_id=running.id, side="partner", position=1, name="Signataire", organization_id=bis.id
    )
    db.session.add(signatory)
    amendment = factories.amendment(running, officer, partners=[bis])
    keep_changes(
        amendment,
        {
            "parties": [[bis.id, "partner"]],
            "budget_lines": [{"organization_id": bis.id, "label": "Ligne", "amount": "10", "currency": "MAD"}],
        },
    )
    assert amendment.proposed_foreign_partner is True
    member = factories.user("partner", bis, email="someone@partner-a-bis.example")
    invitations.invite(
        email="newcomer@partner-a-bis.example", role="partner", organization=bis, language="fr", by=world.users["admin"]
    )
    db.session.commit()
    return bis, running, line, funded, signatory, amendment, member, BudgetLine


def _merge(client, duplicate, into, reason="Entered twice"):
    page = f"/organizations/{duplicate.id}"
    return client.post(f"{page}/merge", data={"into": str(into.id), "merge_reason": reason}, csrf_from=page)


def test_an_organisation_entered_twice_is_merged_into_the_one_that_stays(app, world, signed_in, twice):
    from app.agreements.models import Agreement, AgreementParty
    from app.deliverables.models import Deliverable
    from app.workflow.models import Signatory

    bis, running, line, funded, signatory, amendment, member, BudgetLine = twice
    someone = SignedInClient(app, member)
    admin = signed_in("admin")
    page = admin.get(f"/organizations/{bis.id}").get_data(as_text=True)
    assert 'id="retire-blocked"' in page and 'id="merge-form"' in page  # under way: merged, not retired
    response = _merge(admin, bis, world.partner_a)
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/organizations/{world.partner_a.id}")
    said = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Partner A bis is merged into Partner A" in said and "Accord avec A bis" in said
    db.session.expire_all()
    parties = select(AgreementParty.organization_id).where(AgreementParty.agreement_id == running.id)
    assert list(db.session.scalars(parties)) == [world.partner_a.id]
    assert db.session.get(Deliverable, line.id).responsible_organization_id == world.partner_a.id
    assert db.session.get(BudgetLine, funded.id).organization_id == world.partner_a.id
    assert db.session.get(Signatory, signatory.id).organization_id == world.partner_a.id
    amended = db.session.get(Agreement, amendment.id)
    assert amended.amendment_changes["parties"] == [[world.partner_a.id, "partner"]]
    assert amended.amendment_changes["budget_lines"][0]["organization_id"] == world.partner_a.id
    # What its approval conditions read follows the one that stays: a foreign duplicate, a Moroccan partner.
    assert amended.proposed_foreign_partner is False and amended.proposed_mad_budget == 10
    # Its people keep working, now for the one that stays, and see its agreements.
    moved = db.session.get(User, member.id)
    assert moved.organization_id == world.partner_a.id and moved.is_active_account
    assert someone.get(f"/agreements/{world.agreement_a.id}").status_code == 200
    invitation = db.session.scalar(select(Invitation).where(Invitation.email == "newcomer@partner-a-bis.example"))
    assert invitation.organization_id == world.partner_a.id and invitation.status == "pending"
    # The duplicate is retired, says where it went, and a search finds the agreement under the new name.
    gone = db.session.get(Organization, bis.id)
    assert gone.retired_at is not None and gone.merged_into_id == world.partner_a.id
    page = admin.get(f"/organizations/{bis.id}").get_data(as_text=True)
    assert 'id="merged-into"' in page and f"/organizations/{world.partner_a.id}" in page
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "organizations")))
    assert {"retired", "merged_into", "merged_from"} <= actions
    found = admin.get("/search?q=Accord+avec+A+bis").get_data(as_text=True)
    assert "Accord avec A bis" in found


def test_a_spreadsheet_of_the_duplicates_agreements_not_written_yet_follows_the_merge(app, world, signed_in, twice):
    from app.agreements.services import AgreementFilters
    from app.exports.models import ExportJob
    from app.exports.services import request_export

    bis = twice[0]
    job = request_export(world.users["manager"], "agreements", AgreementFilters(partner_id=bis.id), language="fr")
    other = request_export(world.users["manager"], "agreements", AgreementFilters(type="mou"), language="fr")
    db.session.commit()
    assert _merge(signed_in("admin"), bis, world.partner_a).status_code == 303
    db.session.expire_all()
    assert db.session.get(ExportJob, job.id).filters["partner_id"] == world.partner_a.id
    assert "partner_id" not in db.session.get(ExportJob, other.id).filters


def test_a_merge_is_refused_where_one_agreement_names_both(app, world, signed_in, twice):
    bis, running, *_rest = twice
    both = factories.agreement(by=world.users["officer"], partners=[world.partner_a, bis], title_fr="Avec les deux")
    db.session.commit()
    admin = signed_in("admin")
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    response = _merge(admin, bis, world.partner_a)
    said = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Both are parties to 1 agreement ({both.reference})" in said
    assert _fresh(Organization, bis.id).retired_at is None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


@pytest.mark.parametrize("target", ["itself", "ministry", "retired", "unknown", "garbage"])
def test_a_merge_into_anything_but_another_current_partner_is_refused(app, world, signed_in, twice, gone, target):
    bis, *_rest = twice
    partner_c, *_ = gone
    admin = signed_in("admin")
    _retire(admin, partner_c)
    into = {
        "itself": str(bis.id),
        "ministry": str(world.ministry.id),
        "retired": str(partner_c.id),
        "unknown": "999999",
        "garbage": "x'; drop table organizations",
    }[target]
    page = f"/organizations/{bis.id}"
    response = admin.post(f"{page}/merge", data={"into": into}, csrf_from=page)
    assert response.status_code in (303, 404), response.status_code
    assert _fresh(Organization, bis.id).retired_at is None
    assert _fresh(User, twice[6].id).organization_id == bis.id


@pytest.mark.parametrize("role", ["officer", "manager", "partner", "auditor"])
def test_only_an_admin_merges(app, world, signed_in, twice, role):
    bis, *_rest = twice
    assert _merge(signed_in(role), bis, world.partner_a).status_code in (403, 404)
    assert _fresh(Organization, bis.id).retired_at is None


def test_the_search_still_finds_a_retired_organisation_and_says_it_is_retired(app, world, signed_in, gone):
    partner_c, *_ = gone
    admin = signed_in("admin")
    _retire(admin, partner_c)
    found = admin.get("/search?q=Partner+C").get_data(as_text=True)
    assert f"/organizations/{partner_c.id}" in found and "Retired on" in found


def test_a_merged_duplicate_stays_out_of_the_search_of_the_partner_it_was_merged_into(app, world, signed_in, twice):
    bis, *_rest = twice
    _merge(signed_in("admin"), bis, world.partner_a)
    partner = signed_in("partner")
    found = partner.get("/search?q=Partner+A+bis").get_data(as_text=True)
    assert f"/organizations/{bis.id}" not in found
