"""Numbers as people type them (app/core/numbers.py): one reading for budget amounts and indicator values."""

from decimal import Decimal

import pytest

from app.core.numbers import read_decimal


@pytest.mark.parametrize(
    "typed, read",
    [
        ("250000.75", "250000.75"),
        ("250000,75", "250000.75"),  # the French decimal comma
        ("٢٫٥", "2.5"),  # Arabic-Indic digits and decimal separator
        ("۱۲۳", "123"),  # Extended Arabic-Indic (Persian) digits
        ("1 000,50", "1000.50"),
        ("8\u202f000\u202f000,00", "8000000.00"),  # as the pages print it in French, pasted back
        ("1\u00a0000", "1000"),
        ("1,000.50", "1000.50"),  # commas between thousands when a point marks the decimals
        ("١٬٠٠٠٫٥", "1000.5"),
        (0.1, "0.1"),  # a JSON float, read as written
        (12, "12"),
        ("-3", "-3"),  # read; the callers refuse what is below their range
    ],
)
def test_what_people_type_is_read(typed, read):
    assert read_decimal(typed) == Decimal(read)


@pytest.mark.parametrize(
    "typed", ["1_000", "1__0", "1e3", "NaN", "Infinity", "1.000,50", "1,2,3", "", None, True, "12 abc", "0x10", "--1"]
)
def test_anything_else_is_no_number(typed):
    assert read_decimal(typed) is None
