from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.core.forms import EditForm, Form
from app.organizations.models import ORGANIZATION_KINDS


class OrganizationForm(EditForm, Form):
    # Left empty on a new organisation: made from its acronym or name (services._free_slug).
    slug = StringField(_l("Short name (identifier)"), validators=[Optional(), Length(max=64)])
    name_fr = StringField(_l("Name (French)"), validators=[Optional(), Length(max=300)])
    name_ar = StringField(_l("Name (Arabic)"), validators=[Optional(), Length(max=300)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=300)])
    acronym = StringField(_l("Acronym"), validators=[Optional(), Length(max=40)])
    # No kind chosen in advance: a company added in a hurry was filed as a ministry, the first of the list.
    kind = SelectField(_l("Kind"), choices=[], validators=[DataRequired(message=_l("Choose a kind from the list."))])
    country = StringField(_l("Country (ISO code)"), validators=[Optional(), Length(max=2)])
    contact = StringField(_l("Contact"), validators=[Optional(), Length(max=300)])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=20000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [("", "—")] + [(key, str(label)) for key, label in ORGANIZATION_KINDS.items()]


class RetireForm(Form):
    # Kept with the audit row: why it went (dissolved, merged into another, entered twice).
    reason = TextAreaField(_l("Why (kept in the audit trail)"), validators=[Optional(), Length(max=500)])


class MergeForm(Form):
    # Searched as one types past the drop-down's limit (choices.fill): current organisations only.
    into = SelectField(
        _l("The organisation that stays"),
        choices=[],
        coerce=str,
        validators=[DataRequired(message=_l("Choose the organisation it is merged into."))],
    )
    # Named apart from the retire form's reason: both forms are on one page.
    merge_reason = TextAreaField(_l("Why (kept in the audit trail)"), validators=[Optional(), Length(max=500)])
