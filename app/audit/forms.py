"""The auditors' check of the trail, with the anchors they kept."""

from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from app.core.audit_chain import anchors_in
from app.core.forms import Form

MAX_ANCHORS = 100  # an auditor pastes a few kept e-mails, not a whole log


class VerifyForm(Form):
    anchors = TextAreaField(
        _l("Anchors you kept (optional)"),
        description=_l("Paste one or more anchors, or whole anchor e-mails: each anchor reads SEQ:HASH."),
        validators=[Optional(), Length(max=20_000)],
    )

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
