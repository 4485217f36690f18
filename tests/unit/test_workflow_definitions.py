"""Definition validation: each kind of mistake is reported with its file."""

import copy
from pathlib import Path

import pytest
import yaml

from app.workflow.definitions import DefinitionError, load_directory

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_definitions_are_valid():
    definitions = load_directory(ROOT / "workflows")
    assert set(definitions) == {"mou", "convention", "protocol", "amendment"}
    mou = definitions["mou"]
    assert mou.initial_state == "draft"
    review = mou.transition("approve_review").approval.steps[0]
    assert review.mode == "parallel" and review.quorum == 2 and set(review.required_roles) == {"legal", "manager"}
    # Extends: the protocol is the MoU lifecycle; the convention overrides the review.
    assert [t.name for t in definitions["protocol"].transitions] == [t.name for t in mou.transitions]
    assert len(definitions["convention"].transition("approve_review").approval.steps) == 3  # legal, finance, head
    # Approvals are the ministry's internal work unless a definition shares them with the partner.
    assert not any(t.approval.shared_with_partner for d in definitions.values() for t in d.transitions if t.approval)


def test_an_approval_may_be_shared_with_the_partner(tmp_path):
    def share(base):
        next(t for t in base["transitions"] if t.get("approval"))["approval"]["shared_with_partner"] = True
        return base

    definitions = load_directory(_write(tmp_path, share))
    assert definitions["mou"].transition("approve_review").approval.shared_with_partner is True


def _write(tmp_path, body: dict | str, name: str = "mou.yaml") -> Path:
    base = yaml.safe_load((ROOT / "workflows" / "mou.yaml").read_text())
    text = body if isinstance(body, str) else yaml.safe_dump(body(base) if callable(body) else body, allow_unicode=True)
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def _problems(tmp_path) -> str:
    with pytest.raises(DefinitionError) as caught:
        load_directory(tmp_path)
    return "\n".join(f"{file}: {message}" for file, message in caught.value.problems)


def _mutate(change):
    def apply(base):
        change(base)
        return base

    return apply


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda b: b["transitions"][0].update({"to": "limbo"}), "to unknown state 'limbo'"),
        (lambda b: b["transitions"][0].update({"from": ["nowhere"]}), "from unknown state 'nowhere'"),
        (
            lambda b: b["states"].update({"orphan": {"kind": "working", "label": {"ar": "x", "fr": "x", "en": "x"}}}),
            "state 'orphan' cannot be reached",
        ),
        (
            lambda b: (
                b.pop("children")
                and b.update(
                    {"transitions": [t for t in b["transitions"] if t["name"] not in ("resume", "terminate", "expire")]}
                )
            ),
            "state 'suspended' has no way out but is not final",
        ),
        (lambda b: b["transitions"][0].update({"guards": [{"field": "colour"}]}), "guard names unknown field 'colour'"),
        (lambda b: b["transitions"][0].update({"guards": ["is_lucky"]}), "unknown guard 'is_lucky'"),
        (lambda b: b["transitions"][0].update({"roles": ["janitor"]}), "unknown role 'janitor'"),
        (
            lambda b: b["transitions"][1]["approval"]["steps"][0].update({"required_roles": ["admin"]}),
            "required role 'admin' is not among the approver roles",
        ),
        (lambda b: b["transitions"][1]["approval"]["steps"][0].update({"quorum": 0}), "quorum must be a whole number"),
        (
            lambda b: b["children"]["on_parent"].update({"vanish": "cascade"}),
            "on_parent names unknown transition 'vanish'",
        ),
        (lambda b: b["children"]["on_parent"].update({"expire": "ask"}), "on_parent expire: nobody fills a form"),
        (lambda b: b["children"].update({"end_after_parent": "maybe"}), "end_after_parent must be refuse or warn"),
        # Two approver roles can never give five approvals.
        (
            lambda b: b["transitions"][1]["approval"]["steps"][0].update({"quorum": 5}),
            "quorum 5 is more than its 2 approver roles and people (legal, manager): lower the quorum or add approvers "
            "(a role listed twice takes two of its holders)",
        ),
        (lambda b: b["transitions"][1]["approval"].update({"reject_to": "purgatory"}), "reject_to names unknown state"),
        (
            lambda b: b["transitions"][1]["approval"].update({"shared_with_partner": "yes"}),
            "approval shared_with_partner must be true or false",
        ),
        (
            lambda b: b["transitions"][1]["approval"].update({"shared_with": "partner"}),
            "approval has unknown keys shared_with",
        ),
        (lambda b: b["states"]["draft"].update({"kind": "initial-ish"}), "kind must be one of"),
        (lambda b: b["states"]["draft"].update({"sla_days": -3}), "sla_days must be"),
        # Past ten years a date times the escalation's SLAs leaves the calendar: every page read it and failed.
        (lambda b: b["states"]["draft"].update({"sla_days": 3000000}), "sla_days must be a whole number of days"),
        (
            lambda b: b["transitions"][1]["approval"]["steps"][0].update({"sla_days": 3651}),
            "approval step 1: sla_days must be",
        ),
        (lambda b: b.update({"reminders": {"approval_escalate_after_slas": 11}}), "from 1 to 10"),
        # One name without its list: said once, not read letter by letter.
        (lambda b: b["transitions"][0].update({"guards": "has_partner"}), "guards: must be a list"),
        (
            lambda b: b["transitions"][1]["approval"]["steps"][0].update({"roles": "legal"}),
            "approval step 1 roles: must be a list of names",
        ),
        (lambda b: b["states"]["expired"].update({"kind": "working"}), "has no way out"),
        (lambda b: b["transitions"].append(copy.deepcopy(b["transitions"][0])), "defined twice"),
        (lambda b: b["transitions"][0].update({"effects": ["explode"]}), "unknown effect 'explode'"),
        (lambda b: b["transitions"][0].update({"fields": ["owner_id"]}), "cannot ask for field 'owner_id'"),
        (lambda b: b["transitions"][0].update({"label": {"en": "only English"}}), "label needs ar, fr and en"),
        (lambda b: b.update({"type": "treaty"}), "type 'treaty' is not an agreement type"),
        (
            lambda b: b["transitions"].append(
                {
                    "name": "reopen",
                    "from": ["closed"],
                    "to": "draft",
                    "roles": ["admin"],
                    "label": {"ar": "x", "fr": "x", "en": "x"},
                }
            ),
            "leaves final state 'closed'",
        ),
    ],
)
def test_each_mistake_is_reported_with_its_file(tmp_path, change, expected):
    _write(tmp_path, _mutate(change))
    problems = _problems(tmp_path)
    assert expected in problems
    assert problems.startswith("mou.yaml: ")


def test_aliases_are_refused_before_they_expand(tmp_path):
    """A few lines of aliases to aliases stand for billions of items: refused as they are read."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 9)}]" for n in range(8)
    ]
    _write(tmp_path, "\n".join(lines) + "\n", name="bomb.yaml")
    assert "bomb.yaml: not valid YAML" in _problems(tmp_path)
    assert "aliases (*name) are not accepted" in _problems(tmp_path)


def test_bad_yaml_is_reported_with_its_file(tmp_path):
    _write(tmp_path, "type: mou\nstates: [unclosed\n", name="broken.yaml")
    assert "broken.yaml: not valid YAML" in _problems(tmp_path)


def test_the_app_refuses_to_start_with_a_broken_definition(tmp_path):
    from app import create_app
    from config import ConfigurationError, TestingConfig

    _write(tmp_path, _mutate(lambda b: b["transitions"][0].update({"to": "limbo"})))
    config = type("Broken", (TestingConfig,), {"WORKFLOWS_DIR": str(tmp_path)})
    with pytest.raises(ConfigurationError, match="WORKFLOWS_DIR=.*limbo"):
        create_app(config)


def test_workflows_check_command(app, tmp_path):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["workflows", "check"])
    assert ok.exit_code == 0 and "mou: 11 states" in ok.output
    _write(tmp_path, _mutate(lambda b: b["transitions"][0].update({"guards": [{"field": "colour"}]})))
    broken = runner.invoke(args=["workflows", "check", "--dir", str(tmp_path)])
    assert broken.exit_code == 1
    assert "mou.yaml: transition 'submit_for_review': guard names unknown field 'colour'" in broken.output


def test_a_folder_without_a_definition_for_each_agreement_type_is_refused(app, tmp_path):
    """amendment.yaml left out of a deployed folder passed the check, and the app started without amendments."""
    from app import create_app
    from config import ConfigurationError, TestingConfig

    for path in (ROOT / "workflows").glob("*.yaml"):
        if path.name != "amendment.yaml":
            (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    checked = app.test_cli_runner().invoke(args=["workflows", "check", "--dir", str(tmp_path)])
    assert checked.exit_code == 1 and "no definition of type 'amendment'" in checked.output
    with pytest.raises(ConfigurationError, match="WORKFLOWS_DIR=.*'amendment'"):
        create_app(type("Incomplete", (TestingConfig,), {"WORKFLOWS_DIR": str(tmp_path)}))


def test_a_key_given_twice_is_refused_not_overwritten(tmp_path):
    """Two `draft:` states (a block pasted twice) kept the last one and the check said "ok"."""
    text = (ROOT / "workflows" / "mou.yaml").read_text(encoding="utf-8")
    doubled = text.replace("states:\n", "states:\n  draft:\n    kind: working\n", 1)
    assert doubled != text
    _write(tmp_path, doubled)
    assert "mou.yaml: not valid YAML" in _problems(tmp_path) and "'draft' is given twice" in _problems(tmp_path)
