from flask_babel import lazy_gettext as _l
from app.core.forms import Form
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class ActionForm(Form):
    """One workflow move: a comment, the dates or file the move asks for, and the version seen."""

    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])
    signed_on = DateField(_l("Signed on"), validators=[Optional()])
    effective_on = DateField(_l("Effective on"), validators=[Optional()])
    expires_on = DateField(_l("Ends on"), validators=[Optional()])
    termination_notice = FileField(_l("Termination notice"))
    # Activation may add a deliverable to the plan in the same step.
    deliverable_title = StringField(_l("Title"), validators=[Optional(), Length(max=300)])
    deliverable_recurrence = SelectField(choices=[("once", "once"), ("monthly", "monthly"),
                                                  ("quarterly", "quarterly"), ("yearly", "yearly")],
                                         validators=[Optional()], validate_choice=True)
    deliverable_first_due_on = DateField(_l("First due date"), validators=[Optional()])
    decision = HiddenField()
    version = HiddenField(validators=[DataRequired()])


class SendVersionForm(Form):
    file = FileField(_l("Text version"), validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=20000)])
    on_behalf_of_partner = BooleanField(_l("Sent by the partner (recorded on their behalf)"))
    version = HiddenField(validators=[DataRequired()])


class AcceptVersionForm(Form):
    """The user's own party accepts the latest version (nothing to tick: see RecordAcceptanceForm)."""

    version = HiddenField(validators=[DataRequired()])


class RecordAcceptanceForm(Form):
    """Ministry staff record a partner party's acceptance given outside Sharaka, with its proof."""

    organization_id = SelectField(_l("Partner"), coerce=int, choices=[], validate_choice=False)
    proof = FileField(_l("Proof of acceptance (e.g. their e-mail)"), validators=[DataRequired()])
    version = HiddenField(validators=[DataRequired()])


class SignatoryForm(Form):
    side = SelectField(_l("Side"), choices=[("ministry", _l("Ministry")), ("partner", _l("Partner"))])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    title = StringField(_l("Title or function"), validators=[Optional(), Length(max=200)])
    version = HiddenField(validators=[DataRequired()])


class SignatureForm(Form):
    signed_on = DateField(_l("Signed on"), validators=[DataRequired()])
    version = HiddenField(validators=[DataRequired()])


class SignedCopyForm(Form):
    file = FileField(_l("Signed copy"), validators=[DataRequired()])
    version = HiddenField(validators=[DataRequired()])


class DelegationForm(Form):
    delegate_id = SelectField(_l("Colleague who will approve for you"), coerce=int, choices=[])
    starts_on = DateField(_l("From"), validators=[DataRequired()])
    ends_on = DateField(_l("Until (inclusive)"), validators=[DataRequired()])


class AmendmentForm(Form):
    new_expires_on = DateField(_l("New end date of the parent agreement"), validators=[DataRequired()])
    version = HiddenField(validators=[DataRequired()])
