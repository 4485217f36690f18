"""Where stored files' bytes live: a folder (one server, or a shared mount) or the database.

STORAGE=folder keeps UPLOAD_DIR/ab/abcdef…; STORAGE=database keeps the bytes in
PostgreSQL (or SQLite) in 1 MB chunks keyed by SHA-256, so every web server sees
every file without a shared disk. Both are content-addressed and move bytes a
chunk at a time: a file is never whole in memory.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from flask import current_app
from sqlalchemy import LargeBinary, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from config import ConfigurationError

CHUNK = 1024 * 1024
BACKENDS = ("folder", "database")


class StoredFileChunk(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    """One chunk of a stored file's bytes (STORAGE=database)."""

    __tablename__ = "stored_file_chunks"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


def check_digest(sha256: str) -> str:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 digest")
    return sha256


class FolderBackend:
    name = "folder"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / check_digest(sha256)[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put(self, sha256: str, source: Path) -> None:
        """Move the file at `source` (a temporary file the caller owns, under UPLOAD_DIR) in."""
        final = self.path(sha256)
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, final)  # atomic: a crash never leaves a half-written file under its name

    def chunks(self, sha256: str) -> Iterator[bytes]:
        with self.path(sha256).open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def open(self, sha256: str):
        return self.path(sha256).open("rb")

    def check_writable(self) -> None:
        check_folder_writable(self.root)


def check_folder_writable(folder: Path) -> None:
    """Raise unless `folder` takes a file: one of 64 KiB written out and removed (an empty one is still
    created on a full disk)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".ready-") as probe:
        probe.write(b"\0" * 65536)
        probe.flush()
        os.fsync(probe.fileno())


class DatabaseBackend:
    name = "database"

    def has(self, sha256: str) -> bool:
        return (
            db.session.scalar(
                select(StoredFileChunk.position).where(
                    StoredFileChunk.sha256 == check_digest(sha256), StoredFileChunk.position == 0
                )
            )
            is not None
        )

    def put(self, sha256: str, source: Path) -> None:
        """Copy `source` in, one chunk per row, in the caller's transaction (committed with
        the StoredFile row, or not at all)."""
        if self.has(sha256):
            return
        from app.core.db import insert_ignoring_conflicts

        with Path(source).open("rb") as handle:
            position = 0
            while chunk := handle.read(CHUNK):
                # Ignoring conflicts: two servers storing the same bytes at once write the same rows.
                db.session.execute(
                    insert_ignoring_conflicts(StoredFileChunk).values(sha256=sha256, position=position, data=chunk)
                )
                position += 1

    def chunks(self, sha256: str) -> Iterator[bytes]:
        position = 0
        while (data := self.chunk(sha256, position)) is not None:
            yield data
            position += 1

    def chunk(self, sha256: str, position: int) -> bytes | None:
        """The file's `position`-th chunk (CHUNK bytes, the last one fewer), None past its end."""
        data = db.session.scalar(
            select(StoredFileChunk.data).where(
                StoredFileChunk.sha256 == check_digest(sha256), StoredFileChunk.position == position
            )
        )
        return None if data is None else bytes(data)

    def open(self, sha256: str):
        return ChunkReader(lambda position: self.chunk(sha256, position))

    def delete(self, sha256: str) -> None:
        db.session.execute(delete(StoredFileChunk).where(StoredFileChunk.sha256 == check_digest(sha256)))

    def size(self, sha256: str) -> int:
        return int(
            db.session.scalar(
                select(func.coalesce(func.sum(func.length(StoredFileChunk.data)), 0)).where(
                    StoredFileChunk.sha256 == check_digest(sha256)
                )
            )
            or 0
        )

    def check_writable(self) -> None:
        # A write that is rolled back at once: the table takes rows and we may write it.
        nested = db.session.begin_nested()
        try:
            db.session.execute(insert_chunk_probe())
        finally:
            nested.rollback()


def insert_chunk_probe():
    return StoredFileChunk.__table__.insert().values(sha256="0" * 64, position=-1, data=b"")


class ChunkReader(io.RawIOBase):
    """A read-only file over a stored file's chunks, read one at a time as it is read (send_file streams
    it block by block). Seekable, the chunk holding the offset read first: a download resumed from the
    middle of a file (a Range request) reads what it sends, not the whole file up to there."""

    def __init__(self, chunk_at: Callable[[int], bytes | None]):
        self._chunk_at = chunk_at  # the chunk at a position, None past the end
        # What is left of the chunk being read: a view, so each block read from it copies only the block.
        self._buffer = memoryview(b"")
        self._next_chunk, self._offset = 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._offset

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or offset < 0:
            raise io.UnsupportedOperation("only an offset from the start")
        self._next_chunk, skipped = divmod(offset, CHUNK)
        self._buffer, self._offset = memoryview(b""), offset
        if skipped:
            self._buffer = memoryview(self._chunk_at(self._next_chunk) or b"")[skipped:]
            self._next_chunk += 1
        return offset

    def readinto(self, target) -> int:
        while not self._buffer:
            data = self._chunk_at(self._next_chunk)
            if data is None:
                return 0
            self._buffer, self._next_chunk = memoryview(data), self._next_chunk + 1
        count = min(len(target), len(self._buffer))
        target[:count], self._buffer = self._buffer[:count], self._buffer[count:]
        self._offset += count
        return count


def make_backend(name: str, upload_dir: str | Path):
    if name == "folder":
        return FolderBackend(upload_dir)
    if name == "database":
        return DatabaseBackend()
    raise ConfigurationError(f"unknown STORAGE {name!r}; use one of {', '.join(BACKENDS)}")


def backend(name: str | None = None):
    """The configured backend (or the one named)."""
    config = current_app.config
    return make_backend(name or config.get("STORAGE", "folder"), config["UPLOAD_DIR"])


def sha256_of(chunks: Iterator[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
