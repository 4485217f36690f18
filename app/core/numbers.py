"""Numbers as people type them: the one reading of an amount or a figure from a form or JSON.

Budget amounts and indicator values are read alike: a French or Arabic decimal comma, Arabic-Indic
digits and separators, spaces (and the no-break spaces the pages themselves print between thousands)
between groups of digits, commas between thousands when a point marks the decimals (a lone comma is
a decimal comma: 2,5). Nothing else:
not Python's underscores (`1_000` is a typo, not a thousand), not exponents, not a second mark.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Arabic-Indic and Extended (Persian) digits, the Arabic decimal and thousands separators.
_ARABIC = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬", "01234567890123456789.,")
# Spaces typed or printed between thousands: space, no-break, narrow no-break, thin.
_SPACES = re.compile("[ \u00a0\u202f\u2009]")
_PLAIN = re.compile(r"[+-]?\d+(\.\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")


def read_decimal(raw) -> Decimal | None:
    """The number `raw` says, or None when it says none. A float is read as the digits it was written
    with (never its binary value)."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, (int, Decimal)):
        text = str(raw)
    elif isinstance(raw, float):
        text = repr(raw)
    else:
        text = _SPACES.sub("", str(raw).strip().translate(_ARABIC))
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")  # a decimal comma, as French and Arabic write it: 2,5
    elif "." in text and _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")  # commas between thousands, a point before the decimals: 1,000.50
    if not _PLAIN.fullmatch(text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None
