"""The partner's portal keeps what they handed in in sight until the ministry reviews it."""

from __future__ import annotations

import html
import re

from app.auth.models import DeliverableGrant
from app.deliverables import services as deliverables
from app.extensions import db
from tests.bulk import counting_queries
from tests.integration.test_api import PDF, plan, upload


def _handed_in(world, count: int) -> list:
    partner, manager = world.users["partner"], world.users["manager"]
    occurrences = []
    for _ in range(count):
        occurrence = plan(world.agreement_a, world.partner_a, manager, days=40)
        deliverables.submit(occurrence, [upload(PDF)], note=None, by=partner, expected_version=occurrence.version)
        occurrences.append(occurrence)
    db.session.commit()
    db.session.expire_all()
    return occurrences


def _section(page: str) -> str:
    match = re.search(r'<section[^>]*aria-labelledby="handed-in-heading".*?</section>', page, re.S)
    return match.group(0) if match else ""


def test_a_handed_in_report_stays_on_the_portal_until_it_is_reviewed(signed_in, world):
    (occurrence,) = _handed_in(world, 1)
    page = signed_in("partner").get("/portal").get_data(as_text=True)
    section = _section(page)
    assert "Handed in, awaiting review" in section
    assert section.count("handed-in-item") == 1
    assert f'href="/deliverables/{occurrence.id}"' in section
    assert world.agreement_a.reference in section and "Report" in section
    assert "<time datetime=" in section  # when it was handed in
    assert "more" not in html.unescape(section)

    # Another organisation's partner does not see it; nor does a colleague not granted that agreement's reports.
    assert "handed-in-item" not in signed_in("partner_b").get("/portal").get_data(as_text=True)
    restricted = world.users["partner"]
    restricted.deliverables_restricted = True
    db.session.commit()
    assert "handed-in-item" not in signed_in("partner").get("/portal").get_data(as_text=True)
    db.session.add(DeliverableGrant(user_id=restricted.id, agreement_id=world.agreement_a.id))
    db.session.commit()
    assert "handed-in-item" in signed_in("partner").get("/portal").get_data(as_text=True)


def test_once_reviewed_it_leaves_the_awaiting_section(signed_in, world):
    (occurrence,) = _handed_in(world, 1)
    deliverables.review(
        occurrence, decision="accept", feedback=None, by=world.users["manager"], expected_version=occurrence.version
    )
    db.session.commit()
    page = signed_in("partner").get("/portal").get_data(as_text=True)
    assert "handed-in-item" not in page and "feedback-item" in page


def test_the_most_recent_few_are_listed_and_the_rest_a_link_away(signed_in, world):
    _handed_in(world, deliverables.PORTAL_HANDED_IN + 2)
    section = html.unescape(_section(signed_in("partner").get("/portal").get_data(as_text=True)))
    assert section.count("handed-in-item") == deliverables.PORTAL_HANDED_IN
    assert "and 2 more" in section
    assert f'href="/deliverables/?status=submitted&partner={world.partner_a.id}"' in section


def test_the_awaiting_lines_cost_no_statement_each(signed_in, world):
    client = signed_in("partner")
    counts = []
    for count in (1, 3):
        _handed_in(world, count)
        client.get("/portal")
        with counting_queries() as statements:
            page = client.get("/portal").get_data(as_text=True)
        assert page.count("handed-in-item") >= count
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
