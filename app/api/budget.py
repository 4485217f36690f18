"""/api/v1/agreements/{id}/budget-lines and /api/v1/budget-totals: the same services and rules as the
pages. Amounts travel as decimal strings ("250000.00") so no client loses a cent to a float."""

from __future__ import annotations

from flask import abort
from marshmallow import Schema, fields, validate

from app.api.core import api_blueprint, api_user, errors
from app.api.schemas import DECIMAL_STRING, Id, QuerySchema, StrictSchema, Text
from app.budget import services
from app.budget.models import KINDS
from app.core.dates import FIRST_DAY, LAST_DAY
from app.core.permissions import can, get_agreement_or_404

blueprint = api_blueprint("budget", "Budget lines of agreements and the portfolio's totals.")


class BudgetLineSchema(Schema):
    id = fields.Integer()
    agreement_id = fields.Integer()
    organization_id = fields.Integer()
    organization = fields.Function(lambda line: line.organization.name)
    label = fields.String()
    amount = fields.Function(lambda line: str(line.amount), metadata=DECIMAL_STRING)
    currency = fields.String()
    kind = fields.String()
    year = fields.Integer(allow_none=True)
    period = fields.String(allow_none=True)
    is_illustrative = fields.Boolean()


class BudgetLineInputSchema(StrictSchema):
    organization_id = Id(required=True)
    label = Text(300, required=True)
    amount = fields.Raw(required=True, metadata=DECIMAL_STRING)
    currency = fields.String(load_default="MAD", validate=validate.Length(equal=3))
    kind = fields.String(load_default="cash", validate=validate.OneOf(tuple(KINDS)))
    year = fields.Integer(
        allow_none=True, load_default=None, strict=True, validate=validate.Range(FIRST_DAY.year, LAST_DAY.year)
    )
    period = Text(60, allow_none=True, load_default=None)


class BudgetLineListSchema(Schema):
    items = fields.List(fields.Nested(BudgetLineSchema))
    totals = fields.List(fields.Dict(), metadata={"description": "One total per currency: {currency, total}."})


class TotalsQuerySchema(QuerySchema):
    year = fields.Integer(validate=validate.Range(FIRST_DAY.year, LAST_DAY.year))


class TotalRowSchema(Schema):
    organization_id = fields.Integer()
    organization = fields.String()
    year = fields.Integer(allow_none=True)
    currency = fields.String()
    kind = fields.String()
    total = fields.Function(lambda row: str(row.total), metadata=DECIMAL_STRING)
    signed = fields.Function(
        lambda row: str(row.signed),
        metadata={"description": "The part of total in signed agreements (in force or ended since), as total."},
    )
    lines = fields.Integer()


class TotalsSchema(Schema):
    rows = fields.List(fields.Nested(TotalRowSchema))
    totals = fields.List(
        fields.Dict(), metadata={"description": "One grand total per currency: {currency, total, signed}."}
    )


def _totals(pairs) -> list[dict]:
    return [{"currency": currency, "total": str(total)} for currency, total in pairs]


def _portfolio_totals(totals) -> list[dict]:
    return [{"currency": t.currency, "total": str(t.total), "signed": str(t.signed)} for t in totals]


def _data(payload: dict) -> services.LineData:
    return services.LineData(**payload)


@blueprint.route("/agreements/<int:agreement_id>/budget-lines", methods=["GET"])
@blueprint.response(200, BudgetLineListSchema)
@errors(blueprint, 403, 404)
def list_budget_lines(agreement_id: int):
    """The agreement's budget lines, with one total per currency."""
    lines = services.lines_of(get_agreement_or_404(agreement_id, api_user()))
    return {"items": lines, "totals": _totals(services.totals_by_currency(lines))}


@blueprint.route("/agreements/<int:agreement_id>/budget-lines", methods=["POST"])
@blueprint.arguments(BudgetLineInputSchema)
@blueprint.response(201, BudgetLineSchema)
@errors(blueprint, 400, 403, 404, 409, 422)
def add_budget_line(payload, agreement_id: int):
    """Add a line (owner or manager, before signature; after it, through an amendment)."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="edit")
    return services.add_line(agreement, _data(payload), by=api_user())


@blueprint.route("/agreements/<int:agreement_id>/budget-lines/<int:line_id>", methods=["PUT"])
@blueprint.arguments(BudgetLineInputSchema)
@blueprint.response(200, BudgetLineSchema)
@errors(blueprint, 400, 403, 404, 409, 422)
def replace_budget_line(payload, agreement_id: int, line_id: int):
    """Replace a line's values."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="edit")
    return services.update_line(services.line_of(agreement, line_id), _data(payload), by=api_user())


@blueprint.route("/agreements/<int:agreement_id>/budget-lines/<int:line_id>", methods=["DELETE"])
@blueprint.response(204)
@errors(blueprint, 403, 404, 409, 422)
def delete_budget_line(agreement_id: int, line_id: int):
    """Remove a line."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="edit")
    services.remove_line(services.line_of(agreement, line_id), by=api_user())


@blueprint.route("/budget-totals", methods=["GET"])
@blueprint.arguments(TotalsQuerySchema, location="query", as_kwargs=True)
@blueprint.response(200, TotalsSchema)
@errors(blueprint, 400, 403)
def budget_totals(year=None):
    """Totals per contributing party, year, currency and kind (ministry staff)."""
    user = api_user()
    if not can(user, "budget.report"):
        abort(403)
    rows = services.portfolio_totals(user, year)
    return {"rows": rows, "totals": _portfolio_totals(services.currency_totals(rows))}
