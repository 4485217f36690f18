"""Indicators on deliverables: defined by the agreement's editors, values handed in with the files,
achieved vs target for the reviewer, progress (chart and table) on the agreement page, the summary,
the portfolio page, exports and the API; bad numbers get a clear message and store nothing."""

from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.api.tokens import create_token
from app.core import clock
from app.core.audit import AuditEvent
from app.core.errors import ValidationFailed
from app.deliverables.models import Submission
from app.extensions import db
from app.indicators import services
from app.indicators.models import Indicator, IndicatorValue
from tests.integration.test_deliverables import PDF, plan

TODAY = clock.today()


def data(**overrides):
    values = {
        "name_ar": "عدد المتدربين",
        "name_fr": "Personnes formées",
        "name_en": "People trained",
        "unit": "personnes",
        "baseline": "0",
        "target": "400",
        "target_scope": "term",
    }
    values.update(overrides)
    return values


@pytest.fixture
def quarterly(world):
    """A quarterly report of partner A with two indicators: people trained (term) and models (per period)."""
    officer = world.users["officer"]
    deliverable = plan(
        world.agreement_a,
        officer,
        responsible=world.partner_a,
        recurrence="quarterly",
        first=TODAY - timedelta(days=100),
        until=TODAY + timedelta(days=200),
        title="Rapport trimestriel",
    )
    trained = services.add_indicator(deliverable, services.IndicatorData(**data()), by=officer)
    models = services.add_indicator(
        deliverable,
        services.IndicatorData(
            **data(
                name_ar="نماذج منشورة",
                name_fr="Modèles publiés",
                name_en="Models released",
                unit="modèles",
                baseline="1",
                target="2",
                target_scope="period",
            )
        ),
        by=officer,
    )
    db.session.commit()
    return deliverable, trained, models


def hand_in(client, occurrence, values: dict, name="rapport.pdf"):
    db.session.refresh(occurrence)
    form = {"version": str(occurrence.version), "files": [(BytesIO(PDF + name.encode()), name)], **values}
    return client.post(
        f"/deliverables/{occurrence.id}/submissions",
        data=form,
        csrf_from=f"/deliverables/{occurrence.id}",
        content_type="multipart/form-data",
    )


def test_defining_an_indicator_through_the_page(app, world, signed_in, quarterly):
    deliverable = quarterly[0]
    url = f"/agreements/{world.agreement_a.id}/deliverables/{deliverable.id}/indicators/new"
    officer = signed_in("officer")
    assert "Add an indicator" in officer.get(url).get_data(as_text=True)
    response = officer.post(
        url, data={"name_fr": "Ateliers", "unit": "ateliers", "baseline": "", "target": "12,5", "target_scope": "term"}
    )
    assert response.status_code == 303
    created = db.session.scalar(select(Indicator).where(Indicator.name_fr == "Ateliers"))
    assert created.target == Decimal("12.50") and created.baseline == 0 and created.position == 3
    # Arabic-Indic digits are numbers too.
    edit = f"/agreements/{world.agreement_a.id}/indicators/{created.id}/edit"
    assert officer.post(edit, data={"name_fr": "Ateliers", "target": "١٥", "target_scope": "period"}).status_code == 303
    db.session.refresh(created)
    assert created.target == 15 and created.target_scope == "period"
    # The history says what changed (the unit left empty too), and nothing for a form sent as it stands
    # (15.0 typed is the 15.00 stored).
    changed = select(AuditEvent.changes).where(AuditEvent.action == "indicator_changed").order_by(AuditEvent.id)
    assert db.session.scalars(changed).all() == [
        {
            "before": {"unit": "ateliers", "target": "12.50", "target_scope": "term"},
            "after": {"unit": None, "target": "15.00", "target_scope": "period"},
        }
    ]
    again = {"name_fr": "Ateliers", "target": "15.0", "target_scope": "period"}
    assert officer.post(edit, data=again).status_code == 303
    assert len(db.session.scalars(changed).all()) == 1


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"target": "-5"}, "Enter a number greater than zero."),
        ({"target": "0"}, "Enter a number greater than zero."),
        ({"target": "beaucoup"}, "Enter a number."),
        ({"target": "NaN"}, "Enter a number."),
        ({"target": "1" + "0" * 15}, "This number is too large."),
        ({"target": "1e3"}, "Enter a number."),  # no exponents: numbers as people type them
        ({"baseline": "-1"}, "Enter a number of zero or more."),
        ({"name_ar": "", "name_fr": "", "name_en": ""}, "at least one language"),
        ({"target_scope": "forever"}, "Choose for the whole term or per period."),
        ({"baseline": "400"}, "The target must differ from the baseline"),  # no way to go from one to the other
    ],
)
def test_bad_definitions_get_a_clear_message_and_store_nothing(app, world, signed_in, quarterly, fields, message):
    deliverable = quarterly[0]
    before = db.session.scalar(select(func.count()).select_from(Indicator))
    response = signed_in("officer").post(
        f"/agreements/{world.agreement_a.id}/deliverables/{deliverable.id}/indicators/new", data=data(**fields)
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Indicator)) == before


def test_who_may_define_indicators(app, world, signed_in, quarterly):
    deliverable = quarterly[0]
    url = f"/agreements/{world.agreement_a.id}/deliverables/{deliverable.id}/indicators/new"
    for role, status in (
        ("officer", 200),
        ("manager", 200),
        ("admin", 200),
        ("other_officer", 403),
        ("legal", 403),
        ("auditor", 403),
        ("partner", 403),
        ("partner_b", 404),
    ):
        assert signed_in(role).get(url).status_code == status, role
    # A deliverable of another agreement is not reached through this one.
    other = plan(world.agreement_b, world.users["officer"], responsible=world.partner_b)
    db.session.commit()
    wrong = f"/agreements/{world.agreement_a.id}/deliverables/{other.id}/indicators/new"
    assert signed_in("officer").get(wrong).status_code == 404


def test_values_handed_in_with_the_files_and_seen_against_the_target(app, world, signed_in, quarterly):
    deliverable, trained, models = quarterly
    first, second = deliverable.occurrences[0], deliverable.occurrences[1]
    partner, officer = signed_in("partner"), signed_in("officer")
    form = partner.get(f"/deliverables/{first.id}").get_data(as_text=True)
    assert f'name="indicator_{trained.id}"' in form and "Values for this period" in form
    # A whole-term count asks what the period added (the periods add up); a per-period target, the level.
    help_of = {
        indicator.id: form.split(f'id="indicator-{indicator.id}-help">')[1].split("</div>")[0]
        for indicator in (trained, models)
    }
    assert "What this period added: the periods add up, from 0 at the start, towards 400" in help_of[trained.id]
    assert "The level reached this period. Target per period: 2" in help_of[models.id]
    assert hand_in(partner, first, {f"indicator_{trained.id}": "120", f"indicator_{models.id}": "3"}).status_code == 303
    review = officer.get(f"/deliverables/{first.id}").get_data(as_text=True)
    cell_of = {
        indicator.id: review.split(f'data-indicator="{indicator.id}">')[1].split("</tr>")[0]
        for indicator in (trained, models)
    }
    assert '<span dir="ltr">+120</span>' in cell_of[trained.id] and "added" in cell_of[trained.id]
    assert '<span dir="ltr">3</span>' in cell_of[models.id] and "added" not in cell_of[models.id]
    assert "per period" in review and "400" in review
    db.session.refresh(first)
    assert db.session.scalar(select(func.count()).select_from(IndicatorValue)) == 2
    # The next period, then a send-back: the corrected hand-in replaces the sent-back one.
    hand_in(partner, second, {f"indicator_{trained.id}": "80", f"indicator_{models.id}": "1"})
    db.session.refresh(second)
    officer.post(
        f"/deliverables/{second.id}/review",
        data={"version": str(second.version), "decision": "send_back", "feedback": "Chiffres à vérifier"},
        csrf_from=f"/deliverables/{second.id}",
    )
    progress = {p.indicator.id: p for p in services.progress_for_agreement(world.agreement_a, world.users["manager"])}
    assert progress[trained.id].achieved == 120 and progress[trained.id].percent == 30
    hand_in(partner, second, {f"indicator_{trained.id}": "100", f"indicator_{models.id}": "2"}, name="v2.pdf")
    progress = {p.indicator.id: p for p in services.progress_for_agreement(world.agreement_a, world.users["manager"])}
    assert progress[trained.id].achieved == 220 and progress[trained.id].percent == 55
    assert progress[models.id].achieved == 2 and progress[models.id].periods_met == 2
    page = officer.get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    assert (
        '<svg class="indicator-chart" role="img"' in page and "<script" not in page.split("indicators-panel")[1][:5000]
    )
    # The name isolated from the figures (an Arabic name had garbled an English label); "55%" as English writes it.
    assert "\u2068People trained\u2069 — 220 / 400 personnes (55%)" in page
    summary = officer.get(f"/agreements/{world.agreement_a.id}/summary").get_data(as_text=True)
    assert "indicator-chart" in summary and "220" in summary
    # Right to left: the same bars, growing from the right edge; names escaped.
    from app.indicators.chart import PAD, WIDTH, chart_svg

    trained.name_en = "<b>People</b>"
    rows = services.progress_for_agreement(world.agreement_a, world.users["manager"])
    ltr, rtl = str(chart_svg(rows, rtl=False)), str(chart_svg(rows, rtl=True))
    assert "&lt;b&gt;People&lt;/b&gt;" in ltr and "<b>" not in ltr
    assert f'<text x="{PAD}' in ltr and f'<text x="{WIDTH - PAD}' in rtl and 'direction="rtl"' in rtl


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "Enter the value achieved"),
        ("douze", "Enter a number."),
        ("-3", "zero or more"),
        ("99999999999999", "too large"),
        ("999999999999.995", "At most 2 decimals"),  # rounded, it would no longer fit the column
        ("0.001", "At most 2 decimals"),
    ],
)
def test_bad_values_store_nothing(app, world, signed_in, quarterly, value, message):
    deliverable, trained, models = quarterly
    occurrence = deliverable.occurrences[0]
    partner = signed_in("partner")
    response = hand_in(partner, occurrence, {f"indicator_{trained.id}": value, f"indicator_{models.id}": "1"})
    assert response.status_code == 303
    page = partner.get(f"/deliverables/{occurrence.id}").get_data(as_text=True)
    assert message in page
    assert db.session.scalar(select(func.count()).select_from(Submission)) == 0
    assert db.session.scalar(select(func.count()).select_from(IndicatorValue)) == 0


@pytest.mark.parametrize(
    "baseline, target, achieved, percent, met",
    [
        ("0", "400", "100", 25, False),
        ("200", "300", "200", 0, False),  # from 200 to 300 people: 200 is no progress (it had been 67 %)
        ("200", "300", "250", 50, False),
        ("200", "300", "299.9", 99, False),  # never 100 % before the target
        ("200", "300", "300", 100, True),
        ("200", "300", "150", 0, False),  # the wrong way: not below 0
        ("500", "300", "400", 50, False),  # a reduction: from 500 incidents down to 300
        ("500", "300", "250", 125, True),
        ("500", "300", "600", 0, False),
    ],
)
def test_progress_is_measured_from_the_baseline_to_the_target(baseline, target, achieved, percent, met):
    indicator = Indicator(baseline=Decimal(baseline), target=Decimal(target), target_scope="period")
    row = services.Progress(indicator, Decimal(achieved), periods=1, periods_met=0, latest=Decimal(achieved))
    assert (row.percent, row.is_met) == (percent, met)


def test_a_baseline_above_the_target_is_a_reduction_shown_alike_everywhere(app, world, signed_in, quarterly):
    """The page's table, its chart, the export and the API give one progress, from the baseline."""
    deliverable, trained, models = quarterly
    url = f"/agreements/{world.agreement_a.id}/deliverables/{deliverable.id}/indicators/new"
    officer = signed_in("officer")
    reduction = {"name_en": "Incidents", "name_fr": "Incidents", "name_ar": "", "unit": "", "target_scope": "period"}
    assert officer.post(url, data={**reduction, "baseline": "500", "target": "300"}).status_code == 303
    incidents = db.session.scalar(select(Indicator).where(Indicator.name_en == "Incidents"))
    values = {f"indicator_{trained.id}": "100", f"indicator_{models.id}": "1", f"indicator_{incidents.id}": "400"}
    assert hand_in(signed_in("partner"), deliverable.occurrences[0], values).status_code == 303
    page = officer.get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    assert "\u2068Incidents\u2069 — 400 / 300 (50%)" in page  # the chart
    row = page.split(f'data-indicator="{incidents.id}"')[1].split("</tr>")[0]
    assert '<span class="indicator-percent">50%</span>' in row  # the table
    # From 1 model to 2 per period: 1 handed in is no progress yet.
    models_row = page.split(f'data-indicator="{models.id}"')[1].split("</tr>")[0]
    assert '<span class="indicator-percent">0%</span>' in models_row and "0 of 1 periods on target" in models_row
    csv = signed_in("manager").get("/portfolio/indicators/export.csv").get_data(as_text=True)
    assert [line for line in csv.splitlines() if "Incidents" in line][0].split(",")[8] == "50"
    token = create_token(world.users["officer"], "t", by=None)[1]
    db.session.commit()
    listed = app.test_client().get(
        f"/api/v1/agreements/{world.agreement_a.id}/indicators", headers={"Authorization": f"Bearer {token}"}
    )
    percents = {row["names"]["en"]: row["percent"] for row in listed.get_json()}
    assert percents == {"People trained": 25, "Models released": 0, "Incidents": 50}
    # A whole-term target is reached by the term, not by any one period: no "periods met" is claimed of it.
    met = {row["names"]["en"]: row["periods_met"] for row in listed.get_json()}
    assert met == {"People trained": None, "Models released": 0, "Incidents": 0}


def test_portfolio_page_and_exports(app, world, signed_in, quarterly):
    deliverable, trained, models = quarterly
    partner = signed_in("partner")
    hand_in(partner, deliverable.occurrences[0], {f"indicator_{trained.id}": "50", f"indicator_{models.id}": "0"})
    manager = signed_in("manager")
    page = manager.get("/portfolio/indicators").get_data(as_text=True)
    assert world.agreement_a.reference in page and "indicator-chart" in page and "People trained" in page
    assert "Progress of the indicators" in manager.get("/dashboard").get_data(as_text=True)
    csv = manager.get("/portfolio/indicators/export.csv").get_data(as_text=True)
    assert "People trained" in csv and "400" in csv and ",50" in csv
    workbook = load_workbook(BytesIO(manager.get("/portfolio/indicators/export.xlsx").data))
    rows = list(workbook.active.values)
    assert "Achieved" in rows[0] and any("Models released" in r for r in rows)
    # Partner B sees nothing of partner A's indicators; partner A sees their own.
    assert "People trained" not in signed_in("partner_b").get("/portfolio/indicators").get_data(as_text=True)
    assert "People trained" in partner.get("/portfolio/indicators").get_data(as_text=True)


def test_the_api_lists_defines_and_takes_values(app, world, quarterly):
    deliverable, trained, models = quarterly
    tokens = {r: create_token(world.users[r], "t", by=None)[1] for r in ("officer", "partner", "partner_b")}
    db.session.commit()
    client = app.test_client()

    def call(method, role, path, **kwargs):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {tokens[role]}"}, **kwargs)

    occurrence = deliverable.occurrences[0]
    response = call(
        "POST",
        "partner",
        f"/api/v1/deliverables/{occurrence.id}/submissions",
        data={"files": (BytesIO(PDF), "r.pdf"), f"indicator_{trained.id}": "7"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and f"indicator_{models.id}" in response.get_json()["errors"]
    response = call(
        "POST",
        "partner",
        f"/api/v1/deliverables/{occurrence.id}/submissions",
        data={"files": (BytesIO(PDF), "r.pdf"), f"indicator_{trained.id}": "7", f"indicator_{models.id}": "1"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201
    listed = call("GET", "partner", f"/api/v1/agreements/{world.agreement_a.id}/indicators").get_json()
    assert [(i["names"]["en"], i["achieved"], i["target"]) for i in listed] == [
        ("People trained", "7.00", "400.00"),
        ("Models released", "1.00", "2.00"),
    ]
    values = call("GET", "officer", f"/api/v1/deliverables/{occurrence.id}/indicator-values").get_json()
    assert values[0]["values"][0]["value"] == "7.00"
    assert call("GET", "partner_b", f"/api/v1/agreements/{world.agreement_a.id}/indicators").status_code == 404
    url = f"/api/v1/agreements/{world.agreement_a.id}/deliverables/{deliverable.id}/indicators"
    body = {"names": {"fr": "Ateliers"}, "target": "10", "target_scope": "term"}
    assert call("POST", "partner", url, json=body).status_code == 403
    assert call("POST", "officer", url, json={**body, "target": "-1"}).status_code == 422
    assert call("POST", "officer", url, json={**body, "target": "x"}).status_code == 422
    created = call("POST", "officer", url, json=body)
    assert created.status_code == 201 and created.get_json()["target"] == "10.00"


def test_the_demo_lab_carries_illustrative_indicators_loaded_once(app):
    from app.agreements.models import Agreement
    from app.auth.models import User

    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    assert runner.invoke(args=["demo", "load"]).exit_code == 0  # idempotent
    lab = db.session.scalar(select(Agreement).where(Agreement.reference == "MTNRA-2026-001"))
    rows = {
        p.indicator.name_en: p
        for p in services.progress_for_agreement(lab, db.session.scalar(select(User).where(User.role == "admin")))
    }
    assert set(rows) == {"People trained", "Models released"}
    assert all(p.indicator.is_illustrative for p in rows.values())
    assert rows["People trained"].achieved == 185 and rows["Models released"].achieved == 2
    assert db.session.scalar(select(func.count()).select_from(IndicatorValue)) == 6
    manager = db.session.scalar(select(User).where(User.role == "manager", User.is_active_account.is_(True)))
    from tests.conftest import SignedInClient

    manager.set_password("Correct-Horse-9-battery")
    db.session.commit()
    client = SignedInClient(app, None)
    client.sign_in(manager.email, "Correct-Horse-9-battery")
    page = client.get(f"/agreements/{lab.id}").get_data(as_text=True)
    assert "People trained" in page and "illustrative" in page and "indicator-chart" in page


@pytest.mark.parametrize("target", ["0.001", "0." + "0" * 29 + "1", "999999999999.995"])
def test_a_target_is_not_rounded_into_one_refused(app, world, quarterly, target):
    """A target under a cent would be stored as zero (every percentage then 0), one a hair under the limit
    rounded past it (PostgreSQL refused it with a 500): both are refused as typed."""
    deliverable, _trained, _models = quarterly
    with pytest.raises(ValidationFailed, match="Please correct") as refused:
        services.add_indicator(deliverable, services.IndicatorData(**data(target=target)), by=world.users["officer"])
    assert refused.value.field_errors == {"target": ["At most 2 decimals."]}


@pytest.mark.parametrize(
    "baseline, target, reported, percent, met",
    [
        ("500", "300", [], 0, False),  # nothing reported: no progress (a reduction read 0 and said 250 %, met)
        ("0", "400", [], 0, False),
        ("500", "300", ["450", "450"], 25, False),  # a reduction over the term is a level: its latest value
        ("500", "300", ["450", "280"], 110, True),
        ("200", "300", ["60", "40"], 100, True),  # a count over the term adds to its baseline: 200 + 100
        ("0", "400", ["100", "100"], 50, False),
    ],
)
def test_progress_over_the_term_and_before_any_value(baseline, target, reported, percent, met):
    indicator = Indicator(id=1, baseline=Decimal(baseline), target=Decimal(target), target_scope="term")
    rows = [(1, date(2026, 3 * n + 3, 30), Decimal(value)) for n, value in enumerate(reported)]
    (row,) = services.progress_of([indicator], rows)
    assert (row.percent, row.is_met) == (percent, met)
    if not reported:  # where it stands before anything was reported: its baseline (a reduction had shown 0)
        assert row.achieved == Decimal(baseline)


def test_two_partners_reports_of_one_title_get_links_that_say_whose(app, world, signed_in, quarterly):
    from app.agreements.models import AgreementParty

    world.agreement_a.parties.append(AgreementParty(organization_id=world.partner_b.id, role="partner"))
    db.session.commit()
    plan(
        world.agreement_a,
        world.users["officer"],
        responsible=world.partner_b,
        recurrence="quarterly",
        first=TODAY - timedelta(days=100),
        until=TODAY + timedelta(days=200),
        title="Rapport trimestriel",
    )
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    for partner in (world.partner_a, world.partner_b):
        assert f"Add an indicator to “Rapport trimestriel” (<bdi>{partner.name}</bdi>)" in page


def test_once_values_are_in_an_indicator_is_not_changed_to_read_them_otherwise(app, world, signed_in, quarterly):
    """Handed in as what the period added ("+120 added"), the values had silently become levels when the
    target was switched to per period; refused once there are values. Other changes still go."""
    deliverable, trained, models = quarterly
    first = deliverable.occurrences[0]
    hand_in(signed_in("partner"), first, {f"indicator_{trained.id}": "120", f"indicator_{models.id}": "3"})
    officer = signed_in("officer")
    for indicator, changed in (
        (trained, {"target_scope": "period"}),
        (trained, {"baseline": "500", "target": "400"}),  # a reduction: levels too
        (models, {"target_scope": "term"}),  # per-period levels, added up
    ):
        edit = f"/agreements/{world.agreement_a.id}/indicators/{indicator.id}/edit"
        fields = data(**{name: str(getattr(indicator, name)) for name in ("baseline", "target", "target_scope")})
        refused = officer.post(edit, data={**fields, **changed})
        assert refused.status_code == 422 and "Add another indicator instead" in refused.get_data(as_text=True)
        db.session.refresh(indicator)
        assert indicator.target_scope == fields["target_scope"] and str(indicator.target) == fields["target"]
    edit = f"/agreements/{world.agreement_a.id}/indicators/{trained.id}/edit"
    assert officer.post(edit, data=data(target="450")).status_code == 303
    db.session.refresh(trained)
    assert trained.target == 450
