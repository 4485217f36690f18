"""Numbers as people type them (app/core/numbers.py): one reading for budget amounts and indicator values."""

import re
from decimal import Decimal

import pytest

from app.core.numbers import AmbiguousNumber, read_decimal


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
        ("٢٥٠٬٠٠٠", "250000"),  # the Arabic thousands separator is only ever that
        ("1,500,000", "1500000"),  # several marks: between thousands
        ("1.500.000", "1500000"),
        ("1.500.000,00", "1500000.00"),  # as French and Moroccan amounts are written
        ("1,500,000.00", "1500000.00"),  # as the pages print them in English and Arabic
        ("0,125", "0.125"),  # nothing before the mark but a zero: decimals
        ("12,5", "12.5"),
        ("2.75", "2.75"),
        ("1234,567", "1234.567"),  # no mark between thousands stands after four digits: decimals
        ("١٫٠٠٥", "1.005"),  # the Arabic decimal separator never stands between thousands
        (1.125, "1.125"),  # a JSON number is never ambiguous
        (0.1, "0.1"),  # a JSON float, read as written
        (12, "12"),
        ("-3", "-3"),  # read; the callers refuse what is below their range
    ],
)
def test_what_people_type_is_read(typed, read):
    assert read_decimal(typed, most_decimals=2) == Decimal(read)


@pytest.mark.parametrize(
    "typed",
    ["1_000", "1__0", "1e3", "NaN", "Infinity", "1.000.50", "1,2,3", "1,50,000", "12,5.0", "", None, True, "--1"],
)
def test_anything_else_is_no_number(typed):
    assert read_decimal(typed, most_decimals=2) is None


@pytest.mark.parametrize(
    "typed, thousands, decimal",
    [("250,000", "250000", "250"), ("1.000", "1000", "1"), ("1,500", "1500", "1,5"), ("-2.125", "-2125", "-2.125")],
)
def test_a_mark_before_three_digits_is_refused_with_both_readings(app, typed, thousands, decimal):
    """250,000 read as decimals had stored a budget of 250 MAD; read as thousands, a French 1,500 km
    would be 1500: neither is guessed."""
    with pytest.raises(AmbiguousNumber) as refused:
        read_decimal(typed, most_decimals=2)
    assert f"could mean {thousands} or {decimal}" in refused.value.message


@pytest.mark.parametrize(
    "typed, most_decimals",
    [("12.345", 2), ("1.005", 2), ("1,005", 2), ("250,000", 2), ("1.500", 2), ("1.500", 0), ("12.345", 0)],
)
def test_what_a_refusal_says_to_type_is_taken(app, typed, most_decimals):
    """12.345 MAD was refused with "type 12345, or 12.345": typing 12.345 again was refused again. Every
    number the message offers reads as one number, with no more decimals than the caller keeps."""
    with pytest.raises(AmbiguousNumber) as refused:
        read_decimal(typed, most_decimals=most_decimals)
    advice = refused.value.message.partition(": type ")[2]
    offered = re.findall(r"-?\d(?:[\d.,]*\d)?", advice)
    assert offered and typed not in offered, refused.value.message
    for number in offered:
        read = read_decimal(number, most_decimals=most_decimals)
        assert read is not None and -read.as_tuple().exponent <= most_decimals, (number, refused.value.message)
