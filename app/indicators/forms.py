"""The indicator form: its names in each language, unit, baseline, target and how the target applies."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from app.core.forms import EditForm, Form
from app.indicators.models import TARGET_SCOPES


class IndicatorForm(EditForm, Form):
    name_ar = StringField(_l("Name (Arabic)"), validators=[Optional(), Length(max=200)])
    name_fr = StringField(_l("Name (French)"), validators=[Optional(), Length(max=200)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=200)])
    unit = StringField(
        _l("Unit"), description=_l("For example: people, models, workshops."), validators=[Optional(), Length(max=40)]
    )
    # Numbers are read by the service, which says clearly what is wrong with them.
    baseline = StringField(
        _l("Baseline"),
        description=_l(
            "The value before the agreement (zero or more). Progress is measured from it to the target, "
            "which is below it for a reduction."
        ),
        validators=[Optional(), Length(max=40)],
    )
    target = StringField(_l("Target"), description=_l("Greater than zero."), validators=[Optional(), Length(max=40)])
    target_scope = SelectField(
        _l("The target applies"),
        description=_l(
            "For the whole term, each hand-in gives what its period added, and the periods add up from the "
            "baseline (for a reduction, the level reached); per period, each hand-in gives that period's value."
        ),
        choices=[],
        validate_choice=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.target_scope.choices = [(key, str(label)) for key, label in TARGET_SCOPES.items()]
