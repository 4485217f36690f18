"""Text of a DOCX, ODT or PDF file as paragraphs, within fixed bounds.

Office and ODF files are ZIPs: they pass the same bounded-ZIP checks as an upload
(`app.core.storage`) before any library opens them, and only the main XML part's
declared size is allowed past EXTRACT_MAX_XML_BYTES. PDFs are read page by page up
to EXTRACT_MAX_PAGES (pypdf bounds each stream's decompression itself). Past
EXTRACT_MAX_PARAGRAPHS or EXTRACT_MAX_CHARS the text is cut and marked truncated.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from app.core.storage import UNREADABLE_ZIP, ArchiveTooLarge, bounded_members, check_directory_size
from app.core.text import trimmed

# Bump when the rules below change: cached texts from older rules are extracted again.
# 2: a paragraph is kept as any typed text (text.trimmed), without direction overrides.
EXTRACTOR_VERSION = 2

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
PDF = "application/pdf"
COMPARABLE_TYPES = (DOCX, ODT, PDF)
# The same, as an upload's type is named (app/core/storage.FILE_TYPES): what a draft text may be.
COMPARABLE_LABELS = ("DOCX", "ODT", "PDF")

# A line that opens a section in agreements written in any of the three languages.
SECTION_START = re.compile(
    r"^\s*(article|chapitre|chapter|titre|section|annexe|annex|préambule|preamble|المادة|الفصل|الباب|الملحق|ديباجة)\b",
    re.IGNORECASE,
)
SPACES = re.compile(r"[ \t\u00a0\u200b]+")


@dataclass
class Extracted:
    status: str  # ok | truncated | no_text | unreadable | too_large | unsupported
    paragraphs: list[list] = field(default_factory=list)  # [[level, text], ...]


class _Collector:
    def __init__(self) -> None:
        config = current_app.config
        self.max_paragraphs = config["EXTRACT_MAX_PARAGRAPHS"]
        self.max_chars = config["EXTRACT_MAX_CHARS"]
        self.paragraphs: list[list] = []
        self.chars = 0
        self.truncated = False

    def add(self, text: str, level: int = 0) -> bool:
        """Keep one paragraph; False once the bounds are reached (the caller stops reading)."""
        # As a typed text is kept: an override in a version turned what it showed around on the comparison
        # page, where a counterparty's change is checked ("0001" read "1000").
        text = SPACES.sub(" ", trimmed(text)).strip()
        if not text:
            return True
        if len(self.paragraphs) >= self.max_paragraphs or self.chars + len(text) > self.max_chars:
            self.truncated = True
            return False
        if level == 0 and len(text) < 120 and SECTION_START.match(text):
            level = 2
        self.paragraphs.append([level, text])
        self.chars += len(text)
        return True

    def result(self) -> Extracted:
        if not self.paragraphs:
            return Extracted("no_text")
        return Extracted("truncated" if self.truncated else "ok", self.paragraphs)


def extract(path: Path, content_type: str) -> Extracted:
    """The paragraphs of the file at `path`; never raises for a damaged or hostile file. Read in a child
    process given EXTRACT_SECONDS and EXTRACT_MEMORY_MB: a 6 KB PDF whose pages share one stream of 200,000
    drawing operators, or a DOCX of 30,000 styles, had held a web worker for minutes (killed at gunicorn's
    30 s, and read again from nothing at each try); past the bounds the file is "too large", and kept so."""
    if content_type not in COMPARABLE_TYPES:
        return Extracted("unsupported")
    config = current_app.config
    return _bounded(
        _extract_here, path, content_type, seconds=config["EXTRACT_SECONDS"], memory_mb=config["EXTRACT_MEMORY_MB"]
    )


def _bounded(function, *args, seconds: float, memory_mb: int) -> Extracted:
    """`function(*args)` in a forked child, its address space capped `memory_mb` above the parent's, killed
    after `seconds`: its answer, or "too_large" when it ran out of either."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, memory_mb, function, args), daemon=True)
    child.start()
    sender.close()
    try:
        if receiver.poll(seconds):
            status, paragraphs = receiver.recv()
            return Extracted(status, paragraphs)
        current_app.logger.warning("text extraction stopped after %s s: %s", seconds, args[0])
        return Extracted("too_large")
    except EOFError:  # the child died without a word (out of memory, killed)
        return Extracted("too_large")
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()


def _child(sender, memory_mb: int, function, args) -> None:
    import os
    import resource

    try:
        try:
            with open("/proc/self/statm") as statm:
                used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limit = used + memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (OSError, ValueError):  # not Linux: the time bound still holds
            pass
        try:
            result = function(*args)
        except MemoryError:
            result = Extracted("too_large")
        sender.send((result.status, result.paragraphs))
    except BaseException:  # noqa: BLE001 - the parent reads silence as "too large"
        pass
    finally:
        os._exit(0)  # nothing of the parent's (database connections, files) is closed or flushed here


def _extract_here(path: Path, content_type: str) -> Extracted:
    try:
        if content_type == PDF:
            return _pdf(path)
        _check_zip(path, "word/document.xml" if content_type == DOCX else "content.xml")
        return _docx(path) if content_type == DOCX else _odt(path)
    except (ArchiveTooLarge, MemoryError):
        return Extracted("too_large")
    except Exception:  # noqa: BLE001 - any library error on a damaged file means "cannot be read"
        current_app.logger.info("text extraction failed for %s", path.name, exc_info=True)
        return Extracted("unreadable")


def _check_zip(path: Path, main_part: str) -> None:
    try:
        check_directory_size(path)
        with zipfile.ZipFile(path) as archive:
            bounded_members(archive)
            info = archive.getinfo(main_part)
    except UNREADABLE_ZIP as error:
        raise ValueError("not a readable archive") from error
    if info.file_size > current_app.config["EXTRACT_MAX_XML_BYTES"]:
        raise ArchiveTooLarge.refused()


def _heading_level(style_name: str) -> int:
    name = (style_name or "").lower()
    if name == "title" or name.startswith("titre") and not name[5:].strip():
        return 1
    match = re.match(r"(heading|titre|título|عنوان)\s*(\d)", name)
    return int(match.group(2)) if match else 0


def _docx(path: Path) -> Extracted:
    import docx
    from docx.oxml.ns import qn
    from docx.table import Table

    document = docx.Document(str(path))
    collector = _Collector()

    def paragraphs_of(container):
        for block in container.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    for cell in row.cells:
                        yield from paragraphs_of(cell)
            else:
                yield block

    # Each style's name read once: python-docx looks a paragraph's style up in the whole style sheet, which for a
    # sheet of 30,000 styles made each paragraph cost a search.
    names: dict[str, str] = {}
    for style in document.styles.element.findall(qn("w:style")):
        style_id, name = style.get(qn("w:styleId")), style.find(qn("w:name"))
        if style_id and name is not None and style_id not in names:
            names[style_id] = name.get(qn("w:val")) or ""
    for paragraph in paragraphs_of(document):
        style_id = paragraph._p.style  # the paragraph's own w:pStyle value, without a look-up
        if not collector.add(paragraph.text, _heading_level(names.get(style_id or "", ""))):
            break
    return collector.result()


def _odt(path: Path) -> Extracted:
    from odf import teletype
    from odf.namespaces import TEXTNS
    from odf.opendocument import load

    document = load(str(path))
    collector = _Collector()
    # Walk the body in document order without recursion (a deeply nested file must not blow the stack).
    stack = [document.text]
    while stack:
        node = stack.pop()
        qname = getattr(node, "qname", None)
        if qname == (TEXTNS, "h"):
            level = node.getAttribute("outlinelevel")
            if not collector.add(teletype.extractText(node), int(level) if level and level.isdecimal() else 1):
                break
            continue
        if qname == (TEXTNS, "p"):
            if not collector.add(teletype.extractText(node)):
                break
            continue
        stack.extend(reversed(getattr(node, "childNodes", [])))
    return collector.result()


def _pdf(path: Path) -> Extracted:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        return Extracted("unreadable")
    collector = _Collector()
    pages = reader.pages
    if len(pages) > current_app.config["EXTRACT_MAX_PAGES"]:
        collector.truncated = True
    for index in range(min(len(pages), current_app.config["EXTRACT_MAX_PAGES"])):
        text = pages[index].extract_text() or ""
        # A PDF has lines, not paragraphs: each line stands for one.
        if not all(collector.add(line) for line in text.splitlines()):
            break
    return collector.result()
