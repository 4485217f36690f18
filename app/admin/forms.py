from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app.auth.forms import address_checks, address_field, role_choices
from app.auth.models import ROLES, normalize_email
from app.auth.passwords import MIN_LENGTH
from app.core.forms import Form, chosen_id


class UserForm(Form):
    email = address_field()
    full_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    # No role is chosen for the admin: the first in the list (the administrator's) was taken by a careless save.
    role = SelectField(_l("Role"), choices=[], validators=[DataRequired(message=_l("Choose a role."))])
    organization_id = SelectField(_l("Organisation"), coerce=chosen_id, choices=[])
    language = SelectField(_l("Language"), choices=[("ar", "العربية"), ("fr", "Français"), ("en", "English")])
    is_active = BooleanField(_l("Account enabled (can sign in)"), default=True)
    is_org_admin = BooleanField(_l("Organisation admin: manages the accounts of their partner organisation"))
    password = PasswordField(_l("Password"), validators=[Optional(), Length(min=MIN_LENGTH, max=256)])
    seen = HiddenField()  # the account as the form showed it (services.account_fingerprint)

    def __init__(self, *args, editing: bool = False, current_email: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices(tuple(ROLES))
        self.current_email = current_email
        if editing:
            # The address kept is not checked again: an address the form would not take today (ops@localhost,
            # made by `flask users create`) refused every save of the account, deactivating it included.
            # A new one is (validate_email); a form sent without the field keeps it.
            self.email.validators = []

    def validate_email(self, field):
        if self.current_email is None or not field.raw_data or normalize_email(field.data) == self.current_email:
            return
        for check in address_checks():
            check(self, field)


class HandOverForm(Form):
    """A leaver's agreements under way, given to one colleague at once."""

    successor_id = SelectField(_l("Give them to"), choices=[], coerce=chosen_id, validators=[DataRequired()])
