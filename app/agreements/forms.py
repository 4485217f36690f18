from flask_babel import lazy_gettext as _l
from wtforms import (
    FileField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from app.agreements.models import AGREEMENT_TYPES, NOTICE_SIDES, NOTICE_UNITS, RENEWAL_TERMS
from app.core.forms import DateField, EditForm, Form, chosen_id, side_choice


class AgreementForm(EditForm, Form):
    type = SelectField(_l("Type"), choices=[], validators=[DataRequired()])
    title_fr = StringField(_l("Title (French)"), validators=[Optional(), Length(max=500)])
    title_ar = StringField(_l("Title (Arabic)"), validators=[Optional(), Length(max=500)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=500)])
    summary_fr = TextAreaField(_l("Summary (French)"), validators=[Optional(), Length(max=20000)])
    summary_ar = TextAreaField(_l("Summary (Arabic)"), validators=[Optional(), Length(max=20000)])
    summary_en = TextAreaField(_l("Summary (English)"), validators=[Optional(), Length(max=20000)])
    notes = TextAreaField(_l("Internal notes"), validators=[Optional(), Length(max=20000)])
    # Required (marked so on the form, not found only after Save): at least one partner organisation. Without
    # the HTML attribute: the search box hides the list, and a browser refuses to send a form whose hidden
    # required control is empty, without a word; the server says it with the form's other errors.
    partners = SelectMultipleField(
        _l("Partners"),
        coerce=int,
        choices=[],
        validators=[InputRequired(message=_l("Name at least one partner organisation."))],
        render_kw={"required": False},
    )
    co_signatories = SelectMultipleField(_l("Co-signatories"), coerce=int, choices=[])
    witnesses = SelectMultipleField(_l("Witnesses"), coerce=int, choices=[])
    owner_id = SelectField(_l("Owner"), coerce=chosen_id, choices=[], validate_choice=True)
    parent_id = SelectField(_l("Parent agreement"), coerce=chosen_id, choices=[])
    signing_event_id = SelectField(_l("Signing event"), coerce=chosen_id, choices=[])
    signed_on = DateField(_l("Signed on"), validators=[Optional()])
    effective_on = DateField(_l("Effective on"), validators=[Optional()])
    expires_on = DateField(_l("Ends on"), validators=[Optional()])
    renewal_terms = SelectField(_l("Renewal"), choices=[(k, v) for k, v in RENEWAL_TERMS.items()], default="none")
    renewal_months = IntegerField(_l("Tacit renewal for (months)"), validators=[Optional()])
    notice_period = IntegerField(_l("Notice period"), validators=[Optional()])
    notice_unit = SelectField(
        _l("Notice period in"), choices=[(k, v) for k, v in NOTICE_UNITS.items()], default="months"
    )
    version = HiddenField()

    def set_type_choices(self):
        self.type.choices = [(key, str(label)) for key, label in AGREEMENT_TYPES.items()]

    def validate_witnesses(self, field):
        chosen = [*(self.partners.data or []), *(self.co_signatories.data or []), *(field.data or [])]
        if len(chosen) != len(set(chosen)):
            raise ValidationError(_l("An organisation can have only one role in an agreement."))


class NonRenewalForm(Form):
    """A notice of non-renewal given by one side (stops a tacit renewal)."""

    given_on = DateField(_l("Notice given on"), validators=[InputRequired()])
    side = SelectField(
        _l("Given by"),
        choices=[(k, v) for k, v in NOTICE_SIDES.items()],
        coerce=side_choice,
        validate_choice=False,  # an option per partner: side_choice reads it, the service checks it
        validators=[InputRequired()],
    )
    document = FileField(_l("The notice (optional)"))
    version = HiddenField()


class AgreementFilterForm(Form):
    """Filters on the list page (GET, so no CSRF)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)])
    state = SelectField(_l("State"), choices=[], validators=[Optional()])
    type = SelectField(_l("Type"), choices=[], validators=[Optional()])
    partner = SelectField(_l("Partner"), choices=[], validators=[Optional()])
    year = SelectField(_l("Year"), choices=[], validators=[Optional()])
    signed_after = DateField(_l("Signed from"), validators=[Optional()])
    signed_before = DateField(_l("Signed by"), validators=[Optional()])
    ends_after = DateField(_l("Ends from"), validators=[Optional()])
    ends_before = DateField(_l("Ends by"), validators=[Optional()])

    def validate_signed_after(self, field):
        if field.data and self.signed_before.data and field.data > self.signed_before.data:
            raise ValidationError(_l("The first signature date must not come after the last."))

    def validate_ends_after(self, field):
        if field.data and self.ends_before.data and field.data > self.ends_before.data:
            raise ValidationError(_l("The first end date must not come after the last."))


class ImportForm(Form):
    """A spreadsheet of agreements (app/agreements/importing.py): checked first, imported when it passes."""

    file = FileField(_l("Spreadsheet (.xlsx or .csv)"), validators=[DataRequired(message=_l("Choose the file."))])
    reason = TextAreaField(
        _l("Why the signed ones skip their review and negotiation"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Kept in the history of each agreement with a signature date."),
    )
    action = StringField()  # which button sent it: "import", else a check (the buttons carry it; never shown)
