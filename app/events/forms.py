from flask_babel import lazy_gettext as _l
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from app.core.forms import DateField, EditForm, Form


class SigningEventForm(EditForm, Form):
    name_fr = StringField(_l("Name (French)"), validators=[Optional(), Length(max=300)])
    name_ar = StringField(_l("Name (Arabic)"), validators=[Optional(), Length(max=300)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=300)])
    held_on = DateField(_l("Date"), validators=[InputRequired()])
    ends_on = DateField(_l("Last day (if several days)"), validators=[Optional()])
    place = StringField(_l("Place"), validators=[Optional(), Length(max=300)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20000)])
