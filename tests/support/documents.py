"""DOCX, ODT and hostile files built at test time for the comparison tests."""

from __future__ import annotations

import io
import zipfile


def docx_bytes(blocks: list[tuple[str, str]]) -> bytes:
    """blocks: (style, text) with style "h1", "h2" or "p"."""
    import docx

    document = docx.Document()
    for style, text in blocks:
        if style.startswith("h"):
            document.add_heading(text, level=int(style[1]))
        else:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def odt_bytes(blocks: list[tuple[str, str]]) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    for style, text in blocks:
        element = H(outlinelevel=int(style[1]), text=text) if style.startswith("h") else P(text=text)
        document.text.addElement(element)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def docx_bomb(unpacked_mb: int = 60) -> bytes:
    """A DOCX-looking ZIP whose document.xml inflates to `unpacked_mb` MB of spaces."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=False) as member:
            chunk = b" " * (1024 * 1024)
            for _ in range(unpacked_mb):
                member.write(chunk)
    return out.getvalue()


def corrupt_docx() -> bytes:
    """A DOCX whose main part is not XML."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "this is not < xml at all")
    return out.getvalue()
