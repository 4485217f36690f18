"""A form sent twice, or an API call sent again with its Idempotency-Key, changes things once.

(Two sent at the same moment, through a real server: tests/integration/test_concurrency.py.)
"""

import json
import re
from datetime import timedelta
from io import BytesIO

import pytest
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.core import clock
from app.core.receipts import RequestReceipt
from app.deliverables.models import Submission
from app.discussions.models import DiscussionMessage
from app.extensions import db
from tests import factories
from tests.integration.test_api import NEW_AGREEMENT, P, api, assert_problem, fill, ids, tokens  # noqa: F401  (fixtures)
from tests.integration.test_deliverables import PDF, due  # noqa: F401  (a fixture)

KEY = re.compile(r'name="form_key" value="([^"]+)"')


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _new_agreement_form(client, world, title="Envoyé deux fois"):
    page = client.get("/agreements/new").get_data(as_text=True)
    keys = KEY.findall(page)
    assert len(keys) == 1, "the new-agreement form carries one key"
    return {
        "csrf_token": client.csrf("/agreements/new"),
        "form_key": keys[0],
        "type": "mou",
        "title_fr": title,
        "partners": [str(world.partner_a.id)],
        "owner_id": str(world.users["officer"].id),
    }


def test_a_form_sent_twice_makes_one_agreement_and_both_answers_lead_to_it(world, signed_in):
    officer = signed_in("officer")
    form = _new_agreement_form(officer, world)
    first = officer.http.post("/agreements/new", data=form)
    second = officer.http.post("/agreements/new", data=form)
    assert first.status_code in (302, 303) and second.status_code == 303
    assert second.location == first.location
    assert _count(Agreement, Agreement.title_fr == "Envoyé deux fois") == 1
    page = officer.get(second.location).get_data(as_text=True)
    assert "already been sent" in page
    # A page drawn again has a new key: the same person may make a second agreement on purpose.
    again = officer.http.post("/agreements/new", data=_new_agreement_form(officer, world))
    assert again.status_code in (302, 303) and again.location != first.location
    assert _count(Agreement, Agreement.title_fr == "Envoyé deux fois") == 2


def test_each_drawing_of_a_form_has_its_own_key(world, signed_in):
    officer = signed_in("officer")
    keys = {KEY.search(officer.get("/agreements/new").get_data(as_text=True)).group(1) for _ in range(3)}
    assert len(keys) == 3


def test_a_refused_form_corrected_and_sent_again_with_its_key_is_made(world, signed_in):
    officer = signed_in("officer")
    form = _new_agreement_form(officer, world)
    refused = officer.http.post("/agreements/new", data={**form, "partners": []})
    assert refused.status_code == 422
    made = officer.http.post("/agreements/new", data=form)
    assert made.status_code in (302, 303)
    assert _count(Agreement, Agreement.title_fr == "Envoyé deux fois") == 1


def test_keys_are_each_persons_own(world, signed_in):
    officer, colleague = signed_in("officer"), signed_in("other_officer")
    form = _new_agreement_form(officer, world)
    assert officer.http.post("/agreements/new", data=form).status_code in (302, 303)
    theirs = {**form, "csrf_token": colleague.csrf("/agreements/new"), "owner_id": str(world.users["other_officer"].id)}
    assert colleague.http.post("/agreements/new", data=theirs).status_code in (302, 303)
    assert _count(Agreement, Agreement.title_fr == "Envoyé deux fois") == 2


def test_a_key_sent_to_another_form_is_refused_with_a_reason(world, signed_in):
    officer = signed_in("officer")
    form = _new_agreement_form(officer, world)
    officer.http.post("/agreements/new", data=form)
    agreement = db.session.scalar(select(Agreement).where(Agreement.title_fr == "Envoyé deux fois"))
    before = _count(DiscussionMessage)
    answer = officer.http.post(
        f"/agreements/{agreement.id}/threads/internal/messages",
        data={"csrf_token": form["csrf_token"], "form_key": form["form_key"], "body": "Bonjour"},
    )
    assert answer.status_code == 422
    assert "already used for something else" in answer.get_data(as_text=True)
    assert _count(DiscussionMessage) == before


def test_a_form_changed_and_sent_again_under_its_used_key_is_a_new_request(world, signed_in):
    """The back button, an edit, send: the person means a second agreement."""
    officer = signed_in("officer")
    form = _new_agreement_form(officer, world)
    first = officer.http.post("/agreements/new", data=form)
    second = officer.http.post("/agreements/new", data={**form, "title_fr": "Un autre"})
    assert second.status_code in (302, 303) and second.location != first.location
    assert "already been sent" not in officer.get(second.location).get_data(as_text=True)
    assert _count(Agreement, Agreement.title_fr.in_(["Envoyé deux fois", "Un autre"])) == 2
    # The changed form took the key over: sent once more, it is its repeat.
    third = officer.http.post("/agreements/new", data={**form, "title_fr": "Un autre"})
    assert third.location == second.location
    assert _count(Agreement, Agreement.title_fr == "Un autre") == 1


def test_content_sent_before_and_replaced_since_is_refused_not_done_again(world, signed_in):
    """Under one key, each content is done once. "A, B, then A again": doing A again could make a second A;
    answering as the first time would leave B standing. The person is told to reload."""
    from app.auth.models import User

    officer = signed_in("officer")
    page = officer.get("/account").get_data(as_text=True)
    form = {"csrf_token": officer.csrf("/account"), "form_key": KEY.search(page).group(1), "language": "en"}
    for name in ("Hind X", "Hind Y"):
        assert officer.http.post("/account", data={**form, "full_name": name}).status_code in (302, 303)
    again = officer.http.post("/account", data={**form, "full_name": "Hind X"})
    assert again.status_code == 409 and "reload the page" in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, world.users["officer"].id).full_name == "Hind Y"
    # A page drawn again sends it.
    fresh = officer.get("/account").get_data(as_text=True)
    form["form_key"] = KEY.search(fresh).group(1)
    assert officer.http.post("/account", data={**form, "full_name": "Hind X"}).status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(User, world.users["officer"].id).full_name == "Hind X"


def test_a_create_form_sent_as_a_b_a_b_makes_one_of_each(world, signed_in):
    officer = signed_in("officer")
    form = _new_agreement_form(officer, world, title="A")
    answers = [officer.http.post("/agreements/new", data={**form, "title_fr": title}) for title in "ABAB"]
    assert [answer.status_code for answer in answers][:2] == [302, 302] and answers[2].status_code == 409
    assert answers[3].location == answers[1].location  # B is the key's last content: its repeat is answered
    assert _count(Agreement, Agreement.title_fr == "A") == 1 and _count(Agreement, Agreement.title_fr == "B") == 1


def test_a_refusal_that_redirects_is_not_kept(world, signed_in, due):
    """A hand-in refused for its file redirects back with the reason: sent again, it is refused again, with
    the same reason, not "already sent"."""
    mine, _ = due
    partner = signed_in("partner")
    page = partner.get(f"/deliverables/{mine.id}").get_data(as_text=True)
    data = {"csrf_token": partner.csrf(f"/deliverables/{mine.id}"), "form_key": KEY.search(page).group(1)}
    data.update(version=str(mine.version), note="T1")
    for _ in range(2):
        sent = {**data, "files": [(BytesIO(b"plain text, not a PDF"), "rapport.pdf")]}
        answer = partner.http.post(
            f"/deliverables/{mine.id}/submissions", data=sent, content_type="multipart/form-data"
        )
        assert answer.status_code == 303
        shown = partner.get(answer.location).get_data(as_text=True)
        assert "not accepted" in shown and "already been sent" not in shown
    assert _count(RequestReceipt) == 0 and _count(Submission, Submission.occurrence_id == mine.id) == 0


def test_a_page_form_that_asks_for_json_is_sent_once(world, signed_in):
    officer = signed_in("officer")
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    db.session.commit()
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    form = {"csrf_token": officer.csrf(f"/agreements/{agreement.id}"), "form_key": KEY.search(page).group(1)}
    form["body"] = "En JSON"
    path = f"/agreements/{agreement.id}/threads/internal/messages"
    answers = [officer.http.post(path, data=form, headers={"Accept": "application/json"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[1].get_json() == answers[0].get_json() and answers[1].headers["Idempotent-Replayed"] == "true"
    assert _count(DiscussionMessage, DiscussionMessage.body == "En JSON") == 1


def test_a_hand_in_sent_twice_is_handed_in_once_and_another_file_is_not_a_repeat(world, signed_in, due):
    mine, _ = due
    partner = signed_in("partner")
    page = partner.get(f"/deliverables/{mine.id}").get_data(as_text=True)
    key = KEY.search(page).group(1)
    csrf = partner.csrf(f"/deliverables/{mine.id}")

    def hand_in(body):
        data = {"csrf_token": csrf, "form_key": key, "version": str(mine.version), "note": "T1"}
        data["files"] = [(BytesIO(body), "rapport.pdf")]
        return partner.http.post(f"/deliverables/{mine.id}/submissions", data=data, content_type="multipart/form-data")

    first, second = hand_in(PDF), hand_in(PDF)
    assert first.status_code == second.status_code == 303 and first.location == second.location
    assert "already been sent" in partner.get(second.location).get_data(as_text=True)
    assert _count(Submission, Submission.occurrence_id == mine.id) == 1
    # The same name, other bytes: not the same hand-in (here refused: the page it came from is out of date).
    other = hand_in(PDF + b"%v2")
    assert "already been sent" not in partner.get(other.location).get_data(as_text=True)
    assert _count(Submission, Submission.occurrence_id == mine.id) == 1


def test_a_key_is_kept_a_day(world, signed_in):
    officer = signed_in("officer")
    form = _new_agreement_form(officer, world)
    officer.http.post("/agreements/new", data=form)
    with clock.frozen(clock.utcnow() + timedelta(hours=25)):
        officer = signed_in("officer")  # the day's session has ended
        later = officer.http.post("/agreements/new", data={**form, "csrf_token": officer.csrf("/agreements/new")})
        assert later.status_code in (302, 303) and "/agreements/" in later.location
        assert "already been sent" not in officer.get(later.location).get_data(as_text=True)
        # Its own receipt is kept and the stale one forgotten: one per key.
        assert _count(RequestReceipt, RequestReceipt.key == form["form_key"]) == 1
    assert _count(Agreement, Agreement.title_fr == "Envoyé deux fois") == 2


def test_the_daily_purge_forgets_the_receipts_of_people_who_never_came_back(app, world, signed_in):
    from app.operations.models import JobStatus
    from app.scheduler import receipts_purge_job

    officer = signed_in("officer")
    officer.http.post("/agreements/new", data=_new_agreement_form(officer, world))
    with clock.frozen(clock.utcnow() + timedelta(hours=12)):
        colleague = signed_in("other_officer")  # signed in then: a session does not idle for 12 hours
        colleague.http.post("/agreements/new", data=_new_agreement_form(colleague, world, title="Plus tard"))
    assert _count(RequestReceipt) == 2
    with clock.frozen(clock.utcnow() + timedelta(hours=25)):  # the first officer's day is over, the other's is not
        receipts_purge_job(app)
    assert _count(RequestReceipt) == 1
    assert _count(RequestReceipt, RequestReceipt.user_id == world.users["other_officer"].id) == 1
    job = db.session.get(JobStatus, "receipts-purge")
    assert job.last_counts == {"removed": 1} and job.last_error is None
    assert _count(Agreement, Agreement.title_fr.in_(("Envoyé deux fois", "Plus tard"))) == 2  # the work stays


def test_a_key_we_did_not_draw_is_not_taken_for_one(world, signed_in):
    officer = signed_in("officer")
    form = _new_agreement_form(officer, world)
    for _ in range(2):
        answer = officer.http.post("/agreements/new", data={**form, "form_key": "é" * 10 + "\x7f"})
        assert answer.status_code in (302, 303)
    assert _count(Agreement, Agreement.title_fr == "Envoyé deux fois") == 2
    assert _count(RequestReceipt) == 0


def test_a_message_posted_twice_appears_once(world, signed_in):
    officer = signed_in("officer")
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    db.session.commit()
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    key = KEY.search(page).group(1)
    form = {"csrf_token": officer.csrf(f"/agreements/{agreement.id}"), "form_key": key, "body": "Une fois"}
    answers = [officer.http.post(f"/agreements/{agreement.id}/threads/internal/messages", data=form) for _ in range(2)]
    assert [a.status_code for a in answers] == [303, 303]
    assert _count(DiscussionMessage, DiscussionMessage.body == "Une fois") == 1


def test_a_workflow_move_sent_twice_answers_as_the_first_did(world, signed_in):
    officer = signed_in("officer")
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    db.session.commit()
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert KEY.search(page), "the agreement's forms carry keys"
    form = {
        "csrf_token": officer.csrf(f"/agreements/{agreement.id}"),
        "form_key": KEY.search(page).group(1),
        "version": str(agreement.version),
    }
    first = officer.http.post(f"/agreements/{agreement.id}/actions/submit_for_review", data=form)
    second = officer.http.post(f"/agreements/{agreement.id}/actions/submit_for_review", data=form)
    assert first.status_code == second.status_code == 303 and first.location == second.location
    shown = officer.get(second.location).get_data(as_text=True)
    assert "already been sent" in shown and "has changed since you opened it" not in shown


# --- the API's Idempotency-Key ------------------------------------------------------------------


@pytest.fixture
def new_agreement(ids):
    return fill(NEW_AGREEMENT, ids)


def test_an_api_call_sent_again_with_its_key_gets_the_same_answer(api, new_agreement):
    officer = api("officer")
    headers = {"Idempotency-Key": "create-42"}
    before = _count(Agreement)
    first = officer.post(f"{P}/agreements", json=new_agreement, headers=headers)
    second = officer.post(f"{P}/agreements", json=new_agreement, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert second.headers.get("Location") == first.headers.get("Location")
    assert _count(Agreement) == before + 1
    # Without a key, or with another, a call is a call.
    officer.post(f"{P}/agreements", json=new_agreement)
    officer.post(f"{P}/agreements", json=new_agreement, headers={"Idempotency-Key": "create-43"})
    assert _count(Agreement) == before + 3


def test_an_api_key_used_for_another_call_is_refused(api, new_agreement, ids):
    officer = api("officer")
    officer.post(f"{P}/agreements", json=new_agreement, headers={"Idempotency-Key": "k-1"})
    other = officer.patch(f"{P}/agreements/{ids['draft']}", json={"notes": "x"}, headers={"Idempotency-Key": "k-1"})
    problem = assert_problem(other, 422)
    assert "Idempotency-Key" in problem["detail"]


def test_a_large_api_answer_is_given_again_whole(api, new_agreement):
    officer = api("officer")
    body = {**new_agreement, "summary_ar": "ملخص " * 3000, "summary_fr": "résumé " * 2500, "notes": "ن" * 20000}
    headers = {"Idempotency-Key": "large"}
    first = officer.post(f"{P}/agreements", json=body, headers=headers)
    spaced = json.dumps(body, indent=2)
    again = officer.post(f"{P}/agreements", data=spaced, headers=headers, content_type="application/json")
    assert first.status_code == again.status_code == 201 and len(first.get_data()) > 100_000
    assert again.get_json() == first.get_json()  # the same JSON, spaced otherwise: the same request


def test_an_api_key_sent_again_with_another_body_is_refused(api, new_agreement):
    officer = api("officer")
    before = _count(Agreement)
    officer.post(f"{P}/agreements", json=new_agreement, headers={"Idempotency-Key": "k-2"})
    changed_body = {**new_agreement, "title_fr": "Autre"}
    changed = officer.post(f"{P}/agreements", json=changed_body, headers={"Idempotency-Key": "k-2"})
    assert "Idempotency-Key" in assert_problem(changed, 422)["detail"]
    assert _count(Agreement) == before + 1


@pytest.mark.parametrize("key", ["x" * 256, "clé", "a b", ""])
def test_a_malformed_api_key_is_refused_before_anything_is_done(api, new_agreement, key):
    before = _count(Agreement)
    answer = api("officer").post(f"{P}/agreements", json=new_agreement, headers={"Idempotency-Key": key})
    assert_problem(answer, 400)
    assert _count(Agreement) == before


def test_a_refused_api_call_is_not_kept(api, new_agreement):
    officer = api("officer")
    headers = {"Idempotency-Key": "fix-and-retry"}
    assert officer.post(f"{P}/agreements", json={**new_agreement, "type": "nope"}, headers=headers).status_code == 422
    assert officer.post(f"{P}/agreements", json=new_agreement, headers=headers).status_code == 201


def test_a_keyed_form_still_counts_as_the_session_being_used(world, signed_in):
    """The claim starts its own transaction: what the request touched before it (the session's last-seen
    time) is kept, not rolled back."""
    from app.auth.models import UserSession

    officer = signed_in("officer")
    form = _new_agreement_form(officer, world)
    later = clock.utcnow() + timedelta(minutes=20)
    with clock.frozen(later):
        assert officer.http.post("/agreements/new", data=form).status_code in (302, 303)
    seen = db.session.scalars(
        select(UserSession.last_seen_at).where(UserSession.user_id == world.users["officer"].id)
    ).all()
    assert later in seen


def test_a_calendar_address_asked_for_twice_is_made_once_and_shown(world, signed_in):
    from app.notifications.models import CalendarFeed

    officer = signed_in("officer")
    page = officer.get("/account/notifications").get_data(as_text=True)
    form_html = re.search(r'<form method="post" action="/account/calendar">(.*?)</form>', page, re.S).group(1)
    form = {"csrf_token": officer.csrf("/account/notifications"), "form_key": KEY.search(form_html).group(1)}
    mine = select(CalendarFeed.token_hash).where(CalendarFeed.user_id == world.users["officer"].id)
    first = officer.http.post("/account/calendar", data=form)
    made = db.session.scalar(mine)
    second = officer.http.post("/account/calendar", data=form)
    assert first.status_code == second.status_code == 303 and second.location == first.location
    assert db.session.scalar(mine) == made  # not replaced by a second address the person never sees
    # The browser follows the last answer: the new address is shown there, once.
    assert ".ics" in officer.get(second.location).get_data(as_text=True)


def test_a_keyed_multipart_call_with_parts_without_a_name_is_answered_not_a_500(api, ids):
    """Its fingerprint sorted the parts by name, and a part without one has None for its name."""
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nx\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\ny\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="body"\r\n\r\nBonjour\r\n--{boundary}--\r\n'
    ).encode()
    response = api("officer").post(
        f"{P}/agreements/{ids['a']}/threads/shared/messages",
        data=body,
        headers={"Idempotency-Key": "nameless-1", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code < 500, response.get_data(as_text=True)
