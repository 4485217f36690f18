from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget

from app.core.forms import Form
from app.notifications.models import CATEGORIES


class MailChoicesForm(Form):
    """Which optional categories of mail a person receives; mandatory ones are shown, always on."""

    categories = SelectMultipleField(
        _l("Send me e-mail about"), choices=[(name, label) for name, (label, _m) in CATEGORIES.items()],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(), validate_choice=True)


class ConfirmForm(Form):
    """A button that changes something: only the CSRF token matters."""

    next = HiddenField()


class MailPauseForm(Form):
    paused = BooleanField(_l("Pause all outgoing mail"))
