"""What the API reads and writes, as marshmallow schemas: they validate input and
generate the OpenAPI document. Business rules stay in the services."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from app.agreements.models import AGREEMENT_TYPES, NOTICE_SIDES, NOTICE_UNITS, RENEWAL_TERMS
from app.core.urls import MAX_ID
from app.deliverables.before_sharaka import CHOICES as PAST_DUE_CHOICES
from app.deliverables.models import STATUS_LABELS

Id = lambda **kw: fields.Integer(strict=True, validate=validate.Range(1, MAX_ID), **kw)  # noqa: E731
# In a query string every value is text: an id there is parsed from it (strict would refuse "3").
QueryId = lambda **kw: fields.Integer(validate=validate.Range(1, MAX_ID), **kw)  # noqa: E731
Text = lambda n, **kw: fields.String(validate=validate.Length(max=n), **kw)  # noqa: E731


def Texts():  # used like a field class, as Text and QueryId are
    return fields.Dict(
        keys=fields.String(),
        values=fields.String(allow_none=True),
        metadata={"description": "The text in Arabic, French and English ({ar, fr, en})."},
    )


# How a decimal (an amount, an indicator's figure) is written in answers: as a string, exact to the cent.
DECIMAL_STRING = {
    "description": 'A decimal string such as "250000.00" (a JSON number is read as written).',
    "type": "string",
}


class ProblemSchema(Schema):
    """RFC 9457 problem details, with field errors for invalid input."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class QuerySchema(Schema):
    # Unknown query arguments are ignored, as browsers and proxies add their own.
    class Meta:
        unknown = EXCLUDE


class PageQuerySchema(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(1, 100))


def page_schema(item_schema, name: str):
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema)),
            "total": fields.Integer(),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
            "pages": fields.Integer(),
        },
        name=name,
    )


# --- people and organisations ---------------------------------------------------------


class PersonSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class OrganizationRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    acronym = fields.String(allow_none=True)


class OrganizationSchema(OrganizationRefSchema):
    names = Texts()
    kind = fields.String()
    country = fields.String(allow_none=True)
    is_ministry = fields.Boolean()
    retired_at = fields.DateTime(allow_none=True, metadata={"description": "When an admin retired it, else null."})
    merged_into_id = fields.Integer(
        allow_none=True, metadata={"description": "Retired by a merge: the organisation everything of it went to."}
    )


class OrganizationQuerySchema(PageQuerySchema):
    q = Text(200)
    retired = fields.Boolean(
        load_default=None,
        metadata={"description": "true: only retired organisations; false: only current ones; absent: both."},
    )


class SigningEventSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    names = Texts()
    held_on = fields.Date(allow_none=True)
    ends_on = fields.Date(allow_none=True)
    place = fields.String(allow_none=True)


class MeSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    role = fields.String()
    language = fields.String()
    organization = fields.Nested(OrganizationRefSchema, allow_none=True)


# --- agreements ----------------------------------------------------------------------------


class PartySchema(Schema):
    organization = fields.Nested(OrganizationRefSchema)
    role = fields.String()


class RenewalSchema(Schema):
    renewal_terms = fields.String(metadata={"description": "none, tacit or by_agreement."})
    renewal_months = fields.Integer(allow_none=True, metadata={"description": "A tacit renewal's length."})
    notice_period = fields.Integer(allow_none=True)
    notice_unit = fields.String(allow_none=True, metadata={"description": "months or days."})
    notice_deadline = fields.Date(
        allow_none=True,
        metadata={"description": "The end date less the notice period: the last day to give notice of non-renewal."},
    )
    non_renewal_on = fields.Date(allow_none=True, metadata={"description": "When notice of non-renewal was given."})
    non_renewal_by = fields.String(allow_none=True, metadata={"description": "ministry or partner."})
    non_renewal_organization_id = fields.Integer(
        allow_none=True, metadata={"description": "The partner organisation that gave notice, when a partner did."}
    )
    renewal_of_id = fields.Integer(allow_none=True, metadata={"description": "The agreement this one renews."})
    renewal_ids = fields.List(fields.Integer(), metadata={"description": "The agreements that renew this one."})


class AgreementSchema(Schema):
    id = fields.Integer()
    reference = fields.String()
    type = fields.String()
    state = fields.String()
    state_label = fields.String()
    title = fields.String()
    titles = Texts()
    summaries = Texts()
    notes = fields.String(allow_none=True, metadata={"description": "Ministry staff only."})
    owner = fields.Nested(PersonSchema, allow_none=True)
    parent_id = fields.Integer(allow_none=True)
    signing_event_id = fields.Integer(allow_none=True)
    signed_on = fields.Date(allow_none=True)
    effective_on = fields.Date(allow_none=True)
    expires_on = fields.Date(allow_none=True)
    state_entered_at = fields.DateTime(allow_none=True)
    parties = fields.List(fields.Nested(PartySchema))
    renewal = fields.Nested(RenewalSchema)
    version = fields.Integer(metadata={"description": "Send it back with a change to detect concurrent edits."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    url = fields.String(metadata={"description": "The agreement's page."})


def _known_state(value: str) -> None:
    """A state of one of the workflow definitions (read when the request comes, not at import), or one of the
    list's choices over several states."""
    from marshmallow import ValidationError

    from app.agreements.services import OVER_SEVERAL_STATES
    from app.core.i18n import gettext as _
    from app.workflow.engine import state_labels

    known = (*state_labels(), *OVER_SEVERAL_STATES)
    if value not in known:
        raise ValidationError(_("Must be one of: %(choices)s.", choices=", ".join(known)))


class AgreementQuerySchema(PageQuerySchema):
    state = fields.String(
        validate=_known_state,
        metadata={
            "description": "A state name of the agreement's workflow definition; or `in-force`, any state its "
            "workflow tags in force; or `ending-for-good`, in force with an end date it does not renew by itself at "
            "(as the agreements page's State filter)."
        },
    )
    type = fields.String(validate=validate.OneOf(AGREEMENT_TYPES))
    partner = QueryId(metadata={"description": "An organisation id: agreements it is a party to."})
    q = Text(200, metadata={"description": "Search in references, titles and partners (accents ignored)."})
    year = fields.Integer(validate=validate.Range(1900, 2200))
    signed_after = fields.Date()
    signed_before = fields.Date()
    ends_after = fields.Date()
    ends_before = fields.Date()


class PartyInputSchema(StrictSchema):
    organization_id = Id(required=True)
    role = fields.String(load_default="partner", validate=validate.Length(max=40))


class AgreementInputSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(AGREEMENT_TYPES))
    title_ar = Text(500, allow_none=True)
    title_fr = Text(500, allow_none=True)
    title_en = Text(500, allow_none=True)
    summary_ar = Text(20000, allow_none=True)
    summary_fr = Text(20000, allow_none=True)
    summary_en = Text(20000, allow_none=True)
    notes = Text(20000, allow_none=True)
    owner_id = Id(allow_none=True)
    parent_id = Id(allow_none=True)
    signing_event_id = Id(allow_none=True)
    signed_on = fields.Date(allow_none=True)
    effective_on = fields.Date(allow_none=True)
    expires_on = fields.Date(allow_none=True)
    parties = fields.List(fields.Nested(PartyInputSchema), validate=validate.Length(max=50))
    renewal_terms = fields.String(
        validate=validate.OneOf(RENEWAL_TERMS),
        metadata={
            "description": "none (default), tacit (renewed for renewal_months unless notice is given) or by_agreement. "
            "Like the dates, fixed at signature: an amendment changes it afterwards."
        },
    )
    renewal_months = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 120))
    notice_period = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 1800))
    notice_unit = fields.String(allow_none=True, validate=validate.OneOf(NOTICE_UNITS))


class NonRenewalWithdrawalSchema(StrictSchema):
    reason = Text(2000, required=True, metadata={"description": "Why the notice is withdrawn (kept in the history)."})
    version = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "The version you read; refused (409) if the agreement changed since."},
    )


class NonRenewalInputSchema(StrictSchema):
    given_on = fields.Date(required=True, metadata={"description": "The day the notice was given."})
    side = fields.String(required=True, validate=validate.OneOf(NOTICE_SIDES))
    organization_id = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "With side partner: the partner organisation that gave it (needed if several)."},
    )
    version = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "The version you read; refused (409) if the agreement changed since."},
    )


class AgreementPatchSchema(AgreementInputSchema):
    type = fields.String(validate=validate.OneOf(AGREEMENT_TYPES))
    version = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "The version you read; the change is refused (409) if the agreement changed since."},
    )


class PastDueSchema(Schema):
    count = fields.Integer()
    first_due_on = fields.Date()
    message = fields.String()


class TransitionOptionSchema(Schema):
    name = fields.String()
    label = fields.String()
    allowed = fields.Boolean()
    reasons = fields.List(fields.String(), metadata={"description": "Why the move is not possible now."})
    comment = fields.String(metadata={"description": "required, optional or none"})
    fields_ = fields.List(fields.String(), data_key="fields")
    documents = fields.List(fields.String())
    is_approval = fields.Boolean()
    approval_step = fields.String(allow_none=True)
    acting_for = fields.String(allow_none=True)
    target = fields.String()
    past_due = fields.Nested(
        PastDueSchema,
        allow_none=True,
        metadata={"description": "Reports its plan would have due before today if taken now (the move's `past_due`)."},
    )


class TransitionFieldsSchema(StrictSchema):
    signed_on = fields.Date(allow_none=True)
    effective_on = fields.Date(allow_none=True)
    expires_on = fields.Date(allow_none=True)


PAST_DUE_HELP = (
    "For the move that brings the agreement into force (activate), when its plan has reports due before today "
    "(an agreement signed before Sharaka, in force from months back): chase (the default) keeps them owed, late, "
    "and reminded; settled records them as settled before Sharaka (waived with that reason, by you). The moves' "
    "list (GET …/transitions) says how many fall before today as `past_due`."
)


APPROVAL_STEP_HELP = (
    "For approval moves: the step you decide (`approval_step` in the agreement's actions). Named, a step decided "
    "since you read it is a 409 and nothing is recorded; left out, the decision goes to the step waiting now."
)


class TransitionInputSchema(StrictSchema):
    transition = fields.String(required=True, validate=validate.Length(min=1, max=60))
    comment = Text(2000, allow_none=True)
    fields_ = fields.Nested(TransitionFieldsSchema, data_key="fields", load_default=dict)
    decision = fields.String(
        validate=validate.OneOf(("approve", "reject")),
        metadata={"description": "For approval moves: approve (default) or reject (send back, comment required)."},
    )
    step = fields.String(validate=validate.Length(min=1, max=60), metadata={"description": APPROVAL_STEP_HELP})
    past_due = fields.String(
        validate=validate.OneOf(PAST_DUE_CHOICES), load_default="chase", metadata={"description": PAST_DUE_HELP}
    )
    version = fields.Integer(strict=True, validate=validate.Range(1, MAX_ID))
    children = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[0-9]{1,12}$")),
        values=fields.String(validate=validate.Length(max=60)),
        load_default=dict,
        metadata={
            "description": "For moves whose workflow asks per child agreement (e.g. terminate): "
            '{child id: the same move, or "keep"}.'
        },
    )


class TransitionResultSchema(Schema):
    agreement = fields.Nested(AgreementSchema)
    message = fields.String()
    settled_before_sharaka = fields.List(
        fields.Integer(),
        metadata={"description": "The due dates (occurrence ids) the move recorded as settled before Sharaka."},
    )


class DecisionSchema(Schema):
    step = fields.String()
    decision = fields.String()
    by = fields.Nested(PersonSchema, allow_none=True)
    counted_for = fields.Nested(PersonSchema, allow_none=True)
    comment = fields.String(allow_none=True)
    decided_at = fields.DateTime()


class ApprovalRoundSchema(Schema):
    id = fields.Integer()
    transition = fields.String()
    from_state = fields.String()
    status = fields.String()
    requested_at = fields.DateTime()
    requested_by = fields.Nested(PersonSchema, allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    decisions = fields.List(fields.Nested(DecisionSchema))


class AuditEventSchema(Schema):
    id = fields.Integer()
    occurred_at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    changes = fields.Dict()
    comment = fields.String(allow_none=True)


class DocumentSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    name = fields.String()
    sha256 = fields.String()
    size = fields.Integer()
    content_type = fields.String()
    uploaded_at = fields.DateTime()
    uploaded_by = fields.Nested(PersonSchema, allow_none=True)
    download_url = fields.String()


# --- deliverables ---------------------------------------------------------------------------


class SubmissionFileSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    sha256 = fields.String()
    size = fields.Integer()
    download_url = fields.String()


class SubmissionSchema(Schema):
    number = fields.Integer()
    submitted_at = fields.DateTime()
    submitted_by = fields.Nested(PersonSchema, allow_none=True)
    note = fields.String(allow_none=True)
    decision = fields.String(allow_none=True)
    feedback = fields.String(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    files = fields.List(fields.Nested(SubmissionFileSchema))


class OccurrenceSchema(Schema):
    id = fields.Integer()
    agreement = fields.Nested(
        Schema.from_dict(
            {"id": fields.Integer(), "reference": fields.String(), "title": fields.String()}, name="AgreementRef"
        )
    )
    deliverable = fields.Nested(
        Schema.from_dict(
            {"id": fields.Integer(), "title": fields.String(), "titles": Texts(), "recurrence": fields.String()},
            name="DeliverableRef",
        )
    )
    responsible = fields.Nested(OrganizationRefSchema)
    due_on = fields.Date()
    status = fields.String(metadata={"description": "Stored: pending, submitted, sent_back, accepted, waived."})
    shown_status = fields.String(
        metadata={
            "description": "As shown today: not_owed (pending while the agreement does not run: a draft, a "
            "suspended agreement), not_yet_due, due, overdue, submitted, sent_back, accepted, waived."
        }
    )
    status_label = fields.String()
    waived_reason = fields.String(allow_none=True)
    version = fields.Integer()
    submissions = fields.List(fields.Nested(SubmissionSchema))
    url = fields.String()


class HandInSchema(OccurrenceSchema):
    kept_once = fields.List(
        fields.Nested(
            Schema.from_dict({"name": fields.String(), "same_as": fields.String()}, name="FileKeptOnce"),
        ),
        metadata={
            "description": "The files sent with the same bytes as one sent before them in this hand-in: each is "
            "kept once, under the name first sent (`same_as`), as the page keeps it. Empty when each file differs."
        },
    )


class OccurrenceQuerySchema(PageQuerySchema):
    status = fields.String(
        # The list page's values: to act on now, not accepted or waived yet, not handed in yet, or one shown status.
        validate=validate.OneOf(("open", "unfinished", "pending", *STATUS_LABELS)),
        metadata={"description": "open, unfinished, pending, or one shown status (see Occurrence.shown_status)."},
    )
    agreement = QueryId()
    responsible = QueryId(metadata={"description": "The organisation that owes it."})
    due_after = fields.Date()
    due_before = fields.Date()


class SubmissionInputSchema(Schema):
    """The multipart body of a hand-in: form fields and files together."""

    class Meta:
        unknown = EXCLUDE

    note = Text(20000, allow_none=True)
    version = fields.Integer(validate=validate.Range(1, MAX_ID))
    files = fields.List(Upload(), metadata={"description": "One or more files (repeat the field)."})


class ReviewInputSchema(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(("accept", "send_back")))
    comment = Text(20000, allow_none=True)
    version = fields.Integer(strict=True, validate=validate.Range(1, MAX_ID))


# --- notifications ----------------------------------------------------------------------------


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    category = fields.String()
    headline = fields.String()
    detail = fields.String()
    link = fields.String(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class NotificationQuerySchema(PageQuerySchema):
    unread = fields.Boolean(load_default=False)
