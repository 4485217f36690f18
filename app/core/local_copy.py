"""A stored file's bytes as a temporary local file, for libraries that need a path or a seekable file."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.storage import temporary_folder
from app.core.storage_backends import FolderBackend, backend


@contextmanager
def local_copy(sha256: str) -> Iterator[Path]:
    """The folder backend's own file, or a temporary copy (removed afterwards) of a database-stored one."""
    store = backend()
    if isinstance(store, FolderBackend):
        yield store.path(sha256)
        return
    handle, name = tempfile.mkstemp(dir=temporary_folder(), prefix=".read-")
    try:
        with os.fdopen(handle, "wb") as out, store.open(sha256) as source:
            shutil.copyfileobj(source, out)
        yield Path(name)
    finally:
        os.unlink(name)
