from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from app.core.forms import Form


class TokenForm(Form):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=100)],
        description=_l("What will use it, e.g. “monthly report script”."),
    )
    # Its choices are the lives API_TOKEN_MAX_DAYS allows (tokens.offered_lifetimes), set by the page.
    days = SelectField(
        _l("Works for"),
        coerce=int,
        description=_l("After that it stops working by itself; you can revoke it sooner."),
    )
