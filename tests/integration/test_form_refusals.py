"""A service's refusal shown on the page's own form (core.forms.refusal_shown_on): what the service wrote
before it refused is never kept, its field errors go under their fields, the rest is flashed, and the
form is answered with 422 whether or not a field of the form shows the reason."""

from datetime import date

import pytest
from flask import get_flashed_messages
from sqlalchemy import select
from wtforms import FormField, StringField

from app.core.errors import PermissionDenied, ValidationFailed
from app.core.forms import Form, form_status, refusal_shown_on
from app.extensions import db
from app.organizations.models import Organization
from tests import factories


class NameForm(Form):
    name = StringField()


def _answer(app, form):
    """The request's answer to the form page, through the request's own unit of work."""
    return app.process_response(app.make_response(("the form again", form_status(form))))


def _kept(slug):
    return db.session.scalar(select(Organization.id).where(Organization.slug == slug)) is not None


@pytest.mark.parametrize(
    "fields, on_the_field, flashed",
    [
        ({"name": ["Taken."]}, True, []),
        # A field the form does not have: its own message is said, not the refusal's "correct the errors below".
        ({"elsewhere": ["No field of this form."]}, False, ["No field of this form."]),
        (None, False, ["Refused."]),
    ],
)
def test_a_refusal_keeps_nothing_the_service_wrote_and_answers_422(app, fields, on_the_field, flashed):
    with app.test_request_context("/", method="POST", data={"name": "x"}):
        form = NameForm(meta={"csrf": False})
        assert form.validate_on_submit()
        with refusal_shown_on(form):
            factories.organization("half-written")  # the service wrote, then refused
            raise ValidationFailed("Refused.", fields)
        assert form_status(form) == 422
        assert form.name.errors == (["Taken."] if on_the_field else [])
        assert get_flashed_messages() == flashed
        assert _answer(app, form).status_code == 422
        assert not _kept("half-written")


def test_a_form_not_refused_is_200_and_its_work_is_kept(app):
    with app.test_request_context("/", method="POST", data={"name": "x"}):
        form = NameForm(meta={"csrf": False})
        with refusal_shown_on(form):
            factories.organization("written")
        assert form_status(form) == 200 and _answer(app, form).status_code == 200
        assert _kept("written")


def test_keep_work_keeps_what_was_written_though_refused(app):
    """A failed second-factor code is recorded for the throttle even though the page refuses it."""
    with app.test_request_context("/", method="POST"):
        form = NameForm(meta={"csrf": False})
        with refusal_shown_on(form, keep_work=True):
            factories.organization("counted-attempt")
            raise ValidationFailed("Wrong code.", {"name": ["Wrong code."]})
        assert _answer(app, form).status_code == 422
        assert _kept("counted-attempt")


def test_an_error_it_does_not_catch_goes_to_the_one_error_path(app):
    with app.test_request_context("/", method="POST"):
        form = NameForm(meta={"csrf": False})
        with pytest.raises(PermissionDenied), refusal_shown_on(form):
            raise PermissionDenied("Not yours.")
        assert not form.name.errors and not get_flashed_messages()


def _all_subclasses(cls):
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _all_subclasses(subclass)


def test_every_date_field_of_the_apps_forms_reads_arabic_indic_digits(app):
    """A date typed ٢٠٢٩-٠٧-٠١ was refused as no date by WTForms' DateField, which the app's forms used
    directly; amounts and years read these digits. Each form's date fields are core.forms.DateField."""
    import inspect

    import wtforms
    from wtforms.fields.core import UnboundField

    from app.core.forms import DateField

    fields = {
        f"{form.__module__}.{form.__qualname__}.{name}": unbound.field_class
        for form in _all_subclasses(wtforms.Form)
        if form.__module__.startswith("app.")
        for name, unbound in inspect.getmembers(form, lambda member: isinstance(member, UnboundField))
        if issubclass(unbound.field_class, wtforms.DateField)
    }
    assert fields and all(field_class is DateField for field_class in fields.values()), fields
    with app.test_request_context("/", method="POST", data={"day": "٢٠٢٩-٠٧-٠١", "other": "۲۰۲۹-۰۷-۰۱"}):

        class DayForm(Form):
            day = DateField()
            other = DateField()

        form = DayForm(meta={"csrf": False})
        assert form.validate() and form.day.data == form.other.data == date(2029, 7, 1)
        assert form.day._value() == "٢٠٢٩-٠٧-٠١"  # shown again as typed


def test_a_number_no_float_holds_is_judged_by_every_forms_range(app):
    """WTForms' NumberRange asks math.isnan() of the number typed: past 308 digits it cannot make a float of
    it (OverflowError, a 500 on each page with a year). Every form (core.forms.Form and SubForm) says such a
    number out of the field's range, or, past a range open on its side, no number it takes."""
    from wtforms import IntegerField
    from wtforms.validators import NumberRange, Optional

    from app.core.forms import SubForm

    past_a_float = "9" * 400
    sent = {"year": past_a_float, "count": past_a_float, "low": "-" + past_a_float, "row-year": past_a_float}
    with app.test_request_context("/", method="POST", data=sent):

        class RowForm(SubForm):
            year = IntegerField(validators=[Optional(), NumberRange(1956, 2200)])

        class NumbersForm(Form):
            year = IntegerField(validators=[Optional(), NumberRange(1956, 2200)])
            count = IntegerField(validators=[NumberRange(min=1)])
            low = IntegerField(validators=[NumberRange(min=1)])
            row = FormField(RowForm)

        form = NumbersForm(meta={"csrf": False})
        assert not form.validate()
        assert form.errors == {
            "year": ["Number must be between 1956 and 2200."],
            "count": ["Not a valid integer value."],
            "low": ["Number must be at least 1."],
            "row": {"year": ["Number must be between 1956 and 2200."]},
        }
