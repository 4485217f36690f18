from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget, TextInput

from app.auth.models import ROLES, address_refusal
from app.core.forms import Form, stripped


class SignInForm(Form):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    remember = BooleanField(_l("Keep me signed in"))
    next = HiddenField()


class ChangePasswordForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
    )
    # Checked by default: a changed password usually means something leaked.
    revoke_tokens = BooleanField(_l("Also revoke my API tokens"), default=True)


class LanguageForm(Form):
    language = SelectField(choices=[("ar", "العربية"), ("fr", "Français"), ("en", "English")])
    next = HiddenField()


class ForgotPasswordForm(Form):
    email = EmailField(
        _l("E-mail"),
        validators=[DataRequired(), Length(max=254), Email(message=_l("Enter a valid e-mail address."))],
        filters=[stripped],
    )


class ResetPasswordForm(Form):
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
    )


class OneTimeInput(TextInput):
    """A code field drawn empty, also after a wrong code: the right code typed next had been joined onto the
    wrong one (the cursor at its start), refused again, and counted towards the sign-in throttle."""

    def __call__(self, field, **kwargs):
        kwargs["value"] = ""
        return super().__call__(field, **kwargs)


class CodeForm(Form):
    """The second step of sign-in, enrolment and turning two-factor sign-in off."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)], widget=OneTimeInput())


class PasswordConfirmForm(Form):
    password = PasswordField(_l("Your password"), validators=[DataRequired(), Length(max=256)])
    code = StringField(_l("Code from your app (or a recovery code)"), validators=[DataRequired(), Length(max=40)])


class ProfileForm(Form):
    full_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    language = SelectField(_l("Language"), choices=[("ar", "العربية"), ("fr", "Français"), ("en", "English")])


class AcceptInvitationForm(Form):
    full_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )


def role_choices(roles) -> list[tuple[str, str]]:
    """`roles` to choose from, a blank first where there is a choice: nobody gets a role (the first listed
    was the administrator's) by not looking."""
    choices = [(role, str(ROLES[role])) for role in roles]
    return [("", str(_l("Choose a role…"))), *choices] if len(choices) > 1 else choices


class TypedAddress:
    """auth.models.address_refusal, the rule of every typed address, as a field's check: said under the field,
    before WTForms' own checks. The field gets the address as it was sent (its flag: core.forms.Form drops the
    NUL bytes out of every other field), so that a NUL in it is refused rather than dropped."""

    field_flags = {"kept_as_sent": True}

    def __call__(self, form, field):
        if field.data and (refusal := address_refusal(field.data)) is not None:
            raise StopValidation(refusal)


def address_checks() -> list:
    """The checks of an address someone will sign in with and receive mail at: required, and a valid address
    (checked for its form only, not its domain)."""
    return [
        DataRequired(),
        TypedAddress(),
        Length(max=254),
        Email(message=_l("Enter a valid e-mail address."), check_deliverability=False),
    ]


def address_field() -> EmailField:
    """A sign-in address typed: an account's, an invitation's, one's own new one."""
    return EmailField(_l("E-mail"), filters=[stripped], validators=address_checks())


class MemberEmailForm(Form):
    """A sign-in address: a colleague's, changed by their organisation's admin, or one's own (confirmed by
    a link sent to it: auth.email_changes)."""

    email = address_field()


class OwnEmailForm(MemberEmailForm):
    """One's own new address, asked with one's password: a session left open must not be enough to move the
    account (and its password resets) to another mailbox."""

    password = PasswordField(_l("Your password"), validators=[DataRequired(), Length(max=256)])


class InvitationForm(Form):
    email = address_field()
    role = SelectField(_l("Role"), choices=[], validators=[DataRequired(message=_l("Choose a role."))])
    organization_id = SelectField(_l("Organisation"), choices=[], coerce=str)
    language = SelectField(
        _l("Language of the e-mail and the account"), choices=[("ar", "العربية"), ("fr", "Français"), ("en", "English")]
    )


class MemberAccessForm(Form):
    """A partner organisation's admin: which agreements' deliverables a colleague sees."""

    scope = RadioField(
        _l("Deliverables this person sees"),
        choices=[("all", _l("All of the organisation's agreements")), ("some", _l("Only the agreements ticked below"))],
        default="all",
    )
    # Ticked boxes: a <select multiple>'s options drawn one by one as boxes are no form controls.
    agreements = SelectMultipleField(
        _l("Agreements"),
        choices=[],
        coerce=str,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
