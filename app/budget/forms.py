from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional

from app.budget.models import KINDS
from app.core.dates import FIRST_DAY, LAST_DAY
from app.core.forms import EditForm, Form, SubForm, id_number


class BudgetLineFields:
    """A budget line's fields, for the line's own form and for each row of an amendment's budget: read and
    checked alike, in the reader's language (the amendment's rows had their own copy, which said
    "Number must be between 1956 and 2200." in English on an Arabic page). None is required here: an
    amendment's blank row is dropped, and the service (budget.services.clean_line) says what a line lacks."""

    label = StringField(_l("What it is for"), validators=[Optional(), Length(max=300)])
    # The service checks the party against the agreement's (an amendment's: those after it).
    organization_id = SelectField(_l("Contributing party"), coerce=id_number, choices=[], validate_choice=False)
    # Text, not a float field: the amount stays the exact decimal that was typed.
    amount = StringField(_l("Amount"), validators=[Optional(), Length(max=40)])
    currency = StringField(_l("Currency (ISO 4217)"), default="MAD", validators=[Optional(), Length(max=3)])
    kind = SelectField(_l("Cash or in kind"), choices=[(key, label) for key, label in KINDS.items()])
    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(FIRST_DAY.year, LAST_DAY.year)])
    period = StringField(_l("Period (if not one year)"), validators=[Optional(), Length(max=60)])


class BudgetLineForm(BudgetLineFields, EditForm, Form):
    """One line of an agreement's budget, on its own page."""


class BudgetRowForm(BudgetLineFields, SubForm):
    """One budget line after an amendment (a row left without label and amount is dropped)."""


class BudgetFilterForm(Form):
    class Meta:
        csrf = False

    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(FIRST_DAY.year, LAST_DAY.year)])
