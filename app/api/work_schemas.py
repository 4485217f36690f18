"""Schemas of the work done inside an agreement's stages through the API: moves with their
documents, negotiation versions, signatories, deliverable plans, waivers and delegations.
Input only validates shapes; business rules stay in the services the pages call."""

from __future__ import annotations

import json
import re

from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from app.agreements.models import NOTICE_SIDES
from app.api.schemas import (
    APPROVAL_STEP_HELP,
    MAX_ID,
    PAST_DUE_CHOICES,
    PAST_DUE_HELP,
    AgreementSchema,
    DocumentSchema,
    Id,
    OrganizationRefSchema,
    PersonSchema,
    StrictSchema,
    Text,
    Texts,
)
from app.core.i18n import gettext as _
from app.deliverables.models import RECURRENCES

# The agreement's `version` (GET /agreements/{id}), not a text version's number: a change since is a 409.
VERSION_READ = {
    "description": "The agreement's version you read (its `version`, not a text's number): 409 if it changed."
}
Version = lambda **kw: fields.Integer(  # noqa: E731
    strict=True, validate=validate.Range(1, MAX_ID), **{"metadata": VERSION_READ, **kw}
)
# In a multipart body every value is text: numbers and booleans are parsed from it.
FormVersion = lambda **kw: fields.Integer(validate=validate.Range(1, MAX_ID), **{"metadata": VERSION_READ, **kw})  # noqa: E731


class MultipartSchema(Schema):
    """A multipart body: form fields and files together (unknown fields are ignored, as browsers add some)."""

    class Meta:
        unknown = EXCLUDE


# --- moves that carry a file ------------------------------------------------------------------


class ChildDecisionsText(fields.Field):
    """A multipart field holding a JSON object {child id: the same move, or "keep"} (the JSON body's
    `children`): a form has no nested values."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            decisions = json.loads(value) if isinstance(value, str) else None
        except (ValueError, RecursionError):  # RecursionError: nested past the decoder ("[" * 1000)
            decisions = None
        if not isinstance(decisions, dict) or not all(
            re.fullmatch(r"[0-9]{1,12}", key) and isinstance(move, str) and len(move) <= 60
            for key, move in decisions.items()
        ):
            example = '{"11": "keep"}'
            raise ValidationError(_("Give a JSON object of child ids and moves, such as %(example)s.", example=example))
        return decisions


class MoveFormSchema(MultipartSchema):
    comment = Text(2000, allow_none=True)
    decision = fields.String(
        validate=validate.OneOf(("approve", "reject")),
        metadata={"description": "For approval moves: approve (default) or reject (send back, comment required)."},
    )
    step = fields.String(validate=validate.Length(min=1, max=60), metadata={"description": APPROVAL_STEP_HELP})
    signed_on = fields.Date(allow_none=True)
    effective_on = fields.Date(allow_none=True)
    expires_on = fields.Date(allow_none=True)
    termination_notice = Upload(metadata={"description": "The termination notice, for a move that asks for it."})
    past_due = fields.String(
        validate=validate.OneOf(PAST_DUE_CHOICES), load_default="chase", metadata={"description": PAST_DUE_HELP}
    )
    version = FormVersion()
    children = ChildDecisionsText(
        metadata={
            "type": "string",
            "description": "For moves whose workflow asks per child agreement (e.g. terminate): a JSON object "
            '{child id: the same move, or "keep"}, such as {"11": "keep"}.',
        }
    )


# --- negotiation -----------------------------------------------------------------------------


class NegotiationVersionSchema(Schema):
    id = fields.Integer()
    number = fields.Integer()
    side = fields.String(metadata={"description": "ministry or partner: who sent this version."})
    sent_by = fields.Nested(PersonSchema, allow_none=True)
    sent_at = fields.DateTime()
    note = fields.String(allow_none=True)
    document = fields.Nested(DocumentSchema, allow_none=True)
    ministry_accepted_by = fields.Nested(PersonSchema, allow_none=True)
    ministry_accepted_at = fields.DateTime(allow_none=True)
    partner_accepted_by = fields.Nested(PersonSchema, allow_none=True)
    partner_accepted_at = fields.DateTime(allow_none=True)
    is_agreed = fields.Boolean()


class AwaitedPartySchema(OrganizationRefSchema):
    is_ministry = fields.Boolean(metadata={"description": "The ministry itself rather than a partner party."})


class NegotiationSchema(Schema):
    is_text_locked = fields.Boolean()
    awaited_parties = fields.List(
        fields.Nested(AwaitedPartySchema),
        metadata={
            "description": "Whose turn it is: every party still to answer, in order (the ministry alone before the "
            "first version; then each party, the ministry or a partner, that has not accepted the latest version). "
            "Empty once the text is locked or outside the negotiation. The same rule as the agreement's page, the "
            "inbox and the partner portal."
        },
    )
    turn = fields.String(
        allow_none=True,
        validate=validate.OneOf(["ministry", "partner"]),
        metadata={
            "description": "Kept for older clients; read `awaited_parties` instead. Derived from it: `ministry` while "
            "the ministry is awaited, else `partner` while any partner party is, else null. With several partner "
            "parties it does not say which.",
            "deprecated": True,
        },
    )
    your_side = fields.String(allow_none=True, metadata={"description": "The side the caller speaks for."})
    can_send_version = fields.Boolean()
    can_accept_version = fields.Boolean()
    versions = fields.List(fields.Nested(NegotiationVersionSchema))
    version = fields.Integer(metadata={"description": "The agreement's version, to send back with a change."})


class SendVersionFormSchema(MultipartSchema):
    file = Upload(
        metadata={"description": "The text version: this or `from_draft_id`, not both (neither is a field error)."}
    )
    from_draft_id = fields.Integer(
        allow_none=True,
        metadata={
            "description": "Instead of `file`, for the ministry's first version: the id of one of this agreement's "
            "draft texts, sent as it was reviewed (the same stored file, under a new text version; the draft stays "
            "the ministry's). An id that is not such a draft is a field error, the same as an id that does not "
            "exist."
        },
    )
    note = Text(20000, allow_none=True)
    on_behalf_of_partner = fields.Boolean(
        load_default=False, metadata={"description": "Ministry side: the partner sent this version by other means."}
    )
    version = FormVersion()


class AcceptVersionInputSchema(StrictSchema):
    on_behalf_of_partner = fields.Boolean(load_default=False)
    version = Version()


# --- signatures ------------------------------------------------------------------------------


class SignatorySchema(Schema):
    id = fields.Integer()
    position = fields.Integer()
    side = fields.String()
    organization = fields.Nested(
        OrganizationRefSchema,
        allow_none=True,
        metadata={
            "description": "With side partner: the partner party they sign for; null when they sign for none "
            "(named before signatories said which partner, or for an organisation no longer a partner party)."
        },
    )
    name = fields.String()
    title = fields.String(allow_none=True)
    signed_on = fields.Date(allow_none=True)
    recorded_at = fields.DateTime(allow_none=True)


class SigningPartySchema(Schema):
    side = fields.String(metadata={"description": "ministry, or partner for each partner party."})
    organization = fields.Nested(
        OrganizationRefSchema, allow_none=True, metadata={"description": "The partner party; null: the ministry."}
    )
    is_signed = fields.Boolean(metadata={"description": "Each of its signatories has signed (and it has one)."})
    signed_on = fields.Date(allow_none=True)


class SignaturesSchema(Schema):
    can_manage_signatures = fields.Boolean()
    signatories = fields.List(fields.Nested(SignatorySchema))
    parties = fields.List(
        fields.Nested(SigningPartySchema),
        metadata={
            "description": "Who must sign: the ministry and every partner party (not co-signatories or witnesses)."
        },
    )
    version = fields.Integer()


class SignatoryInputSchema(StrictSchema):
    side = fields.String(required=True, validate=validate.OneOf(("ministry", "partner")))
    organization_id = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "With side partner: the partner party they sign for (needed if several)."},
    )
    name = Text(200, required=True)
    title = Text(200, allow_none=True)
    version = Version()


class SignatureInputSchema(StrictSchema):
    signed_on = fields.Date(required=True)
    version = Version()


class DraftTextFormSchema(MultipartSchema):
    file = Upload(
        metadata={
            "description": "The draft text (required): DOCX, ODT or PDF, the kinds of file two drafts are compared in."
        }
    )
    version = FormVersion()


class SignedCopyFormSchema(MultipartSchema):
    file = Upload(metadata={"description": "The scan of the signed agreement (required)."})
    version = FormVersion()


class NonRenewalFormSchema(MultipartSchema):
    """A notice of non-renewal with the notice itself attached, as on the agreement's page."""

    given_on = fields.Date(required=True, metadata={"description": "The day the notice was given."})
    side = fields.String(required=True, validate=validate.OneOf(NOTICE_SIDES))
    organization_id = fields.Integer(
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "With side partner: the partner organisation that gave it (needed if several)."},
    )
    document = Upload(
        metadata={"description": "The notice itself (optional): a PDF, an office document or an image, as on the page."}
    )
    version = FormVersion()


class AmendmentInputSchema(StrictSchema):
    new_expires_on = fields.Date(required=True, metadata={"description": "The parent's new end date."})
    version = Version()


# --- deliverable plans -----------------------------------------------------------------------


class PlanLineSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    titles = Texts()
    description = fields.String(allow_none=True)
    responsible = fields.Nested(OrganizationRefSchema)
    recurrence = fields.String()
    first_due_on = fields.Date()
    until_on = fields.Date(allow_none=True)
    occurrences = fields.List(
        fields.Nested(
            Schema.from_dict(
                {
                    "id": fields.Integer(),
                    "due_on": fields.Date(),
                    "status": fields.String(),
                    "shown_status": fields.String(),
                },
                name="PlanOccurrence",
            )
        )
    )


class PlanInputSchema(StrictSchema):
    title_fr = Text(300, allow_none=True)
    title_ar = Text(300, allow_none=True)
    title_en = Text(300, allow_none=True)
    description = Text(20000, allow_none=True)
    responsible_organization_id = Id(required=True)
    recurrence = fields.String(load_default="once", validate=validate.OneOf(tuple(RECURRENCES)))
    first_due_on = fields.Date(required=True)
    until_on = fields.Date(allow_none=True)


class PlanPatchSchema(PlanInputSchema):
    responsible_organization_id = Id()
    recurrence = fields.String(validate=validate.OneOf(tuple(RECURRENCES)))
    first_due_on = fields.Date()


class WaiveInputSchema(StrictSchema):
    reason = Text(2000, required=True)
    version = Version()


# --- delegations -----------------------------------------------------------------------------


class DelegationSchema(Schema):
    id = fields.Integer()
    delegator = fields.Nested(PersonSchema)
    delegate = fields.Nested(PersonSchema)
    starts_on = fields.Date()
    ends_on = fields.Date()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


class DelegationsSchema(Schema):
    given = fields.List(fields.Nested(DelegationSchema))
    received = fields.List(fields.Nested(DelegationSchema))


class DelegationInputSchema(StrictSchema):
    delegate_id = Id(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)


# --- importing a portfolio --------------------------------------------------------------------


class ImportFormSchema(MultipartSchema):
    file = Upload(metadata={"description": "The spreadsheet: CSV (UTF-8) or XLSX, its first row naming the columns."})
    reason = Text(2000, allow_none=True, metadata={"description": "Why the rows with a signature date skip review."})
    check = fields.Boolean(load_default=False, metadata={"description": "true: check every row, write nothing."})


class ImportedRowSchema(Schema):
    row = fields.Integer(metadata={"description": "The row's number in the spreadsheet (the heading is row 1)."})
    title = fields.String()
    errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), metadata={"description": "By column."}
    )
    agreement = fields.Nested(AgreementSchema, allow_none=True, metadata={"description": "The agreement made."})


class ImportResultSchema(Schema):
    ok = fields.Boolean(metadata={"description": "Every row passes (a check) or was imported."})
    file_errors = fields.List(fields.String())
    rows = fields.List(fields.Nested(ImportedRowSchema))
