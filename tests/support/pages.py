"""Reading parts of pages in tests."""

from __future__ import annotations


def partner_turns(client) -> str:
    """The "your turn" section of the signed-in partner's portal (the negotiations waiting on their
    organisation's answer, one data-agreement="REFERENCE" each), or "" when none waits."""
    page = client.get("/portal").get_data(as_text=True)
    if 'id="your-turn-heading"' not in page:
        return ""
    return page.split('id="your-turn-heading"')[1].split("</section>")[0]
