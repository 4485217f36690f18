"""Importing a portfolio in a real browser: a manager sends a spreadsheet with one row Sharaka cannot read
(nothing is imported, the row says why), then the corrected file (every row imported, the signed one at the
signature stage); the verdicts read right in Arabic on a phone."""

from __future__ import annotations

import time

from tests.browser.conftest import account, navigate, sign_in, switch_language


def test_a_manager_imports_a_spreadsheet(live_server, page, artifacts, demo_accounts, tmp_path):
    manager = account(demo_accounts, "manager")
    sign_in(page, live_server, manager["email"], manager["password"])
    language = page.locator("select[name=language]").input_value()
    switch_language(page, "ar")
    page.set_viewport_size({"width": 390, "height": 844})
    stamp = int(time.time() * 1000)
    rows = [
        "type;title_fr;title_ar;partners;signed_on;expires_on",
        f"mou;Mémorandum repris {stamp} (illustratif);مذكرة مستوردة {stamp};UM6P;15/07/2025;14/07/2028",
        f"convention;Convention reprise {stamp} (illustratif);;Mistral AI;;",
        f"protocol;Protocole {stamp} (illustratif);;Organisme inconnu {stamp};;",
    ]
    spreadsheet = tmp_path / "portefeuille.csv"
    spreadsheet.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    page.goto(live_server + "/agreements/")
    navigate(page, lambda: page.click("#import-link"))
    page.set_input_files("#file", str(spreadsheet))
    page.fill("#reason", "Signé lors de la cérémonie de juillet 2025 (illustratif)")
    navigate(page, lambda: page.click("#import-submit"))
    page.locator("#import-row-4.table-danger").wait_for()
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.locator("#import-row-2.table-danger").count() == 0
    page.screenshot(path=str(artifacts / "import-01-refused-ar-phone.png"), full_page=True)

    spreadsheet.write_text("\n".join(rows[:3]) + "\n", encoding="utf-8-sig")
    page.set_input_files("#file", str(spreadsheet))
    page.fill("#reason", "Signé lors de la cérémonie de juillet 2025 (illustratif)")
    navigate(page, lambda: page.click("#import-submit"))
    page.locator("#import-done").wait_for()
    assert page.locator("#import-done li").count() == 2
    page.screenshot(path=str(artifacts / "import-02-done-ar-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    switch_language(page, language)  # the demo manager's own, as the other tests expect it
