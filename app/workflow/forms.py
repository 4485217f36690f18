from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.agreements.models import NOTICE_UNITS, RENEWAL_TERMS, parties_of_form
from app.budget.forms import BudgetRowForm
from app.budget.services import MAX_LINES
from app.core.forms import DateField, Form, side_choice
from app.core.i18n import LANGUAGE_NAMES
from app.workflow.labels import SIDE_LABELS


class ActionForm(Form):
    """One workflow move: a comment, the dates or file the move asks for, and the version seen."""

    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])
    signed_on = DateField(_l("Signed on"), validators=[Optional()])
    effective_on = DateField(_l("Effective on"), validators=[Optional()])
    expires_on = DateField(_l("Ends on"), validators=[Optional()])
    termination_notice = FileField(_l("Termination notice"))
    # Activation may add a deliverable to the plan in the same step.
    # Its title in each language, as the plan's form asks (one title filed in the officer's language reached
    # a French partner in Arabic); `deliverable_title`, the one field of pages drawn before, in the reader's.
    deliverable_title_ar = StringField(_l("Title (Arabic)"), validators=[Optional(), Length(max=300)])
    deliverable_title_fr = StringField(_l("Title (French)"), validators=[Optional(), Length(max=300)])
    deliverable_title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=300)])
    deliverable_title = StringField(_l("Title"), validators=[Optional(), Length(max=300)])
    deliverable_recurrence = SelectField(
        _l("How often"),
        choices=[("once", "once"), ("monthly", "monthly"), ("quarterly", "quarterly"), ("yearly", "yearly")],
        validators=[Optional()],
        validate_choice=True,
    )
    deliverable_first_due_on = DateField(_l("First due date"), validators=[Optional()])
    # A partner party's id: who hands it in (asked when several).
    deliverable_responsible = HiddenField(_l("Handed in by"))
    # Activation with due dates already past (an agreement signed before Sharaka): chase them as owed, or record
    # them as settled before Sharaka (app/deliverables/before_sharaka.py). Left out: chased, as before.
    past_due = SelectField(
        _l("Reports due before today"),
        choices=[("chase", "chase"), ("settled", "settled")],
        validators=[Optional()],
        validate_choice=True,
    )
    decision = HiddenField()

    def deliverable_titles(self, reader_language: str) -> dict[str, str | None]:
        """{title_ar, title_fr, title_en} of the deliverable typed in, none of them when none was."""
        titles = {
            f"title_{lang}": (self[f"deliverable_title_{lang}"].data or "").strip() or None for lang in LANGUAGE_NAMES
        }
        earlier_page = (self.deliverable_title.data or "").strip() or None
        titles[f"title_{reader_language}"] = titles[f"title_{reader_language}"] or earlier_page
        return titles

    step = HiddenField(validators=[Optional(), Length(max=60)])  # an approval's step the page showed
    version = HiddenField(validators=[DataRequired()])


class SendVersionForm(Form):
    # A file, or before the first version the reviewed draft text (its id); the service asks for one of them.
    file = FileField(_l("Text version"))
    from_draft_id = StringField(validators=[Optional(), Length(max=12)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=20000)])
    on_behalf_of_partner = BooleanField(_l("Sent by the partner (recorded on their behalf)"))
    version = HiddenField(validators=[DataRequired()])


class AcceptVersionForm(Form):
    """The user's own party accepts the latest version (nothing to tick: see RecordAcceptanceForm)."""

    version = HiddenField(validators=[DataRequired()])


class RecordAcceptanceForm(Form):
    """Ministry staff record a partner party's acceptance given outside Sharaka, with its proof."""

    organization_id = SelectField(_l("Partner"), coerce=int, choices=[], validate_choice=False)
    proof = FileField(_l("Proof of acceptance (e.g. their e-mail)"), validators=[DataRequired()])
    version = HiddenField(validators=[DataRequired()])


class SignatoryForm(Form):
    # A bare "partner" names the only partner party, when there is one.
    side = SelectField(
        _l("Signs for"),
        choices=list(SIDE_LABELS.items()),
        coerce=side_choice,
        validate_choice=False,  # an option per partner party: side_choice reads it, the service checks it
        validators=[InputRequired()],
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    title = StringField(_l("Title or function"), validators=[Optional(), Length(max=200)])
    version = HiddenField(validators=[DataRequired()])


class SignatureForm(Form):
    signed_on = DateField(_l("Signed on"), validators=[InputRequired()])
    version = HiddenField(validators=[DataRequired()])


class WithdrawSignatureForm(Form):
    """Take back a signature recorded in error (nothing to fill in: the version seen)."""

    version = HiddenField(validators=[DataRequired()])


class DraftTextForm(Form):
    file = FileField(_l("Draft text"), validators=[DataRequired()])
    version = HiddenField(validators=[DataRequired()])


class SignedCopyForm(Form):
    file = FileField(_l("Signed copy"), validators=[DataRequired()])
    version = HiddenField(validators=[DataRequired()])


class DelegationForm(Form):
    delegate_id = SelectField(_l("Colleague who will approve for you"), coerce=int, choices=[])
    starts_on = DateField(_l("From"), validators=[InputRequired()])
    ends_on = DateField(_l("Until (inclusive)"), validators=[InputRequired()])


class AmendmentForm(Form):
    """The parent's terms as they will read once the amendment is in force; only what differs is kept."""

    title_fr = StringField(_l("Title (French)"), validators=[Optional(), Length(max=500)])
    title_ar = StringField(_l("Title (Arabic)"), validators=[Optional(), Length(max=500)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=500)])
    summary_fr = TextAreaField(_l("Summary (French)"), validators=[Optional(), Length(max=20000)])
    summary_ar = TextAreaField(_l("Summary (Arabic)"), validators=[Optional(), Length(max=20000)])
    summary_en = TextAreaField(_l("Summary (English)"), validators=[Optional(), Length(max=20000)])
    effective_on = DateField(_l("Effective on"), validators=[Optional()])
    expires_on = DateField(_l("Ends on"), validators=[Optional()])
    partners = SelectMultipleField(_l("Partners"), coerce=int, choices=[])
    co_signatories = SelectMultipleField(_l("Co-signatories"), coerce=int, choices=[])
    witnesses = SelectMultipleField(_l("Witnesses"), coerce=int, choices=[])
    budget = FieldList(FormField(BudgetRowForm), max_entries=MAX_LINES)
    renewal_terms = SelectField(_l("Renewal"), choices=[(k, v) for k, v in RENEWAL_TERMS.items()], default="none")
    renewal_months = IntegerField(_l("Tacit renewal for (months)"), validators=[Optional()])
    notice_period = IntegerField(_l("Notice period"), validators=[Optional()])
    notice_unit = SelectField(
        _l("Notice period in"), choices=[(k, v) for k, v in NOTICE_UNITS.items()], default="months"
    )
    version = HiddenField(validators=[DataRequired()])

    def changes(self) -> dict:
        """The proposed terms as plain values for app.agreements.amendments.set_changes."""
        parties = [list(pair) for pair in parties_of_form(self)]
        values = {
            name: getattr(self, name).data
            for name in (
                "title_fr",
                "title_ar",
                "title_en",
                "summary_fr",
                "summary_ar",
                "summary_en",
                "effective_on",
                "expires_on",
            )
        }
        budget = [
            {
                name: row.form[name].data
                for name in ("organization_id", "label", "amount", "currency", "kind", "year", "period")
            }
            for row in self.budget
            if (row.form.label.data or "").strip() or (row.form.amount.data or "").strip()
        ]
        renewal = {}
        if self.renewal_terms.raw_data:  # a form without the renewal fields proposes no change to them
            renewal = {
                "renewal": {
                    name: getattr(self, name).data
                    for name in ("renewal_terms", "renewal_months", "notice_period", "notice_unit")
                }
            }
        return {**values, "parties": parties, "budget_lines": budget, **renewal}
