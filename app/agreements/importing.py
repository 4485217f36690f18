"""Bringing an existing portfolio in from a spreadsheet: one agreement a row, all or none.

A ministry that adopts Sharaka has its agreements in a spreadsheet. Each row is read into the values the
agreement form would send (AgreementData) and goes through the same rules (services.validate_data): a row
the form would refuse is refused here too, with the row, the column and the reason. Nothing is written
unless every row passes, so a file can be corrected and sent again without leaving half of it behind.
A row with a signature date was signed before Sharaka (or outside it): it is taken to the signature stage
by the workflow's own move for that (`record_signed_elsewhere`), with the reason the importer gives, where
its signatories and signed copy are then recorded as for any other agreement.

CSV (UTF-8, comma, semicolon or tab: Excel writes semicolons in French) or XLSX; the first row names the
columns (COLUMNS, in any order; unknown ones are refused rather than ignored).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.agreements import services
from app.agreements.models import AGREEMENT_TYPES, PARTNER_PARTY, RENEWAL_TERMS, Agreement
from app.auth.models import User, normalize_email
from app.core.db import take_turns_on
from app.core.errors import DomainError, ValidationFailed
from app.core.i18n import current_language
from app.core.i18n import gettext as _
from app.core.numbers import western_digits
from app.core.permissions import can, visible_agreements_clause
from app.core.storage import bounded_members
from app.core.text import fold, one_line, storable
from app.extensions import db
from app.organizations.models import Organization
from app.workflow import engine
from app.workflow import services as workflow_services
from app.workflow.children import parent_problems
from app.workflow.states import current_definitions

# The columns a file may have, in the template's order, with what each holds (the import page lists them).
COLUMN_HELP = {
    "type": _l("mou, convention or protocol (or the type's name in any language). Required."),
    "title_fr": _l("Title in French."),
    "title_ar": _l("Title in Arabic."),
    "title_en": _l("Title in English. At least one of the three titles."),
    "partners": _l(
        "The partner organisations, as Sharaka names them (any language, or the acronym), separated by “;”. Required."
    ),
    "co_signatories": _l("Co-signatory organisations, the same way."),
    "witnesses": _l("Witness organisations, the same way."),
    "owner": _l("E-mail address of the officer or manager who owns it."),
    "parent": _l(
        "The agreement it implements: its reference in Sharaka (MTNRA-2025-008), or the title of a row above it."
    ),
    "signed_on": _l(
        "Signature date (2025-07-15 or 15/07/2025). With it, the agreement goes to the signature stage, where its "
        "signatories and signed copy are recorded."
    ),
    "ministry_signatory": _l("Who signed for the ministry (names separated by “;”), with the signature date."),
    "partner_signatories": _l(
        "Who signed for each partner, one name per partner in the order of the partners column (“;” between them)."
    ),
    "effective_on": _l("Date it takes effect."),
    "expires_on": _l("Date it ends."),
    "renewal_terms": _l("none, tacit or by_agreement."),
    "renewal_months": _l("Months of each tacit renewal."),
    "notice_period": _l("Notice period of non-renewal (a number)."),
    "notice_unit": _l("months or days."),
    "summary_fr": _l("Summary in French."),
    "summary_ar": _l("Summary in Arabic."),
    "summary_en": _l("Summary in English."),
    "notes": _l("Internal notes (the ministry's only)."),
}
COLUMNS = tuple(COLUMN_HELP)
PARTY_COLUMNS = {"partners": PARTNER_PARTY, "co_signatories": "co_signatory", "witnesses": "witness"}
SIGNATORY_COLUMNS = ("ministry_signatory", "partner_signatories")
TITLE_LANGUAGES = ("fr", "ar", "en")  # a row's titles, in the order one stands for it when the reader's is missing
DATE_COLUMNS = ("signed_on", "effective_on", "expires_on")
NUMBER_COLUMNS = ("renewal_months", "notice_period")
# One request, one transaction: 100 signed rows with their signatories take about 6 s on PostgreSQL (bench/imports.py),
# well inside a worker's 30 s on a busy machine; a larger portfolio comes in several files.
MAX_ROWS = 100
MAX_CELL = 20000  # the longest text an agreement keeps (a summary)
MAX_COLUMNS = 50  # cells read of a row: a sheet declaring 16,384 columns is not read to its end
MAX_LINES = 5000  # lines (rows) of a file read at all, blank ones included: what follows is not a short list
MAX_LINE = 600_000  # characters of one line of a CSV file: every column at its longest, and room to spare
_TOO_LONG_A_LINE = re.compile(f"[^\r\n]{{{MAX_LINE + 1}}}")
SIGNED_ELSEWHERE = "record_signed_elsewhere"  # the workflow move for an agreement signed outside Sharaka
XLSX_SIGNATURE = b"PK\x03\x04"


@dataclass
class ImportedRow:
    """One row of the file: its number as the spreadsheet shows it, the values read, what is wrong."""

    number: int
    titles: dict[str, str] = field(default_factory=dict)  # by language, as written: names a row nothing else of
    data: services.AgreementData | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    party_names: dict[str, list[str]] = field(default_factory=dict)
    parent_row: ImportedRow | None = None  # its parent when the file brings it too, in a row above
    # Who signed, all on the row's signature date: (side, name, the partner they signed for, or None).
    signing: list[tuple[str, str, int | None]] = field(default_factory=list)
    agreement: Agreement | None = None

    def refuse(self, column: str, message: str) -> None:
        self.errors.setdefault(column, []).append(message)

    @property
    def title(self) -> str:
        """Its title in the reader's language, else the first it has."""
        return self.titles.get(current_language()) or next(iter(self.titles.values()), "")

    @property
    def signed_elsewhere(self) -> bool:
        return self.data is not None and self.data.signed_on is not None


@dataclass
class ImportResult:
    rows: list[ImportedRow]
    file_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.file_errors and bool(self.rows) and not any(row.errors for row in self.rows)

    @property
    def refused_rows(self) -> list[ImportedRow]:
        return [row for row in self.rows if row.errors]


def read_file(content: bytes, filename: str) -> list[tuple[int, dict[str, str]]]:
    """The file's rows as (row number, {column: text}), blank rows left out; ValidationFailed on a file
    that is not a spreadsheet we read, whose columns are not ours, or that holds more than MAX_ROWS."""
    is_workbook = content.startswith(XLSX_SIGNATURE) or filename.lower().endswith(".xlsx")
    table = _xlsx_rows(content) if is_workbook else _csv_rows(content)
    header = next(table, None)
    if header is None:
        _refuse(_("The file is empty: its first row names the columns, each row after it is an agreement."))
    columns = _columns(header[1])
    rows = []
    for number, cells in table:
        values = {name: cells[i] if i < len(cells) else "" for i, name in enumerate(columns) if name}
        unnamed = [i + 1 for i, cell in enumerate(cells) if cell and (i >= len(columns) or not columns[i])]
        if unnamed:  # read by nobody: said, rather than left out without a word
            _refuse(
                _(
                    "Row %(row)s has a value in column %(column)s, which has no heading: name the column, or empty it.",
                    row=number,
                    column=unnamed[0],
                )
            )
        if any(values.values()):
            if len(rows) == MAX_ROWS:
                _refuse(_("At most %(n)s agreements a file: split it in several.", n=MAX_ROWS))
            rows.append((number, values))
    if not rows:
        _refuse(_("The file names its columns but has no agreement under them."))
    return rows


def _columns(header: list[str]) -> list[str]:
    """The heading row's column names (blank for a column without one, whose cells are not read)."""
    columns = [fold(name).replace(" ", "_") for name in header]
    unknown = [one_line(header[i])[:60] for i, name in enumerate(columns) if name and name not in COLUMNS]
    if unknown:
        _refuse(
            _(
                "Unknown columns: %(unknown)s. The columns are: %(known)s.",
                unknown=", ".join(unknown),
                known=", ".join(COLUMNS),
            )
        )
    named = [name for name in columns if name]
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        _refuse(_("Columns named twice: %(names)s.", names=", ".join(twice)))
    for required in ("type", "partners"):
        if required not in named:
            _refuse(_("The file has no column “%(name)s”.", name=required))
    return columns


def read_upload(upload) -> tuple[bytes, str]:
    """An uploaded file's bytes (at most MAX_UPLOAD_BYTES: the request's own limit is a little wider) and its
    name; ValidationFailed on the field "file" for none or a larger one."""
    if upload is None or not hasattr(upload, "read"):
        _refuse(_("Choose the file."))
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    content = upload.read(limit + 1)
    if len(content) > limit:
        _refuse(_("The file is larger than %(n)s MB.", n=limit // (1024 * 1024)))
    return content, upload.filename or ""


def check(content: bytes, filename: str, *, by: User) -> ImportResult:
    """Read the file and check every row against the rules, as `by` sends it, writing nothing."""
    try:
        table = read_file(content, filename)
    except ValidationFailed as error:
        return ImportResult(rows=[], file_errors=[error.message])
    context = _Context(by)
    rows = [context.row(number, values) for number, values in table]
    _refuse_known_titles(rows)
    for row in rows:
        if row.data is None:  # a cell too long to read further
            continue
        refused = set(row.errors)
        try:
            services.validate_data(row.data, agreement=None, by=by)
        except ValidationFailed as error:
            _refuse_row(row, error, besides=refused)
        if row.parent_row is not None and row.parent_row.data is not None:
            _refuse_fields(row, _as_parent_problems(row), besides=refused)
    return ImportResult(rows=rows)


def _as_parent_problems(row: ImportedRow) -> dict[str, list[str]]:
    """What its parent's definition says of this child (an MoU refuses a child ending after it), the parent
    being a row above: asked of a stand-in with the row's values, named by its row (it has no reference yet)."""
    parent = row.parent_row.data
    stand_in = Agreement(
        type=parent.type,
        state=current_definitions()[parent.type].initial_state if parent.type in current_definitions() else "",
        reference=_("row %(n)s", n=row.parent_row.number),
        expires_on=parent.expires_on,
    )
    if not stand_in.state:
        return {}
    return parent_problems(stand_in, child_type=row.data.type, expires_on=row.data.expires_on)


def import_agreements(content: bytes, filename: str, *, by: User, reason: str) -> ImportResult:
    """Create every row's agreement, or raise ImportRefused (the request then writes none of them): a row
    refused by the check, or by a rule as it is created (someone retired a partner meanwhile)."""
    # One import at a time: two sent at once (two tabs, two colleagues) would each find the other's titles new.
    take_turns_on("agreements.import")
    result = check(content, filename, by=by)
    if not result.ok:
        raise ImportRefused(result)
    if any(row.signed_elsewhere for row in result.rows) and not (reason or "").strip():
        message = _("Say why the agreements with a signature date skip their review and negotiation.")
        raise ValidationFailed(message, {"reason": [message]})
    for row in result.rows:
        try:
            if row.parent_row is not None:  # made above: its rules as a parent are checked as this one is made
                row.data.parent_id = row.parent_row.agreement.id
            row.agreement = services.create_agreement(row.data, by=by)
            if row.signed_elsewhere:
                version = row.agreement.version
                engine.act(row.agreement, SIGNED_ELSEWHERE, by=by, comment=reason, expected_version=version)
        except ValidationFailed as error:
            _refuse_row(row, error)
            raise ImportRefused(result) from error
        try:
            _record_signatures(row, by)
        except DomainError as error:  # a signatory the signature stage refuses (WorkflowError among them)
            raise ImportRefused(result) from error
    return result


def _record_signatures(row: ImportedRow, by: User) -> None:
    """The row's signatories named and their signatures recorded on its signature date, as the signature stage
    records them one by one (workflow/services.py): the agreement then waits for its signed copy alone."""
    agreement = row.agreement
    for side, name, organization_id in row.signing:
        try:
            signatory = workflow_services.add_signatory(
                agreement,
                by=by,
                side=side,
                name=name,
                title=None,
                expected_version=agreement.version,
                organization_id=organization_id,
            )
            workflow_services.record_signature(
                agreement, signatory.id, by=by, signed_on=row.data.signed_on, expected_version=agreement.version
            )
        except DomainError as error:
            column = SIGNATORY_COLUMNS[0] if side == "ministry" else SIGNATORY_COLUMNS[1]
            for message in _messages(error):
                row.refuse(column, f"{name}: {message}")
            raise


class ImportRefused(ValidationFailed):
    """Some rows (or the file) were refused: nothing of the file is written; `result` says what and why, and
    so do its field errors ("file", and "row_4.partners" for row 4's partners: the API's problem+json)."""

    def __init__(self, result: ImportResult):
        field_errors = {
            f"row_{row.number}.{column}": messages for row in result.rows for column, messages in row.errors.items()
        }
        if result.file_errors:
            field_errors["file"] = result.file_errors
        super().__init__(_("Nothing was imported: correct the rows below and send the file again."), field_errors)
        self.result = result


def _refuse_row(row: ImportedRow, error: ValidationFailed, besides: set[str] = frozenset()) -> None:
    """The error's field errors under the file's columns (a refusal that names no field: under "type"), but
    for the columns in `besides` (refused already: said once)."""
    _refuse_fields(row, error.field_errors or {"type": [error.message]}, besides)


def _refuse_fields(row: ImportedRow, field_errors: dict[str, list[str]], besides: set[str] = frozenset()) -> None:
    for name, messages in field_errors.items():
        if _column_of(name) in besides:
            continue
        for message in messages:
            row.refuse(_column_of(name), message)


def _messages(error: DomainError) -> list[str]:
    field_errors = getattr(error, "field_errors", None) or {}
    return [message for messages in field_errors.values() for message in messages] or [error.message]


def agreements_named(ids_text: str, user: User) -> list[Agreement]:
    """The agreements an import made, as its page's address names them ("12,13,14"), those `user` may see,
    in that order; what is not an id is passed over."""
    ids = [int(part) for part in ids_text.split(",")[:MAX_ROWS] if part.isascii() and part.isdigit() and len(part) < 12]
    if not ids:
        return []
    found = {a.id: a for a in db.session.scalars(select(Agreement).where(Agreement.id.in_(ids)))}
    return [found[i] for i in dict.fromkeys(ids) if i in found and can(user, "agreement.view", found[i])]


def template_rows() -> tuple[list[str], list[list]]:
    """The template's heading and no rows: an example row would be imported by whoever forgot it."""
    return list(COLUMNS), []


# --- reading --------------------------------------------------------------------------------------------


def _refuse(message: str) -> None:
    raise ValidationFailed(message, {"file": [message]})


def _refuse_past_the_last_line() -> None:
    _refuse(_("The file goes on past row %(n)s: at most %(rows)s agreements a file.", n=MAX_LINES, rows=MAX_ROWS))


def _refuse_past_the_last_column(number: int, cells) -> None:
    # Counted at C speed, without copying the row: a workbook row is as wide as its last cell, an empty
    # (formatted) one at column 16,384 too.
    if cells.count(None) - cells[:MAX_COLUMNS].count(None) == max(len(cells) - MAX_COLUMNS, 0):
        return
    if any(str(cell).strip() for cell in cells[MAX_COLUMNS:] if cell is not None):
        _refuse(
            _(
                "Row %(row)s has a value past column %(n)s: only the first %(n)s columns are read. Empty it.",
                row=number,
                n=MAX_COLUMNS,
            )
        )


def _csv_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        _refuse(_("The file is not UTF-8 text. In Excel, save it as “CSV UTF-8”, or send the .xlsx file."))
    # A line longer than any agreement's (a row of every column at its longest): one line of 24 MB of commas
    # would be split into millions of cells before any of them was looked at.
    if _TOO_LONG_A_LINE.search(text):
        _refuse(_("A line of the file is longer than %(n)s characters: it is not a list of agreements.", n=MAX_LINE))
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    try:
        for number, cells in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1):
            if number > MAX_LINES:
                _refuse_past_the_last_line()
            _refuse_past_the_last_column(number, cells)
            yield number, [_cell(value) for value in cells[:MAX_COLUMNS]]
    except csv.Error:
        _refuse(_("The file could not be read as CSV."))


def _xlsx_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    """The first sheet's rows, read as they stream out of the workbook (its parts' sizes checked first), at
    most MAX_LINES of them: a sheet naming row 5,000,000 has openpyxl make every empty row before it."""
    from openpyxl import load_workbook

    unreadable = _("The file could not be read as an Excel workbook (.xlsx).")
    # Whatever openpyxl or the XML parser under it raises on a workbook it cannot read (a truncated sheet's
    # ParseError, a missing part's KeyError, …) means the same to the person who sent it; our own refusals
    # (ValidationFailed) pass through.
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            bounded_members(archive)
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
    except ValidationFailed:
        raise
    except Exception:
        _refuse(unreadable)
    try:
        if (sheet.max_row or 0) > MAX_LINES:
            _refuse_past_the_last_line()
        # Each row read to its last cell, so that a value past the columns read is refused rather than left
        # unread without a word; not to the width the sheet declares (A1:XFD5000 would make every row 16,384
        # cells wide). A cell's column is at most ZZZ (18,278) or its row's count of cells: at worst a few
        # seconds for the MAX_LINES rows read (bench: 5,000 rows each with an empty cell at ZZZ).
        sheet.reset_dimensions()
        rows = sheet.iter_rows(max_row=MAX_LINES + 1, values_only=True)
        for number, cells in enumerate(rows, start=1):
            _refuse_past_the_last_column(number, cells)
            values = [_cell(value) for value in cells[:MAX_COLUMNS]]
            if number > MAX_LINES and any(values):
                _refuse_past_the_last_line()
            if number <= MAX_LINES:
                yield number, values
    except ValidationFailed:
        raise
    except Exception:
        _refuse(unreadable)
    finally:
        workbook.close()


def _cell(value) -> str:
    """A cell as text: a date a spreadsheet stored as a date written ISO, every text storable."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return storable(str(value)).strip()


# --- a row ---------------------------------------------------------------------------------------------


class _Context:
    """What every row is read against, loaded once: organisations by each name they go by, types by id
    and by label; the agreements `by` may see, by reference."""

    def __init__(self, by: User):
        self.by = by
        self.organizations: dict[str, list[Organization]] = {}
        for organization in db.session.scalars(select(Organization)):
            for name in set(fold(part) for part in _names_of(organization)):
                if name:
                    self.organizations.setdefault(name, []).append(organization)
        self.owners: dict[str, int | None] = {}
        self.rows_by_title: dict[str, ImportedRow] = {}  # the rows read so far, by each of their titles
        self.types = {fold(key): key for key in AGREEMENT_TYPES}
        from flask_babel import force_locale

        for language in TITLE_LANGUAGES:
            with force_locale(language):
                self.types.update({fold(str(label)): key for key, label in AGREEMENT_TYPES.items()})

    def row(self, number: int, values: dict[str, str]) -> ImportedRow:
        titles = {language: one_line(values.get(f"title_{language}") or "") for language in TITLE_LANGUAGES}
        row = ImportedRow(number=number, titles={language: title for language, title in titles.items() if title})
        for column, value in values.items():
            if len(value) > MAX_CELL:
                row.refuse(column, _("At most %(n)s characters.", n=MAX_CELL))
        if row.errors:
            return row
        kind = self.types.get(fold(values.get("type")))
        if kind is None:
            row.refuse(
                "type",
                _(
                    "Unknown type “%(value)s”: one of %(types)s.",
                    value=values.get("type") or "",
                    types=", ".join(AGREEMENT_TYPES),
                ),
            )
        elif kind == "amendment":
            row.refuse("type", _("An amendment is proposed from the agreement it amends, not imported."))
        parties = []
        for column, party_role in PARTY_COLUMNS.items():
            names = self._organization_names(values.get(column, ""))
            row.party_names[column] = names
            for name in names:
                found = self.organizations.get(fold(name), [])
                if not found:
                    row.refuse(
                        column,
                        _(
                            "No organisation is named “%(name)s”: create it first, or write its name as Sharaka "
                            "has it.",
                            name=name,
                        ),
                    )
                elif len({organization.id for organization in found}) > 1:
                    row.refuse(column, _("“%(name)s” names several organisations: write the full name.", name=name))
                else:
                    parties.append((found[0].id, party_role))
        row.signing = _signing(row, values, [org for org, role in parties if role == PARTNER_PARTY])
        owner_id = self._owner(row, values.get("owner", ""))
        parent_id = self._parent(row, values.get("parent", ""))
        dates = {column: _date(row, column, values.get(column, "")) for column in DATE_COLUMNS}
        numbers = {column: _number(row, column, values.get(column, "")) for column in NUMBER_COLUMNS}
        renewal = values.get("renewal_terms", "") or "none"
        if renewal not in RENEWAL_TERMS:
            row.refuse("renewal_terms", _("One of %(terms)s.", terms=", ".join(RENEWAL_TERMS)))
        for title in row.titles.values():
            self.rows_by_title.setdefault(fold(title), row)
        # Made even for a row refused above, so that the form's rules say what else is wrong with it (each
        # column refused once: a value that could not be read is left out, not reported twice).
        row.data = services.AgreementData(
            type=kind or "",
            title_ar=values.get("title_ar"),
            title_fr=values.get("title_fr"),
            title_en=values.get("title_en"),
            summary_ar=values.get("summary_ar"),
            summary_fr=values.get("summary_fr"),
            summary_en=values.get("summary_en"),
            notes=values.get("notes"),
            owner_id=owner_id,
            parent_id=parent_id,
            parties=parties,
            renewal_terms=renewal,
            notice_unit=values.get("notice_unit") or None,
            **dates,
            **numbers,
        )
        return row

    def _organization_names(self, value: str) -> list[str]:
        """The organisations a cell names: the whole cell when it is one's name ("Wilaya et Région de
        l'Oriental ; Province de Nador"), else its names separated by ";"."""
        whole = one_line(value)
        return [whole] if whole and fold(whole) in self.organizations else _split_names(value)

    def _owner(self, row: ImportedRow, value: str) -> int | None:
        if not value:
            return None
        address = normalize_email(value)
        if address not in self.owners:  # a portfolio has a few owners for hundreds of rows: each read once
            self.owners[address] = db.session.scalar(select(User.id).where(User.email == address))
        if self.owners[address] is None:
            row.refuse("owner", _("No account has the address %(address)s.", address=value))
        return self.owners[address]

    def _parent(self, row: ImportedRow, value: str) -> int | None:
        """An agreement in Sharaka by its reference (one the importer may not see is none), else a row above by
        one of its titles (row.parent_row)."""
        if not value:
            return None
        parent_id = db.session.scalar(
            select(Agreement.id).where(Agreement.reference == value.upper(), visible_agreements_clause(self.by))
        )
        if parent_id is None:
            row.parent_row = self.rows_by_title.get(fold(one_line(value)))
            if row.parent_row is None:
                row.refuse(
                    "parent",
                    _(
                        "No agreement has the reference %(reference)s, and no row above has this title.",
                        reference=value,
                    ),
                )
        return parent_id


def _names_of(organization: Organization) -> list[str]:
    return [organization.name_ar, organization.name_fr, organization.name_en, organization.acronym, organization.slug]


def _signing(row: ImportedRow, values: dict[str, str], partner_ids: list[int]) -> list[tuple[str, str, int | None]]:
    """Who signed, from the signatory columns: the ministry's, then one for each partner in its column's order."""
    ministry = _split_names(values.get("ministry_signatory", ""))
    partners = _split_names(values.get("partner_signatories", ""))
    if not (ministry or partners):
        return []
    if not values.get("signed_on"):
        row.refuse("signed_on", _("Signatories are recorded with their signature date: give it."))
    if partners and len(partners) != len(row.party_names.get("partners", [])):
        row.refuse("partner_signatories", _("One signatory per partner, in the order of the partners column."))
    for column, names in zip(SIGNATORY_COLUMNS, (ministry, partners)):
        if any(len(name) > 200 for name in names):
            row.refuse(column, _("Give the signatory's name (at most 200 characters)."))
    if len(ministry) + len(partners) > workflow_services.MAX_SIGNATORIES:
        message = _("An agreement has at most %(n)s signatories.", n=workflow_services.MAX_SIGNATORIES)
        row.refuse(SIGNATORY_COLUMNS[0] if ministry else SIGNATORY_COLUMNS[1], message)
    return [("ministry", name, None) for name in ministry] + [
        ("partner", name, organization_id) for name, organization_id in zip(partners, partner_ids)
    ]


def _split_names(value: str) -> list[str]:
    """Names separated by ";" (or line breaks), each as kept: without the invisible marks a paste leaves at
    its ends."""
    names = [one_line(name) for name in value.replace("\n", ";").split(";")]
    return [name for name in names if name]


def _date(row: ImportedRow, column: str, value: str) -> date | None:
    """ISO (2025-07-15, as a spreadsheet's date cell is read) or day first (15/07/2025), as Morocco writes it;
    in Arabic-Indic digits too, as the forms read them."""
    if not value:
        return None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(western_digits(value), pattern).date()
        except ValueError:
            continue
    row.refuse(column, _("“%(value)s” is not a date: write 2025-07-15 or 15/07/2025.", value=value))
    return None


def _number(row: ImportedRow, column: str, value: str) -> int | None:
    """A whole number, in Arabic-Indic digits too, as the forms read them."""
    value = western_digits(value)
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 4:
        row.refuse(column, _("A whole number of at most four digits."))
        return None
    return int(value)


def _column_of(field_name: str) -> str:
    """The file's column for a form field the rules name."""
    return {"owner_id": "owner", "parent_id": "parent", "signing_event_id": "type"}.get(field_name, field_name)


def _refuse_known_titles(rows: list[ImportedRow]) -> None:
    """A title already in Sharaka, or twice in the file, in the same language: the same file sent twice (or an
    agreement entered by hand meanwhile) would otherwise be there twice. Titles compared as the search folds
    them: "IMP MOU", "Imp MoU" and a title typed with a non-breaking space or decomposed accents are one."""
    wanted: dict[str, dict[str, list[ImportedRow]]] = {}  # language -> folded title -> the rows giving it
    for language in TITLE_LANGUAGES:
        by_title = wanted[language] = {}
        for row in rows:
            title = fold(row.titles.get(language))
            if title:
                by_title.setdefault(title, []).append(row)
        for same in by_title.values():
            for row in same[1:]:
                row.refuse(f"title_{language}", _("Row %(n)s has this title too.", n=same[0].number))
    if not any(wanted.values()):
        return
    # The portfolio's stored titles, read once and folded here: SQL's lower() folds neither accents nor (SQLite)
    # any letter past ASCII.
    columns = [getattr(Agreement, f"title_{language}") for language in TITLE_LANGUAGES]
    for reference, *titles in db.session.execute(select(Agreement.reference, *columns)):
        for language, title in zip(TITLE_LANGUAGES, titles):
            for row in wanted[language].get(fold(title), []) if title else []:
                row.refuse(f"title_{language}", _("%(reference)s has this title already.", reference=reference))
