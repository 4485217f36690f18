"""`flask workflows check` on today's accounts: steps nobody could approve, required approvers
without an account (warnings), and impossible quorums (errors, with the file)."""

from pathlib import Path

import pytest
import yaml

from app.extensions import db
from app.workflow.checks import account_warnings
from app.workflow.definitions import load_directory

ROOT = Path(__file__).resolve().parents[2]


def _copy(tmp_path, change):
    for path in (ROOT / "workflows").glob("*.yaml"):
        body = yaml.safe_load(path.read_text())
        change(path.name, body)
        (tmp_path / path.name).write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return tmp_path


def test_the_shipped_workflows_have_approvers_among_the_test_accounts(app, world):
    assert account_warnings(load_directory(ROOT / "workflows")) == []
    result = app.test_cli_runner().invoke(args=["workflows", "check"])
    assert result.exit_code == 0 and "warning" not in result.output


def test_a_step_nobody_can_approve_is_a_warning(app, world):
    world.users["legal"].is_active_account = False
    db.session.flush()
    warnings = account_warnings(load_directory(ROOT / "workflows"))
    assert any("mou: approve_review/legal_and_head: required role 'legal' has no active account" in w for w in warnings)
    assert any("quorum 2 but only 1 active account(s) can approve" in w for w in warnings)


def test_a_required_user_without_an_account_is_unreachable(app, world, tmp_path):
    def change(name, body):
        if name == "mou.yaml":
            step = next(t for t in body["transitions"] if t["name"] == "approve_review")["approval"]["steps"][0]
            step.update(users=["sg@ministere.example"], required_users=["sg@ministere.example"], quorum=3)

    _copy(tmp_path, change)
    result = app.test_cli_runner().invoke(args=["workflows", "check", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (
        "required approver sg@ministere.example has no active account — this step can never complete" in result.output
    )


def test_an_impossible_quorum_fails_the_check_with_its_file(app, tmp_path):
    def change(name, body):
        if name == "convention.yaml":
            body["transitions"][0]["approval"]["steps"][0]["quorum"] = 4

    _copy(tmp_path, change)
    result = app.test_cli_runner().invoke(args=["workflows", "check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "convention.yaml:" in result.output and "quorum 4 is more than its" in result.output


def _first_transition_to_a_list(body):
    body["transitions"][0]["to"] = [body["transitions"][0]["to"]]


@pytest.mark.parametrize(
    "file, change, said",
    [
        ("mou.yaml", _first_transition_to_a_list, "to must name one state"),
        ("mou.yaml", lambda body: body.update(transitions={"a": 1}), "transitions must be a list"),
        ("mou.yaml", lambda body: body.update(transitions=["a", "b"]), "transitions must be a list"),
        ("mou.yaml", lambda body: body.update(states=["a", "b"]), "states must be a mapping"),
        ("convention.yaml", lambda body: body.update(states=["a"]), "states must be a mapping"),
        ("convention.yaml", lambda body: body.update(extends=["mou"]), "extends must name one workflow"),
        ("convention.yaml", lambda body: body.update(type=["convention"]), "type must be one agreement type"),
    ],
)
def test_a_file_of_the_wrong_shape_is_said_with_its_file_not_a_traceback(app, tmp_path, file, change, said):
    """A list where a name or a mapping belongs (`to: [a]`, written as `from` is) stopped the check and the
    app's start with a Python traceback (a probe's find)."""

    def changed(name, body):
        if name == file:
            change(body)

    _copy(tmp_path, changed)
    result = app.test_cli_runner().invoke(args=["workflows", "check", "--dir", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"{file}:" in result.output and said in result.output, result.output


@pytest.mark.parametrize(("language", "step_word"), [("fr", "niveau 1\u00a0sur"), ("ar", "الخطوة 1\u00a0من")])
def test_a_stranded_step_is_named_as_the_approval_mail_names_it(app, world, language, step_word):
    """A step waiting on nobody (the dashboard's warning) is named with the word the approver's mail and the
    approvals panel use: "étape 1 sur 2" on the dashboard and "niveau 1 sur 2" in the mail had read as two
    different things."""
    from flask_babel import force_locale

    from app.notifications.messages import detail
    from app.workflow.checks import StrandedStep

    definitions = load_directory(ROOT / "workflows")
    definition, transition = next(
        (d, t) for d in definitions.values() for t in d.transitions if t.approval and len(t.approval.steps) > 1
    )
    with app.test_request_context(), force_locale(language):
        warning = StrandedStep(definition, transition, transition.approval.steps[0]).label
        mail = detail("approval_requested", {"transition": "x", "step": 1, "steps": 2, "title": "t"})
    assert step_word in mail
    assert step_word in warning
