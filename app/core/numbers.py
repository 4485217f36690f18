"""Numbers as people type them: the one reading of an amount or a figure from a form or JSON.

Budget amounts and indicator values are read alike: Arabic-Indic digits and separators, spaces (and
the no-break spaces the pages themselves print between thousands) between groups of digits, a
French or Arabic decimal comma (2,5), and marks between thousands as English (1,500,000.00), French
and Moroccan (1.500.000,00) and Arabic (٢٥٠٬٠٠٠) write them. A text that could be read both ways,
one mark before exactly three digits (250,000 or 1.000: a thousand, or one with three decimals), is
refused with both readings (AmbiguousNumber): read as decimals, a budget of 250,000 MAD had been
stored as 250. The readings it offers are ones that pass when typed: a decimal reading with more
decimals than the caller keeps (12.345 MAD, 1.005 BHD: amounts keep two) is not offered, since typing
it again is refused again. The Arabic decimal separator (٫) is never a mark between thousands: ١٫٠٠٥ is
one and five thousandths. Nothing else: not Python's underscores (`1_000` is a typo, not a thousand), not
exponents, not marks out of place.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _

# Arabic-Indic and Extended (Persian) digits; with the Arabic decimal separator, for numbers.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_ARABIC = {**_DIGITS, **str.maketrans("٫", ".")}
_ARABIC_THOUSANDS = "٬"  # only ever between thousands
_ARABIC_DECIMAL = "٫"  # only ever before decimals
# Spaces typed or printed between thousands: space, no-break, narrow no-break, thin.
_SPACES = re.compile("[ \u00a0\u202f\u2009]")
_PLAIN = re.compile(r"[+-]?\d+(\.\d+)?")
_GROUPED = {mark: re.compile(rf"[+-]?\d{{1,3}}({re.escape(mark)}\d{{3}})+") for mark in (",", ".")}


def western_digits(text: str) -> str:
    """`text` with its Arabic-Indic and Extended Arabic-Indic digits written 0-9, the rest as typed: how a
    date field reads ٢٠٢٩-٠٧-٠١ (core.forms.DateField), as amounts and years read these digits."""
    return text.translate(_DIGITS)


class AmbiguousNumber(ValidationFailed):
    """A typed number that reads as a whole number with thousands or as one with three decimals."""

    def __init__(self, typed: str, thousands: str, decimal: str, *, most_decimals: int):
        decimals_kept = len(decimal.replace(",", ".").partition(".")[2]) <= most_decimals
        if decimals_kept:
            message = _(
                "“%(typed)s” could mean %(thousands)s or %(decimal)s: type %(thousands)s, or %(decimal)s.",
                typed=typed,
                thousands=thousands,
                decimal=decimal,
            )
        elif most_decimals:
            message = _(
                "“%(typed)s” could mean %(thousands)s or %(decimal)s, and at most %(n)s decimals are kept: "
                "type %(thousands)s, or round to %(n)s decimals.",
                typed=typed,
                thousands=thousands,
                decimal=decimal,
                n=most_decimals,
            )
        else:
            message = _(
                "“%(typed)s” could mean %(thousands)s or %(decimal)s, and this currency has no decimals: "
                "type %(thousands)s, or a whole number.",
                typed=typed,
                thousands=thousands,
                decimal=decimal,
            )
        super().__init__(message)


def read_decimal(raw, *, most_decimals: int) -> Decimal | None:
    """The number `raw` says, or None when it says none; AmbiguousNumber (a ValidationFailed the caller
    files under its field) when a typed text says two. A float is read as the digits it was written with
    (never its binary value). `most_decimals`: the decimals the caller keeps (it refuses more itself),
    so that a refusal offers only readings it would take."""
    if raw is None or isinstance(raw, bool):
        return None
    text: str | None
    if isinstance(raw, (int, Decimal)):
        text = str(raw)
    elif isinstance(raw, float):
        text = repr(raw)
    else:
        typed = str(raw).strip()
        text = _SPACES.sub("", typed.translate(_ARABIC))
        if _ARABIC_THOUSANDS in text:  # ٢٥٠٬٠٠٠ or ١٬٠٠٠٫٥
            whole, point, decimals = text.partition(".")
            grouped = _without_marks(whole.replace(_ARABIC_THOUSANDS, ","), ",")
            text = None if grouped is None else grouped + point + decimals
        elif "," in text or "." in text:
            text = _one_reading(text, typed, most_decimals)
        if text is None:
            return None
    if not _PLAIN.fullmatch(text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _one_reading(text: str, typed: str, most_decimals: int) -> str | None:
    """`text` with a point as its decimal mark and no mark between thousands (None: marks out of place)."""
    if "," in text and "." in text:  # the last mark is the decimal one: 1,500.50 or 1.500,50
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
        if text.count(decimal_mark) != 1:
            return None
        whole, decimals = text.split(decimal_mark)
        grouped = _without_marks(whole, "." if decimal_mark == "," else ",")
        return None if grouped is None else f"{grouped}.{decimals}"
    mark = "," if "," in text else "."
    if text.count(mark) > 1:
        return _without_marks(text, mark)  # 1,500,000 or 1.500.000
    whole, decimals = text.split(mark)
    digits = whole.lstrip("+-")
    # Ambiguous only where a mark between thousands could stand: after 1 to 3 digits, not all zeros;
    # never the Arabic decimal separator (١٫٠٠٥), which `text` writes as a point.
    could_be_thousands = _ARABIC_DECIMAL not in typed and digits.isdigit() and len(digits) <= 3 and digits.strip("0")
    if could_be_thousands and len(decimals) == 3 and decimals.isdigit():
        as_decimal = f"{whole}{mark}{decimals.rstrip('0')}".rstrip(mark)
        raise AmbiguousNumber(typed, f"{whole}{decimals}", as_decimal, most_decimals=most_decimals)
    return f"{whole}.{decimals}"


def _without_marks(text: str, mark: str) -> str | None:
    """`text` without its marks between thousands, or None when they are not every three digits."""
    return text.replace(mark, "") if _GROUPED[mark].fullmatch(text) else None
