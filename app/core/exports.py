"""Tables as downloads: CSV and XLSX bytes from column headings and rows, and the response that sends them.

Cells are plain values: text, numbers, dates (datetime.date) or None. Both writers
keep what a spreadsheet would otherwise run as a formula (a cell starting with
= + - @, a tab or a carriage return) as inert text, because exported titles and
names are typed by users, partners included.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from typing import Iterable, Sequence

from flask import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_TYPE = "text/csv"  # werkzeug adds "; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIN_WIDTH, MAX_WIDTH = 8, 60
DATE_FORMAT = "yyyy-mm-dd"
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def neutralised(value: str) -> str:
    """A text that a spreadsheet would read as a formula, made inert with a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return neutralised(str(value))


def csv_bytes(headings: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel reads Arabic right) and CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_cell(h) for h in headings])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _display_length(value) -> int:
    if value is None:
        return 0
    if isinstance(value, date):
        return 10
    return max((len(line) for line in str(value).splitlines()), default=0)


def xlsx_bytes(headings: Sequence[str], rows: Iterable[Sequence], *, title: str) -> bytes:
    """One worksheet: bold frozen header row, real date cells, columns as wide as their text (within limits)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _sheet_title(title)
    sheet.append([str(h) for h in headings])
    widths = [_display_length(h) for h in headings]
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            if isinstance(value, datetime):
                value = value.date()
            if isinstance(value, str):
                # XML 1.0 cannot carry control characters: openpyxl would refuse the whole file.
                value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cells.append(value)
            if index < len(widths):
                widths[index] = max(widths[index], _display_length(value))
        sheet.append(cells)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, date):
                cell.number_format = DATE_FORMAT
            elif isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
                # Stored as text, never as a formula; the quote prefix keeps it text if the cell is edited.
                cell.data_type = "s"
                cell.quotePrefix = True
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(max(width + 2, MIN_WIDTH), MAX_WIDTH)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _sheet_title(title: str) -> str:
    # Excel's rules: at most 31 characters, none of []:*?/\ .
    return _SHEET_TITLE_FORBIDDEN.sub(" ", ILLEGAL_CHARACTERS_RE.sub("", title)).strip()[:31] or "Sheet"


def download(headings: Sequence[str], rows: Iterable[Sequence], *, fmt: str, name: str, title: str,
             today: date | None = None) -> Response:
    """The table as an attachment `sharaka-<name>-<date>.<fmt>` that no cache keeps."""
    today = today or date.today()
    if fmt == "xlsx":
        body, mimetype = xlsx_bytes(headings, rows, title=title), XLSX_TYPE
    elif fmt == "csv":
        body, mimetype = csv_bytes(headings, rows), CSV_TYPE
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="sharaka-{name}-{today.isoformat()}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
