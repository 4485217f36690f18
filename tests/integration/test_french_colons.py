"""A label and its value are joined by the one rule, colon(): French writes a no-break space before the
colon. The negotiation's "Accepted by" column and the verify page's fingerprint had a bare ":" of their own
("Ministère: Youssef", "SHA-256: …"), unlike every other label of the same pages."""

import pytest

from app.core import clock
from app.extensions import db
from tests import factories
from tests.integration.test_verify_copy import V2, check, negotiated  # noqa: F401  (fixture)

NBSP = "\u00a0"


@pytest.fixture
def in_french(world):
    world.users["officer"].language = "fr"
    db.session.commit()


def test_who_accepted_a_version_is_written_with_the_french_colon(world, signed_in, negotiated, in_french):
    page = signed_in("officer").get(f"/agreements/{negotiated.id}").get_data(as_text=True)
    accepted = page.split('<bdi class="fw-semibold">Ministère</bdi>')[1][:20]
    assert accepted.startswith(f"{NBSP}:"), accepted


def test_the_verify_page_writes_the_fingerprint_with_the_french_colon(world, signed_in, negotiated, in_french):
    page = check(signed_in("officer"), V2 + b"changed").get_data(as_text=True)
    assert f"<bdi>SHA-256</bdi>{NBSP}:" in page


def test_the_calendar_tooltip_writes_the_kind_with_the_french_colon(world, signed_in, in_french):
    factories.agreement(
        by=world.users["officer"],
        partners=[world.partner_a],
        state="active",
        title_fr="Fin ce mois-ci",
        expires_on=clock.today(),
    )
    db.session.commit()
    page = signed_in("officer").get("/portfolio/calendar").get_data(as_text=True)
    tooltips = [part.split('"')[0] for part in page.split('title="Fin d')[1:]]
    assert tooltips and all(f"accord{NBSP}: " in tooltip for tooltip in tooltips), tooltips
