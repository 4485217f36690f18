"""Signing ceremonies."""

from __future__ import annotations

from datetime import date

from app.agreements.models import SigningEvent
from app.core import audit
from app.core.dates import within_calendar
from app.core.db import check_seen
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.text import one_line, trimmed
from app.extensions import db

FIELDS = ("name_ar", "name_fr", "name_en", "held_on", "ends_on", "place", "description")


def save_event(event: SigningEvent | None, values: dict, *, by, seen: str | None = None) -> SigningEvent:
    """Create (event=None) or update a signing event from plain values (`seen`: as its form showed it)."""
    if event is not None:
        check_seen(event, FIELDS, seen)
    clean = {}
    for key in FIELDS:
        value = values.get(key)
        if isinstance(value, str):
            value = (trimmed(value) if key == "description" else one_line(value)) or None
        clean[key] = value
    errors: dict[str, list[str]] = {}
    if not (clean["name_ar"] or clean["name_fr"] or clean["name_en"]):
        errors["name_fr"] = [_("Give a name in at least one language.")]
    if not isinstance(clean["held_on"], date):
        errors["held_on"] = [_("Give the date of the event.")]
    elif not within_calendar(clean["held_on"]):
        errors["held_on"] = [_("This date is out of range.")]
    elif clean["ends_on"] and clean["ends_on"] < clean["held_on"]:
        errors["ends_on"] = [_("The last day cannot be before the first.")]
    if isinstance(clean["ends_on"], date) and not within_calendar(clean["ends_on"]):
        errors["ends_on"] = [_("This date is out of range.")]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    creating = event is None
    if creating:
        event = SigningEvent()
        db.session.add(event)
    before = {key: getattr(event, key) for key in FIELDS} if not creating else {}
    for key in FIELDS:
        setattr(event, key, clean[key])
    db.session.flush()
    after = {key: getattr(event, key) for key in FIELDS}
    changes = {"after": after} if creating else audit.diff(before, after)
    if creating or changes["after"]:
        audit.record("created" if creating else "updated", event, actor=by, changes=changes)
    return event
