"""File storage behind one small interface: content-addressed by SHA-256.

Files are stored under UPLOAD_DIR/ab/abcdef… and never under the name the user
gave (which is kept in the database for display only). Types are checked by
content, not by extension. Downloads go through routes that check permissions.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
import tempfile
import time
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote as url_quote

from flask import current_app
from sqlalchemy import BigInteger, String, select
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import unit_of_work
from app.core.errors import StorageUnavailable, ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import UTCDateTime, utcnow
from app.core.storage_backends import CHUNK, FolderBackend, backend, check_folder_writable, make_backend, sha256_of
from app.extensions import db

log = logging.getLogger("sharaka.storage")


class StoredFile(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """One stored content, whatever name or names it was uploaded under."""

    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# The labels sniff() gives, which ALLOWED_UPLOAD_TYPES chooses among.
FILE_TYPES = ("PDF", "DOCX", "XLSX", "PPTX", "ODT", "ODS", "PNG", "JPEG", "ZIP")


@dataclass(frozen=True)
class FileKind:
    content_type: str
    label: str


def sniff(head: bytes, path: Path) -> FileKind | None:
    """Tell the type from the bytes. Office files are ZIPs: look inside for their markers."""
    if head.startswith(b"%PDF-"):
        return FileKind("application/pdf", "PDF")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileKind("image/png", "PNG")
    if head.startswith(b"\xff\xd8\xff"):
        return FileKind("image/jpeg", "JPEG")
    if head.startswith(b"PK\x03\x04"):
        try:
            check_directory_size(path)
            with zipfile.ZipFile(path) as archive:
                names = set(bounded_members(archive))
                if "mimetype" in names:
                    mimetype = read_member(archive, "mimetype", limit=200).decode("ascii", "replace").strip()
                    if mimetype == "application/vnd.oasis.opendocument.text":
                        return FileKind(mimetype, "ODT")
                    if mimetype == "application/vnd.oasis.opendocument.spreadsheet":
                        return FileKind(mimetype, "ODS")
                if "[Content_Types].xml" in names:
                    if any(n.startswith("word/") for n in names):
                        return FileKind(
                            "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "DOCX"
                        )
                    if any(n.startswith("xl/") for n in names):
                        return FileKind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "XLSX")
                    if any(n.startswith("ppt/") for n in names):
                        return FileKind(
                            "application/vnd.openxmlformats-officedocument.presentationml.presentation", "PPTX"
                        )
                return FileKind("application/zip", "ZIP")
        except UNREADABLE_ZIP:
            return None  # not a file we can recognise: the caller refuses it as "type not accepted"
    return None


class ArchiveTooLarge(ValidationFailed):
    """A ZIP (or an Office/ODF file, which is one) that would inflate past the configured bounds."""

    @classmethod
    def refused(cls) -> ArchiveTooLarge:
        message = _(
            "This archive expands to more than the server accepts (too many files or too much data once unpacked)."
        )
        return cls(message, {"file": [message]})


def check_directory_size(path: Path) -> None:
    """Refuse a ZIP whose central directory alone is huge, before zipfile turns every entry of it
    into an object (half a million empty entries fit in an upload and cost far more in memory).
    Read from the end-of-central-directory record; ZIP64 counts are refused, no Office file needs them."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - EOCD_SEARCH))
        tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise zipfile.BadZipFile("no end of central directory")
    _sig, _disk, _cd_disk, _here, entries, directory_bytes, _offset, _comment = struct.unpack(
        "<4s4H2LH", tail[at : at + 22]
    )
    if entries > current_app.config["ZIP_MAX_MEMBERS"] or directory_bytes > ZIP_MAX_DIRECTORY_BYTES:
        raise ArchiveTooLarge.refused()


def bounded_members(archive: zipfile.ZipFile) -> list[str]:
    """The member names of `archive`, once its declared sizes are within bounds.

    Every place that opens a ZIP goes through here first: a small upload must never
    make a worker inflate gigabytes. The declared sizes are checked here; the reads
    themselves are bounded again in `read_member`, since a crafted entry can lie.
    """
    config = current_app.config
    infos = archive.infolist()
    if len(infos) > config["ZIP_MAX_MEMBERS"]:
        raise ArchiveTooLarge.refused()
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if (
            info.file_size > config["ZIP_MAX_MEMBER_BYTES"]
            or total > config["ZIP_MAX_TOTAL_BYTES"]
            or (info.file_size > ZIP_RATIO_FLOOR and ratio > config["ZIP_MAX_RATIO"])
        ):
            raise ArchiveTooLarge.refused()
    return [info.filename for info in infos]


def read_member(archive: zipfile.ZipFile, name: str, *, limit: int) -> bytes:
    """Read at most `limit` bytes of one member, whatever its header claims."""
    with archive.open(name) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        message = _("A part of this file is larger than expected.")
        raise ArchiveTooLarge(message, {"file": [message]})
    return data


# What zipfile raises on a damaged, truncated, encrypted or exotically compressed archive (the last two
# are RuntimeErrors: a compression it cannot read raises a subclass of it): all of them mean "not a file
# we accept".
UNREADABLE_ZIP = (zipfile.BadZipFile, OSError, KeyError, EOFError, RuntimeError, ValueError)
# The end-of-central-directory record sits in the last 22 bytes plus a comment of at most 64 KiB.
EOCD_SEARCH = 22 + 65535
ZIP_MAX_DIRECTORY_BYTES = 8 * 1024 * 1024
# Small members compress very well (a run of spaces in XML); the ratio only matters past this size.
ZIP_RATIO_FLOOR = 1024 * 1024


def allowed_labels() -> list[str]:
    return list(current_app.config["ALLOWED_UPLOAD_TYPES"])


def store(stream, *, field: str = "file", only: tuple[str, ...] | None = None) -> StoredFile:
    """Save an uploaded stream; return its StoredFile (the same row for the same bytes). `only`: the types
    (FILE_TYPES' labels) this upload may be, among those allowed (a draft text: a text to compare). Storage
    that takes no file (the disk full, read-only, not a folder) refuses with StorageUnavailable (503): the
    person is told to try later, and nothing is kept."""
    try:
        return _store(stream, field, only)
    except OSError as error:
        log.error("storage refused a file: %s", error)
        raise StorageUnavailable(
            _(
                "Files cannot be stored just now: the server's storage is full or out of service. "
                "Nothing was saved; try again later."
            )
        ) from None


def store_each(uploads, *, field: str = "files"):
    """(upload, its StoredFile) for each of several uploads; a refusal names the file it is about (of ten
    files in a hand-in, "this type of file is not accepted" had left the partner to guess which)."""
    for upload in uploads:
        try:
            yield upload, store(upload.stream, field=field)
        except ValidationFailed as refused:
            if len(uploads) < 2:
                raise
            name = clean_filename(upload.filename or "", "file")
            messages = {key: [f"{name}: {text}" for text in texts] for key, texts in refused.field_errors.items()}
            raise type(refused)(f"{name}: {refused.message}", messages) from None


def _store(stream, field: str, only: tuple[str, ...] | None = None) -> StoredFile:
    root = temporary_folder()
    limit = current_app.config.get("MAX_UPLOAD_BYTES") or current_app.config.get("MAX_CONTENT_LENGTH")
    digest, size = hashlib.sha256(), 0
    handle, temp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    temp_path = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if limit and size > limit:
                    message = _("The file is larger than the %(limit)s MB allowed.", limit=limit // (1024 * 1024))
                    raise ValidationFailed(message, {field: [message]})
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            message = _("The file is empty.")
            raise ValidationFailed(message, {field: [message]})
        with temp_path.open("rb") as check:
            try:
                kind = sniff(check.read(16), temp_path)
            except ArchiveTooLarge as refused:
                raise ArchiveTooLarge(refused.message, {field: [refused.message]}) from None
        accepted = [label for label in allowed_labels() if only is None or label in only]
        if kind is None or kind.label not in accepted:
            message = _("This type of file is not accepted. Allowed: %(types)s.", types=", ".join(accepted))
            raise ValidationFailed(message, {field: [message]})
        sha = digest.hexdigest()
        backend().put(sha, temp_path)
    finally:
        if temp_path.exists():
            temp_path.unlink()
    existing = db.session.scalar(select(StoredFile).where(StoredFile.sha256 == sha))
    if existing is not None:
        return existing
    stored = StoredFile(sha256=sha, size=size, content_type=kind.content_type)
    db.session.add(stored)
    db.session.flush()
    return stored


def store_generated(path: Path, *, content_type: str) -> StoredFile:
    """Keep a file Sharaka wrote itself (an export) in the configured storage; the caller's transaction
    holds its row. The file at `path` is copied, not moved: the caller removes it."""
    digest, size = sha256_of(_file_chunks(path))
    handle, temp_name = tempfile.mkstemp(dir=temporary_folder(), prefix=".generated-")
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        with path.open("rb") as source, temp_path.open("wb") as target:
            while chunk := source.read(CHUNK):
                target.write(chunk)
        backend().put(digest, temp_path)
    finally:
        temp_path.unlink(missing_ok=True)
    existing = db.session.scalar(select(StoredFile).where(StoredFile.sha256 == digest))
    if existing is not None:
        return existing
    stored = StoredFile(sha256=digest, size=size, content_type=content_type)
    db.session.add(stored)
    db.session.flush()
    return stored


def _file_chunks(path: Path):
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def forget_if_unused(stored_file_id: int) -> str | None:
    """Delete a stored file's row (and, in the database backend, its bytes, in the same transaction)
    when no table refers to it any more: content is shared, the same bytes uploaded twice are one row.
    Returns the digest whose folder copy `discard_folder_copy` removes once the transaction committed."""
    from sqlalchemy import exists

    stored = db.session.get(StoredFile, stored_file_id)
    if stored is None:
        return None
    for table in db.metadata.tables.values():
        for foreign_key in table.foreign_keys:
            if foreign_key.column.table.name == StoredFile.__tablename__:
                if db.session.scalar(select(exists().where(foreign_key.parent == stored_file_id))):
                    return None
    sha = stored.sha256
    db.session.delete(stored)
    db.session.flush()
    store_ = backend()
    if not isinstance(store_, FolderBackend):
        store_.delete(sha)
    return sha


def discard_folder_copy(sha256: str) -> None:
    """Remove a forgotten file's bytes from the folder (after the commit that forgot its row)."""
    store_ = backend()
    if isinstance(store_, FolderBackend):
        store_.path(sha256).unlink(missing_ok=True)


def path_for(sha256: str) -> Path:
    """Where the folder backend keeps this content."""
    return FolderBackend(current_app.config["UPLOAD_DIR"]).path(sha256)


# The extensions a stored file's name may end with, by the type its content was recognised as (sniff):
# the first is the one given to a name that ends otherwise.
EXTENSIONS = {
    "application/pdf": ("pdf",),
    "image/png": ("png",),
    "image/jpeg": ("jpg", "jpeg"),
    "application/zip": ("zip",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
    "application/vnd.oasis.opendocument.text": ("odt",),
    "application/vnd.oasis.opendocument.spreadsheet": ("ods",),
}


def chosen_files(uploads) -> list:
    """The files a form or a call really sent. A file input left empty sends a part without a name or a
    byte: skipped. A part with bytes but no name is a file all the same (named by its content, clean_filename),
    not dropped in silence."""
    chosen = []
    for upload in uploads or ():
        if upload is None:
            continue
        stream = getattr(upload, "stream", None)
        if not getattr(upload, "filename", "") and (stream is None or not stream.read(1)):
            continue
        if stream is not None:
            stream.seek(0)
        chosen.append(upload)
    return chosen


def clean_filename(name: str | None, fallback: str = "document", content_type: str | None = None) -> str:
    """A display name: no path, no control characters, at most 200 characters (Arabic kept); with the
    file's `content_type`, ending with one of its extensions. The type is read from the content, so a PDF
    sent as "rapport.exe" is kept and downloaded as "rapport.pdf", never as a program."""
    name = (name or "").replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".") or fallback
    extensions = EXTENSIONS.get(content_type or "")
    stem, dot, extension = name.rpartition(".")
    if extensions and not (dot and stem and extension.lower() in extensions):
        name = f"{stem if dot and stem and len(extension) <= 10 else name}.{extensions[0]}"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else name[:200]
    return name


def send_stored(stored_file: StoredFile, download_name: str):
    """Send a stored file as an attachment that browsers never render or cache
    (every download route checks the permission first, then calls this)."""
    from flask import abort, current_app, request, send_file, stream_with_context

    store_ = backend()
    # Named by its content's type also when it was kept under another name (before the names were).
    download_name = clean_filename(download_name, content_type=stored_file.content_type)
    if not store_.has(stored_file.sha256):
        current_app.logger.error("stored file missing from %s storage: %s", store_.name, stored_file.sha256)
        abort(404)
    if isinstance(store_, FolderBackend):
        response = send_file(
            store_.path(stored_file.sha256),
            mimetype=stored_file.content_type,
            as_attachment=True,
            download_name=download_name,
            max_age=0,
            etag=False,
        )
        # Files are kept once per content: the file's own time is when anyone first stored these bytes, which
        # told another organisation that they existed, and since when. Ranges still work (resumed downloads).
        response.headers.pop("Last-Modified", None)
    else:
        # Streamed a chunk at a time from the database, inside the request's context. Ranges work as for a
        # folder (a resumed download): the reader seeks to the chunk the range starts in.
        response = send_file(
            store_.open(stored_file.sha256),
            mimetype=stored_file.content_type,
            as_attachment=True,
            download_name=download_name,
            max_age=0,
            conditional=False,
        )
        response.content_length = stored_file.size
        response.make_conditional(request, accept_ranges=True, complete_length=stored_file.size)  # (in place)
        response.response = stream_with_context(response.response)  # type: ignore[call-overload]
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = attachment_disposition(download_name)
    return response


# What the plain `filename=` keeps of a name: letters, digits and a few marks that no header parser or
# shell reads as anything else. The whole name goes in `filename*` (RFC 6266, percent-encoded UTF-8).
_PLAIN_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()\[\]+-]")


def attachment_disposition(name: str) -> str:
    """The Content-Disposition of a download named `name` (a clean_filename: its extension is its type's).

    Written here, not by werkzeug, whose plain `filename=` was read two ways: a name with ";" in it was
    quoted there, and the header read by wget or werkzeug as `filename=payload.exe`, or by a client that
    prefers it as `filename*=…x.hta` (an outside probe, with a partner's hand-in). An Arabic name had no
    ASCII letters: its plain name was ".pdf", which `curl -OJ` saved as a hidden file, each download
    overwriting the last; it is "document.pdf" then."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    plain = _PLAIN_NAME_UNSAFE.sub("_", plain).strip(" ._")
    stem, dot, extension = name.rpartition(".")
    if not plain.rpartition(".")[0].strip(" ._-") and dot and stem:
        plain = f"document.{_PLAIN_NAME_UNSAFE.sub('_', extension)}"
    plain = plain or "document"
    disposition = f'attachment; filename="{plain}"'
    if plain != name:
        disposition += f"; filename*=UTF-8''{url_quote(name, safe='')}"
    return disposition


def copy_files(source_name: str, target_name: str) -> dict[str, int]:
    """Copy every stored file's bytes from one backend to the other (`flask storage migrate`).

    Each file goes through a temporary file under UPLOAD_DIR, a chunk at a time, is
    checked against its SHA-256 and committed on its own: an interrupted run resumes.
    """
    root = temporary_folder()
    source, target = make_backend(source_name, root), make_backend(target_name, root)
    counts = {"copied": 0, "already": 0, "missing": 0, "corrupt": 0}
    for sha in db.session.scalars(select(StoredFile.sha256).order_by(StoredFile.id)).all():
        if target.has(sha):
            counts["already"] += 1
            continue
        if not source.has(sha):
            counts["missing"] += 1
            continue
        handle, temp_name = tempfile.mkstemp(dir=root, prefix=".migrate-")
        try:
            digest = hashlib.sha256()
            with os.fdopen(handle, "wb") as out:
                for chunk in source.chunks(sha):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha:
                counts["corrupt"] += 1
                continue
            with unit_of_work():  # each file's row is kept as soon as it is copied
                target.put(sha, Path(temp_name))
            counts["copied"] += 1
        finally:
            if os.path.exists(temp_name):
                os.unlink(temp_name)
    return counts


def verify_files(name: str | None = None) -> tuple[int, list[tuple[str, str]]]:
    """Re-read every stored file and check its SHA-256 and size; returns (checked, problems)."""
    store_ = backend(name)
    checked, problems = 0, []
    for sha, size in db.session.execute(select(StoredFile.sha256, StoredFile.size).order_by(StoredFile.id)).all():
        checked += 1
        if not store_.has(sha):
            problems.append((sha, "missing"))
            continue
        actual, actual_size = sha256_of(store_.chunks(sha))
        if actual != sha or actual_size != size:
            problems.append((sha, f"corrupt: SHA-256 {actual}, {actual_size} bytes instead of {size}"))
    return checked, problems


# What a process writes under UPLOAD_DIR before it knows the file is kept (storage.py, exports, reading a
# stored file for a check, the writability probe, a workbook's sheet: exports.sheet_files_kept_by_us). A
# process killed meanwhile leaves it behind.
TEMPORARY_PREFIXES = (".upload-", ".generated-", ".export-", ".migrate-", ".read-", ".ready-", "openpyxl.")


def temporary_folder() -> Path:
    """Where this app's temporary files go (UPLOAD_DIR, made if need be): swept daily of what kills leave."""
    root = Path(current_app.config["UPLOAD_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def check_writable() -> None:
    """Raise unless files can be stored now: every upload is first written to the temporary folder, with either
    backend, then handed to the configured backend; each must take a write. (With STORAGE=database, an unusable
    UPLOAD_DIR had left /readyz at 200 while every upload failed.)"""
    stored_in = backend()
    if not (isinstance(stored_in, FolderBackend) and stored_in.root == Path(current_app.config["UPLOAD_DIR"])):
        check_folder_writable(temporary_folder())  # the folder backend's own check writes there already
    stored_in.check_writable()


# Far longer than any request or export takes: a file this old belongs to no one still working.
LEFTOVER_AGE_SECONDS = 24 * 3600


def sweep_leftovers() -> dict[str, int]:
    """Remove what killed processes left under UPLOAD_DIR, a day old or more: temporary files, and stored
    files (STORAGE=folder) that no row refers to (moved into place by a request killed before its commit).
    The scheduler runs it daily; `flask storage verify` counts them."""
    leftovers = find_leftovers()
    for path in leftovers["temporary"] + leftovers["unreferenced"]:
        path.unlink(missing_ok=True)
    return {name: len(paths) for name, paths in leftovers.items()}


def find_leftovers() -> dict[str, list[Path]]:
    root = Path(current_app.config["UPLOAD_DIR"])
    cutoff = time.time() - LEFTOVER_AGE_SECONDS
    found: dict[str, list[Path]] = {"temporary": [], "unreferenced": []}
    if not root.is_dir():
        return found

    def old(path: Path) -> bool:
        try:
            return path.is_file() and path.stat().st_mtime < cutoff
        except FileNotFoundError:
            return False

    found["temporary"] = [path for path in root.iterdir() if path.name.startswith(TEMPORARY_PREFIXES) and old(path)]
    if current_app.config["STORAGE"] == "folder":
        known = set(db.session.scalars(select(StoredFile.sha256)))
        for folder in root.iterdir():
            if len(folder.name) == 2 and folder.is_dir():
                found["unreferenced"] += [
                    path for path in folder.iterdir() if path.name not in known and len(path.name) == 64 and old(path)
                ]
    return found
