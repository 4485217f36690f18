"""/api/v1: comparing text versions, signed copies' digital signatures, indicators and their values.

The same loaders, permission predicates and services as the pages (app/versions,
app/signatures, app/indicators). Achieved values are handed in with the files:
POST /api/v1/deliverables/{id}/submissions takes a field `indicator_<id>` per indicator.
"""

from __future__ import annotations

from flask import abort
from marshmallow import Schema, fields, validate

from app.api.core import api_blueprint, api_user, errors
from app.api.schemas import DECIMAL_STRING, MAX_ID, QueryId, StrictSchema, Text, Texts
from app.core.permissions import get_agreement_or_404, get_document_or_404, get_occurrence_or_404
from app.extensions import db
from app.indicators import services as indicators
from app.indicators.models import TARGET_SCOPES
from app.signatures import services as signatures
from app.signatures.models import SignatureCheck
from app.versions import services as versions

blueprint = api_blueprint("collaboration", "Comparing versions, digital signatures, indicators.")
Number = lambda **kw: fields.Decimal(as_string=True, metadata=DECIMAL_STRING, **kw)  # noqa: E731


# --- schemas --------------------------------------------------------------------------------


class ComparisonQuerySchema(Schema):
    class Meta:
        unknown = "exclude"

    old = QueryId(required=True, metadata={"description": "The earlier document's id."})
    new = QueryId(required=True, metadata={"description": "The later document's id."})


class ExtractionSchema(Schema):
    document_id = fields.Integer()
    name = fields.String()
    status = fields.String(metadata={"description": "ok, truncated, no_text, unreadable, too_large, unsupported."})
    message = fields.String(allow_none=True)
    paragraphs = fields.Integer()


class ComparisonRowSchema(Schema):
    kind = fields.String(metadata={"description": "equal, added, removed, changed, folded."})
    old = fields.String()
    new = fields.String()
    section = fields.String()
    is_heading = fields.Boolean()
    words = fields.List(fields.List(fields.String()), metadata={"description": "[op, text]: equal, insert, delete."})
    folded = fields.Integer()


class ComparisonSchema(Schema):
    old = fields.Nested(ExtractionSchema)
    new = fields.Nested(ExtractionSchema)
    is_comparable = fields.Boolean()
    added = fields.Integer(allow_none=True)
    removed = fields.Integer(allow_none=True)
    changed = fields.Integer(allow_none=True)
    rough = fields.Boolean(
        metadata={
            "description": "Too costly to align paragraph by paragraph (many repeated paragraphs or words): "
            "every paragraph is given as removed and added."
        }
    )
    sections = fields.List(fields.Dict(), metadata={"description": "[{section, changes}] in order."})
    rows = fields.List(fields.Nested(ComparisonRowSchema))


class SignatureSchema(Schema):
    field = fields.String(allow_none=True)
    signer = fields.String(allow_none=True)
    issuer = fields.String(allow_none=True)
    signed_at = fields.String(allow_none=True)
    timestamped = fields.Boolean()
    intact = fields.Boolean()
    unchanged = fields.Boolean()
    coverage = fields.String()
    modification = fields.String(allow_none=True)
    trusted = fields.Boolean()
    revocation = fields.String(metadata={"description": "not_checked, checked or revoked."})
    problem = fields.String(allow_none=True)
    explanation = fields.List(fields.String())


class SignatureCheckSchema(Schema):
    document_id = fields.Integer()
    status = fields.String(metadata={"description": "none, valid, untrusted, invalid, unreadable."})
    status_label = fields.String()
    checked_at = fields.DateTime(allow_none=True)
    signatures = fields.List(fields.Nested(SignatureSchema))


class IndicatorSchema(Schema):
    id = fields.Integer()
    deliverable_id = fields.Integer()
    name = fields.String()
    names = Texts()
    unit = fields.String(allow_none=True)
    baseline = Number()
    target = Number()
    target_scope = fields.String(
        metadata={"description": "term (the periods' values add up over the term) or period (each period)."}
    )
    is_illustrative = fields.Boolean()
    achieved = fields.Decimal(
        as_string=True,
        metadata={
            **DECIMAL_STRING,
            "description": "Where the indicator stands: the latest period's value; for a term count, the baseline "
            "plus the periods' values (a reduction, target below baseline, is its latest value). "
            + DECIMAL_STRING.get("description", ""),
        },
    )
    percent = fields.Integer(
        metadata={
            "description": "Share of the way from the baseline to the target covered by `achieved` "
            "(0 at the baseline, 100 at the target, a target below the baseline being a reduction); "
            "never below 0, at most 999."
        }
    )
    periods = fields.Integer()
    periods_met = fields.Integer(
        allow_none=True,
        metadata={"description": "Periods whose value reached the per-period target; null for a whole-term target."},
    )
    values = fields.List(fields.Dict(), metadata={"description": "[{due_on, value}] counted, in order."})


class IndicatorInputSchema(StrictSchema):
    names = fields.Dict(
        keys=fields.String(validate=validate.OneOf(("ar", "fr", "en"))),
        values=Text(200, allow_none=True),
        required=True,
    )
    unit = Text(40, allow_none=True)
    baseline = fields.Raw(
        metadata={
            "description": "A number, zero or more (default 0), other than the target: progress is measured "
            "from it to the target (a target below it is a reduction)."
        }
    )
    target = fields.Raw(required=True, metadata={"description": "A number greater than zero."})
    target_scope = fields.String(required=True, validate=validate.OneOf(tuple(TARGET_SCOPES)))


class SubmissionValuesSchema(Schema):
    submission = fields.Integer()
    values = fields.List(fields.Dict(), metadata={"description": "[{indicator_id, name, value, target}]"})


# --- comparison -----------------------------------------------------------------------------


def _extraction(document, text) -> dict:
    return {
        "document_id": document.id,
        "name": document.original_name,
        "status": text.status,
        "message": versions.status_message(text.status),
        "paragraphs": len(text.paragraphs or []),
    }


@blueprint.route("/agreements/<int:agreement_id>/comparison", methods=["GET"])
@blueprint.arguments(ComparisonQuerySchema, location="query", as_kwargs=True)
@blueprint.response(200, ComparisonSchema)
@errors(blueprint, 400, 403, 404)
def compare_versions(agreement_id: int, old: int, new: int):
    """What changed between two documents of the agreement (DOCX, ODT or PDF): paragraphs, then words."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="compare")
    by_id = {d.id: d for d in versions.comparable_documents(agreement, user)}
    if old not in by_id or new not in by_id:
        abort(404)
    old_text, new_text, comparison = versions.compare_documents(by_id[old], by_id[new])
    body = {
        "old": _extraction(by_id[old], old_text),
        "new": _extraction(by_id[new], new_text),
        "is_comparable": comparison is not None,
        "rows": [],
        "sections": [],
    }
    if comparison is not None:
        body.update(
            added=comparison.added,
            removed=comparison.removed,
            changed=comparison.changed,
            rough=comparison.rough,
            sections=[{"section": name, "changes": count} for name, count in comparison.sections],
            rows=[
                {
                    "kind": r.kind,
                    "old": r.old,
                    "new": r.new,
                    "section": r.section,
                    "is_heading": bool(r.level),
                    "words": [list(w) for w in r.words],
                    "folded": r.folded,
                }
                for r in comparison.rows
            ],
        )
    return body


# --- digital signatures ---------------------------------------------------------------------


def _signed_copy(agreement, document_id: int):
    return get_document_or_404(agreement, document_id, api_user(), kind="signed_copy")


def _present_check(document, check: SignatureCheck | None) -> dict:
    if check is None:
        return {
            "document_id": document.id,
            "status": "unchecked",
            "status_label": "",
            "checked_at": None,
            "signatures": [],
        }
    return {
        "document_id": document.id,
        "status": check.status,
        "status_label": str(signatures.STATUS_LABELS[check.status]),
        "checked_at": check.checked_at,
        "signatures": [{**s, "explanation": signatures.describe(s)} for s in check.signatures],
    }


@blueprint.route("/agreements/<int:agreement_id>/documents/<int:document_id>/signatures", methods=["GET"])
@blueprint.response(200, SignatureCheckSchema)
@errors(blueprint, 403, 404)
def get_signatures(agreement_id: int, document_id: int):
    """The stored check of a signed copy's digital signatures (validated at upload)."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="documents")
    document = _signed_copy(agreement, document_id)
    return _present_check(document, signatures.checks_for(agreement).get(document.id))


@blueprint.route("/agreements/<int:agreement_id>/documents/<int:document_id>/signatures/check", methods=["POST"])
@blueprint.response(200, SignatureCheckSchema)
@errors(blueprint, 403, 404)
def recheck_signatures(agreement_id: int, document_id: int):
    """Check a signed copy's digital signatures again now (administrators)."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="recheck_signatures")
    document = _signed_copy(agreement, document_id)
    return _present_check(document, signatures.check_signatures(document, by=api_user()))


# --- indicators -----------------------------------------------------------------------------


def _present_progress(row) -> dict:
    indicator = row.indicator
    return {
        "id": indicator.id,
        "deliverable_id": indicator.deliverable_id,
        "name": indicator.name,
        "names": {lang: getattr(indicator, f"name_{lang}") for lang in ("ar", "fr", "en")},
        "unit": indicator.unit,
        "baseline": indicator.baseline,
        "target": indicator.target,
        "target_scope": indicator.target_scope,
        "is_illustrative": indicator.is_illustrative,
        "achieved": row.achieved,
        "percent": row.percent,
        "periods": row.periods,
        "periods_met": row.periods_met,
        "values": [{"due_on": due_on.isoformat(), "value": str(value)} for due_on, value in row.values],
    }


@blueprint.route("/agreements/<int:agreement_id>/indicators", methods=["GET"])
@blueprint.response(200, IndicatorSchema(many=True))
@errors(blueprint, 403, 404)
def list_indicators(agreement_id: int):
    """The indicators of the agreement's deliverables, with baseline, target and achieved values."""
    agreement = get_agreement_or_404(agreement_id, api_user())
    return [_present_progress(row) for row in indicators.progress_for_agreement(agreement, api_user())]


@blueprint.route("/agreements/<int:agreement_id>/deliverables/<int:deliverable_id>/indicators", methods=["POST"])
@blueprint.arguments(IndicatorInputSchema)
@blueprint.response(201, IndicatorSchema)
@errors(blueprint, 400, 403, 404, 422)
def add_indicator(payload, agreement_id: int, deliverable_id: int):
    """Add an indicator to a deliverable (those who edit the agreement)."""
    from app.deliverables.models import Deliverable

    agreement = get_agreement_or_404(agreement_id, api_user(), need="indicators")
    deliverable = db.session.get(Deliverable, deliverable_id) if 0 < deliverable_id <= MAX_ID else None
    if deliverable is None or deliverable.agreement_id != agreement.id:
        abort(404)
    names = payload["names"]
    indicator = indicators.add_indicator(
        deliverable,
        indicators.IndicatorData(
            name_ar=names.get("ar"),
            name_fr=names.get("fr"),
            name_en=names.get("en"),
            unit=payload.get("unit"),
            baseline=payload.get("baseline"),
            target=payload.get("target"),
            target_scope=payload["target_scope"],
        ),
        by=api_user(),
    )
    (progress,) = indicators.progress_of([indicator], [])
    return _present_progress(progress)


@blueprint.route("/deliverables/<int:occurrence_id>/indicator-values", methods=["GET"])
@blueprint.response(200, SubmissionValuesSchema(many=True))
@errors(blueprint, 403, 404)
def list_values(occurrence_id: int):
    """The values each hand-in of this due date reported, against the targets."""
    occurrence = get_occurrence_or_404(occurrence_id, api_user())
    return [
        {
            "submission": s.number,
            "values": [
                {
                    "indicator_id": indicator.id,
                    "name": indicator.name,
                    "value": str(value),
                    "target": str(indicator.target),
                }
                for indicator, value in indicators.submission_values(s)
            ],
        }
        for s in occurrence.submissions
    ]
