from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.core.forms import DateField, Form
from app.notifications.models import CATEGORIES


class MailChoicesForm(Form):
    """Which optional categories of mail a person receives; mandatory ones are shown, always on."""

    categories = SelectMultipleField(
        _l("Send me e-mail about"),
        choices=[(name, label) for name, (label, _m) in CATEGORIES.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=True,
    )


class ConfirmForm(Form):
    """A button that changes something: only the CSRF token matters."""

    next = HiddenField()


class MailPauseForm(Form):
    paused = BooleanField(_l("Pause all outgoing mail"))


class ReassignApprovalForm(Form):
    """Hand a late approval step from the person it waits on to a colleague (a delegation on their behalf)."""

    # The service checks the people and the date (app.notifications.manual), all at once: a refused choice
    # here would hide the other mistakes until the next submit.
    from_id = SelectField(_l("Waiting on"), coerce=int, choices=[], validate_choice=False)
    to_id = SelectField(_l("Hand it to"), coerce=int, choices=[], validate_choice=False)
    ends_on = DateField(_l("Until (inclusive)"), validators=[Optional()])
