"""An officer amends an active agreement from its page: "Amend" among its actions opens the new-agreement form
with the type, the agreement and its parties chosen, and the amendment is saved. Not offered on a draft (only a
signed agreement is amended), nor to a partner."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import account, navigate, sign_in

ACTIVE = "MTNRA-2025-007"  # a protocol in force with Crédit Agricole du Maroc (GCAM), Youssef's
DRAFT = "MTNRA-2026-006"


def _open(page, base: str, reference: str) -> str:
    """Open the agreement `reference` from the list, as a person does; its page's URL."""
    page.goto(f"{base}/agreements/?q={reference}", wait_until="load")
    navigate(page, page.locator("a", has_text=reference).first.click)
    expect(page.locator("h1 .reference")).to_have_text(reference)
    return page.url


def test_an_officer_amends_an_active_agreement_from_its_page(live_server, page, demo_accounts):
    officer = account(demo_accounts, "officer")
    sign_in(page, live_server, officer["email"], officer["password"])
    parent_url = _open(page, live_server, ACTIVE)
    parent_id = parent_url.rstrip("/").rsplit("/", 1)[1]

    amend = page.locator("#action-amend [data-amend]")
    expect(amend).to_be_visible()
    navigate(page, amend.click)

    assert re.search(r"/agreements/new\?", page.url)
    expect(page.locator("select[name=type]")).to_have_value("amendment")
    expect(page.locator("select[name=parent_id]")).to_have_value(parent_id)
    partners = page.locator("select[name=partners]").evaluate("s => [...s.selectedOptions].map(o => o.text)")
    # In Youssef's language (Arabic in the demo; another browser test on this server may have changed it).
    assert len(partners) == 1 and ("القرض الفلاحي" in partners[0] or "Crédit Agricole" in partners[0]), partners

    page.fill("input[name=title_fr]", "Avenant n° 1 au protocole GCAM")
    navigate(page, page.locator("form button[type=submit]").last.click)

    assert re.search(r"/agreements/\d+$", page.url) and page.url != parent_url
    expect(page.locator(".alert-success")).to_be_visible()
    related = page.locator("section[aria-labelledby=related-heading]")
    expect(related.locator("a.reference", has_text=ACTIVE)).to_be_visible()
    # The amendment just made is a draft: not amended itself.
    expect(page.locator("[data-amend]")).to_have_count(0)


def test_no_amend_on_a_draft_nor_for_a_partner(live_server, page, demo_accounts):
    manager = account(demo_accounts, "manager")
    sign_in(page, live_server, manager["email"], manager["password"])
    _open(page, live_server, DRAFT)
    expect(page.locator("#actions-heading")).to_be_visible()  # its moves are offered, Amend is not among them
    expect(page.locator("[data-amend]")).to_have_count(0)

    partner = account(demo_accounts, "partner", "GCAM")
    sign_in(page, live_server, partner["email"], partner["password"])
    _open(page, live_server, ACTIVE)
    expect(page.locator("[data-amend]")).to_have_count(0)
