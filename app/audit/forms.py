"""The auditors' check of the trail, with the anchors they kept, and the trail's filters."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from app.core.audit_chain import anchors_in
from app.core.dates import within_calendar
from app.core.forms import DateField, Form

MAX_ANCHORS = 100  # an auditor pastes a few kept e-mails, not a whole log


class VerifyForm(Form):
    anchors = TextAreaField(
        _l("Anchors you kept (optional)"),
        description=_l("Paste one or more anchors, or whole anchor e-mails: each anchor reads SEQ:HASH."),
        validators=[Optional(), Length(max=20_000)],
    )
    # A walk stopped part-way, signed (app/audit/routes.py): the check goes on from there.
    walk = HiddenField(validators=[Optional(), Length(max=60_000)])

    def validate_anchors(self, field) -> None:
        found = anchors_in(field.data or "")
        if not found:
            raise ValidationError(
                _l("No anchor found here: an anchor is a row number, a colon and 64 hexadecimal characters.")
            )
        if len(found) > MAX_ANCHORS:
            raise ValidationError(_l("At most %(n)s anchors at a time.", n=MAX_ANCHORS))

    @property
    def wanted(self) -> list[tuple[int, str]]:
        return anchors_in(self.anchors.data or "")


class TrailFilterForm(Form):
    """The audit trail's filters, from the query string (/audit/events)."""

    class Meta:
        csrf = False

    action = SelectField(_l("What"), choices=[], validators=[Optional()])
    about = SelectField(_l("About"), choices=[], validators=[Optional()])
    # A number, or an agreement's reference (MTNRA-2026-012): the id alone was shown only in the address bar.
    about_id = StringField(_l("Its number or reference"), validators=[Optional(), Length(max=60)])
    who = StringField(_l("Who (name or e-mail address)"), validators=[Optional(), Length(max=254)])
    system = BooleanField(_l("Only Sharaka's own (scheduled jobs, commands)"))
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("Until"), validators=[Optional()])

    def about_number(self) -> int | None:
        """The record's number when "Its number or reference" holds digits; None for a reference."""
        typed = (self.about_id.data or "").strip()
        # Twenty digits are past any number already; Python refuses to read more than 4,300 (a ValueError).
        return int(typed[:20]) if typed.isascii() and typed.isdigit() else None

    def validate_about_id(self, field) -> None:
        number = self.about_number()
        if number is not None:
            if not 0 < number < 2**31:
                raise ValidationError(_l("No record has this number."))
        elif (self.about.data or "") not in ("", "agreements"):
            raise ValidationError(_l("A reference names an agreement: choose “Agreement” above, or type a number."))

    def validate_since(self, field) -> None:
        if field.data and not within_calendar(field.data):
            raise ValidationError(_l("This date is out of range."))
        if field.data and self.until.data and field.data > self.until.data:
            raise ValidationError(_l("The first day must not come after the last."))

    def validate_system(self, field) -> None:
        if field.data and self.who.data:
            raise ValidationError(_l("Sharaka's own rows have no person: clear the e-mail address or this box."))

    def validate_until(self, field) -> None:
        if field.data and not within_calendar(field.data):
            raise ValidationError(_l("This date is out of range."))
