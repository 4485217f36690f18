"""A form sent twice from a real browser's page makes one agreement."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import account, choose, navigate, sign_in


def _new_agreement_form_filled(page, live_server, demo_accounts, title: str) -> None:
    """An officer's new-agreement form, an MoU with Mistral AI titled `title`, not sent yet."""
    officer = account(demo_accounts, "officer")
    sign_in(page, live_server, officer["email"], officer["password"])
    page.goto(live_server + "/agreements/new")
    page.select_option("select[name=type]", "mou")
    page.fill("input[name=title_fr]", title)
    choose(page, "partners", "Mistral")


def test_the_new_agreement_form_sent_twice_makes_one_agreement(live_server, page, artifacts, demo_accounts):
    title = "Protocole double clic (browser test)"
    _new_agreement_form_filled(page, live_server, demo_accounts, title)
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


def test_back_to_a_new_agreement_form_once_sent_finds_it_empty(live_server, page, demo_accounts):
    """Made, then the browser's Back: Chrome had filled the form again with what was sent, under the page's new
    form key, and sending it again made a second agreement. A form that makes something new is not refilled."""
    title = "Protocole retour arrière (browser test)"
    _new_agreement_form_filled(page, live_server, demo_accounts, title)
    navigate(page, page.locator("form:has(input[name=title_fr]) button[type=submit]").last.click)
    expect(page.get_by_text(title).first).to_be_visible()
    navigate(page, page.go_back)
    page.locator("input[name=title_fr]").wait_for()
    assert page.locator("input[name=title_fr]").input_value() == ""
