from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from app.core.forms import DateField, EditForm, Form, chosen_id
from app.deliverables.models import RECURRENCES


class PlanForm(EditForm, Form):
    title_fr = StringField(_l("Title (French)"), validators=[Optional(), Length(max=300)])
    title_ar = StringField(_l("Title (Arabic)"), validators=[Optional(), Length(max=300)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=300)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20000)])
    responsible_organization_id = SelectField(_l("Responsible"), coerce=chosen_id, choices=[])
    recurrence = SelectField(_l("How often"), choices=[])
    first_due_on = DateField(_l("First due date"), validators=[InputRequired()])
    until_on = DateField(_l("Until (for recurring ones; default: the agreement's end)"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recurrence.choices = [(key, str(label)) for key, label in RECURRENCES.items()]


class SubmissionForm(Form):
    files = MultipleFileField(_l("Files"))
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=20000)])
    version = HiddenField(validators=[DataRequired()])


class ReviewForm(Form):
    decision = SelectField(_l("Decision"), choices=[("accept", _l("Accept")), ("send_back", _l("Send back"))])
    feedback = TextAreaField(_l("Feedback for the partner"), validators=[Optional(), Length(max=20000)])
    version = HiddenField(validators=[DataRequired()])


class WaiveForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])
    version = HiddenField(validators=[DataRequired()])


class DeliverableFilterForm(Form):
    class Meta:
        csrf = False

    status = SelectField(_l("Status"), choices=[], validators=[Optional()])
    agreement = SelectField(_l("Agreement"), choices=[], validators=[Optional()])
    partner = SelectField(_l("Responsible"), choices=[], validators=[Optional()])
    due_after = DateField(_l("Due from"), validators=[Optional()])
    due_before = DateField(_l("Due by"), validators=[Optional()])
    mine = BooleanField(_l("Only my agreements"))

    def validate_due_after(self, field):
        if field.data and self.due_before.data and field.data > self.due_before.data:
            raise ValidationError(_l("The first due date must not come after the last."))
