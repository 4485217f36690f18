"""Every message marshmallow can say in an API answer is in Sharaka's catalogue (app/api/schema_words.py):
a message missing from the list would reach French and Arabic readers in English."""

from __future__ import annotations

import inspect
from itertools import product

import marshmallow
from marshmallow import fields, validate

from app.api.schema_words import MESSAGES, VALIDATOR_MESSAGES


def _marshmallows_messages() -> set[str]:
    said = set(marshmallow.Schema._default_error_messages.values())
    for _name, kind in inspect.getmembers(fields, inspect.isclass):
        said.update(getattr(kind, "default_error_messages", {}).values())
    for _name, kind in inspect.getmembers(validate, inspect.isclass):
        if issubclass(kind, validate.Validator) and kind is not validate.Range:
            names = ("default_message", *VALIDATOR_MESSAGES[1:])
            said.update(getattr(kind, name) for name in names if hasattr(kind, name))
    ranges = validate.Range
    lower, upper = (ranges.message_gte, ranges.message_gt), (ranges.message_lte, ranges.message_lt)
    for min_op, max_op in product(lower, upper):
        said.add(ranges.message_min.format(min_op=min_op))
        said.add(ranges.message_max.format(max_op=max_op))
        said.add(ranges.message_all.format(min_op=min_op, max_op=max_op))
    return said


def test_every_message_marshmallow_says_is_listed_for_the_catalogue():
    assert _marshmallows_messages() - set(MESSAGES) == set()
