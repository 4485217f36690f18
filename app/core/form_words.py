"""WTForms' own messages ("This field is required.") in Sharaka's catalogue. WTForms' Arabic catalogue calls
an integer a "real number", and leaves four of Arabic's six plural forms empty, so "cannot be longer than
300 characters" reached Arabic readers in English. The messages are listed here so the catalogue's extraction
finds them; core.forms looks a message up in Sharaka's catalogue first, in WTForms' after (a message not
listed here). What WTForms says in words no reader should see is said otherwise (SAID_OTHERWISE)."""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


def ngettext(singular: str, plural: str) -> tuple[str, str]:
    """Marks a plural pair for extraction (not the translating ngettext)."""
    return singular, plural


# "could not coerce" is the programmer's word for a value that is not one of the options.
SAID_OTHERWISE = {
    "Invalid Choice: could not coerce.": "Not a valid choice.",
    "Invalid choice(s): one or more data inputs could not be coerced.": "Not a valid choice.",
}

MESSAGES = (
    N_("This field is required."),
    N_("Not a valid choice."),
    N_("Not a valid date value."),
    N_("Not a valid integer value."),
    N_("Not a valid decimal value."),
    N_("Invalid email address."),
    N_("Invalid input."),
    N_("Field must be equal to %(other_name)s."),
    N_("Field must be between %(min)d and %(max)d characters long."),
    N_("Number must be at least %(min)s."),
    N_("Number must be at most %(max)s."),
    N_("Number must be between %(min)s and %(max)s."),
)

PLURALS = (
    ngettext("Field must be at least %(min)d character long.", "Field must be at least %(min)d characters long."),
    ngettext("Field cannot be longer than %(max)d character.", "Field cannot be longer than %(max)d characters."),
    ngettext("Field must be exactly %(max)d character long.", "Field must be exactly %(max)d characters long."),
    ngettext("'%(value)s' is not a valid choice for this field.", "'%(value)s' are not valid choices for this field."),
)
