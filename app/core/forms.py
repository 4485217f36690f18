"""Form helpers shared by every blueprint."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from functools import cache
from types import SimpleNamespace

import wtforms
from babel import support
from flask import current_app, flash, request
from flask_babel import format_date, format_decimal
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto, _is_submitted
from werkzeug.datastructures import MultiDict
from wtforms import FieldList, FileField, FormField, HiddenField, SelectField
from wtforms import Form as WtformsForm
from wtforms.i18n import messages_path
from wtforms.meta import DefaultMeta
from wtforms.validators import NumberRange, StopValidation, ValidationError
from wtforms.widgets import HiddenInput

from app.core.db import changed_since, fields_seen, keep_even_if_refused, short_hash
from app.core.errors import ConcurrentChange, DomainError, ValidationFailed
from app.core.form_words import SAID_OTHERWISE
from app.core.i18n import LANGUAGE_NAMES, reader_first, reader_locale, reader_translations
from app.core.i18n import gettext as _
from app.core.numbers import western_digits
from app.core.receipts import form_key_field
from app.core.text import storable
from app.core.urls import MAX_ID
from app.extensions import db

# Digits of the longest whole number a form judges against its range: past it no range holds it.
MOST_DIGITS = 18


def apply_field_errors(form, error: DomainError, fields: dict[str, str] | None = None) -> None:
    """Show a service's field errors on the form (`fields`: the form's name for a service's field where they
    differ), and the rest as a flash message: the messages of fields the form does not have, else the refusal's
    own. A refusal about a field the form lacks (the reassign page's delegation "already held from … to …",
    under the delegation's `starts_on`) had been said only as "Please correct the errors below"."""
    unplaced: list[str] = []
    for name, messages in (error.field_errors or {}).items():
        field = getattr(form, _shown_first((fields or {}).get(name, name), form), None)
        if field is not None:
            field.errors = list(field.errors or []) + list(messages)
        else:
            unplaced += [str(message) for message in messages]
    for message in unplaced or ([] if error.field_errors else [error.message]):
        flash(message, "danger")


def _shown_first(name: str, form) -> str:
    """Where an error about a text in three languages left empty ("give a title in at least one language",
    which a service reports on its French field) is shown: under the one the form shows first, the reader's
    language (the in_each_language macro), not under the second of an Arabic form."""
    prefix, _, language = name.rpartition("_")
    group = [getattr(form, f"{prefix}_{lang}", None) for lang in LANGUAGE_NAMES] if language in LANGUAGE_NAMES else []
    if group and all(field is not None and not str(field.data or "").strip() for field in group):
        return reader_first(prefix)
    return name


@contextmanager
def refusal_shown_on(
    form,
    *,
    catching: type[DomainError] | tuple[type[DomainError], ...] = ValidationFailed,
    keep_work: bool = False,
    fields: dict[str, str] | None = None,
    edited: tuple[object, tuple[str, ...]] | None = None,
) -> Iterator[None]:
    """Around a page form's service call and its answer, for a refusal shown on the form itself rather than
    on another page: a `catching` error raised in the block is rolled back (`keep_work`: kept, as a failed
    second-factor code must still count), its field errors go under their fields (`fields` as for
    `apply_field_errors`) and the rest is flashed;
    the route then goes on past the block and renders the form again, with `form_status(form)`.
    `edited`: (the record, its checked fields) of an EditForm; a stale save (ConcurrentChange) then shows
    what changed meanwhile (show_changes_meanwhile)."""
    caught = catching if isinstance(catching, tuple) else (catching,)
    if edited is not None:
        caught = (*caught, ConcurrentChange)
    try:
        yield
    except caught as error:
        if keep_work:
            keep_even_if_refused()
        else:
            db.session.rollback()
        apply_field_errors(form, error, fields)
        form.service_refusal = error
        if edited is not None and isinstance(error, ConcurrentChange):
            show_changes_meanwhile(form, *edited)


class EditForm:
    """A form that edits a stored record without a version column. Its hidden `seen` carries what it showed:
    the stored values (core.db.fields_seen, which the service checks: core.db.check_seen), then after a "|"
    the texts its fields showed, so that a refused save can tell what the person changed from what they
    left as it was (show_changes_meanwhile)."""

    seen = HiddenField()

    def show(self, record, fields: tuple[str, ...]) -> None:
        """On a GET of an existing record: remember what the form shows of it."""
        if record is not None:
            self.seen.data = f"{fields_seen(record, fields)}|{_texts_shown(self, fields)}"


def _texts_shown(form, fields: tuple[str, ...]) -> str:
    return ".".join(short_hash(_text_of(form._fields.get(name))) for name in fields)


def _text_of(field) -> str:
    return "" if field is None else str(field._value() if hasattr(field, "_value") else field.data or "").strip()


def show_changes_meanwhile(form, record, fields: tuple[str, ...]) -> None:
    """After a stale save was refused (someone saved the record since the form was shown), the form comes
    back merged: a field the other person changed and this one left as shown now shows what they saved; a
    field both changed keeps what this person typed, with what the other saved under it; the rest keeps what
    was typed. The form then carries what is stored, so saving again (once read) goes through. Redirecting to
    the fresh form had thrown away what they typed; keeping it whole would have undone the other's change."""
    texts = (form.seen.data or "").partition("|")[2].split(".")
    now = type(form)(formdata=None, obj=record)  # the form as it would show the record now
    for name in changed_since(record, fields, form.seen.data):
        field, stored = form._fields.get(name), now._fields.get(name)
        if field is None or stored is None or _text_of(field) == _text_of(stored):
            continue  # what was typed is what is stored now: nothing to tell
        left_as_shown = len(texts) == len(fields) and short_hash(_text_of(field)) == texts[fields.index(name)]
        # Said under the field as news (field.meanwhile, forms.html), not as an error: nothing typed was wrong.
        if left_as_shown:
            field.data, field.raw_data = stored.data, stored.raw_data
            field.meanwhile = _("Someone else changed this meanwhile: it now shows what they saved.")
        else:
            value = _shown_value(field, getattr(record, name))
            field.meanwhile = _(
                "Someone else saved this meanwhile: %(value)s. Keep what you typed or take theirs.", value=value
            )
    form.seen.data = f"{fields_seen(record, fields)}|{_texts_shown(form, fields)}"


def _shown_value(field, value) -> str:
    if value is None or value == "":
        return _("(empty)")
    if isinstance(field, SelectField):
        labels = {str(choice[0]): str(choice[1]) for choice in field.choices or () if isinstance(choice, tuple)}
        return labels.get(str(value), str(value))
    if isinstance(value, date):
        return format_date(value, "medium")
    if isinstance(value, Decimal):
        return format_decimal(value)
    return str(value)


def stripped(value):
    """A field filter: the spaces around a typed value gone (an e-mail address pasted with a trailing
    space was refused as invalid by one form and trimmed by the sign-in)."""
    return value.strip() if isinstance(value, str) else value


def chosen_id(value) -> int | None:
    """A SelectField's coerce for a row chosen by its id: None when nothing is chosen, -1 for what names no
    row (text, or a number past the largest id a column holds), which then fails the field's choice check or
    the service's lookup with a clear message instead of a 500 (SQLite refuses to compare such a number)."""
    if value in (None, "", "None"):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return -1
    return number if abs(number) <= MAX_ID else -1


def id_number(value) -> int:
    """A SelectField's coerce for an id the service looks up: a number a column can hold, else ValueError
    (the field's "Not a valid choice."); a number past MAX_ID had reached the database (SQLite: a 500)."""
    number = int(value)
    if abs(number) > MAX_ID:
        raise ValueError(f"not an id: {value!r}")
    return number


def side_choice(value: str) -> tuple[str, int | None]:
    """A SelectField's coerce for a party's side as its option names it: "ministry", "partner", or
    "partner:<organisation id>" for one partner among several (the page lists each). (side, id or None); the
    service then checks the side and the organisation. Anything else after the colon is no choice
    (ValueError: "Not a valid choice."): a tampered "partner:abc" had been read as a bare "partner", the
    agreement's only partner."""
    side, colon, organization = value.partition(":")
    if not colon:
        return side, None
    if organization.isascii() and organization.isdigit() and len(organization) < 10:
        return side, int(organization)
    raise ValueError(f"not a side: {value!r}")


def refused_filters(form, names) -> dict[str, list[str]]:
    """The messages by field of the filter form's fields `names` it refuses (a malformed date, a range
    whose first date comes after its last), checked as the form's validate() checks them: the API refuses
    (400) what its list pages ignore and say, by the same rules, for the filters both read."""
    refused = {}
    for name in names:
        field = form[name]
        inline = getattr(type(form), f"validate_{name}", None)
        if not field.validate(form, [inline] if inline else []):
            refused[name] = [str(message) for message in field.errors]
    return refused


def without_invalid_filters(form) -> bool:
    """Validate a list's filter form; a field refused reads as empty, so the others still filter (one date
    typed wrong must not list the whole portfolio under the other filters the form still shows). The field
    keeps what was typed and its message. True when every value was valid."""
    if form.validate():
        return True
    for field in form:
        if field.errors:
            field.data = None
    return False


def form_status(form) -> int:
    """A form page's status: 422 when the form or the service behind it refused what was sent (the request's
    work then rolls back; 409 when what it changes changed meanwhile), 200 when the form is shown to be
    filled in."""
    refusal = getattr(form, "service_refusal", None)
    if isinstance(refusal, ConcurrentChange):
        return 409
    return 422 if form.errors or refusal is not None else 200


class _ReaderMeta(DefaultMeta):
    """What every form and every row inside one (SubForm) share: the reader's language for WTForms' own
    messages, and its fields' checks."""

    def bind_field(self, form, unbound_field, options):
        # A choice sent as spaces is no choice: Optional() would otherwise let " " through unchecked
        # against the choices (it clears the "not a valid choice" error of a value it calls blank).
        if issubclass(unbound_field.field_class, SelectField):
            options["filters"] = (*unbound_field.kwargs.get("filters", ()), _blank_as_empty)
        if not issubclass(unbound_field.field_class, (FormField, FieldList)):  # a row says for its own fields
            validators = unbound_field.kwargs.get("validators") or ()
            ranged = (_past_any_range,) if any(isinstance(check, NumberRange) for check in validators) else ()
            options["validators"] = (_unread_said_once, *ranged, *validators)
        return super().bind_field(form, unbound_field, options)

    def render_field(self, field, render_kw):
        # A hidden field needs no id (no label points at it), and several forms on one page (/account,
        # a team member's page) each carried id="csrf_token": duplicate ids.
        if isinstance(field.widget, HiddenInput) and "id" not in (field.render_kw or {}):
            render_kw = {"id": False, **render_kw}
        return super().render_field(field, render_kw)

    def get_translations(self, form):
        if not current_app.config.get("WTF_I18N_ENABLED", True):
            return super().get_translations(form)
        return WTFORMS_MESSAGES


def _unread_said_once(form, field) -> None:
    """A value typed that the field could not read ("abc" for a year) is said once, as that: the field's
    checks would judge the nothing it read as well ("Not a valid integer value." run into "Number must be
    between 1956 and 2200."). A blank value goes on to Optional(), which lets it through."""
    if field.process_errors and any(str(raw).strip() for raw in field.raw_data or ()):
        raise StopValidation()


def _storable(form, sent: MultiDict, files: MultiDict | None) -> MultiDict:
    """What `form` reads of what was sent: text without NUL bytes (a NUL in a query-string filter had
    reached PostgreSQL, a 500), except in a field flagged kept_as_sent (a typed e-mail address:
    auth.forms.TypedAddress refuses what storable would drop: a NUL dropped out of an address had made it
    another person's); and the uploaded files of its FileFields only."""
    data: MultiDict = MultiDict()
    as_sent = {field.name for field in form._fields.values() if field.flags.kept_as_sent}
    for key, value in sent.items(multi=True):
        data.add(key, value if key in as_sent or not isinstance(value, str) else storable(value))
    file_fields = {name for name, field in form._fields.items() if isinstance(field, FileField)}
    for key, value in (files or MultiDict()).items(multi=True):
        if key in file_fields:
            data.add(key, value)
    return data


def _past_any_range(form, field) -> None:
    """A whole number longer than any range a form checks is said out of the field's range, by its own
    NumberRange, as the infinity on its side: WTForms' check asks math.isnan() of the number itself, which
    cannot make a float of 309 digits or more (OverflowError: a 500 for a year of 400 nines). Past a range
    open on that side, it is no number a form takes either."""
    if not isinstance(field.data, int) or abs(field.data) < 10**MOST_DIGITS:
        return
    beyond = SimpleNamespace(data=math.inf if field.data > 0 else -math.inf, gettext=field.gettext)
    for check in field.validators:
        if isinstance(check, NumberRange):
            try:
                check(form, beyond)
            except ValidationError as refusal:
                raise StopValidation(str(refusal)) from None
    raise StopValidation(field.gettext("Not a valid integer value."))


class Form(FlaskForm):
    """Every form's base: it reads only real form fields.

    Flask-WTF would feed a JSON body to the form and put uploaded files into
    any field of the same name; hostile requests then reach validators with
    lists, numbers or file objects. Here a JSON or other non-form body counts
    as an empty form, files only reach FileFields, and NUL bytes (which no
    text ever needs, and PostgreSQL refuses) are dropped, except from a field
    that refuses them (flagged kept_as_sent).
    """

    class Meta(_ReaderMeta, FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            if formdata is _Auto:
                return _storable(form, request.form, request.files) if _is_submitted() else None
            if isinstance(formdata, MultiDict):  # a list's filters, from the query string
                return _storable(form, formdata, None)
            return formdata

    def hidden_tag(self, *fields):
        """The form's hidden fields, and its key (app/core/receipts.py): a form sent twice changes things once."""
        return super().hidden_tag(*fields) + form_key_field()


class SubForm(WtformsForm):
    """A row inside a form (FormField, FieldList): its fields read and say as the enclosing Form's do. A
    row built on WTForms' own Form spoke English in every language ("Invalid Choice: could not coerce.")."""

    class Meta(_ReaderMeta):
        pass


class DateField(wtforms.DateField):
    """Every form's date field: a date typed in Arabic-Indic or Extended Arabic-Indic digits (٢٠٢٩-٠٧-٠١,
    ۲۰۲۹-۰۷-۰۱) reads as in 0-9, as amounts and years do; WTForms' own refused it as no date."""

    def process_formdata(self, valuelist):
        super().process_formdata([western_digits(value) if isinstance(value, str) else value for value in valuelist])


def _blank_as_empty(value):
    """Spaces alone are no choice; any other value is checked against the choices exactly as sent."""
    return "" if isinstance(value, str) and not value.strip() else value


class _WTFormsMessages:
    """WTForms' own messages ("This field is required.") in the reader's language. Each language's
    catalogue is read once per process: Flask-WTF reads the file again on every request that builds a form."""

    def gettext(self, string):
        string = SAID_OTHERWISE.get(string, string)
        locale = reader_locale()
        if locale is None:
            return string
        ours = reader_translations().ugettext(string)  # core.form_words: Sharaka's words first
        return ours if ours != string else _wtforms_catalogue(str(locale)).ugettext(string)

    def ngettext(self, singular, plural, n):
        locale = reader_locale()
        if locale is None:
            return singular if n == 1 else plural
        ours = reader_translations().ungettext(singular, plural, n)
        if ours not in (singular, plural):
            return ours
        return _wtforms_catalogue(str(locale)).ungettext(singular, plural, n)


@cache
def _wtforms_catalogue(locale: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


WTFORMS_MESSAGES = _WTFormsMessages()
