"""Reading parts of pages in tests."""

from __future__ import annotations


def partner_turns(client) -> str:
    """The "your turn" section of the signed-in partner's portal (the negotiations waiting on their
    organisation's answer, one data-agreement="REFERENCE" each), or "" when none waits."""
    page = client.get("/portal").get_data(as_text=True)
    if 'id="your-turn-heading"' not in page:
        return ""
    return page.split('id="your-turn-heading"')[1].split("</section>")[0]


def act(client, agreement, name, **data):
    """Take the workflow move `name` from the agreement's page, as its form sends it (the version it shows)."""
    from app.extensions import db

    db.session.refresh(agreement)
    return client.post(
        f"/agreements/{agreement.id}/actions/{name}",
        data={"version": str(agreement.version), **data},
        csrf_from=f"/agreements/{agreement.id}",
    )
