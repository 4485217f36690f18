"""marshmallow's own messages ("Missing data for required field.", "Length must be between {min} and {max}.")
in the reader's language, as the `detail` beside them is. marshmallow has no catalogue of its own: its
messages are listed here so that Sharaka's catalogue holds them, and `in_readers_language(schema)` makes an
API schema look each one up there when it says it (the API's parser calls it on every schema it reads).
The answer's shape stays the same: the same field names, each with its messages."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.core.form_words import N_
from app.core.i18n import gettext as _

MESSAGES = (
    # Every field (marshmallow.fields.Field) and the schema itself.
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Unknown field."),
    N_("Invalid input type."),
    N_("Invalid type."),
    # Fields of a kind.
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Not a valid boolean."),
    N_("Not a valid date."),
    N_('"{input}" cannot be formatted as a date.'),
    N_("Not a valid {obj_type}."),
    N_("Not a valid {awareness} {obj_type}."),
    N_('"{input}" cannot be formatted as a {obj_type}.'),
    N_("Not a valid mapping type."),
    N_("Not a valid list."),
    N_("Not a valid tuple."),
    N_("Not a valid email address."),
    N_("Not a valid URL."),
    N_("Not a valid UUID."),
    N_("Not a valid period of time."),
    N_("{input!r} cannot be formatted as a timedelta."),
    N_("Not a valid IP address."),
    N_("Not a valid IPv4 address."),
    N_("Not a valid IPv6 address."),
    N_("Not a valid IP interface."),
    N_("Not a valid IPv4 interface."),
    N_("Not a valid IPv6 interface."),
    N_("Must be one of: {choices}."),
    # Validators (marshmallow.validate); a range's words are joined before they are said.
    N_("Invalid input."),
    N_("Shorter than minimum length {min}."),
    N_("Longer than maximum length {max}."),
    N_("Length must be between {min} and {max}."),
    N_("Length must be {equal}."),
    N_("Must be equal to {other}."),
    N_("String does not match expected pattern."),
    N_("One or more of the choices you made was in: {values}."),
    N_("One or more of the choices you made was not in: {choices}."),
    N_("Must be greater than or equal to {min}."),
    N_("Must be greater than {min}."),
    N_("Must be less than or equal to {max}."),
    N_("Must be less than {max}."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Must be greater than {min} and less than or equal to {max}."),
    N_("Must be greater than or equal to {min} and less than {max}."),
    N_("Must be greater than {min} and less than {max}."),
)

# The attributes a marshmallow validator keeps its messages in.
VALIDATOR_MESSAGES = ("error", "message_min", "message_max", "message_all", "message_equal")


class _Said(str):
    """A validator's message (a template), said in the reader's language when the validator fills it in."""

    def format(self, *args, **kwargs) -> str:
        return _(str(self)).format(*args, **kwargs)


class _SaidMessages(dict):
    """A schema's or a field's messages, each said in the reader's language when looked up."""

    def __getitem__(self, key):
        message = super().__getitem__(key)
        return _(message) if isinstance(message, str) else message


def in_readers_language(schema: Schema) -> Schema:
    """`schema` (and the schemas and fields inside it) saying marshmallow's messages in the reader's language.
    A schema is made once, when its module is read, and serves every request: its messages are looked up as
    they are said, in each request's language."""
    if not isinstance(schema.error_messages, _SaidMessages):
        schema.error_messages = _SaidMessages(schema.error_messages)
        for field in schema.fields.values():
            _speak(field)
    return schema


def _speak(field: fields.Field) -> None:
    if isinstance(field.error_messages, _SaidMessages):
        return
    field.error_messages = _SaidMessages(field.error_messages)
    for check in field.validators:
        for name in VALIDATOR_MESSAGES:
            message = getattr(check, name, None)
            if isinstance(message, str) and not isinstance(message, _Said):
                setattr(check, name, _Said(message))
    if isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
        in_readers_language(field.schema)
    inside = (getattr(field, name, None) for name in ("inner", "key_field", "value_field"))
    for inner in (*inside, *getattr(field, "tuple_fields", ())):
        if isinstance(inner, fields.Field):
            _speak(inner)
