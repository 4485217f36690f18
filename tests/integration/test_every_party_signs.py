"""Every party signs: a partner-side signatory signs for one of the agreement's partner parties, and
the agreement is signed only once the ministry and each partner party have (a co-signatory or a witness
organisation is not one of them). One rule (rules.signing_parties) for the move, its SQL twin, the page
and the API."""

from datetime import date
from io import BytesIO

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.agreements.models import Agreement, AgreementParty
from app.core.errors import ValidationFailed
from app.extensions import db
from app.workflow import engine, rules, services
from app.workflow.engine import TransitionBlocked
from app.workflow.models import NegotiationRound, Signatory
from tests import factories
from tests.integration.test_api import api, tokens  # noqa: F401  (fixtures)

SIGNED_ON = date(2026, 1, 5)


def in_signature(world, *, partners, co_signatories=()):
    """An MoU of the officer's in its signature stage, its text agreed, with these parties."""
    agreement = factories.agreement(
        by=world.users["officer"], partners=list(partners), state="signature", title_fr="Accord à signer"
    )
    for organization in co_signatories:
        agreement.parties.append(AgreementParty(organization_id=organization.id, role="co_signatory"))
    engine.settle_state(agreement)
    db.session.flush()
    agreed = NegotiationRound(agreement_id=agreement.id, number=1, side="ministry")
    db.session.add(agreed)
    db.session.flush()
    agreement.agreed_round_id = agreed.id
    db.session.commit()
    return agreement


def name_signatory(agreement, world, side, organization=None, name=None):
    """A signatory named by the officer (not committed)."""
    return services.add_signatory(
        agreement,
        by=world.users["officer"],
        side=side,
        organization_id=organization.id if organization is not None else None,
        name=name or side,
        title=None,
        expected_version=agreement.version,
    )


def name_and_sign(agreement, world, side, organization=None, name=None):
    signatory = name_signatory(agreement, world, side, organization, name)
    services.record_signature(
        agreement, signatory.id, by=world.users["officer"], signed_on=SIGNED_ON, expected_version=agreement.version
    )
    db.session.commit()
    return signatory


def with_signed_copy(agreement, world):
    upload = FileStorage(stream=BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="signe.pdf", content_type="application/pdf")
    services.upload_signed_copy(agreement, upload, by=world.users["officer"], expected_version=agreement.version)
    db.session.commit()


def test_a_three_party_agreement_is_signed_only_once_each_partner_has_signed(world):
    """The probe's case: the ministry and one partner of two signed; the move to signed is refused,
    naming the partner still to sign, until it has."""
    agreement = in_signature(world, partners=[world.partner_a, world.partner_b])
    with_signed_copy(agreement, world)
    name_and_sign(agreement, world, "ministry")
    name_and_sign(agreement, world, "partner", world.partner_a)
    with pytest.raises(TransitionBlocked) as refused:
        engine.take(agreement, "record_signed", by=world.users["officer"], expected_version=agreement.version)
    assert world.partner_b.name in refused.value.message
    assert world.partner_a.name not in refused.value.message
    db.session.rollback()

    # Named but not yet signed: the refusal says whose signature, and for which partner.
    officer = world.users["officer"]
    name_signatory(agreement, world, "partner", world.partner_b, "Sam")
    db.session.commit()
    reason = rules.GUARDS["all_signatories_signed"](agreement)
    assert "Sam" in reason and world.partner_b.name in reason

    sam = agreement.signatories[-1]
    services.record_signature(agreement, sam.id, by=officer, signed_on=SIGNED_ON, expected_version=agreement.version)
    db.session.commit()
    engine.take(agreement, "record_signed", by=officer, expected_version=agreement.version)
    db.session.commit()
    assert agreement.state == "signed"
    assert [(p.is_ministry, p.is_signed) for p in rules.signing_parties(agreement)] == [
        (True, True),
        (False, True),
        (False, True),
    ]


def test_a_partner_signatory_names_one_of_the_partner_parties(world):
    """With several partners the partner is said; it must be a partner party (not a co-signatory, not a
    stranger); with one it is that one; a ministry signatory names none."""
    three = in_signature(world, partners=[world.partner_a, world.partner_b])
    officer = world.users["officer"]
    stranger = factories.organization("stranger", name_fr="Étranger", name_en="Stranger")

    def add(agreement, side, organization_id):
        return services.add_signatory(
            agreement,
            by=officer,
            side=side,
            organization_id=organization_id,
            name="X",
            title=None,
            expected_version=agreement.version,
        )

    for side, organization_id in (("partner", None), ("partner", stranger.id), ("ministry", world.partner_a.id)):
        with pytest.raises(ValidationFailed) as refused:
            add(three, side, organization_id)
        assert "organization_id" in refused.value.field_errors, (side, organization_id)
        db.session.rollback()

    one = in_signature(world, partners=[world.partner_a], co_signatories=[world.partner_b])
    with pytest.raises(ValidationFailed):
        add(one, "partner", world.partner_b.id)  # a co-signatory, not a partner party
    db.session.rollback()
    assert add(one, "partner", None).organization_id == world.partner_a.id
    assert add(one, "ministry", None).organization_id == world.ministry.id


def test_a_co_signatory_organisation_is_not_awaited(world):
    agreement = in_signature(world, partners=[world.partner_a], co_signatories=[world.partner_b])
    name_and_sign(agreement, world, "ministry")
    assert rules.GUARDS["all_signatories_signed"](agreement) is not None
    name_and_sign(agreement, world, "partner", world.partner_a)
    assert rules.GUARDS["all_signatories_signed"](agreement) is None
    assert [p.organization for p in rules.signing_parties(agreement)] == [None, world.partner_a]


def _legacy_partner_signatory(agreement):
    """A partner signatory as recorded before they said which partner they sign for."""
    position = max((s.position for s in agreement.signatories), default=0) + 1
    db.session.add(
        Signatory(agreement_id=agreement.id, side="partner", position=position, name="Ancien", signed_on=SIGNED_ON)
    )


def _cases(world):
    """(what it is, the agreement, whether every party has signed)."""
    both = in_signature(world, partners=[world.partner_a, world.partner_b])
    name_and_sign(both, world, "ministry")
    name_and_sign(both, world, "partner", world.partner_a)
    name_and_sign(both, world, "partner", world.partner_b)

    one_of_two = in_signature(world, partners=[world.partner_a, world.partner_b])
    name_and_sign(one_of_two, world, "ministry")
    name_and_sign(one_of_two, world, "partner", world.partner_a)

    unsaid = in_signature(world, partners=[world.partner_a, world.partner_b])
    name_and_sign(unsaid, world, "ministry")
    _legacy_partner_signatory(unsaid)

    no_ministry = in_signature(world, partners=[world.partner_a])
    name_and_sign(no_ministry, world, "partner", world.partner_a)

    unsigned = in_signature(world, partners=[world.partner_a])
    name_and_sign(unsigned, world, "ministry")
    services.add_signatory(
        unsigned,
        by=world.users["officer"],
        side="partner",
        name="Pas encore",
        title=None,
        expected_version=unsigned.version,
    )

    co_signed = in_signature(world, partners=[world.partner_a], co_signatories=[world.partner_b])
    name_and_sign(co_signed, world, "ministry")
    name_and_sign(co_signed, world, "partner", world.partner_a)

    db.session.commit()
    return [
        ("every partner signed", both, True),
        ("one partner of two", one_of_two, False),
        ("a partner signatory for no partner", unsaid, False),
        ("no ministry signatory", no_ministry, False),
        ("a signatory still to sign", unsigned, False),
        ("a co-signatory organisation without signatory", co_signed, True),
    ]


def test_the_guard_and_its_sql_twin_agree_on_who_has_signed(world):
    for what, agreement, signed in _cases(world):
        db.session.expire(agreement)
        in_python = rules.GUARDS["all_signatories_signed"](agreement) is None
        in_sql = db.session.scalar(
            select(func.count(Agreement.id)).where(
                Agreement.id == agreement.id, rules.GUARD_CLAUSES["all_signatories_signed"]()
            )
        )
        assert (in_python, bool(in_sql)) == (signed, signed), what


def test_a_signatory_for_no_partner_counts_for_none_and_the_page_says_so(world, signed_in):
    agreement = in_signature(world, partners=[world.partner_a, world.partner_b])
    name_and_sign(agreement, world, "ministry")
    _legacy_partner_signatory(agreement)
    db.session.commit()
    reason = rules.GUARDS["all_signatories_signed"](agreement)
    assert world.partner_a.name in reason and world.partner_b.name in reason
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Signs for none of the agreement’s partners." in page
    assert page.count('class="signing-party" data-signed="no"') == 2
    # Standing for none of them, the summary gives their side alone, as the page does.
    summary = signed_in("officer").get(f"/agreements/{agreement.id}/summary").get_data(as_text=True)
    rows = summary[summary.index("summary-signatories") :]
    rows = rows[: rows.index("</table>")]
    assert "<td>Partner</td>" in rows and world.partner_a.name not in rows and world.partner_b.name not in rows


def test_the_page_names_the_partner_each_signatory_signs_for_and_shows_each_partys_signature(world, signed_in):
    agreement = in_signature(world, partners=[world.partner_a, world.partner_b])
    officer = signed_in("officer")
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    for organization in (world.partner_a, world.partner_b):
        assert f'<option value="partner:{organization.id}">' in page
    assert page.count('class="signing-party" data-signed="no"') == 3  # the ministry and both partners

    # "partner" alone does not say which of two: refused with its reason, nothing added.
    refused = officer.post(
        f"/agreements/{agreement.id}/signatories",
        data={"side": "partner", "name": "Arthur", "version": agreement.version},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Say which partner this signatory signs for." in refused
    assert not agreement.signatories

    added = officer.post(
        f"/agreements/{agreement.id}/signatories",
        data={"side": f"partner:{world.partner_b.id}", "name": "Sam", "version": agreement.version},
    )
    assert added.status_code == 303
    db.session.expire_all()
    (sam,) = agreement.signatories
    assert (sam.side, sam.organization_id) == ("partner", world.partner_b.id)
    services.record_signature(
        agreement, sam.id, by=world.users["officer"], signed_on=SIGNED_ON, expected_version=agreement.version
    )
    db.session.commit()
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert page.count('class="signing-party" data-signed="yes"') == 1
    assert page.count('class="signing-party" data-signed="no"') == 2
    # The printable summary names the organisation too, not "Partner", which does not say which of two.
    summary = officer.get(f"/agreements/{agreement.id}/summary").get_data(as_text=True)
    signatories = summary[summary.index("summary-signatories") :]
    assert f"<bdi>{world.partner_b.name}</bdi>" in signatories[: signatories.index("</table>")]


def test_the_api_names_the_partner_and_lists_each_partys_signature(world, api):
    agreement = in_signature(world, partners=[world.partner_a, world.partner_b])
    url = f"/api/v1/agreements/{agreement.id}/signatories"
    officer = api("officer")
    unsaid = officer.post(url, json={"side": "partner", "name": "Arthur"})
    assert unsaid.status_code == 422 and "organization_id" in unsaid.get_data(as_text=True)
    stranger = officer.post(url, json={"side": "partner", "name": "Arthur", "organization_id": 999999})
    assert stranger.status_code == 422
    added = officer.post(url, json={"side": "partner", "name": "Arthur", "organization_id": world.partner_a.id})
    assert added.status_code == 201, added.get_json()
    body = added.get_json()
    assert body["signatories"][0]["organization"]["id"] == world.partner_a.id
    assert [(p["side"], (p["organization"] or {}).get("id"), p["is_signed"]) for p in body["parties"]] == [
        ("ministry", None, False),
        ("partner", world.partner_a.id, False),
        ("partner", world.partner_b.id, False),
    ]
    listed = officer.get(url).get_json()
    assert listed["parties"] == body["parties"]


def test_a_signatory_named_in_error_is_removed_before_signing_on_the_page_and_by_the_api(world, signed_in, api):
    """One named for no partner (before 0027) or for the wrong one had to sign before the agreement could
    move on, and those after them waited: they are struck out while unsigned, and the trail says so."""
    from app.core.audit import AuditEvent

    agreement = in_signature(world, partners=[world.partner_a, world.partner_b])
    ministry = name_and_sign(agreement, world, "ministry")
    stray = Signatory(agreement_id=agreement.id, side="partner", position=2, name="Ancien")  # for no partner
    db.session.add(stray)
    db.session.commit()
    officer = signed_in("officer")
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert f"/signatories/{stray.id}/remove" in page and f"/signatories/{ministry.id}/remove" not in page
    signed_in("partner").post(
        f"/agreements/{agreement.id}/signatories/{stray.id}/remove",
        data={"version": agreement.version},
        csrf_from=f"/agreements/{agreement.id}",
    )
    db.session.expire_all()
    assert len(agreement.signatories) == 2  # a partner records no signature and strikes out no one
    removed = officer.post(
        f"/agreements/{agreement.id}/signatories/{stray.id}/remove",
        data={"version": agreement.version},
        csrf_from=f"/agreements/{agreement.id}",
    )
    assert removed.status_code == 303
    db.session.expire_all()
    assert [s.id for s in agreement.signatories] == [ministry.id]
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "signatory_removed")) == 1
    # A signed one is taken back first.
    refused = api("officer").open(f"/api/v1/agreements/{agreement.id}/signatories/{ministry.id}", "DELETE")
    assert refused.status_code == 409 and "take it back first" in refused.get_data(as_text=True)
    wrong = name_and_sign(agreement, world, "partner", world.partner_a, name="Wrong")
    services.withdraw_signature(agreement, wrong.id, by=world.users["officer"], expected_version=agreement.version)
    db.session.commit()
    gone = api("officer").open(f"/api/v1/agreements/{agreement.id}/signatories/{wrong.id}", "DELETE")
    assert gone.status_code == 200 and [s["name"] for s in gone.get_json()["signatories"]] == ["ministry"]


def test_removing_the_last_unsigned_signatory_dates_the_agreement_as_its_last_signature_did(world):
    """Every party had signed but the agreement had no signature date, and "signed" was refused for it."""
    officer = world.users["officer"]
    agreement = in_signature(world, partners=[world.partner_a])
    named = [
        services.add_signatory(
            agreement,
            by=officer,
            side=side,
            organization_id=organization,
            name=name,
            title=None,
            expected_version=agreement.version,
        )
        for side, organization, name in (
            ("ministry", None, "Ministre"),
            ("partner", world.partner_a.id, "Partenaire"),
            ("ministry", None, "En trop"),
        )
    ]
    for signatory in named[:2]:
        services.record_signature(
            agreement, signatory.id, by=officer, signed_on=SIGNED_ON, expected_version=agreement.version
        )
    db.session.commit()
    assert agreement.signed_on is None  # "En trop" has not signed
    services.remove_signatory(agreement, named[2].id, by=officer, expected_version=agreement.version)
    db.session.commit()
    assert agreement.signed_on == SIGNED_ON
    assert rules.GUARDS["all_signatories_signed"](agreement) is None


def test_a_partners_portal_says_which_party_sent_the_version_it_must_answer(world, signed_in):
    """In a negotiation of several partners, UNDP's portal said "The ministry sent version 2" when Mistral
    AI had sent it."""
    from werkzeug.datastructures import FileStorage

    agreement = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a, world.partner_b], state="negotiation", title_fr="A trois"
    )
    engine.settle_state(agreement)
    db.session.commit()
    for sender in ("officer", "partner"):
        services.send_version(
            agreement,
            by=world.users[sender],
            upload=FileStorage(BytesIO(b"%PDF-1.4\n%" + sender.encode() + b"\n%%EOF\n"), filename="v.pdf"),
            note=None,
            expected_version=agreement.version,
        )
        db.session.commit()
    portal = signed_in("partner_b").get("/portal").get_data(as_text=True)
    assert f"{world.partner_a.name} sent version 2" in portal and "The ministry sent version" not in portal


def test_the_history_says_who_signed_and_when(world, signed_in):
    """ "Signature recorded" alone told an auditor nothing: the entry names the signatory and the date."""
    agreement = in_signature(world, partners=[world.partner_a])
    name_and_sign(agreement, world, "ministry", name="Amal Exemple")
    page = signed_in("auditor").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    about = [part.split("</p>")[0] for part in page.split("data-history-about>")[1:]]
    assert any("Amal Exemple" in line and "Signed on" in line and "2026" in line for line in about), about


def test_a_signature_dated_before_the_previous_one_is_told_the_earliest_day_it_may_take(world, signed_in):
    """Signatories sign in order: the next one's date picker starts at the last signature, and a date before it
    is refused naming that day (it had said only "not before the previous one")."""
    agreement = in_signature(world, partners=[world.partner_a])
    name_and_sign(agreement, world, "ministry", name="Ministre")
    second = name_signatory(agreement, world, "partner", world.partner_a, "Arthur")
    db.session.commit()
    officer = signed_in("officer")
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert f'id="signed-on-{second.id}" name="signed_on"' in page and f'min="{SIGNED_ON.isoformat()}"' in page
    officer_user = world.users["officer"]
    with pytest.raises(ValidationFailed) as refused:
        services.record_signature(
            agreement, second.id, by=officer_user, signed_on=date(2026, 1, 4), expected_version=agreement.version
        )
    assert "Jan 5, 2026 at the earliest" in str(refused.value)


def test_a_side_not_among_the_forms_choices_adds_no_signatory(world, signed_in):
    """A tampered "partner:abc" read as "partner" alone: a signatory for the agreement's only partner."""
    agreement = in_signature(world, partners=[world.partner_a])
    refused = signed_in("officer").post(
        f"/agreements/{agreement.id}/signatories",
        data={"side": "partner:abc", "name": "Arthur", "version": agreement.version},
        follow_redirects=True,
    )
    assert "Not a valid choice." in refused.get_data(as_text=True)
    db.session.expire_all()
    assert not agreement.signatories
