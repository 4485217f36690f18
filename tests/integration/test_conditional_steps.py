"""Approval steps with a `when:` condition: the engine (engine.applicable_steps) adds the MoU's
finance step only when it has a budget in MAD, and its minister's office step only when that budget reaches
10 million; the page, the inbox SQL, the
reminders and the API agree with it; `flask workflows check` refuses bad conditions; the simulator
shows the step applying or not."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import literal, select

from app.agreements.models import Agreement
from app.api.tokens import create_token
from app.budget import reckoning
from app.core import clock
from app.extensions import db
from app.notifications import reminders
from app.workflow import conditions, engine, queries
from app.workflow.conditions import AgreementFacts
from app.workflow.models import ApprovalRound
from app.workflow.simulator import parse_scenario, simulate
from tests import factories
from tests.integration.test_api import ApiClient, api, tokens  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
CASA = clock.zone_named("Africa/Casablanca")  # the app's own zone data (tzdata), not the system's


def _budget(agreement, organization, amount: str, currency: str = "MAD"):
    factories.budget_line(agreement, organization, amount, currency=currency)


@pytest.fixture
def reviewing(world, set_rates):
    """Two MoUs in internal review: one with 12 million MAD of budget, one with 9 million MAD and
    50,000 EUR (540,000 MAD at the reference rate of 10.80: it stays under the threshold)."""
    set_rates({"EUR": Decimal("10.80")})
    officer = world.users["officer"]
    large = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Grand accord")
    small = factories.agreement(by=officer, partners=[world.partner_b], title_fr="Petit accord")
    _budget(large, world.partner_a, "12000000.00")
    _budget(small, world.partner_b, "9000000.00")
    _budget(small, world.partner_b, "50000.00", currency="EUR")
    db.session.commit()
    for agreement in (large, small):
        engine.take(agreement, "submit_for_review", by=officer, expected_version=agreement.version)
    db.session.commit()
    return large, small


def _steps(agreement):
    transition = engine.definition_for(agreement).transition("approve_review")
    return [step.name for step in engine.applicable_steps(transition, agreement)]


# --- the rule ----------------------------------------------------------------------------------


def test_the_condition_adds_the_step_only_when_it_holds(world, reviewing):
    large, small = reviewing
    assert _steps(large) == ["legal_and_head", "finance", "ministers_office"]
    assert _steps(small) == ["legal_and_head", "finance"]
    # No budget: nothing for the finance controller to sign off.
    unbudgeted = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    assert _steps(unbudgeted) == ["legal_and_head"]


def test_other_currencies_count_at_the_reference_rates_and_one_without_a_rate_reaches_the_threshold(
    world, reviewing, signed_in, set_rates
):
    """Counting MAD lines alone had let an MoU of millions of euros pass without the minister's office."""
    large, small = reviewing
    # 9 million MAD and 50,000 EUR at 30 MAD a euro: 10.5 million.
    set_rates({"EUR": Decimal(30)})
    assert _steps(small) == ["legal_and_head", "finance", "ministers_office"]
    # No rate for the euro: a budget of unknown size is asked about rather than waved through, and the
    # ministry's readers of the budget are told why (not the partner: the thresholds are the ministry's).
    set_rates({"USD": Decimal("9.25")})
    assert _steps(small) == ["legal_and_head", "finance", "ministers_office"]
    page = signed_in("officer").get(f"/agreements/{small.id}").get_data(as_text=True)
    assert "data-budget-unreckoned" in page and "EUR</bdi> has none yet" in page
    assert "data-budget-unreckoned" not in signed_in("officer").get(f"/agreements/{large.id}").get_data(as_text=True)
    assert "data-budget-unreckoned" not in signed_in("partner_b").get(f"/agreements/{small.id}").get_data(as_text=True)
    # The engine then waits for the minister's office, and the inbox's SQL agrees.
    second_manager = factories.user("manager", world.ministry, email="cabinet@ministry.example")
    db.session.commit()
    _approve(small, world.users["legal"])
    _approve(small, world.users["manager"])
    _approve(small, world.users["finance"])
    assert small.state == "internal_review"
    waiting = set(
        db.session.scalars(
            select(ApprovalRound.agreement_id).where(queries.approvals_waiting_on(second_manager, [second_manager]))
        )
    )
    assert small.id in waiting


@pytest.mark.parametrize(
    "condition, facts, expected",
    [
        ({"budget_mad_at_least": 10}, AgreementFacts("mou", Decimal(10)), True),
        ({"budget_mad_at_least": 10}, AgreementFacts("mou", Decimal("9.99")), False),
        ({"foreign_partner": True}, AgreementFacts("mou", foreign_partner=True), True),
        ({"foreign_partner": True}, AgreementFacts("mou"), False),
        ({"foreign_partner": False}, AgreementFacts("mou"), True),
        ({"types": ["convention"]}, AgreementFacts("mou"), False),
        ({"types": "mou"}, AgreementFacts("mou"), True),
        (
            {"any": [{"budget_mad_at_least": 10}, {"foreign_partner": True}]},
            AgreementFacts("mou", foreign_partner=True),
            True,
        ),
        ({"any": [{"budget_mad_at_least": 10}, {"foreign_partner": True}]}, AgreementFacts("mou"), False),
        ({"types": ["mou"], "foreign_partner": True}, AgreementFacts("mou"), False),
        ({"changes_budget": True}, AgreementFacts("amendment", changes_budget=True), True),
        ({"changes_budget": True}, AgreementFacts("amendment"), False),
        ({"changes_budget": False}, AgreementFacts("amendment"), True),
    ],
)
def test_conditions_in_python(app, condition, facts, expected):
    problems = []
    parsed = conditions.parse(condition, "test", ("mou", "convention"), problems)
    assert problems == [] and conditions.holds(parsed, facts) is expected


@pytest.mark.parametrize(
    "condition",
    [
        {"budget_mad_at_least": 10000000},
        {"foreign_partner": True},
        {"foreign_partner": False},
        {"types": ["mou"]},
        {"any": [{"budget_mad_at_least": 10000000}, {"foreign_partner": True}]},
        {"changes_budget": True},
        {"changes_budget": False},
        {"any": [{"changes_budget": True}, {"budget_mad_at_least": 10000000}]},
    ],
)
def test_the_sql_rule_answers_as_the_python_rule(world, reviewing, condition):
    world.partner_b.country = "FR"
    db.session.commit()
    large, small = _in_force(*reviewing)
    # Amendments, judged as the agreement they leave: changing neither budget nor parties (the parent's),
    # raising or lowering the budget, bringing in a foreign partner or leaving only a Moroccan one.
    _amendment(world, large, {"title_fr": "Nouveau titre"})
    _amendment(world, small, {"budget_lines": [_line(world.partner_b, "11000000.00")]})
    _amendment(world, large, {"budget_lines": [_line(world.partner_a, "1000000.00")]})
    # (A stays: it contributes to the budget, which a party leaving would leave behind.)
    _amendment(world, large, {"parties": [[world.partner_a.id, "partner"], [world.partner_b.id, "partner"]]})
    _amendment(
        world,
        small,
        {"parties": [[world.partner_a.id, "partner"]], "budget_lines": [_line(world.partner_a, "9000000.00")]},
    )
    # Other currencies: at the rate (the euro), and without one (the pound).
    _amendment(world, large, {"budget_lines": [_line(world.partner_a, "925926.00", "EUR")]})
    _amendment(world, large, {"budget_lines": [_line(world.partner_a, "1.00", "GBP")]})
    pounds = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="En livres")
    _budget(pounds, world.partner_a, "10.00", currency="GBP")
    db.session.commit()
    problems = []
    parsed = conditions.parse(condition, "test", ("mou",), problems)
    assert problems == []
    in_sql = set(db.session.scalars(select(Agreement.id).where(conditions.clause(parsed))))
    in_python = {
        a.id for a in db.session.scalars(select(Agreement)) if conditions.holds(parsed, conditions.facts_of(a))
    }
    assert in_sql == in_python
    # Nested a level down, as the dashboards and inboxes ask it inside a statement over the approval rounds:
    # the budget's total and the foreign partner's test had then read the agreements' table again
    # (auto-correlation reaches one level up): every agreement's lines were added up, so a small agreement
    # passed a threshold the portfolio passed, and one foreign partner anywhere made every agreement foreign.
    asked_inside = select(literal(1)).where(conditions.clause(parsed)).correlate(Agreement)
    nested = select(Agreement.id).where(asked_inside.exists())
    assert set(db.session.scalars(nested)) == in_python


def _line(organization, amount: str, currency: str = "MAD") -> dict:
    return {
        "organization_id": organization.id,
        "label": "Ligne",
        "amount": amount,
        "currency": currency,
        "kind": "cash",
        "year": 2026,
        "period": None,
    }


def _in_force(*agreements):
    """The agreements as signed and in force (only a signed agreement is amended), their budgets kept."""
    for agreement in agreements:
        agreement.state, agreement.signed_on, agreement.effective_on = "active", date(2026, 1, 5), date(2026, 1, 10)
    db.session.commit()
    return agreements


def _amendment(world, parent, changes: dict):
    return factories.amendment(parent, world.users["officer"], partners=[world.partner_a], changes=changes)


def test_an_amendment_is_judged_as_the_agreement_it_leaves(world, reviewing):
    """The minister's office reviews an amendment that raises a budget past 10 million MAD, or that
    changes anything of an agreement of 12 million, cutting its budget included: it is judged as the
    larger of the agreement it changes and the one it leaves. Under the threshold on both sides, legal alone."""
    large, small = _in_force(*reviewing)
    raising = _amendment(world, small, {"budget_lines": [_line(world.partner_b, "10000000.00")]})
    keeping = _amendment(world, large, {"expires_on": "2030-12-31"})
    lowering = _amendment(world, large, {"budget_lines": [_line(world.partner_a, "9999999.99")]})
    cutting = _amendment(world, large, {"budget_lines": [_line(world.partner_a, "1000.00")]})
    in_euros = _amendment(world, small, {"budget_lines": [_line(world.partner_b, "500000.00", "EUR")]})
    in_yen = _amendment(world, small, {"budget_lines": [_line(world.partner_b, "1000.00", "JPY")]})
    retitling = _amendment(world, small, {"title_fr": "Nouveau titre"})
    assert (raising.proposed_mad_budget, lowering.proposed_mad_budget) == (Decimal(10000000), Decimal("9999999.99"))
    assert keeping.proposed_mad_budget is None and in_euros.proposed_mad_budget == Decimal("5400000.00")
    assert in_yen.proposed_mad_budget == reckoning.UNRECKONED  # no rate for the yen
    # The finance controller signs off every change to a budget, whatever its size (below).
    assert _steps(raising) == ["legal", "finance", "ministers_office"]
    assert _steps(keeping) == ["legal", "ministers_office"]
    assert _steps(lowering) == ["legal", "finance", "ministers_office"]
    assert _steps(cutting) == ["legal", "finance", "ministers_office"]
    assert _steps(in_euros) == ["legal", "finance"] and _steps(in_yen) == ["legal", "finance", "ministers_office"]
    assert _steps(retitling) == ["legal"]

    legal, manager = world.users["legal"], world.users["manager"]
    for amendment in (raising, cutting, retitling):
        engine.take(amendment, "submit_for_review", by=world.users["officer"], expected_version=amendment.version)
        db.session.commit()
        _approve(amendment, legal)
    assert (raising.state, cutting.state, retitling.state) == ("internal_review", "internal_review", "signature")
    # The inbox's SQL rule (conditions.clause) agrees: the minister's office is waited on for both.
    waiting = _waiting_on(manager)
    assert raising.id not in waiting and retitling.id not in waiting  # finance first
    _approve(cutting, world.users["finance"])
    waiting = _waiting_on(manager)
    assert cutting.id in waiting and raising.id not in waiting
    _approve(cutting, manager)
    assert cutting.state == "signature"


def _waiting_on(person) -> set[int]:
    """The agreements whose open approval the inbox's SQL says waits on `person`."""
    return set(
        db.session.scalars(
            select(ApprovalRound.agreement_id)
            .join(Agreement, ApprovalRound.agreement_id == Agreement.id)
            .where(queries.approvals_waiting_on(person, [person]))
        )
    )


def test_an_amendment_changing_the_budget_asks_the_finance_controller_one_changing_a_date_does_not(world, reviewing):
    """The finance controller signs off the money the ministry commits: an amendment raising a budget (under
    the Minister's office threshold, on both sides) waits on them after legal; one moving only the end date
    goes to signature once legal approves. The inbox's SQL (conditions.clause) says the same."""
    _large, small = _in_force(*reviewing)
    officer, legal, finance = world.users["officer"], world.users["legal"], world.users["finance"]
    raising = _amendment(world, small, {"budget_lines": [_line(world.partner_b, "9800000.00")]})
    moving = _amendment(world, small, {"expires_on": "2031-06-30"})
    assert _steps(raising) == ["legal", "finance"] and _steps(moving) == ["legal"]
    for amendment in (raising, moving):
        engine.take(amendment, "submit_for_review", by=officer, expected_version=amendment.version)
        db.session.commit()
        _approve(amendment, legal)
    assert (raising.state, moving.state) == ("internal_review", "signature")
    round_ = next(r for r in raising.approval_rounds if r.status == "open")
    transition = engine.definition_for(raising).transition("approve_review")
    assert engine.current_step(transition, round_).name == "finance"
    waiting = _waiting_on(finance)
    assert raising.id in waiting and moving.id not in waiting
    for condition in ({"changes_budget": True}, {"changes_budget": False}):
        parsed = conditions.parse(condition, "test", ("amendment",), [])
        in_sql = set(
            db.session.scalars(
                select(Agreement.id).where(Agreement.id.in_([raising.id, moving.id]), conditions.clause(parsed))
            )
        )
        in_python = {a.id for a in (raising, moving) if conditions.holds(parsed, conditions.facts_of(a))}
        assert in_sql == in_python == ({raising.id} if condition["changes_budget"] else {moving.id})
    _approve(raising, finance)
    assert raising.state == "signature"


def test_check_refuses_bad_conditions_with_their_file(app, tmp_path):
    for path in (ROOT / "workflows").glob("*.yaml"):
        body = yaml.safe_load(path.read_text())
        if path.name == "mou.yaml":
            steps = next(t for t in body["transitions"] if t["name"] == "approve_review")["approval"]["steps"]
            steps[1]["when"] = {
                "budget_mad": 5,
                "foreign_partner": "yes",
                "changes_budget": "yes",
                "types": ["treaty"],
                "any": [{"budget_mad_at_least": -1}],
            }
        (tmp_path / path.name).write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["workflows", "check", "--dir", str(tmp_path)])
    assert result.exit_code != 0
    for expected in (
        "when has unknown keys budget_mad",
        "when foreign_partner must be true or false",
        "when changes_budget must be true or false",
        "when types must list agreement types",
        "when any must list at least two conditions",
    ):
        assert expected in result.output, result.output


def test_the_simulator_shows_the_step_applying_or_not(app):
    definition = engine.current_definitions()["mou"]
    scenario = {"people": {"legal": 1, "manager": 2, "finance": 1, "officer": 1}}
    without = simulate(definition, parse_scenario(scenario))
    asked = [line for step in without.steps for line in step.asked]
    for not_asked in (
        "Approve for negotiation · Step 2: not asked (applies only when budget in MAD ≥ 0.01)",
        "Approve for negotiation · Step 3: not asked (applies only when budget in MAD ≥ 10,000,000)",
    ):
        assert any(not_asked in a for a in asked), asked
    with_budget = simulate(definition, parse_scenario({**scenario, "agreement": {"budget_mad": 15000000}}))
    asked = [line for step in with_budget.steps for line in step.asked]
    assert any("Approve for negotiation · Step 2: applies (budget in MAD ≥ 0.01)" in a for a in asked)
    assert any("Approve for negotiation · Step 3: applies (budget in MAD ≥ 10,000,000)" in a for a in asked)
    with pytest.raises(ValueError):
        parse_scenario({"agreement": {"budget_mad": "lots"}})
    with pytest.raises(ValueError):
        parse_scenario({"agreement": {"changes_budget": "yes"}})


def test_the_simulator_shows_the_amendments_finance_step_when_it_changes_the_budget(app):
    definition = engine.current_definitions()["amendment"]
    scenario = {"people": {"legal": 1, "manager": 2, "finance": 1, "officer": 1}}
    for about, said in (
        ({}, "Step 2: not asked (applies only when the budget changes)"),
        ({"changes_budget": True}, "Step 2: applies (the budget changes)"),
    ):
        walked = simulate(definition, parse_scenario({**scenario, "agreement": about}))
        asked = [line for step in walked.steps for line in step.asked]
        assert any(said in line for line in asked), asked


# --- the engine, pages, inbox and reminders agree --------------------------------------------------


def _approve(agreement, user):
    engine.decide(
        agreement, "approve_review", by=user, decision="approve", comment=None, expected_version=agreement.version
    )
    db.session.commit()


def test_the_large_agreement_waits_for_the_ministers_office_the_small_one_moves_on(world, reviewing):
    large, small = reviewing
    legal, manager = world.users["legal"], world.users["manager"]
    second_manager = factories.user("manager", world.ministry, email="cabinet@ministry.example")
    db.session.commit()
    for agreement in (large, small):
        _approve(agreement, legal)
        _approve(agreement, manager)
        _approve(agreement, world.users["finance"])  # both have a budget
    assert small.state == "negotiation"
    assert large.state == "internal_review"
    round_ = next(r for r in large.approval_rounds if r.status == "open")
    assert (
        engine.current_step(engine.definition_for(large).transition("approve_review"), round_).name
        == "ministers_office"
    )
    # The inbox SQL agrees: the second manager is waited for on the large one only.
    waiting = set(
        db.session.scalars(
            select(ApprovalRound.agreement_id)
            .join(Agreement, ApprovalRound.agreement_id == Agreement.id)
            .where(queries.approvals_waiting_on(second_manager, [second_manager]))
        )
    )
    assert waiting == {large.id}
    # One person approves one step: the manager who approved as head of department is not also the
    # Minister's office (the page, the API and the inbox SQL agree).
    option = next(o for o in engine.actions_for(large, manager) if o.name == "approve_review")
    assert not option.is_allowed and "earlier step" in option.reasons[0]
    assert large.id not in set(
        db.session.scalars(
            select(ApprovalRound.agreement_id)
            .join(Agreement, ApprovalRound.agreement_id == Agreement.id)
            .where(queries.approvals_waiting_on(manager, [manager]))
        )
    )
    # Reminders: past the SLA, the overdue reminder names the minister's office step.
    later = datetime.combine(date.today() + timedelta(days=12), time(9), tzinfo=CASA)
    keys = {
        (c.occurrence_key, c.recipient.email)
        for c in reminders.candidates_at(later)
        if c.rule == "approval_overdue" and c.notice.object_id == round_.id
    }
    assert ("ministers_office:sla", second_manager.email) in keys
    _approve(large, second_manager)
    assert large.state == "negotiation"


def test_an_escalation_naming_a_step_decided_while_it_waited_is_withdrawn(world, reviewing):
    """Mail held (the server down): the managers' escalation said "still to decide: <legal and head>";
    those approved the first step meanwhile; it went out when mail came back, naming people who had
    decided, just before the request for the second step. The reminders of the second step are still true."""
    from types import SimpleNamespace

    from app.core.models import utcnow
    from app.notifications.lapsed import lapsed

    large, _small = reviewing
    legal, manager = world.users["legal"], world.users["manager"]
    second_manager = factories.user("manager", world.ministry, email="cabinet@ministry.example")
    db.session.commit()
    round_ = next(r for r in large.approval_rounds if r.status == "open")

    def held(number, kind, user):
        return SimpleNamespace(id=number, kind=kind, object_id=round_.id, recipient_id=user.id, created_at=utcnow())

    first_step = [held(1, "approval_escalated", second_manager), held(2, "approval_overdue", legal)]
    assert lapsed(first_step) == {}
    _approve(large, legal)
    assert lapsed(first_step) == {2: "The approver has decided since."}  # the step still waits on the head
    _approve(large, manager)
    assert lapsed(first_step) == {1: "The approver has decided since.", 2: "The approver has decided since."}
    _approve(large, world.users["finance"])  # the step between: it has a budget
    second_step = [held(3, "approval_escalated", manager), held(4, "approval_overdue", second_manager)]
    assert lapsed(second_step) == {}


def test_the_page_and_api_show_only_the_steps_that_apply(signed_in, api, world, reviewing):
    large, small = reviewing
    page = signed_in("manager").get(f"/agreements/{large.id}").get_data(as_text=True)
    assert "Step 3" in page  # legal and head, finance, then the minister's office
    page = signed_in("manager").get(f"/agreements/{small.id}").get_data(as_text=True)
    assert "Step 2" in page and "Step 3" not in page  # legal and head, then finance only
    inbox = signed_in("manager").get("/inbox")
    assert inbox.status_code == 200
    assert api("manager").get(f"/api/v1/agreements/{large.id}/approvals").status_code == 200


def test_a_page_or_call_that_showed_the_first_step_records_nothing_once_it_is_decided(app, signed_in, world, reviewing):
    """The minister's office opened the large MoU while its first step waited and approves from that page
    after legal and the head of department decided it: the page says the step was decided meanwhile and
    nothing is counted on the minister's office step they had not seen. The API, told the step, says the same
    with a 409; told the step waiting now, it decides it."""
    large, _ = reviewing
    cabinet = factories.user("manager", world.ministry, email="cabinet@ministry.example")
    secret = create_token(cabinet, "script", by=cabinet)[1]
    db.session.commit()
    browser = signed_in(cabinet)
    page = f"/agreements/{large.id}"
    assert 'name="step" value="legal_and_head"' in browser.get(page).get_data(as_text=True)
    form = {"decision": "approve", "step": "legal_and_head", "version": large.version}
    _approve_the_first_step(large, world)
    answer = browser.post(f"{page}/actions/approve_review", data=form, csrf_from=page, follow_redirects=True)
    assert "This step was decided since you opened the page" in answer.get_data(as_text=True)
    round_ = next(r for r in large.approval_rounds if r.status == "open")
    assert {d.step for d in round_.decisions} == {"legal_and_head"}
    client = ApiClient(app, secret)
    url = f"/api/v1/agreements/{large.id}/transitions"
    refused = client.post(url, json={"transition": "approve_review", "step": "legal_and_head"})
    assert refused.status_code == 409 and "decided since you opened" in refused.get_json()["detail"]
    unknown = client.post(url, json={"transition": "approve_review", "step": "nope"})
    assert unknown.status_code == 422 and "step" in unknown.get_json()["errors"]
    db.session.expire_all()
    assert {d.step for d in round_.decisions} == {"legal_and_head"} and large.state == "internal_review"
    _approve(large, world.users["finance"])
    decided = client.post(url, json={"transition": "approve_review", "step": "ministers_office"})
    assert decided.status_code == 200, decided.get_json()
    assert decided.get_json()["agreement"]["state"] == "negotiation"


def _approve_the_first_step(agreement, world):
    """The legal adviser and the head of department approve (the step every MoU's review asks)."""
    for person in (world.users["legal"], world.users["manager"]):
        engine.decide(
            agreement,
            "approve_review",
            by=person,
            decision="approve",
            comment=None,
            expected_version=agreement.version,
        )
        db.session.commit()


def test_under_approval_the_budget_and_parties_hold_still(world, signed_in, reviewing):
    """The minister's office step waits on the large MoU: lowering its budget under the threshold would
    leave a round no one could finish, raising the small one's would skip the step. Both are refused while
    the approval is under way, and the parties too (a step may apply for a foreign partner); once sent
    back, the budget changes again."""
    from app.budget import services as budget
    from app.core.errors import ValidationFailed

    large, small = reviewing
    legal, officer = world.users["legal"], world.users["officer"]
    _approve_the_first_step(large, world)
    assert large.state == "internal_review" and _steps(large) == ["legal_and_head", "finance", "ministers_office"]
    page = signed_in("officer").get(f"/agreements/{large.id}").get_data(as_text=True)
    assert "data-budget-on-hold" in page and f"/agreements/{large.id}/budget/new" not in page  # said, not offered
    line = budget.lines_of(large)[0]
    data = budget.LineData(
        organization_id=world.partner_a.id, label="Ligne", amount="9000000", currency="MAD", kind="cash", year=2026
    )
    with pytest.raises(ValidationFailed, match="under approval"):
        budget.update_line(line, data, by=officer)
    db.session.rollback()
    with pytest.raises(ValidationFailed, match="under approval"):
        budget.add_line(small, budget.LineData(world.partner_b.id, "Ligne", "1000", "MAD", "cash", 2026), by=officer)
    db.session.rollback()
    page = signed_in("officer").post(
        f"/agreements/{small.id}/edit",
        data={
            "type": "mou",
            "title_fr": "Petit accord",
            "partners": [str(world.partner_a.id)],
            "owner_id": str(officer.id),
            "version": str(small.version),
        },
    )
    import re

    said = re.findall(r"under approval[^<]*", page.get_data(as_text=True))
    assert page.status_code == 422 and any("under approval" in text for text in said), said
    db.session.expire_all()
    assert [p.organization_id for p in small.parties] == [world.partner_b.id]
    engine.decide(
        small, "approve_review", by=legal, decision="reject", comment="Budget à revoir", expected_version=small.version
    )
    db.session.commit()
    assert small.state == "draft"
    budget.add_line(small, budget.LineData(world.partner_b.id, "Ligne", "1000", "MAD", "cash", 2026), by=officer)
    db.session.commit()


def test_a_budget_raised_past_a_step_after_the_approval_needs_that_step(world, reviewing):
    """The small MoU was approved for negotiation without the minister's office (9.54 million MAD). Raising its
    budget past 10 million there would skip that step: refused, saying how on (back to draft, reviewed
    again); a raise that stays under the threshold is taken, and in draft any budget is."""
    from app.budget import services as budget
    from app.core.errors import ValidationFailed
    from app.core.i18n import gettext

    _large, small = reviewing
    officer = world.users["officer"]
    _approve_the_first_step(small, world)
    _approve(small, world.users["finance"])
    assert small.state == "negotiation"
    raise_to = budget.LineData(world.partner_b.id, "Extension", "2000000", "MAD", "cash", 2027)
    with pytest.raises(ValidationFailed) as refused:
        budget.add_line(small, raise_to, by=officer)
    # The step is named as the agreement's page names it, never by its name in the YAML file.
    approval = engine.definition_for(small).transition("approve_review")
    assert f"({engine.label(approval.label)} · {gettext('Step %(number)s', number=3)})" in refused.value.message
    assert "ministers_office" not in refused.value.message
    db.session.rollback()
    assert sum(line.amount for line in budget.lines_of(small) if line.currency == "MAD") == Decimal("9000000.00")
    under = budget.LineData(world.partner_b.id, "Petit ajout", "400000", "MAD", "cash", 2027)  # to 9.94 million
    budget.add_line(small, under, by=officer)
    db.session.commit()
    engine.take(small, "back_to_draft", by=officer, comment="Budget revu à la hausse", expected_version=small.version)
    db.session.commit()
    budget.add_line(small, raise_to, by=officer)
    db.session.commit()
    assert _steps(small) == ["legal_and_head", "finance", "ministers_office"]


def test_an_approval_request_names_its_step_when_the_approval_has_several(world, reviewing):
    """A manager asked at both steps of a large MoU got two requests alike in subject and text."""
    from app.notifications.models import OutboxMessage

    large, small = reviewing
    legal, manager = world.users["legal"], world.users["manager"]
    second_manager = factories.user("manager", world.ministry, email="cabinet@ministry.example")
    db.session.commit()

    def requests(agreement, to):
        round_ = next(r for r in agreement.approval_rounds if r.status == "open")
        return db.session.scalars(
            select(OutboxMessage.subject).where(
                OutboxMessage.kind == "approval_requested",
                OutboxMessage.object_id == round_.id,
                OutboxMessage.to_address == to.email,
            )
        ).all()

    [first] = requests(large, legal)
    assert first.endswith("(step 1 of 3)")
    assert requests(small, legal)[0].endswith("(step 1 of 2)")  # no minister's office: two steps
    unbudgeted = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Sans budget")
    db.session.commit()
    engine.take(unbudgeted, "submit_for_review", by=world.users["officer"], expected_version=unbudgeted.version)
    db.session.commit()
    [one_step] = requests(unbudgeted, legal)
    assert "step" not in one_step  # one step: nothing to tell apart
    _approve(large, legal)
    _approve(large, manager)
    [finance_request] = requests(large, world.users["finance"])
    assert finance_request.endswith("(step 2 of 3)")
    _approve(large, world.users["finance"])
    # Any manager may decide the first step: the second manager is asked at both, and can tell them apart.
    asked_first, last = sorted(requests(large, second_manager))
    assert asked_first == first and last.endswith("(step 3 of 3)")
    from app.notifications.messages import detail

    params = {"title": {"en": "Grand accord"}, "transition": {"en": "Approve"}, "step": 2, "steps": 2}
    text = detail("approval_requested", params)
    assert "(Approve, step 2 of 2)" in text
