from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.budget.models import KINDS
from app.core.dates import FIRST_DAY, LAST_DAY
from app.core.forms import EditForm, Form


class BudgetLineForm(EditForm, Form):
    label = StringField(_l("What it is for"), validators=[DataRequired(), Length(max=300)])
    organization_id = SelectField(_l("Contributing party"), coerce=int, choices=[])
    # Text, not a float field: the amount stays the exact decimal that was typed.
    amount = StringField(_l("Amount"), validators=[DataRequired(), Length(max=40)])
    currency = StringField(_l("Currency (ISO 4217)"), default="MAD", validators=[DataRequired(), Length(min=3, max=3)])
    kind = SelectField(_l("Cash or in kind"), choices=[(key, label) for key, label in KINDS.items()])
    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(FIRST_DAY.year, LAST_DAY.year)])
    period = StringField(_l("Period (if not one year)"), validators=[Optional(), Length(max=60)])


class BudgetFilterForm(Form):
    class Meta:
        csrf = False

    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(FIRST_DAY.year, LAST_DAY.year)])
