"""Two people (or one double-click) taking the same move at once: exactly one wins.

Real concurrent HTTP requests against a threaded server, on SQLite and PostgreSQL.
"""

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.core.audit import AuditEvent
from app.core.digests import secret_digest
from app.extensions import db
from tests import factories
from tests.live import Browser, live_app

pytestmark = pytest.mark.live


@pytest.fixture
def served(tmp_path):
    with live_app(tmp_path) as (app, base):
        with app.app_context():
            world = factories.build_world()
            ids = {
                "agreement": factories.agreement(by=world.users["officer"], partners=[world.partner_a]).id,
                "officer": world.users["officer"].email,
                "manager": world.users["manager"].email,
                "admin": world.users["admin"].email,
                "ministry": world.ministry.id,
                "partner": world.partner_a.id,
            }
            db.session.commit()
        yield app, base, ids


def _race(calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("attempts", [2, 6])
def test_simultaneous_moves_exactly_one_wins(served, attempts):
    app, base, ids = served
    agreement_id = ids["agreement"]
    people = []
    for index in range(attempts):
        browser = Browser(base)
        browser.sign_in(ids["officer"] if index % 2 == 0 else ids["manager"], factories.PASSWORD)
        people.append(browser)
    with app.app_context():
        version = db.session.get(Agreement, agreement_id).version
    forms = [(b, {"csrf_token": b.token(f"/agreements/{agreement_id}"), "version": str(version)}) for b in people]
    results = _race(
        [
            (lambda b=b, f=f: b.post(f"/agreements/{agreement_id}/actions/submit_for_review", f, json=True))
            for b, f in forms
        ]
    )
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1, results
    assert statuses.count(409) == attempts - 1, results
    loser = next(body for status, body in results if status == 409)
    assert "changed" in loser or "moved on" in loser
    with app.app_context():
        agreement = db.session.get(Agreement, agreement_id)
        assert agreement.state == "internal_review"
        moves = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_id == agreement_id, AuditEvent.action == "transition")
        )
        assert moves == 1
        assert len([r for r in agreement.approval_rounds if r.status == "open"]) == 1


def test_a_double_click_in_html_gets_a_clear_message(served):
    app, base, ids = served
    agreement_id = ids["agreement"]
    browser = Browser(base)
    browser.sign_in(ids["officer"], factories.PASSWORD)
    with app.app_context():
        version = db.session.get(Agreement, agreement_id).version
    form = {"csrf_token": browser.token(f"/agreements/{agreement_id}"), "version": str(version)}
    first, second = _race(
        [
            lambda: browser.post(f"/agreements/{agreement_id}/actions/submit_for_review", form),
            lambda: browser.post(f"/agreements/{agreement_id}/actions/submit_for_review", form),
        ]
    )
    assert sorted([first[0], second[0]]) == [303, 303]  # both go back to the page, neither fails
    _, page = browser.get(f"/agreements/{agreement_id}")
    # Both answers share one cookie session: whichever flash survives, it is one of the two honest ones.
    assert any(text in page for text in ("has changed since you opened it", "no longer possible", "Done:"))
    with app.app_context():
        assert db.session.get(Agreement, agreement_id).state == "internal_review"
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.object_id == agreement_id, AuditEvent.action == "transition")
            )
            == 1
        )


def test_two_plan_lines_added_to_one_agreement_at_once_both_land(served):
    """Each save rewrites the agreement's search entry: two at once used to meet on it (a 500 for one)."""
    from app.deliverables.models import Deliverable

    app, base, ids = served
    agreement_id = ids["agreement"]
    path = f"/agreements/{agreement_id}/deliverables/new"
    people = [Browser(base), Browser(base)]
    for browser in people:
        browser.sign_in(ids["officer"], factories.PASSWORD)
    answers = []
    for round_ in range(3):
        forms = [
            {
                "csrf_token": browser.token(path),
                "title_fr": f"Rapport {round_}-{index}",
                "responsible_organization_id": str(ids["ministry"]),
                "recurrence": "once",
                "first_due_on": "2030-06-30",
            }
            for index, browser in enumerate(people)
        ]
        answers += _race([(lambda b=b, f=f: b.post(path, f)) for b, f in zip(people, forms)])
    assert all(status < 500 for status, _ in answers), answers
    with app.app_context():
        planned = db.session.scalar(
            select(func.count()).select_from(Deliverable).where(Deliverable.agreement_id == agreement_id)
        )
    assert planned == sum(1 for status, _ in answers if status == 303) >= 3


def test_an_organisation_submitted_twice_at_once_is_made_once(served):
    from app.organizations.models import Organization

    app, base, ids = served
    browser = Browser(base)
    browser.sign_in(ids["admin"], factories.PASSWORD)
    token = browser.token("/organizations/new")
    form = {"csrf_token": token, "slug": "twice-at-once", "name_fr": "Deux fois", "kind": "company"}
    answers = _race([lambda: browser.post("/organizations/new", form) for _ in range(2)])
    assert all(status < 500 for status, _ in answers), answers
    assert any(status in (302, 303) for status, _ in answers)  # one made it; the other is told why not
    with app.app_context():
        made = db.session.scalar(
            select(func.count()).select_from(Organization).where(Organization.slug == "twice-at-once")
        )
    assert made == 1


def _officer_with_a_new_agreement_form(base, ids, title):
    """The officer's browser, and the new-agreement form as drawn for it (its key included), filled in."""
    browser = Browser(base)
    browser.sign_in(ids["officer"], factories.PASSWORD)
    form = {
        "csrf_token": browser.token("/agreements/new"),
        "form_key": browser.form_key("/agreements/new"),
        "type": "mou",
        "title_fr": title,
        "partners": str(ids["partner"]),
    }
    return browser, form


def _agreements_titled(app, title) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Agreement).where(Agreement.title_fr == title))


def test_a_form_sent_twice_at_once_makes_one_agreement(served):
    """A double click: the same form, its same key, twice at the same moment. The second's work is rolled
    back on the first's receipt, and it answers with the first's redirect."""
    import urllib.parse

    app, base, ids = served
    browser, form = _officer_with_a_new_agreement_form(base, ids, "Double clic")
    body = urllib.parse.urlencode(form).encode()
    answers = []
    for _ in range(3):
        answers += _race([lambda: browser.send("/agreements/new", body) for _ in range(2)])
    assert {status for status, _, _ in answers} <= {302, 303}, answers
    assert len({location for _, location, _ in answers}) == 1, answers
    assert _agreements_titled(app, "Double clic") == 1


def test_a_changed_form_sent_several_times_at_once_under_its_used_key_makes_one_agreement(served):
    """The back button, an edit, then a double click: the changed form takes the key over once."""
    import urllib.parse

    app, base, ids = served
    browser, form = _officer_with_a_new_agreement_form(base, ids, "Premier")
    first = browser.send("/agreements/new", urllib.parse.urlencode(form).encode())
    changed = urllib.parse.urlencode({**form, "title_fr": "Changé"}).encode()
    answers = _race([lambda: browser.send("/agreements/new", changed) for _ in range(4)])
    assert {status for status, _, _ in answers} <= {302, 303}, answers
    assert len({location for _, location, _ in answers} | {first[1]}) == 2, answers
    assert _agreements_titled(app, "Changé") == 1


def test_an_api_call_sent_twice_at_once_with_one_key_makes_one_agreement(served):
    import json

    from app.api.tokens import create_token
    from app.auth.models import User

    app, base, ids = served
    with app.app_context():
        officer = db.session.scalar(select(User).where(User.email == ids["officer"]))
        secret = create_token(officer, "race", by=officer)[1]
        db.session.commit()
    body = json.dumps({"type": "mou", "title_fr": "Deux appels", "parties": [{"organization_id": ids["partner"]}]})
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json", "Idempotency-Key": "one"}
    client = Browser(base)
    answers = _race([lambda: client.send("/api/v1/agreements", body.encode(), headers=headers) for _ in range(2)])
    assert [status for status, _, _ in answers] == [201, 201], answers
    assert json.loads(answers[0][2]) == json.loads(answers[1][2])
    assert _agreements_titled(app, "Deux appels") == 1


def test_api_calls_sent_at_once_with_one_key_and_different_bodies_make_one_agreement(served):
    """A key is for one request: sent at once with other bodies, one is done and the others are refused 422
    (an outside probe made two to four agreements under one key on PostgreSQL, where claims of different
    bodies did not wait on each other)."""
    import json

    from app.api.tokens import create_token
    from app.auth.models import User

    app, base, ids = served
    with app.app_context():
        officer = db.session.scalar(select(User).where(User.email == ids["officer"]))
        secret = create_token(officer, "race", by=officer)[1]
        db.session.commit()
    client = Browser(base)

    def send(round_: int, body: str):
        headers = {
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"shared-{round_}",
        }
        title = f"Une clé {round_} {body}"
        payload = {"type": "mou", "title_fr": title, "parties": [{"organization_id": ids["partner"]}]}
        return client.send("/api/v1/agreements", json.dumps(payload).encode(), headers=headers)

    for round_ in range(3):
        answers = _race([lambda round_=round_, body=body: send(round_, body) for body in "ABCD"])
        assert sorted(status for status, _, _ in answers) == [201, 422, 422, 422], answers
        with app.app_context():
            made = db.session.scalar(
                select(func.count()).select_from(Agreement).where(Agreement.title_fr.like(f"Une clé {round_} %"))
            )
        assert made == 1, (round_, answers)


def test_two_people_inviting_one_address_at_once_make_one_invitation(served):
    """No index can hold "one waiting invitation per address" (waiting ends with time); the check takes turns."""
    from app.auth.models import Invitation

    app, base, ids = served
    people = [Browser(base), Browser(base)]
    for browser in people:
        browser.sign_in(ids["admin"], factories.PASSWORD)
    answers = []
    for round_ in range(3):
        form = {"role": "partner", "organization_id": str(ids["partner"]), "email": f"same{round_}@example.org"}
        forms = [{**form, "csrf_token": b.token("/invitations/new"), "language": "fr"} for b in people]
        answers += _race([(lambda b=b, f=f: b.post("/invitations/new", f)) for b, f in zip(people, forms)])
    assert all(status < 500 for status, _ in answers), answers
    with app.app_context():
        for round_ in range(3):
            made = db.session.scalar(
                select(func.count()).select_from(Invitation).where(Invitation.email == f"same{round_}@example.org")
            )
            assert made == 1, round_


def test_one_person_signing_in_several_times_at_once_gets_in_every_time(served):
    """Sign-ins read (the account, its failures) before they write (the session, the audit row): on SQLite
    two at once made the second fail, "this has changed". A request that may write now waits its turn."""
    app, base, ids = served
    browsers = [Browser(base) for _ in range(6)]
    forms = [
        {"email": ids["admin"], "password": factories.PASSWORD, "csrf_token": browser.token("/sign-in")}
        for browser in browsers
    ]
    answers = _race([lambda b=b, f=f: b.post("/sign-in", f) for b, f in zip(browsers, forms)])
    assert [status for status, _ in answers] == [302] * 6, answers


def test_pages_viewed_at_once_never_collide(served):
    """Viewing a page writes nothing (the API tokens page swept old one-time secrets on every view, and
    on SQLite concurrent views then failed with 409)."""
    app, base, ids = served
    browser = Browser(base)
    browser.sign_in(ids["officer"], factories.PASSWORD)
    for path in ("/account/tokens", "/account/notifications"):
        answers = _race([lambda path=path: browser.get(path) for _ in range(8)])
        assert [status for status, _ in answers] == [200] * 8, (path, answers)


def test_two_saves_of_one_plan_line_at_once_leave_it_whole(served):
    """On PostgreSQL two saves in the same second interleaved column by column: a line said "quarterly from
    the 20th" over monthly due dates on the 12th. Saves of one record now take turns, and the later of two
    forms shown before the earlier save is refused as stale."""
    from app.deliverables import services as deliverables
    from app.deliverables.models import Deliverable

    app, base, ids = served
    with app.app_context():
        from app.auth.models import User

        officer = db.session.scalar(select(User).where(User.email == ids["officer"]))
        agreement = db.session.get(Agreement, ids["agreement"])
        line = deliverables.plan_deliverable(
            agreement,
            deliverables.PlanData(
                "Rapport", None, None, None, ids["partner"], "monthly", date(2030, 1, 12), date(2031, 6, 30)
            ),
            by=officer,
        )
        db.session.commit()
        line_id = line.id
    path = f"/agreements/{ids['agreement']}/deliverables/{line_id}/edit"
    people = [Browser(base), Browser(base)]
    people[0].sign_in(ids["officer"], factories.PASSWORD)
    people[1].sign_in(ids["manager"], factories.PASSWORD)
    plans = [("monthly", "2030-04-12", "2031-06-30"), ("quarterly", "2030-04-20", "2031-06-30")]
    for _round in range(3):
        forms = [
            {
                "csrf_token": browser.token(path),
                "seen": browser.field(path, "seen"),
                "title_fr": "Rapport",
                "responsible_organization_id": str(ids["partner"]),
                "recurrence": recurrence,
                "first_due_on": first,
                "until_on": until,
            }
            for browser, (recurrence, first, until) in zip(people, plans)
        ]
        answers = _race([(lambda b=b, f=f: b.post(path, f)) for b, f in zip(people, forms)])
        statuses = sorted(status for status, _ in answers)
        assert statuses in ([303, 303], [303, 409]), answers
        with app.app_context():
            line = db.session.get(Deliverable, line_id)
            expected = deliverables.due_dates(line.recurrence, line.first_due_on, line.until_on)
            assert sorted(o.due_on for o in line.occurrences) == expected, (line.recurrence, line.first_due_on)


def test_a_password_reset_link_used_at_once_from_three_tabs_works_once(served):
    """On PostgreSQL each tab had read the link as unused: three "password changed", one password kept."""
    import secrets

    from app.auth import resets
    from app.auth.models import PasswordReset, User

    app, base, ids = served
    token = secrets.token_urlsafe(32)
    with app.app_context():
        officer = db.session.scalar(select(User).where(User.email == ids["officer"]))
        db.session.add(
            PasswordReset(
                email=officer.email,
                address="127.0.0.1",
                expires_at=datetime.now(timezone.utc) + timedelta(minutes=30),
                user_id=officer.id,
                token_hash=secret_digest(token),
                password_fingerprint=resets.fingerprint(officer),
            )
        )
        db.session.commit()
    path = f"/password/reset/{token}"
    tabs = [Browser(base) for _ in range(3)]
    forms = [
        {"csrf_token": tab.token(path), "new_password": f"Nouveau-{i}-de-passe!", "confirm": f"Nouveau-{i}-de-passe!"}
        for i, tab in enumerate(tabs)
    ]
    answers = _race([(lambda t=t, f=f: t.post(path, f)) for t, f in zip(tabs, forms)])
    assert all(status < 500 for status, _ in answers), answers
    assert sum(1 for status, _ in answers if status == 303) == 1, answers
    with app.app_context():
        resets_done = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "password_reset")
        )
    assert resets_done == 1


def test_an_invitation_accepted_at_once_from_three_tabs_makes_one_account(served):
    """On PostgreSQL the later tabs met the address's unique key: a server error for the invitee."""
    import secrets

    from app.auth import invitations
    from app.auth.models import User
    from app.organizations.models import Organization

    app, base, ids = served
    token, solid = secrets.token_urlsafe(32), "Un-mot-de-passe-solide!"
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == ids["admin"]))
        invitation = invitations.invite(
            email="newcomer@partner.example",
            role="partner",
            organization=db.session.get(Organization, ids["partner"]),
            language="fr",
            by=admin,
        )
        invitation.token_hash = secret_digest(token)
        db.session.commit()
    path = f"/invitation/{token}"
    tabs = [Browser(base) for _ in range(3)]
    forms = [
        {"csrf_token": tab.token(path), "full_name": "Nouvelle Venue", "password": solid, "confirm": solid}
        for tab in tabs
    ]
    answers = _race([(lambda t=t, f=f: t.post(path, f)) for t, f in zip(tabs, forms)])
    assert all(status < 500 for status, _ in answers), answers
    assert sum(1 for status, _ in answers if status == 303) == 1, answers
    with app.app_context():
        made = db.session.scalar(select(func.count()).select_from(User).where(User.email == "newcomer@partner.example"))
    assert made == 1


def test_the_same_partner_entered_by_four_people_at_once_is_one_organisation(served):
    from app.organizations.models import Organization

    app, base, ids = served
    people = [Browser(base) for _ in range(4)]
    for browser in people:
        browser.sign_in(ids["admin"], factories.PASSWORD)
    forms = [
        {"csrf_token": b.token("/organizations/new"), "slug": f"same-{i}", "name_fr": "Même Nom", "kind": "company"}
        for i, b in enumerate(people)
    ]
    answers = _race([(lambda b=b, f=f: b.post("/organizations/new", f)) for b, f in zip(people, forms)])
    assert all(status < 500 for status, _ in answers), answers
    with app.app_context():
        made = db.session.scalar(
            select(func.count()).select_from(Organization).where(Organization.name_fr == "Même Nom")
        )
    assert made == 1


def test_two_approvers_of_a_parallel_step_deciding_at_once_are_both_recorded(served):
    """Legal and the head of department approve the internal review in the same second: each decision had
    bumped the agreement's version, and the other was refused (409) nine times in ten on PostgreSQL. They
    now take turns; both count, and the second one's approval completes the round."""
    import json

    from app.api.tokens import create_token
    from app.auth.models import User
    from app.workflow.models import ApprovalDecision

    app, base, ids = served
    agreement_id = ids["agreement"]
    with app.app_context():
        people = {
            role: db.session.scalar(select(User).where(User.email == ids[role])) for role in ("officer", "manager")
        }
        legal = db.session.scalar(select(User).where(User.role == "legal"))
        secrets_of = {
            "officer": create_token(people["officer"], "race", by=people["officer"])[1],
            "manager": create_token(people["manager"], "race", by=people["manager"])[1],
            "legal": create_token(legal, "race", by=legal)[1],
        }
        db.session.commit()
    client = Browser(base)

    def call(who, body):
        headers = {"Authorization": f"Bearer {secrets_of[who]}", "Content-Type": "application/json"}
        return client.send(f"/api/v1/agreements/{agreement_id}/transitions", json.dumps(body).encode(), headers=headers)

    assert call("officer", {"transition": "submit_for_review"})[0] == 200
    answers = _race([lambda who=who: call(who, {"transition": "approve_review"}) for who in ("legal", "manager")])
    assert [status for status, _, _ in answers] == [200, 200], answers
    with app.app_context():
        agreement = db.session.get(Agreement, agreement_id)
        decisions = db.session.scalar(select(func.count()).select_from(ApprovalDecision))
        assert decisions == 2 and agreement.state == "negotiation"


def test_one_approver_deciding_from_the_page_and_the_api_at_once_is_recorded_once(served):
    """The legal adviser approves from the agreement's page and, in the same second, through the API (or
    from two tabs): one answer records the decision, the other is a conflict (409: it is already recorded),
    not a refusal of a permission they hold."""
    import json

    from app.api.tokens import create_token
    from app.auth.models import User
    from app.workflow import engine
    from app.workflow.models import ApprovalDecision

    app, base, ids = served
    agreement_id = ids["agreement"]
    with app.app_context():
        officer = db.session.scalar(select(User).where(User.email == ids["officer"]))
        legal = db.session.scalar(select(User).where(User.role == "legal"))
        legal_email = legal.email
        secret = create_token(legal, "race", by=legal)[1]
        agreement = db.session.get(Agreement, agreement_id)
        engine.take(agreement, "submit_for_review", by=officer, expected_version=agreement.version)
        db.session.commit()
        version = agreement.version
    page = Browser(base)
    page.sign_in(legal_email, factories.PASSWORD)
    html = page.get(f"/agreements/{agreement_id}")[1]
    assert 'name="step" value="legal_and_head"' in html
    form = {
        "csrf_token": page.token(f"/agreements/{agreement_id}"),
        "version": str(version),
        "decision": "approve",
        "step": "legal_and_head",
    }
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    body = json.dumps({"transition": "approve_review", "step": "legal_and_head"}).encode()
    answers = _race(
        [
            lambda: page.post(f"/agreements/{agreement_id}/actions/approve_review", form, json=True),
            lambda: Browser(base).send(f"/api/v1/agreements/{agreement_id}/transitions", body, headers=headers),
        ]
    )
    statuses = sorted(answer[0] for answer in answers)
    assert statuses == [200, 409], answers
    loser = next(answer for answer in answers if answer[0] == 409)
    assert "already approved" in loser[-1], loser  # the page's (status, body), the API's (status, location, body)
    with app.app_context():
        decisions = db.session.scalars(select(ApprovalDecision)).all()
        assert [(d.step, d.counted_user.email) for d in decisions] == [("legal_and_head", legal_email)]
        assert db.session.get(Agreement, agreement_id).state == "internal_review"


def test_an_organisation_retired_while_it_is_named_a_party_ends_either_party_or_retired_never_both(served):
    """An admin retires a partner at the moment an officer names it a party of a new agreement: one of the two
    is refused (the retirement holds the organisation's row, a new party is read holding it too), never an
    agreement under way whose partner is retired."""
    import re

    from app.organizations.models import Organization

    app, base, ids = served
    admin = Browser(base)
    admin.sign_in(ids["admin"], factories.PASSWORD)
    for round_ in range(4):
        with app.app_context():
            partner = factories.organization(f"raced-{round_}", name_fr=f"Partenaire disputé {round_}")
            db.session.commit()
            partner_id = partner.id
        page = f"/organizations/{partner_id}"
        retire = {"csrf_token": admin.token(page), "reason": "Entered twice"}
        officer, form = _officer_with_a_new_agreement_form(base, {**ids, "partner": partner_id}, f"Course {round_}")
        calls = [
            lambda page=page, retire=retire: admin.post(f"{page}/retire", retire),
            lambda officer=officer, form=form: officer.post("/agreements/new", form),
        ]
        answers = _race(calls)
        assert all(status < 500 for status, _ in answers), answers
        with app.app_context():
            retired = db.session.get(Organization, partner_id).retired_at is not None
            named = _agreements_titled(app, f"Course {round_}")
        said = [re.sub(r"\s+", " ", body)[:300] for _, body in answers]
        assert retired != bool(named), (round_, retired, named, said)


def test_one_spreadsheet_imported_twice_at_once_makes_its_agreements_once(served):
    """Two imports of one file at once (two colleagues, two tabs): each checks the titles before it writes, so
    without taking turns each found the other's new. One makes the agreements; the other is refused."""
    from app.api.tokens import create_token
    from app.auth.models import User

    app, base, ids = served
    with app.app_context():
        people = [db.session.scalar(select(User).where(User.email == ids[role])) for role in ("manager", "admin")]
        secrets = [create_token(person, "import", by=person)[1] for person in people]
        db.session.commit()
    boundary = "sharaka-import-race"
    for round_ in range(3):
        title = f"Importé deux fois à la fois {round_}"
        spreadsheet = f"type;title_fr;partners\nmou;{title};Partner A\n".encode()
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n".encode()
            + spreadsheet
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = [
            {"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Bearer {secret}"}
            for secret in secrets
        ]
        answers = _race(
            [(lambda h=h, b=body: Browser(base).send("/api/v1/agreements/import", b, headers=h)) for h in headers]
        )
        statuses = sorted(status for status, _location, _body in answers)
        assert statuses[0] == 201 and statuses[1] in (409, 422), answers
        with app.app_context():
            made = db.session.scalar(select(func.count()).select_from(Agreement).where(Agreement.title_fr == title))
            assert made == 1, round_
