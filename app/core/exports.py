"""Tables as downloads: CSV and XLSX bytes from column headings and rows, and the response that sends them.

Cells are plain values: text, numbers, dates (datetime.date) or None. Both writers
keep what a spreadsheet would otherwise run as a formula (a cell starting with
= + - @, a tab or a carriage return) as inert text, because exported titles and
names are typed by users, partners included.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import re
import threading
from datetime import date, datetime
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from flask import Response, stream_with_context

from app.core import clock
from app.core.i18n import text_direction

if TYPE_CHECKING:
    from openpyxl.styles import Font

# openpyxl is imported where a workbook is written: it weighs ~7 MB in every web worker that never
# writes one (long lists are written by the scheduler process).

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_TYPE = "text/csv"  # werkzeug adds "; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A file's type by the export's format.
STORED_TYPES = {"csv": CSV_TYPE, "xlsx": XLSX_TYPE}
MIN_WIDTH, MAX_WIDTH = 8, 60
DATE_FORMAT = "yyyy-mm-dd"
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
STREAM_ROWS = 500  # CSV rows per piece of a streamed download


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


def csv_stream(headings: Sequence[str], rows: Iterable[Sequence]) -> Iterator[bytes]:
    """UTF-8 CSV with a byte-order mark (so Excel reads Arabic right) and CRLF line ends, given
    out STREAM_ROWS rows at a time: a large export never sits whole in a worker's memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([_csv_cell(h) for h in headings])
    for index, row in enumerate(rows, start=1):
        writer.writerow([_csv_cell(v) for v in row])
        if index % STREAM_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_table(out, headings: Sequence[str], rows: Iterable[Sequence], *, fmt: str, title: str) -> None:
    """The table written to the binary file `out` as `fmt` ("csv" or "xlsx"), read as it is written: what
    the scheduler stores for a list too long for the request."""
    if fmt == "xlsx":
        write_xlsx(out, headings, rows, title=title)
    elif fmt == "csv":
        for piece in csv_stream(headings, rows):
            out.write(piece)
    else:
        raise ValueError(f"unknown export format {fmt!r}")


def csv_bytes(headings: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """The whole CSV at once (csv_stream's pieces joined)."""
    return b"".join(csv_stream(headings, rows))


def streamed_pieces(query) -> Iterator[Sequence]:
    """The rows of `query` (plain columns), in lists of at most STREAM_ROWS, read as they are asked for: what
    each piece needs besides (its agreements' parties, say) is read once a piece. A generator, as
    `streamed`."""
    from app.extensions import db

    yield from db.session.execute(query.execution_options(yield_per=STREAM_ROWS)).partitions()


def streamed(query) -> Iterator:
    """The entities of `query` read STREAM_ROWS at a time (with their eager loads per batch).

    A generator: the query runs when the download starts to stream, in the session of the
    context stream_with_context restores (the request's own session is closed by then)."""
    from app.extensions import db

    yield from db.session.scalars(query.execution_options(yield_per=STREAM_ROWS))


def count_rows(query) -> int:
    """How many rows `query` gives (one COUNT, its ORDER BY dropped)."""
    from sqlalchemy import func, select

    from app.extensions import db

    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _display_length(value) -> int:
    if value is None:
        return 0
    if isinstance(value, date):
        return 10
    return max((len(line) for line in str(value).splitlines()), default=0)


WIDTH_SAMPLE = 200  # rows read ahead to size the columns (a streamed sheet cannot resize them later)


def xlsx_bytes(headings: Sequence[str], rows: Iterable[Sequence], *, title: str) -> bytes:
    """The whole workbook in memory (a short list, inside the request)."""
    buffer = io.BytesIO()
    write_xlsx(buffer, headings, rows, title=title)
    return buffer.getvalue()


def write_xlsx(out, headings: Sequence[str], rows: Iterable[Sequence], *, title: str) -> None:
    """One worksheet written row by row into the file `out` (memory stays flat however long the list):
    bold frozen header row, real date cells, columns as wide as the first rows' text (within limits)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_sheet_title(title))
    rows = iter(rows)
    ahead = [_clean_row(row) for row in itertools.islice(rows, WIDTH_SAMPLE)]
    widths = [_display_length(h) for h in headings]
    for row in ahead:
        for index, value in enumerate(row[: len(widths)]):
            widths[index] = max(widths[index], _display_length(value))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(max(width + 2, MIN_WIDTH), MAX_WIDTH)
    sheet.freeze_panes = "A2"
    # An Arabic sheet reads from the right, as the page does: column A on the right.
    sheet.sheet_view.rightToLeft = text_direction() == "rtl"
    bold = Font(bold=True)
    with sheet_files_kept_by_us():  # the sheet's file is made at its first row
        sheet.append([_styled(sheet, str(h), font=bold) for h in headings])
    try:
        for row in itertools.chain(ahead, (_clean_row(row) for row in rows)):
            sheet.append([_styled(sheet, value) for value in row])
    except BaseException:
        # Rows that stop half-way (a process asked to stop, a failed read): the sheet's open writer is
        # ended here, or the interpreter ends it at exit with a traceback in the log.
        with contextlib.suppress(Exception):
            sheet.close()
        raise
    workbook.save(out)


def _clean_row(row: Sequence) -> list:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cells = []
    for value in row:
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, str):
            # XML 1.0 cannot carry control characters: openpyxl would refuse the whole file.
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cells.append(value)
    return cells


def _styled(sheet, value, *, font: Font | None = None):
    from openpyxl.cell import WriteOnlyCell

    if font is None and not isinstance(value, (date, str)):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    if font is not None:
        cell.font = font
    if isinstance(value, date):
        cell.number_format = DATE_FORMAT
    elif isinstance(value, str) and value.startswith(FORMULA_STARTS):
        # Stored as text, never as a formula; the quote prefix keeps it text if the cell is edited.
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


# tempfile.tempdir is the process's: two threads writing workbooks at once must not swap it under each other.
_TEMPDIR_TURNS = threading.Lock()


@contextlib.contextmanager
def sheet_files_kept_by_us():
    """openpyxl writes a write-only sheet in a temporary file of its own, in the system's temporary folder,
    removed once the workbook is saved: a process killed meanwhile (an export's writer, SIGKILLed) left its
    rows there for good, names and changes included. Made while this block runs, it lands in UPLOAD_DIR
    instead, where the daily sweep removes what a kill leaves (storage.TEMPORARY_PREFIXES). (Outside an app,
    which has no UPLOAD_DIR, the system's folder stays.)"""
    import tempfile

    from flask import has_app_context

    from app.core.storage import temporary_folder

    if not has_app_context():
        yield
        return
    folder = str(temporary_folder())
    with _TEMPDIR_TURNS:
        before, tempfile.tempdir = tempfile.tempdir, folder
        try:
            yield
        finally:
            tempfile.tempdir = before


def _sheet_title(title: str) -> str:
    # Excel's rules: at most 31 characters, none of []:*?/\ .
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return _SHEET_TITLE_FORBIDDEN.sub(" ", ILLEGAL_CHARACTERS_RE.sub("", title)).strip()[:31] or "Sheet"


def download(
    headings: Sequence[str], rows: Iterable[Sequence], *, fmt: str, name: str, title: str, today: date | None = None
) -> Response:
    """The table as an attachment `sharaka-<name>-<date>.<fmt>` that no cache keeps."""
    today = today or clock.today()
    body: bytes | Iterator[bytes]
    if fmt == "xlsx":
        body, mimetype = xlsx_bytes(headings, rows, title=title), XLSX_TYPE
    elif fmt == "csv":
        # Streamed while the rows are read (a few hundred at a time): the first bytes leave at
        # once and the worker holds one batch (a list longer than EXPORT_INLINE_MAX_ROWS is written
        # by the scheduler instead: a sync worker streaming for half a minute is killed mid-file).
        body, mimetype = stream_with_context(csv_stream(headings, rows)), CSV_TYPE
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="sharaka-{name}-{today.isoformat()}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
