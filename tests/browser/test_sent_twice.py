"""A form sent twice from a real browser's page makes one agreement."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import account, choose, navigate, sign_in


def test_the_new_agreement_form_sent_twice_makes_one_agreement(live_server, page, artifacts, demo_accounts):
    officer = account(demo_accounts, "officer")
    sign_in(page, live_server, officer["email"], officer["password"])
    page.goto(live_server + "/agreements/new")
    page.select_option("select[name=type]", "mou")
    title = "Protocole double clic (browser test)"
    page.fill("input[name=title_fr]", title)
    choose(page, "partners", "Mistral")
    # Chrome itself drops a second click while the first send is on its way; a flaky network's retry, or a
    # second tab restored with the same page, is not so polite. The form as drawn, sent twice at once:
    statuses = page.evaluate(
        """async () => {
            const form = document.querySelector("form[action$='/agreements/new']");
            const send = () => fetch(form.action, {method: "POST", body: new FormData(form), redirect: "manual"});
            const answers = await Promise.all([send(), send()]);
            return answers.map(answer => answer.type);
        }"""
    )
    assert statuses == ["opaqueredirect", "opaqueredirect"], statuses
    page.goto(live_server + "/agreements/?q=" + "double clic")
    expect(page.locator("table tbody tr", has_text=title)).to_have_count(1)
    navigate(page, page.locator("table tbody tr", has_text=title).locator("a").first.click)
    expect(page.get_by_text(title).first).to_be_visible()
    page.screenshot(path=str(artifacts / "70-form-sent-twice-one-agreement.png"), full_page=True)
