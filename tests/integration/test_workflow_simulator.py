"""The workflow simulator walks the shipped definitions and a broken or edited copy, writing
nothing: who is asked, what blocks, reminders and SLA breaches, and what an edit changes for the
agreements in flight. CLI and admin page."""

from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
import yaml
from flask_babel import force_locale
from sqlalchemy import func, select

from app.agreements.models import Agreement
from app.core.audit import AuditEvent
from app.core.templating import written_date
from app.extensions import db
from app.workflow import engine, simulator
from app.workflow.definitions import DefinitionError, load_directory
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "workflows" / "scenarios" / "mou-short-term.yaml"


def _rows():
    return (db.session.scalar(select(func.count(Agreement.id))), db.session.scalar(select(func.count(AuditEvent.id))))


@pytest.mark.parametrize("workflow_type", ["mou", "convention", "protocol", "amendment"])
def test_every_shipped_workflow_walks_its_main_path_with_enough_people(workflow_type):
    definition = load_directory(ROOT / "workflows")[workflow_type]
    people = {"officer": 2, "manager": 2, "legal": 2, "finance": 2, "admin": 1}
    result = simulator.simulate(definition, {"start": date(2026, 1, 5)}, people=people)
    assert result.steps and not any(step.blocked for step in result.steps)
    assert result.final_state != definition.initial_state


@pytest.fixture
def in_english(app):
    """The walk is said in its reader's words (roles, steps and days as the pages write them): an English page's."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def test_the_example_scenario_shows_asked_reminders_breaches_and_automatic_moves(in_english):
    definition = load_directory(ROOT / "workflows")["mou"]
    result = simulator.simulate(definition, simulator.parse_scenario(SCENARIO.read_text()))
    by_name = {step.transition: step for step in result.steps}
    review = by_name["approve_review"]
    assert (
        "Approve for negotiation · Step 1: Legal adviser (1), Manager (approver) (1); quorum 2, "
        "required Legal adviser, Manager (approver)"
    ) in review.asked
    assert review.sla_breaches == ["Approve for negotiation · Step 1: waited 36 days, SLA 10"]
    assert any("escalation to the managers on Jan 25, 2026" in r for r in review.reminders)
    assert by_name["activate"].automatic and by_name["activate"].on == date(2026, 4, 1)
    assert by_name["suspend"].children == "each child agreement that can follow takes the same move"
    assert result.final_state == "expired"
    assert "ending in 30 days: reminder to the owner and managers on Aug 31, 2026" in result.reminders


def test_a_missing_approver_blocks_and_a_rejection_sends_back(in_english):
    definition = load_directory(ROOT / "workflows")["mou"]
    scenario = simulator.parse_scenario(
        {
            "people": {"officer": 1, "manager": 1},
            "events": [
                {"take": "submit_for_review", "day": "2026-01-05"},
                {"take": "approve_review", "day": "2026-01-06"},
            ],
        }
    )
    step = simulator.simulate(definition, scenario).steps[-1]
    assert step.target is None
    assert "Approve for negotiation · Step 1: required role Legal adviser has nobody" in step.blocked
    scenario["people"]["legal"] = 1
    scenario["events"][1]["decision"] = "reject"
    assert simulator.simulate(definition, scenario).steps[-1].target == "draft"


def test_facts_given_block_what_is_missing():
    definition = load_directory(ROOT / "workflows")["mou"]
    scenario = simulator.parse_scenario(
        {"people": {"officer": 1}, "facts": ["title_fr"], "events": [{"take": "submit_for_review"}]}
    )
    assert simulator.simulate(definition, scenario).steps[0].blocked == ["needs: At least one partner organisation"]


@pytest.mark.parametrize(
    "scenario, message",
    [
        ("events: [{take: x, day: 2026-13-01}]", "not valid YAML"),
        ("events: [{take: x, day: soon}]", "not a date"),
        ("events: [{take: x, day: 2026-01-05 10:00:00}]", "not a date"),  # YAML's moment, not a day
        ("start: 2026-01-05T10:00:00+05:00", "not a date"),
        ("colour: red", "unknown scenario keys: colour"),
        ("people: {legal: many}", "people: give a number"),
        ("events: [{decision: approve}]", "give take"),
        ("[1, 2", "not valid YAML"),
        # The walk plays at most MAX_STEPS moves: a longer scenario is refused, not cut without a word.
        (
            "events: [" + ", ".join(["{take: submit_for_review}"] * 61) + "]",
            r"at most 60 moves in one scenario \(61 given\)",
        ),
    ],
)
def test_a_bad_scenario_is_named_clearly(scenario, message):
    with pytest.raises(simulator.ScenarioError, match=message):
        simulator.parse_scenario(scenario)


def _broken_copy() -> str:
    body = yaml.safe_load((ROOT / "workflows" / "mou.yaml").read_text())
    body["states"].pop("internal_review")
    return yaml.safe_dump(body, allow_unicode=True)


def _edited_copy() -> str:
    """Suspension removed (and its resume); the review gains a second step."""
    body = yaml.safe_load((ROOT / "workflows" / "mou.yaml").read_text())
    body["states"].pop("suspended")
    body["transitions"] = [t for t in body["transitions"] if t["name"] not in ("suspend", "resume")]
    for transition in body["transitions"]:
        transition["from"] = [s for s in transition["from"] if s != "suspended"]
        if transition["name"] == "approve_review":
            transition["approval"]["steps"].append({"name": "secretary_general", "roles": ["admin"]})
    body["children"]["on_parent"] = {"terminate": "ask"}
    return yaml.safe_dump(body, allow_unicode=True)


def test_a_broken_copy_is_refused_with_its_problems(app, tmp_path):
    broken = tmp_path / "mou.yaml"
    broken.write_text(_broken_copy(), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["workflows", "simulate", str(broken)])
    assert result.exit_code == 1
    assert "mou.yaml: transition 'submit_for_review': to unknown state 'internal_review'" in result.output


def test_an_edited_copy_says_what_changes_for_agreements_in_flight(app, world, tmp_path):
    officer = world.users["officer"]
    suspended = factories.agreement(by=officer, partners=[world.partner_a], state="suspended")
    reviewing = factories.agreement(by=officer, partners=[world.partner_a], state="internal_review")
    # A convention extends the MoU: what it does not override (its suspension) changes with the MoU's.
    convention = factories.agreement(by=officer, partners=[world.partner_a], type="convention", state="suspended")
    for agreement in (suspended, reviewing, convention):
        engine.settle_state(agreement)
    db.session.commit()
    before = _rows()
    edited = tmp_path / "mou.yaml"
    edited.write_text(_edited_copy(), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["workflows", "simulate", str(edited)])
    assert result.exit_code == 0, result.output
    assert "change: state Suspended removed" in result.output
    assert "change: move Approve for negotiation: approval step secretary_general added" in result.output
    assert "in flight: 1 agreement(s) in suspended: their state Suspended no longer exists" in result.output
    assert (
        "in flight: 1 agreement(s) of type Convention (extends the edited one) in suspended: their state "
        "Suspended no longer exists"
    ) in result.output
    assert (
        "in flight: 1 agreement(s) in internal_review: their open approval of Approve for negotiation would ask the "
        "steps legal_and_head, finance (when budget in MAD ≥ 0.01), ministers_office (when budget in MAD ≥ "
        "10,000,000), secretary_general"
    ) in result.output
    assert "in flight: 2 agreement(s) in active: moves no longer offered from Active: Suspend" in result.output
    assert _rows() == before  # nothing written


def test_the_cli_walks_a_scenario_and_exits_2_when_a_move_blocks(app, tmp_path):
    result = app.test_cli_runner().invoke(
        args=["workflows", "simulate", str(ROOT / "workflows" / "mou.yaml"), "--scenario", str(SCENARIO)]
    )
    assert result.exit_code == 0, result.output
    assert "2026-04-01  activate (automatic): signed → active" in result.output
    blocked = tmp_path / "blocked.yaml"
    blocked.write_text("people: {officer: 1}\nevents: [{take: submit_for_review}, {take: approve_review}]\n")
    result = app.test_cli_runner().invoke(
        args=["workflows", "simulate", str(ROOT / "workflows" / "mou.yaml"), "--scenario", str(blocked)]
    )
    assert result.exit_code == 2
    assert "blocks: Approve for negotiation · Step 1: quorum 2 but only 0 people can approve" in result.output


def _page_post(client, data):
    return client.post(
        "/admin/workflows/simulate",
        data=data,
        csrf_from="/admin/workflows/simulate",
        content_type="multipart/form-data",
    )


def test_the_admin_page_simulates_a_shipped_workflow_and_an_uploaded_copy(app, world, signed_in):
    officer = world.users["officer"]
    convention = factories.agreement(by=officer, partners=[world.partner_a], type="convention", state="suspended")
    engine.settle_state(convention)
    db.session.commit()
    admin = signed_in("admin")
    page = admin.get("/admin/workflows/simulate").get_data(as_text=True)
    assert "Workflow simulator" in page and "take: submit_for_review" in page  # the example, prefilled
    response = _page_post(admin, {"workflow_type": "mou", "scenario": SCENARIO.read_text()})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="simulation-result"' in body
    assert "Approve for negotiation · Step 1: waited 36 days, SLA 10" in body
    # States and moves are named as the pages name them, with the id the YAML gives them.
    walk = body[body.index('id="simulation-result"') :]
    assert '<bdi>Draft</bdi> <code class="small text-body-secondary">draft</code>' in walk
    assert '<code class="small text-body-secondary">submit_for_review</code>' in walk
    response = _page_post(
        admin,
        {"workflow_type": "mou", "scenario": "", "definition_file": (BytesIO(_edited_copy().encode()), "mou.yaml")},
    )
    body = response.get_data(as_text=True)
    assert 'id="simulation-impact"' in body and "state Suspended removed" in body
    impact = body[body.index('id="simulation-impact"') :]
    assert "Convention</span> — their state Suspended no longer exists" in impact  # a convention extends it
    response = _page_post(admin, {"workflow_type": "mou", "definition": _broken_copy(), "scenario": ""})
    assert response.status_code == 422 and "to unknown state" in response.get_data(as_text=True)
    response = _page_post(admin, {"workflow_type": "mou", "scenario": "colour: red"})
    assert response.status_code == 422 and "unknown scenario keys: colour" in response.get_data(as_text=True)


def test_the_simulator_names_roles_steps_days_and_paths_in_arabic_as_the_other_pages(app, world, signed_in):
    """In Arabic the walk's "who is asked" showed the definition's codes (owner, manager (1), legal_and_head:),
    its days 2026-01-05, the folder workflows/ with its slash at the other end and the upload's label
    "…or upload it" an ellipsis at its start: roles and approval steps are named as the other pages name them,
    days as they write them, the folder left to right, and the label says what it asks for."""
    admin = world.users["admin"]
    admin.language = "ar"
    db.session.commit()
    page = _page_post(signed_in("admin"), {"workflow_type": "mou", "scenario": SCENARIO.read_text()})
    body = page.get_data(as_text=True)
    walk = body[body.index('id="simulation-result"') :]
    assert "المسؤول عن الاتفاقية" in walk and "مدير (مُصادِق) (1)" in walk and "مستشار قانوني (1)" in walk
    assert "الموافقة على التفاوض · الخطوة 1" in walk and "الموافقة على التفاوض · الخطوة 2" in walk
    for code in ("legal_and_head", "ministers_office", "<div>owner</div>", "manager (", "legal ("):
        assert code not in walk, code
    with app.test_request_context(), force_locale("ar"):
        first_day = written_date(date(2026, 1, 5))
    assert f'<td class="text-nowrap">{first_day}</td>' in walk and "2026-01-05" not in walk
    assert '<code dir="ltr">workflows/</code>' in body
    assert "…" not in body[body.index('for="definition_file"') :].split("</label>")[0]


def test_the_simulator_says_states_moves_and_what_a_move_needs_by_their_labels_in_arabic(app, world, signed_in):
    """In Arabic the walk's sentences wrote the definition's codes: "يتطلب has_partner", "activate غير ممكن من
    draft (فقط من signed)", "حُذفت المرحلة suspended": states, moves and what a move needs are said by the labels
    the other pages give them (the definition's page names a guard with the same words)."""
    admin = world.users["admin"]
    admin.language = "ar"
    db.session.commit()
    client = signed_in("admin")
    blocked = "people: {officer: 1}\nfacts: [title_fr]\nevents: [{take: submit_for_review}, {take: activate}]\n"
    body = _page_post(client, {"workflow_type": "mou", "scenario": blocked}).get_data(as_text=True)
    walk = body[body.index('id="simulation-result"') :]
    assert "يتطلب: مؤسسة شريكة واحدة على الأقل" in walk
    assert "تفعيل غير ممكن من مسودة (فقط من موقّعة)" in walk
    needed = "people: {officer: 1}\nevents: [{take: submit_for_review}]\n"
    walk = _page_post(client, {"workflow_type": "mou", "scenario": needed}).get_data(as_text=True)
    walk = walk[walk.index('id="simulation-result"') :]
    assert "يتطلب: مؤسسة شريكة واحدة على الأقل" in walk
    edited = {"workflow_type": "mou", "scenario": "", "definition": _edited_copy()}
    impact = _page_post(client, edited).get_data(as_text=True)
    impact = impact[impact.index('id="simulation-impact"') :]
    assert "حُذفت المرحلة معلّقة" in impact
    sentences = walk + impact
    for code in ("has_partner", "title_fr", "activate", "draft", "signed", "suspended", "internal_review"):
        assert f" {code}" not in sentences and f"({code}" not in sentences, code
    definition_page = client.get("/workflows/mou")
    assert definition_page.status_code == 200
    assert "مؤسسة شريكة واحدة على الأقل" in definition_page.get_data(as_text=True)


def _aliases_of_aliases(levels: int = 7) -> str:
    """A few hundred bytes standing for 10**levels items: each line lists the one before ten times."""
    lines = ["- &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"- &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]")
    return "\n".join(lines)


def test_typed_yaml_refuses_aliases_and_quotes_a_bad_value_briefly(app, world, signed_in):
    """An admin's scenario or edited definition is YAML typed in a form: aliases are refused (a few hundred
    bytes of them wrote a 147 MB page), and a value that is not a date is quoted by its start."""
    laughs = "start:\n" + "\n".join("  " + line for line in _aliases_of_aliases().splitlines())
    with pytest.raises(simulator.ScenarioError, match=r"aliases \(\*name\) are not accepted"):
        simulator.parse_scenario(laughs)
    with pytest.raises(simulator.ScenarioError, match="not a date") as refused:
        simulator.parse_scenario("start: [" + ", ".join(["long text " * 20] * 50) + "]")
    assert len(str(refused.value)) < 400
    edited = (
        (ROOT / "workflows" / "mou.yaml").read_text()
        + "\nnotes:\n"
        + "\n".join("  " + line for line in _aliases_of_aliases().splitlines())
    )
    with pytest.raises(DefinitionError, match="aliases"):
        simulator.load_edited(edited, ROOT / "workflows")
    admin = signed_in("admin")
    response = _page_post(admin, {"workflow_type": "mou", "scenario": laughs})
    assert response.status_code == 422 and len(response.get_data()) < 200_000
    assert "aliases (*name) are not accepted" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["officer", "manager", "legal", "auditor", "partner"])
def test_only_admins_use_the_simulator(world, signed_in, role):
    assert signed_in(role).get("/admin/workflows/simulate").status_code in (403, 404)


@pytest.mark.parametrize(
    "scenario, shown",
    [
        ("start: 9999-01-05", "start: give a date between 1956 and 2200: 9999-01-05"),
        ("start: 2026-01-05 10:00:00", "start: not a date (YYYY-MM-DD): 2026-01-05 10:00:00"),
        ("start: [9999-01-05]", "start: not a date (YYYY-MM-DD): [9999-01-05]"),
    ],
)
def test_a_refused_date_is_shown_as_typed_not_as_python(app, world, signed_in, scenario, shown):
    """The page said "donnez une date entre 1956 et 2200 : datetime.date(9999, 1, 5)": YAML reads 9999-01-05
    as a date, and the message quoted it in Python's notation."""
    with pytest.raises(simulator.ScenarioError) as refused:
        simulator.parse_scenario(scenario)
    assert str(refused.value) == shown
    page = _page_post(signed_in("admin"), {"workflow_type": "mou", "scenario": scenario}).get_data(as_text=True)
    assert "datetime" not in page and shown in page
