"""The agreement page's Actions card: what each move says to its reader when it cannot be taken."""

from app.api.tokens import create_token
from app.core import clock
from app.core.templating import written_date
from app.extensions import db
from tests import factories


def _move(page: str, name: str) -> str:
    """The Actions card's item for the move `name`."""
    return page.split(f'id="action-{name}"')[1].split('class="list-group-item')[0]


def _act(client, agreement, name, **data):
    db.session.refresh(agreement)
    form = {"version": str(agreement.version), **data}
    return client.post(f"/agreements/{agreement.id}/actions/{name}", data=form, csrf_from=f"/agreements/{agreement.id}")


def test_an_approver_who_approved_reads_a_status_not_a_greyed_button(app, world, signed_in):
    """A manager approves a MoU's review, which also waits for the legal adviser: the card kept a greyed
    "Approve" button, "Not possible yet: Karim Exemple has already approved this step" (the reader named in the
    third person, and it never becomes possible). It says now, in the reader's language, that they approved on
    that day and what it waits for, with no button; the API's list of moves says the same."""
    manager = world.users["manager"]
    manager.language = "ar"
    mou = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="MoU approuvé")
    db.session.commit()
    assert _act(signed_in("officer"), mou, "submit_for_review").status_code == 303
    client = signed_in(manager)
    assert _act(client, mou, "approve_review", decision="approve").status_code == 303

    move = _move(client.get(f"/agreements/{mou.id}").get_data(as_text=True), "approve_review")
    assert "disabled" not in move and "غير ممكن بعد" not in move and manager.full_name not in move
    assert "data-own-decision" in move and "لقد وافقت على هذه الخطوة" in move

    manager.language = "en"
    db.session.commit()
    move = _move(signed_in(manager).get(f"/agreements/{mou.id}").get_data(as_text=True), "approve_review")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        today = written_date(clock.today())
    assert f"You already approved this step on {today}; it now waits for the other approvers." in move
    assert "Not possible yet" not in move

    api = app.test_client()
    secret = create_token(manager, "script", by=manager)[1]
    db.session.commit()
    listed = api.get(
        f"/api/v1/agreements/{mou.id}/transitions",
        headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"},
    ).get_json()
    approve = next(option for option in listed if option["name"] == "approve_review")
    assert approve["allowed"] is False
    assert approve["reasons"] == [f"You already approved this step on {today}; it now waits for the other approvers."]
